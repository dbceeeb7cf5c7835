"""The reconciliation report as text, CSV or one self-contained HTML file (jinja2, autoescaped).

The HTML has its CSS inline and no script, image, font or link to anything outside the file,
so an accountant can open it from a mail attachment or an archive years later.
"""

from __future__ import annotations

import csv
import io

import jinja2

from engine.ops.reconcile import OK, DocCheck, ReconcileReport
from engine.ops.reconcile_orders import MATCHED

__all__ = ["render_csv", "render_html", "render_text"]


def _doc_line(
    kind: str, ref: str, status: str, want: dict[str, str], have: dict[str, str] | None
) -> str:
    if have is None:
        return f"    {kind:<12}{ref:<34}{status}"
    diffs = [k for k, v in want.items() if have.get(k) != v]
    detail = "; ".join(f"{k} expected {want[k]}, QAD has {have.get(k)}" for k in diffs)
    return f"    {kind:<12}{ref:<34}{status}" + (f"  ({detail})" if detail else "")


def render_text(report: ReconcileReport) -> str:
    out = [
        "Settlements",
        f"{'settlement':<14}{'end':<12}{'marketplace':<16}{'deposit':>16}  status",
    ]
    for s in report.settlements:
        out.append(
            f"{s.settlement_id:<14}{s.end:<12}{s.marketplace:<16}"
            f"{f'{s.deposit} {s.currency}':>16}  {s.status}"
        )
        if s.parked:
            out.append(f"    parked: {s.parked}")
        out += [f"    note: {n}" for n in s.notes]
        for d in s.docs:
            if d.status != OK:
                out.append(_doc_line(d.kind, d.reference, d.status, d.expected, d.found))
                out += _line_diffs(d)
    out += _orders_text(report)
    out += ["", "Per fee type (journal lines; credit positive)"]
    for (cur, account, label), amount in report.fee_types().items():
        out.append(f"  {account:<8}{label:<58}{amount:>14} {cur}")
    out += ["", "Per marketplace"]
    for (mp, cur), row in report.marketplaces().items():
        out.append(
            f"  {mp:<18}{cur:<5}{row['settlements']:>4} settlements  "
            f"{row['deposits']:>14} deposited  {row['not_ok']} not ok"
        )
    out += ["", "Reserve (held by Amazon, released, running balance per currency)"]
    for s in report.settlements:
        if s.reserve_held or s.reserve_released or s.reserve_balance:
            out.append(
                f"  {s.settlement_id:<14}{s.end:<12}{s.reserve_held:>12} held"
                f"{s.reserve_released:>12} released{s.reserve_balance:>14} {s.currency} balance"
            )
    c, o = report.counts(), report.order_counts()
    totals = ", ".join(f"{v} {k}" for k, v in report.deposits().items()) or "none"
    reserve = ", ".join(f"{v} {k}" for k, v in report.reserve_balances().items()) or "none"
    out += [
        "",
        f"Totals: {len(report.settlements)} settlements: {c['ok']} ok, {c['missing']} missing, "
        f"{c['different']} different, {c['parked']} parked; deposits {totals}",
        f"Orders: {o['matched']} matched, {o['variance']} variance, {o['no_invoice']} no_invoice; "
        f"reserve held {reserve}",
    ]
    return "\n".join(out) + "\n"


def _line_diffs(d: DocCheck) -> list[str]:
    out = []
    for ln in d.lines:
        if ln.status == OK:
            continue
        what = {
            "missing": f"expected {ln.expected}, not in QAD",
            "unexpected": f"QAD has {ln.found}, not expected",
            "different": f"expected {ln.expected}, QAD has {ln.found}",
        }[ln.status]
        out.append(f"      line {ln.account:<8}{ln.description:<52}{ln.status}  ({what})")
    if not d.lines and d.want_lines and d.found is not None:
        out.append("      QAD shows no lines for it (check [qad.browses] posting_line)")
    return out


def _orders_text(report: ReconcileReport) -> list[str]:
    """Every order group not matched (matched ones are counted in the totals)."""
    out = ["", "Orders (settled amount vs QAD sales order; only those not matched)"]
    for s in report.settlements:
        for o in s.orders:
            if o.status == MATCHED:
                continue
            qad = "-" if o.qad_total is None else f"{o.qad_total}"
            out.append(
                f"  {o.order_id:<22}{o.transaction_type:<26}{s.settlement_id:<14}"
                f"settled {o.settled} {o.currency}, QAD {qad} ({o.qad_document or 'none'})  "
                f"{o.status} {o.variance}"
            )
    return out


