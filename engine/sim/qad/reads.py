"""The simulator's Python read API: what tests and the demo inspect in a tenant's books.

Rows are the classic tables' columns (``so_po``, ``sod_qty_ord``...), Decimals for money and
quantities; ``tenant=None`` is the first tenant.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from engine.sim.qad.store import Store, order_lines
from engine.sim.qad.store import finance as books
from engine.sim.qad.store import sales_orders as orders

__all__ = ["TenantReads"]


class TenantReads:
    """Mixed into QadSimulator, which supplies ``_store``."""

    def _store(self, tenant: str | None) -> Store:
        raise NotImplementedError

    def close_period(self, year: int, period: int, tenant: str | None = None) -> None:
        self._store(tenant).set_period_closed(year, period, True)

    def query(
        self, sql: str, params: tuple[Any, ...] = (), tenant: str | None = None
    ) -> list[dict[str, Any]]:
        return self._store(tenant).query(sql, params)

    def sales_orders(self, tenant: str | None = None) -> list[dict[str, Any]]:
        """Every so_mstr row with its sod_det rows under ``"lines"``."""
        st = self._store(tenant)
        return [
            so
            for r in st.query("SELECT so_nbr FROM so_mstr ORDER BY so_nbr")
            if (so := orders.get(st, r["so_nbr"])) is not None
        ]

    def sales_order(self, so_nbr: str, tenant: str | None = None) -> dict[str, Any] | None:
        return orders.get(self._store(tenant), so_nbr)

    def order_totals(self, tenant: str | None = None) -> dict[str, Decimal]:
        """Customer PO (the Amazon order id) -> the order's total as QAD computes it (each
        line's extended amount rounded, then summed: ``order_lines.extended``)."""
        st = self._store(tenant)
        return {
            str(r["so_po"]): order_lines.order_total(st, r["so_nbr"])
            for r in st.query("SELECT so_nbr, so_po FROM so_mstr ORDER BY so_nbr")
        }

    def invoices(self, tenant: str | None = None) -> list[dict[str, Any]]:
        st = self._store(tenant)
        return [
            inv
            for r in st.query("SELECT ar_nbr FROM ar_mstr ORDER BY ar_nbr")
            if (inv := books.invoice(st, r["ar_nbr"])) is not None
        ]

    def journal_entries(self, tenant: str | None = None) -> list[dict[str, Any]]:
        """Manual journal entries (one dict per voucher, lines from gltr_hist)."""
        st = self._store(tenant)
        rows = st.query(
            "SELECT DISTINCT gltr_voucher FROM gltr_hist WHERE gltr_doc_typ='JL' "
            "ORDER BY gltr_voucher"
        )
        return [je for r in rows if (je := books.journal(st, str(r["gltr_voucher"]))) is not None]

    def gl_lines(self, tenant: str | None = None) -> list[dict[str, Any]]:
        return self._store(tenant).query("SELECT * FROM gltr_hist ORDER BY gltr_voucher, gltr_line")

    def tr_hist(self, tenant: str | None = None) -> list[dict[str, Any]]:
        return self._store(tenant).query("SELECT * FROM tr_hist ORDER BY tr_trnbr")

    def on_hand(self, item: str, site: str, tenant: str | None = None) -> Decimal:
        row = self._store(tenant).one(
            "SELECT in_qty_oh FROM in_mstr WHERE in_part=? AND in_site=?", (item, site)
        )
        return row["in_qty_oh"] if row else Decimal(0)
