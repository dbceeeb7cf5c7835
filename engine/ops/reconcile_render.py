"""The reconciliation report as text, CSV or one self-contained HTML file (jinja2, autoescaped).

The HTML has its CSS inline and no script, image, font or link to anything outside the file,
so an accountant can open it from a mail attachment or an archive years later.
"""

from __future__ import annotations

import csv
import io

import jinja2

from engine.ops.reconcile import OK, ReconcileReport

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
        for d in s.docs:
            if d.status != OK:
                out.append(_doc_line(d.kind, d.reference, d.status, d.expected, d.found))
    out += ["", "Per fee type (journal lines; credit positive)"]
    for (cur, account, label), amount in report.fee_types().items():
        out.append(f"  {account:<8}{label:<58}{amount:>14} {cur}")
    out += ["", "Per marketplace"]
    for (mp, cur), row in report.marketplaces().items():
        out.append(
            f"  {mp:<18}{cur:<5}{row['settlements']:>4} settlements  "
            f"{row['deposits']:>14} deposited  {row['not_ok']} not ok"
        )
    c = report.counts()
    totals = ", ".join(f"{v} {k}" for k, v in report.deposits().items()) or "none"
    out += [
        "",
        f"Totals: {len(report.settlements)} settlements: {c['ok']} ok, {c['missing']} missing, "
        f"{c['different']} different, {c['parked']} parked; deposits {totals}",
    ]
    return "\n".join(out) + "\n"


def render_csv(report: ReconcileReport) -> str:
    """One row per expected document (a parked settlement: one row with its reason)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["settlement_id", "end", "marketplace", "currency", "deposit", "settlement_status",
                "document", "reference", "document_status", "expected", "found"])  # fmt: skip
    for s in report.settlements:
        head = [s.settlement_id, s.end, s.marketplace, s.currency, str(s.deposit), s.status]
        if s.parked or not s.docs:
            w.writerow([*head, "", "", s.status, s.parked, ""])
        for d in s.docs:
            found = "" if d.found is None else _kv(d.found)
            w.writerow([*head, d.kind, d.reference, d.status, _kv(d.expected), found])
    return buf.getvalue()


def _kv(d: dict[str, str]) -> str:
    return "; ".join(f"{k}={v}" for k, v in d.items())


_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Amazon settlement reconciliation</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:0 0 2em}th,td{border:1px solid #ccc;padding:3px 8px}
th{background:#f2f2f2;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#176117}.missing,.different,.parked{color:#a00;font-weight:bold}
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
<p>Journals are compared by total debit and posting date (QAD's journal browse has one row
per entry); the per-fee-type table is what the journals hold by the mapping rules.</p>
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
    )