CSV_COLUMNS = ["record", "settlement_id", "end", "marketplace", "currency", "deposit",
               "settlement_status", "document", "reference", "document_status", "expected",
               "found", "account", "description", "difference", "qad_document",
               "reserve_held", "reserve_released", "reserve_balance"]  # fmt: skip


def render_csv(report: ReconcileReport) -> str:
    """One row per record: ``document`` (each expected document; a parked settlement: one
    row with its reason), ``journal_line`` (each account and fee type of a journal),
    ``order`` (each Order / refund row group: expected = settled, found = QAD order total),
    ``note`` (what the projector flagged, e.g. an open charge-clearing pair) and ``reserve``
    (per settlement: held, released, running balance)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, CSV_COLUMNS, lineterminator="\r\n", restval="")
    w.writeheader()
    for s in report.settlements:
        head = {"settlement_id": s.settlement_id, "end": s.end, "marketplace": s.marketplace,
                "currency": s.currency, "deposit": str(s.deposit),
                "settlement_status": s.status}  # fmt: skip
        if s.parked or not s.docs:
            w.writerow({**head, "record": "document", "document_status": s.status,
                        "expected": s.parked})  # fmt: skip
        for d in s.docs:
            found = "" if d.found is None else _kv(d.found)
            w.writerow({**head, "record": "document", "document": d.kind, "reference": d.reference,
                        "document_status": d.status, "expected": _kv(d.expected),
                        "found": found})  # fmt: skip
            for ln in d.lines:
                diff = (ln.found or 0) - (ln.expected or 0)
                w.writerow({**head, "record": "journal_line", "document": d.kind,
                            "reference": d.reference, "document_status": ln.status,
                            "expected": _s(ln.expected), "found": _s(ln.found),
                            "account": ln.account, "description": ln.description,
                            "difference": str(diff)})  # fmt: skip
        for o in s.orders:
            w.writerow({**head, "record": "order", "document": o.kind, "reference": o.order_id,
                        "document_status": o.status, "expected": str(o.settled),
                        "found": _s(o.qad_total), "description": o.transaction_type,
                        "difference": str(o.variance), "qad_document": o.qad_document})  # fmt: skip
        for n in s.notes:
            w.writerow({**head, "record": "note", "description": n})
        w.writerow({**head, "record": "reserve", "reserve_held": str(s.reserve_held),
                    "reserve_released": str(s.reserve_released),
                    "reserve_balance": str(s.reserve_balance)})  # fmt: skip
    return buf.getvalue()


def _s(value: object) -> str:
    return "" if value is None else str(value)


def _kv(d: dict[str, str]) -> str:
    return "; ".join(f"{k}={v}" for k, v in d.items())


_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Amazon settlement reconciliation</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:0 0 2em}th,td{border:1px solid #ccc;padding:3px 8px}
th{background:#f2f2f2;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok,.matched{color:#176117}
.missing,.different,.parked,.unexpected,.variance,.no_invoice{color:#a00;font-weight:bold}
</style></head><body>
<h1>Amazon settlement reconciliation</h1>
<p>{{ counts.ok }} ok, {{ counts.missing }} missing, {{ counts.different }} different,
{{ counts.parked }} parked of {{ report.settlements|length }} settlements.
Deposits: {% for cur, v in deposits.items() %}{{ v }} {{ cur }}
{%- if not loop.last %}, {% endif %}{% endfor %}.</p>
<h2>Settlements</h2>
<table id="settlements"><tr><th>Settlement</th><th>Period</th><th>Deposit date</th>
<th>Marketplace</th><th>Deposit</th><th>Document</th><th>Reference</th><th>Status</th>
<th>Expected</th><th>Found in QAD</th></tr>
{% for s in report.settlements %}{% for d in (s.docs or [none]) %}<tr>
<td>{{ s.settlement_id }}</td><td>{{ s.start }} .. {{ s.end }}</td><td>{{ s.deposit_date }}</td>
<td>{{ s.marketplace }}</td><td class="n">{{ s.deposit }} {{ s.currency }}</td>
{% if d %}<td>{{ d.kind }}</td><td>{{ d.reference }}</td>
<td class="{{ d.status }}">{{ d.status }}</td>
<td>{% for k, v in d.expected.items() %}{{ k }} {{ v }}<br>{% endfor %}</td>
<td>{% if d.found %}{% for k, v in d.found.items() %}{{ k }} {{ v }}<br>{% endfor %}
{%- else %}-{% endif %}</td>
{% else %}<td>-</td><td>-</td><td class="{{ s.status }}">{{ s.status }}</td>
<td colspan="2">{{ s.parked }}</td>{% endif %}
</tr>{% endfor %}{% endfor %}
</table>
<h2>Journal lines</h2>
<table id="journal-lines"><tr><th>Settlement</th><th>Journal</th><th>Account</th>
<th>Fee type</th><th>Expected (credit +)</th><th>Found in QAD</th><th>Status</th></tr>
{% for s in report.settlements %}{% for d in s.docs %}{% for ln in d.lines %}<tr>
<td>{{ s.settlement_id }}</td><td>{{ d.reference }}</td><td>{{ ln.account }}</td>
<td>{{ ln.description }}</td><td class="n">{{ '-' if ln.expected is none else ln.expected }}</td>
<td class="n">{{ '-' if ln.found is none else ln.found }}</td>
<td class="{{ ln.status }}">{{ ln.status }}</td></tr>{% endfor %}{% endfor %}{% endfor %}
</table>
<h2>Notes</h2>
<table id="notes"><tr><th>Settlement</th><th>Note</th></tr>
{% for s in report.settlements %}{% for n in s.notes %}<tr>
<td>{{ s.settlement_id }}</td><td>{{ n }}</td></tr>{% endfor %}{% endfor %}
</table>
<h2>Orders</h2>
<p>{{ orders.matched }} matched, {{ orders.variance }} variance, {{ orders.no_invoice }}
no_invoice. Settled: what the settlement's ItemPrice and Promotion rows charged, as the order
side books it; a refund is matched when it is at most the QAD order total.</p>
<table id="orders"><tr><th>Amazon order</th><th>Type</th><th>Settlement</th>
<th>Settled</th><th>QAD sales order</th><th>QAD total</th><th>Variance</th><th>Status</th></tr>
{% for s in report.settlements %}{% for o in s.orders %}<tr><td>{{ o.order_id }}</td>
<td>{{ o.transaction_type }}</td><td>{{ s.settlement_id }}</td>
<td class="n">{{ o.settled }} {{ o.currency }}</td><td>{{ o.qad_document or '-' }}</td>
<td class="n">{{ '-' if o.qad_total is none else o.qad_total }}</td>
<td class="n">{{ o.variance }}</td><td class="{{ o.status }}">{{ o.status }}</td></tr>
{% endfor %}{% endfor %}
</table>
<h2>Reserve</h2>
<table id="reserve"><tr><th>Settlement</th><th>End</th><th>Currency</th><th>Held</th>
<th>Released</th><th>Running balance</th></tr>
{% for s in report.settlements %}<tr><td>{{ s.settlement_id }}</td><td>{{ s.end }}</td>
<td>{{ s.currency }}</td><td class="n">{{ s.reserve_held }}</td>
<td class="n">{{ s.reserve_released }}</td><td class="n">{{ s.reserve_balance }}</td></tr>
{% endfor %}
</table>
<h2>Per fee type</h2>
<table id="fees"><tr><th>Currency</th><th>Account</th><th>Line kind</th>
<th>Amount (credit +)</th></tr>
{% for (cur, account, label), v in fees.items() %}<tr><td>{{ cur }}</td><td>{{ account }}</td>
<td>{{ label }}</td><td class="n">{{ v }}</td></tr>{% endfor %}
</table>
<h2>Per marketplace</h2>
<table id="marketplaces"><tr><th>Marketplace</th><th>Currency</th><th>Settlements</th>
<th>Deposits</th><th>Not ok</th></tr>
{% for (mp, cur), r in marketplaces.items() %}<tr><td>{{ mp }}</td><td>{{ cur }}</td>
<td class="n">{{ r.settlements }}</td><td class="n">{{ r.deposits }}</td>
<td class="n {{ 'different' if r.not_ok else 'ok' }}">{{ r.not_ok }}</td></tr>{% endfor %}
</table>
<p>Journals are compared by total debit and posting date, and line by line per account and
fee type against QAD's posting lines; the per-fee-type table is what the journals hold by the
mapping rules.</p>
</body></html>
"""


def render_html(report: ReconcileReport) -> str:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(_TEMPLATE).render(
        report=report,
        counts=report.counts(),
        deposits=report.deposits(),
        fees=report.fee_types(),
        marketplaces=report.marketplaces(),
        orders=report.order_counts(),
    )
