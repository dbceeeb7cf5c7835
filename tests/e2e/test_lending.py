"""Amazon Lending over HTTP: the loan statement's interest leaves the loan account.

The simulator's settlements carry loan repayments with principal and interest combined (as
Amazon reports them); they post whole to the loan account and `reconcile` notes it. The loan
statement, imported as a CSV through the real CLI, posts one journal per month to QAD:
debit loan interest (6900), credit the loan (2500). Bad or restated statements append nothing.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from engine.log import SQLiteEventLog
from engine.ops.reconcile import reconcile_config
from engine.ops.reconcile_render import render_text
from tests.e2e.configfile import run_cli, write_config

INTEREST = Decimal("4.25")  # per repayment, the statement's share of each 127.50


async def _lending_events(db: Path) -> int:
    async with SQLiteEventLog.open(db, readonly=True) as log:
        return len([e async for e in log.read(streams=["amazon.lending"])])


async def test_loan_statement_moves_the_interest_out_of_the_loan_account(
    make_world, tmp_path
) -> None:
    async with make_world(history_days=45) as w:
        cfg = w.config()
        config = write_config(cfg, tmp_path / "config.toml")
        async with w.engine(cfg) as eng:
            report = await eng.sync_once()
            assert not report.poll_errors, report.poll_errors
        repayments: Counter[str] = Counter()
        for s in w.amazon.truth.settlements():
            for r in s.rows:
                if r.amount_description == "Loan Repayment" and s.currency == "USD":
                    repayments[datetime.fromtimestamp(r.posted, UTC).strftime("%Y-%m")] += 1
        assert repayments, "the seeded history has no loan repayment"
        recon = await reconcile_config(cfg, demo=True)
        assert "Amazon Lending booked whole to 2500" in render_text(recon)
        # A note, not a QAD difference: every settlement's documents are ok.
        assert {c.status for c in recon.settlements} == {"ok"}

        statement = tmp_path / "lending.csv"
        rows = [f"{m},USD,{INTEREST * n}" for m, n in sorted(repayments.items())]
        statement.write_text("month,currency,interest\n" + "\n".join(rows) + "\n")
        db = Path(cfg.engine.db)
        rc, out, err = await run_cli(
            "import", "loan-statement", "--config", str(config), "--dry-run", str(statement)
        )
        assert rc == 0 and "would append" in out, (rc, out, err)
        assert await _lending_events(db) == 0
        rc, out, err = await run_cli("import", "loan-statement", "--config", str(config),
                                     str(statement))  # fmt: skip
        assert rc == 0 and out.count(": appended") == len(repayments), (out, err)

        async with w.engine(cfg) as eng:
            await eng.sync_once()
        for month, n in repayments.items():
            ref = f"AMZ-LOAN-USD-{month}"
            gl = w.qad.query(
                "SELECT gltr_acc, gltr_amt, gltr_eff_dt FROM gltr_hist WHERE gltr_doc = ?", (ref,)
            )
            amounts = {ln["gltr_acc"]: Decimal(str(ln["gltr_amt"])) for ln in gl}
            assert amounts == {"6900": INTEREST * n, "2500": -INTEREST * n}, (ref, gl)
            assert {str(ln["gltr_eff_dt"])[:7] for ln in gl} == {month}

        # The same statement again appends nothing; a restated month is refused whole.
        rc, out, err = await run_cli("import", "loan-statement", "--config", str(config),
                                     str(statement))  # fmt: skip
        assert rc == 0 and "appended" not in out.replace("would append", ""), out
        assert await _lending_events(db) == len(repayments)
        first = sorted(repayments)[0]
        restated = tmp_path / "restated.csv"
        restated.write_text(f"month,currency,interest\n{first},USD,99.99\n")
        bad = tmp_path / "bad.csv"
        bad.write_text("month,currency,interest\n2026-1,USD,1.00\n")
        eur = tmp_path / "eur.csv"
        eur.write_text("month,currency,interest\n2026-01,XYZ,1.00\n")
        for path, words in ((restated, "was imported with interest"),
                            (bad, "is not YYYY-MM"), (eur, "currency 'XYZ'")):  # fmt: skip
            rc, out, err = await run_cli("import", "loan-statement", "--config", str(config),
                                         str(path))  # fmt: skip
            assert rc == 1 and words in err and "Traceback" not in err, (rc, out, err)
            assert "nothing was imported" in err
        assert await _lending_events(db) == len(repayments)
