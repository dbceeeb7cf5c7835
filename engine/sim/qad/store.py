"""The simulated tenant's state: one SQLite file per tenant, tables named as in QAD SE.

Money and quantities are stored as TEXT holding a Decimal so nothing is ever rounded through a
float. Business rules live here (not in the HTTP layer) and raise ``BusinessError`` with the field
and message a real tenant would put in ``submitResult.errors``.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from engine.sim import business

__all__ = ["DOMAIN", "ENTITY", "SITES", "BusinessError", "Store", "default_open_range"]

DOMAIN = "10USA"
ENTITY = "10USACO"
SITES = {"10-100": "Main warehouse", "10-FBA": "Amazon FBA stock"}
DAYBOOKS = {"SALES": "Customer invoices", "JE": "Journal entries", "INV": "Inventory"}
DEFAULT_LOC = "010"
AR_CONTROL = "1200"
INITIAL_ON_HAND = Decimal(100)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS si_mstr (si_domain TEXT, si_site TEXT PRIMARY KEY, si_desc TEXT,
  si_entity TEXT);
CREATE TABLE IF NOT EXISTS cm_mstr (cm_domain TEXT, cm_addr TEXT PRIMARY KEY, cm_sort TEXT,
  cm_curr TEXT, cm_cr_terms TEXT);
CREATE TABLE IF NOT EXISTS pt_mstr (pt_domain TEXT, pt_part TEXT PRIMARY KEY, pt_desc1 TEXT,
  pt_desc2 TEXT, pt_um TEXT, pt_prod_line TEXT, pt_price TEXT, pt_status TEXT, pt_part_type TEXT);
CREATE TABLE IF NOT EXISTS in_mstr (in_domain TEXT, in_part TEXT, in_site TEXT,
  in_qty_oh TEXT, in_qty_all TEXT, in_qty_avail TEXT, PRIMARY KEY (in_part, in_site));
CREATE TABLE IF NOT EXISTS ld_det (ld_domain TEXT, ld_part TEXT, ld_site TEXT, ld_loc TEXT,
  ld_lot TEXT, ld_ref TEXT, ld_status TEXT, ld_qty_oh TEXT, ld_qty_all TEXT,
  PRIMARY KEY (ld_part, ld_site, ld_loc, ld_lot, ld_ref));
CREATE TABLE IF NOT EXISTS tr_hist (tr_trnbr INTEGER PRIMARY KEY AUTOINCREMENT, tr_domain TEXT,
  tr_type TEXT, tr_part TEXT, tr_site TEXT, tr_loc TEXT, tr_lot TEXT, tr_qty_loc TEXT,
  tr_effdate TEXT, tr_nbr TEXT, tr_rmks TEXT, tr_date TEXT);
CREATE TABLE IF NOT EXISTS so_mstr (so_domain TEXT, so_nbr TEXT PRIMARY KEY, so_cust TEXT,
  so_bill TEXT, so_ship TEXT, so_ord_date TEXT, so_due_date TEXT, so_site TEXT, so_curr TEXT,
  so_po TEXT, so_channel TEXT, so_cr_terms TEXT, so_stat TEXT, so_hash TEXT);
CREATE INDEX IF NOT EXISTS so_po_idx ON so_mstr (so_po);
CREATE INDEX IF NOT EXISTS so_po_lower_idx ON so_mstr (lower(so_po));
CREATE TABLE IF NOT EXISTS sod_det (sod_domain TEXT, sod_nbr TEXT, sod_line INTEGER,
  sod_part TEXT, sod_site TEXT, sod_qty_ord TEXT, sod_um TEXT, sod_list_pr TEXT, sod_price TEXT,
  sod_due_date TEXT, PRIMARY KEY (sod_nbr, sod_line));
CREATE TABLE IF NOT EXISTS ac_mstr (ac_code TEXT PRIMARY KEY, ac_desc TEXT, ac_active INTEGER);
CREATE TABLE IF NOT EXISTS dy_mstr (dy_dy_code TEXT PRIMARY KEY, dy_desc TEXT);
CREATE TABLE IF NOT EXISTS glc_cal (glc_year INTEGER, glc_per INTEGER, glc_start TEXT,
  glc_end TEXT, glc_closed INTEGER, PRIMARY KEY (glc_year, glc_per));
CREATE TABLE IF NOT EXISTS ar_mstr (ar_nbr TEXT PRIMARY KEY, ar_domain TEXT, ar_entity TEXT,
  ar_type TEXT, ar_cust TEXT, ar_bill TEXT, ar_date TEXT, ar_effdate TEXT, ar_due_date TEXT,
  ar_amt TEXT, ar_curr TEXT, ar_po TEXT UNIQUE, ar_dy_code TEXT, ar_desc TEXT,
  ar_voucher INTEGER, ar_year INTEGER, ar_per INTEGER);
CREATE TABLE IF NOT EXISTS ard_det (ard_nbr TEXT, ard_line INTEGER, ard_acct TEXT, ard_sub TEXT,
  ard_cc TEXT, ard_amt TEXT, ard_desc TEXT, PRIMARY KEY (ard_nbr, ard_line));
CREATE TABLE IF NOT EXISTS gltr_hist (gltr_voucher INTEGER, gltr_line INTEGER, gltr_ref TEXT,
  gltr_domain TEXT, gltr_entity TEXT, gltr_eff_dt TEXT, gltr_acc TEXT, gltr_sub TEXT,
  gltr_ctr TEXT, gltr_project TEXT, gltr_amt TEXT, gltr_curr TEXT, gltr_curramt TEXT,
  gltr_dy_code TEXT, gltr_desc TEXT, gltr_doc TEXT, gltr_doc_typ TEXT, gltr_year INTEGER,
  gltr_per INTEGER, PRIMARY KEY (gltr_voucher, gltr_line));
CREATE INDEX IF NOT EXISTS gltr_doc_idx ON gltr_hist (gltr_doc, gltr_doc_typ);
"""

# Tables whose TEXT columns hold Decimals (converted back on read).
DECIMAL_COLUMNS = frozenset(
    {
        "pt_price",
        "in_qty_oh",
        "in_qty_all",
        "in_qty_avail",
        "ld_qty_oh",
        "ld_qty_all",
        "tr_qty_loc",
        "sod_qty_ord",
        "sod_list_pr",
        "sod_price",
        "ar_amt",
        "ard_amt",
        "gltr_amt",
        "gltr_curramt",
    }
)

# Marketplace currencies -> a fixed USD conversion factor for seeded list prices (display only).
_CURRENCY_FACTOR = {"USD": Decimal(1), "CAD": Decimal("1.35"), "EUR": Decimal("0.92")}


class BusinessError(Exception):
    """A rule violation QAD reports as HTTP 200 ``submitResult.success=false``."""

    def __init__(self, field: str, message: str, value: str = "", code: str = "SIM-100") -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.value = value
        self.code = code


def default_open_range(today: date | None = None) -> tuple[date, date]:
    """First day of the month 12 months back .. last day of next month."""
    t = today or datetime.now(UTC).date()
    y, m = t.year - 1, t.month
    start = date(y, m, 1)
    ny, nm = (t.year, t.month + 2) if t.month <= 10 else (t.year + 1, t.month - 10)
    end = date(ny, nm, 1) - timedelta(days=1)
    return start, end


def dec(value: Any, field: str) -> Decimal:
    """A Decimal from a JSON number/string; BusinessError naming ``field`` otherwise."""
    if isinstance(value, bool) or value is None:
        raise BusinessError(field, f"{field} must be a number", str(value))
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise BusinessError(field, f"{field} must be a number", str(value)) from None
    if not d.is_finite():
        raise BusinessError(field, f"{field} must be a number", str(value))
    return d


def parse_date(value: Any, field: str) -> date:
    """Accepts ``YYYY-MM-DD`` and QAD's ``YYYY-MM-DDT00:00:00.000Z``."""
    if not isinstance(value, str) or len(value) < 10:
        raise BusinessError(field, f"{field} is not a valid date", str(value))
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise BusinessError(field, f"{field} is not a valid date", value) from None


def _s(value: Any) -> str:
    return "" if value is None else str(value)


class Store:
    """One tenant's SQLite state. Synchronous: each call is a short transaction."""

    def __init__(self, path: Path, *, open_from: date, open_to: date) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(_SCHEMA)
        seeded = self.db.execute("SELECT value FROM meta WHERE key='seeded'").fetchone()
        if seeded is None:
            self._seed()
        self._ensure_periods(open_from, open_to)

    def close(self) -> None:
        self.db.close()

    # -- seed -----------------------------------------------------------------------------------

    def _seed(self) -> None:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        for site, desc in SITES.items():
            db.execute("INSERT INTO si_mstr VALUES (?,?,?,?)", (DOMAIN, site, desc, ENTITY))
        for mp in business.MARKETPLACES:
            db.execute(
                "INSERT INTO cm_mstr VALUES (?,?,?,?,?)",
                (DOMAIN, mp.qad_customer, mp.name, mp.currency, "30"),
            )
        for it in business.catalog():
            db.execute(
                "INSERT INTO pt_mstr VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    DOMAIN,
                    it.item_code,
                    it.description,
                    f"Amazon SKU {it.sku}",
                    it.unit_of_measure,
                    "AMZ",
                    str(it.list_price),
                    "ACTIVE",
                    "FG",
                ),
            )
            for site in SITES:
                q = str(INITIAL_ON_HAND)
                db.execute(
                    "INSERT INTO in_mstr VALUES (?,?,?,?,?,?)",
                    (DOMAIN, it.item_code, site, q, "0", q),
                )
                db.execute(
                    "INSERT INTO ld_det VALUES (?,?,?,?,?,?,?,?,?)",
                    (DOMAIN, it.item_code, site, DEFAULT_LOC, "", "", "GOOD", q, "0"),
                )
        for code, desc in business.ACCOUNTS.items():
            db.execute("INSERT INTO ac_mstr VALUES (?,?,1)", (code, desc))
        for code, desc in DAYBOOKS.items():
            db.execute("INSERT INTO dy_mstr VALUES (?,?)", (code, desc))
        db.execute("INSERT INTO meta VALUES ('seeded', ?)", (datetime.now(UTC).isoformat(),))
        db.execute("INSERT INTO meta VALUES ('next_so', '100001')")
        db.execute("INSERT INTO meta VALUES ('next_inv', '1')")
        db.execute("INSERT INTO meta VALUES ('next_voucher', '1000001')")
        db.execute("COMMIT")

    def _ensure_periods(self, start: date, end: date) -> None:
        """Calendar-month periods; existing rows (and their open/closed flag) are kept."""
        y, m = start.year, start.month
        self.db.execute("BEGIN IMMEDIATE")
        while date(y, m, 1) <= end:
            first = date(y, m, 1)
            nxt = date(y + (m == 12), m % 12 + 1, 1)
            self.db.execute(
                "INSERT OR IGNORE INTO glc_cal VALUES (?,?,?,?,0)",
                (y, m, first.isoformat(), (nxt - timedelta(days=1)).isoformat()),
            )
            y, m = nxt.year, nxt.month
        self.db.execute("COMMIT")

    def set_period_closed(self, year: int, period: int, closed: bool = True) -> None:
        self.db.execute(
            "UPDATE glc_cal SET glc_closed=? WHERE glc_year=? AND glc_per=?",
            (int(closed), year, period),
        )

    # -- generic reads --------------------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        rows = self.db.execute(sql, tuple(params)).fetchall()
        out = []
        for r in rows:
            d = dict(r)
            for k, v in d.items():
                if k in DECIMAL_COLUMNS and v is not None:
                    d[k] = Decimal(v)
            out.append(d)
        return out

    def one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def _next(self, key: str) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        value = int(row[0])
        self.db.execute("UPDATE meta SET value=? WHERE key=?", (str(value + 1), key))
        return value

    # -- validation helpers ---------------------------------------------------------------------

    def _need(self, sql: str, value: str, field: str, what: str) -> None:
        if not value or self.db.execute(sql, (value,)).fetchone() is None:
            raise BusinessError(field, f"{what} {value!r} does not exist", value, "SIM-101")

    def _customer(self, code: str, field: str) -> None:
        self._need("SELECT 1 FROM cm_mstr WHERE cm_addr=?", code, field, "Customer")

    def _site(self, code: str, field: str = "siteCode") -> None:
        self._need("SELECT 1 FROM si_mstr WHERE si_site=?", code, field, "Site")

    def _item(self, code: str, field: str = "itemCode") -> None:
        self._need("SELECT 1 FROM pt_mstr WHERE pt_part=?", code, field, "Item")

    def _account(self, code: str, field: str = "glAccount") -> None:
        self._need(
            "SELECT 1 FROM ac_mstr WHERE ac_code=? AND ac_active=1", code, field, "GL account"
        )

    def _daybook(self, code: str) -> None:
        self._need("SELECT 1 FROM dy_mstr WHERE dy_dy_code=?", code, "daybookCode", "Daybook")

    def _open_period(self, d: date, field: str) -> tuple[int, int]:
        row = self.db.execute(
            "SELECT glc_year, glc_per, glc_closed FROM glc_cal WHERE glc_start<=? AND glc_end>=?",
            (d.isoformat(), d.isoformat()),
        ).fetchone()
        if row is None or row[2]:
            raise BusinessError(
                field, f"Date {d.isoformat()} is not in an open GL period", d.isoformat(), "SIM-110"
            )
        return int(row[0]), int(row[1])

    # -- sales orders ---------------------------------------------------------------------------

    def sales_order(self, nbr: str) -> dict[str, Any] | None:
        head = self.one("SELECT * FROM so_mstr WHERE so_nbr=?", (nbr,))
        if head is None:
            return None
        head["lines"] = self.query(
            "SELECT * FROM sod_det WHERE sod_nbr=? ORDER BY sod_line", (nbr,)
        )
        return head

    def _so_hash(self, nbr: str) -> str:
        so = self.sales_order(nbr)
        assert so is not None
        canon = repr(sorted((k, str(v)) for k, v in so.items() if k not in ("lines", "so_hash")))
        canon += repr([sorted((k, str(v)) for k, v in ln.items()) for ln in so["lines"]])
        return hashlib.sha1(canon.encode(), usedforsecurity=False).hexdigest()[:16]

    def create_sales_order(self, rec: Mapping[str, Any]) -> str:
        nbr = _s(rec.get("salesOrderNumber")).strip()
        cust = _s(rec.get("soldToCustomerCode"))
        self._customer(cust, "soldToCustomerCode")
        bill = _s(rec.get("billToCustomerCode")) or cust
        ship = _s(rec.get("shipToCustomerCode")) or cust
        self._customer(bill, "billToCustomerCode")
        self._customer(ship, "shipToCustomerCode")
        site = _s(rec.get("siteCode")) or "10-100"
        self._site(site)
        ord_date = parse_date(rec.get("orderDate"), "orderDate")
        due = parse_date(rec["dueDate"], "dueDate") if rec.get("dueDate") else ord_date
        lines = rec.get("salesOrderLines") or []
        if not isinstance(lines, list):
            raise BusinessError("salesOrderLines", "salesOrderLines must be a list")
        parsed = []
        seen: set[int] = set()
        for i, ln in enumerate(lines, start=1):
            if not isinstance(ln, Mapping):
                raise BusinessError("salesOrderLines", "a sales order line must be an object")
            no = int(ln.get("salesOrderLine") or i)
            if no in seen:
                raise BusinessError("salesOrderLine", f"Line {no} appears twice", str(no))
            seen.add(no)
            item = _s(ln.get("itemCode"))
            self._item(item)
            lsite = _s(ln.get("siteCode")) or site
            self._site(lsite)
            qty = dec(ln.get("quantityOrdered"), "quantityOrdered")
            if qty <= 0:
                raise BusinessError(
                    "quantityOrdered", "Quantity must be greater than zero", str(qty)
                )
            net = dec(ln.get("netPrice", ln.get("listPrice")), "netPrice")
            lst = dec(ln.get("listPrice", net), "listPrice")
            if net < 0:
                raise BusinessError("netPrice", "Price cannot be negative", str(net))
            ldue = parse_date(ln["dueDate"], "dueDate") if ln.get("dueDate") else due
            um = _s(ln.get("unitOfMeasure")) or "EA"
            parsed.append((no, item, lsite, qty, um, lst, net, ldue))
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            if not nbr:
                while True:
                    nbr = f"SO{self._next('next_so'):06d}"
                    if (
                        db.execute("SELECT 1 FROM so_mstr WHERE so_nbr=?", (nbr,)).fetchone()
                        is None
                    ):
                        break
            elif db.execute("SELECT 1 FROM so_mstr WHERE so_nbr=?", (nbr,)).fetchone():
                raise BusinessError(
                    "salesOrderNumber", f"Sales order {nbr} already exists", nbr, "SIM-102"
                )
            if len(nbr) > 8:
                raise BusinessError(
                    "salesOrderNumber", "Sales order number is longer than 8 characters", nbr
                )
            db.execute(
                "INSERT INTO so_mstr VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    DOMAIN,
                    nbr,
                    cust,
                    bill,
                    ship,
                    ord_date.isoformat(),
                    due.isoformat(),
                    site,
                    _s(rec.get("currencyCode")) or "USD",
                    _s(rec.get("customerPurchaseOrder")),
                    _s(rec.get("channel")),
                    _s(rec.get("creditTermsCode")) or "30",
                    "",
                    "",
                ),
            )
            for no, item, lsite, qty, um, lst, net, ldue in parsed:
                db.execute(
                    "INSERT INTO sod_det VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (
                        DOMAIN,
                        nbr,
                        no,
                        item,
                        lsite,
                        str(qty),
                        um,
                        str(lst),
                        str(net),
                        ldue.isoformat(),
                    ),
                )
            db.execute("UPDATE so_mstr SET so_hash=? WHERE so_nbr=?", (self._so_hash(nbr), nbr))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return nbr

    def update_sales_order(self, rec: Mapping[str, Any]) -> str:
        nbr = _s(rec.get("salesOrderNumber"))
        so = self.sales_order(nbr)
        if so is None:
            raise BusinessError(
                "salesOrderNumber", f"Sales order {nbr!r} does not exist", nbr, "SIM-101"
            )
        given = _s(rec.get("concurrencyHash"))
        if given and given != so["so_hash"]:
            raise BusinessError(
                "concurrencyHash",
                "Record has been modified by another user since it was read",
                given,
                "SIM-120",
            )
        if so["so_stat"] == "X":
            raise BusinessError(
                "salesOrderNumber", f"Sales order {nbr} is cancelled", nbr, "SIM-121"
            )
        existing = {ln["sod_line"]: ln for ln in so["lines"]}
        changes = []
        for ln in rec.get("salesOrderLines") or []:
            no = int(ln.get("salesOrderLine") or 0)
            if no not in existing:
                raise BusinessError(
                    "salesOrderLine", f"Line {no} does not exist", str(no), "SIM-101"
                )
            qty = (
                dec(ln["quantityOrdered"], "quantityOrdered")
                if "quantityOrdered" in ln
                else existing[no]["sod_qty_ord"]
            )
            if qty < 0:
                raise BusinessError("quantityOrdered", "Quantity cannot be negative", str(qty))
            price = (
                dec(ln["netPrice"], "netPrice") if "netPrice" in ln else existing[no]["sod_price"]
            )
            if price < 0:
                raise BusinessError("netPrice", "Price cannot be negative", str(price))
            changes.append((str(qty), str(price), nbr, no))
        cancel = _s(rec.get("status")).lower() in ("cancelled", "canceled", "x")
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            for c in changes:
                db.execute(
                    "UPDATE sod_det SET sod_qty_ord=?, sod_price=? WHERE sod_nbr=? AND sod_line=?",
                    c,
                )
            if cancel:
                db.execute("UPDATE so_mstr SET so_stat='X' WHERE so_nbr=?", (nbr,))
            db.execute("UPDATE so_mstr SET so_hash=? WHERE so_nbr=?", (self._so_hash(nbr), nbr))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return nbr

    # -- inventory ------------------------------------------------------------------------------

    def unplanned(self, header: Mapping[str, Any], *, issue: bool) -> list[int]:
        site = _s(header.get("siteCode"))
        self._site(site)
        eff = parse_date(header.get("effectiveDate") or _today(), "effectiveDate")
        self._open_period(eff, "effectiveDate")
        details = header.get("unplannedProcessorDetailV2s") or []
        if not details:
            raise BusinessError(
                "unplannedProcessorDetailV2s", "At least one detail line is required"
            )
        rows = []
        for d in details:
            item = _s(d.get("itemCode"))
            self._item(item)
            qty = dec(d.get("transactionQuantity"), "transactionQuantity")
            if qty <= 0:
                raise BusinessError(
                    "transactionQuantity", "Quantity must be greater than zero", str(qty)
                )
            loc = _s(d.get("location")) or DEFAULT_LOC
            lot = _s(d.get("lotSerial"))
            ref = _s(d.get("reference")) or _s(header.get("reference"))
            rows.append((item, qty, loc, lot, ref))
        db = self.db
        trnbrs: list[int] = []
        db.execute("BEGIN IMMEDIATE")
        try:
            for item, qty, loc, lot, ref in rows:
                ld = db.execute(
                    "SELECT ld_qty_oh FROM ld_det WHERE ld_part=? AND ld_site=? AND ld_loc=? "
                    "AND ld_lot=? AND ld_ref=''",
                    (item, site, loc, lot),
                ).fetchone()
                have = Decimal(ld[0]) if ld else Decimal(0)
                if issue and qty > have:
                    raise BusinessError(
                        "transactionQuantity",
                        f"Quantity on hand {have} at {site}/{loc} is less than {qty}",
                        str(qty),
                        "SIM-130",
                    )
                delta = -qty if issue else qty
                if ld:
                    db.execute(
                        "UPDATE ld_det SET ld_qty_oh=? WHERE ld_part=? AND ld_site=? AND ld_loc=? "
                        "AND ld_lot=? AND ld_ref=''",
                        (str(have + delta), item, site, loc, lot),
                    )
                else:
                    db.execute(
                        "INSERT INTO ld_det VALUES (?,?,?,?,?,'','GOOD',?,'0')",
                        (DOMAIN, item, site, loc, lot, str(delta)),
                    )
                inm = db.execute(
                    "SELECT in_qty_oh, in_qty_all FROM in_mstr WHERE in_part=? AND in_site=?",
                    (item, site),
                ).fetchone()
                if inm:
                    oh = Decimal(inm[0]) + delta
                    db.execute(
                        "UPDATE in_mstr SET in_qty_oh=?, in_qty_avail=? "
                        "WHERE in_part=? AND in_site=?",
                        (str(oh), str(oh - Decimal(inm[1])), item, site),
                    )
                else:
                    db.execute(
                        "INSERT INTO in_mstr VALUES (?,?,?,?,'0',?)",
                        (DOMAIN, item, site, str(delta), str(delta)),
                    )
                cur = db.execute(
                    "INSERT INTO tr_hist (tr_domain, tr_type, tr_part, tr_site, tr_loc, tr_lot, "
                    "tr_qty_loc, tr_effdate, tr_nbr, tr_rmks, tr_date) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        DOMAIN,
                        "ISS-UNP" if issue else "RCT-UNP",
                        item,
                        site,
                        loc,
                        lot,
                        str(delta),
                        eff.isoformat(),
                        ref,
                        _s(header.get("remarks")),
                        datetime.now(UTC).isoformat(),
                    ),
                )
                assert cur.lastrowid is not None
                trnbrs.append(cur.lastrowid)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return trnbrs

    # -- financials -----------------------------------------------------------------------------

    def _post_gl(
        self,
        voucher: int,
        lines: Iterable[tuple[str, str, str, Decimal, str, str]],
        *,
        eff: date,
        year: int,
        per: int,
        daybook: str,
        doc: str,
        doc_typ: str,
    ) -> None:
        ref = f"{daybook}{voucher}"
        for i, (acc, sub, ctr, amt, curr, desc) in enumerate(lines, start=1):
            self.db.execute(
                "INSERT INTO gltr_hist VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    voucher,
                    i,
                    ref,
                    DOMAIN,
                    ENTITY,
                    eff.isoformat(),
                    acc,
                    sub,
                    ctr,
                    "",
                    str(amt),
                    curr,
                    str(amt),
                    daybook,
                    desc,
                    doc,
                    doc_typ,
                    year,
                    per,
                ),
            )

    def invoice(self, key: str, *, by: str = "ar_nbr") -> dict[str, Any] | None:
        col = "ar_po" if by == "reference" else "ar_nbr"
        head = self.one(f"SELECT * FROM ar_mstr WHERE {col}=?", (key,))
        if head is None:
            return None
        head["lines"] = self.query(
            "SELECT * FROM ard_det WHERE ard_nbr=? ORDER BY ard_line", (head["ar_nbr"],)
        )
        return head

    def create_invoice(self, rec: Mapping[str, Any]) -> dict[str, Any]:
        ref = _s(rec.get("reference"))
        if not ref:
            raise BusinessError("reference", "Reference is mandatory")
        cust = _s(rec.get("customerCode"))
        self._customer(cust, "customerCode")
        daybook = _s(rec.get("daybookCode")) or "SALES"
        self._daybook(daybook)
        inv_date = parse_date(rec.get("invoiceDate"), "invoiceDate")
        post = parse_date(rec.get("postingDate") or rec.get("invoiceDate"), "postingDate")
        due = parse_date(rec["dueDate"], "dueDate") if rec.get("dueDate") else inv_date
        year, per = self._open_period(post, "postingDate")
        amount = dec(rec.get("amountTC"), "amountTC")
        curr = _s(rec.get("currencyCode")) or "USD"
        lines = rec.get("lines") or []
        if not lines:
            raise BusinessError("lines", "An invoice needs at least one line")
        parsed = []
        for ln in lines:
            acc = _s(ln.get("glAccount"))
            self._account(acc)
            parsed.append(
                (
                    acc,
                    _s(ln.get("subAccount")),
                    _s(ln.get("costCenter")),
                    dec(ln.get("amountTC"), "amountTC"),
                    _s(ln.get("description")),
                )
            )
        total = sum((p[3] for p in parsed), Decimal(0))
        if total != amount:
            raise BusinessError(
                "amountTC",
                f"Invoice lines total {total} does not equal the invoice amount {amount}",
                str(amount),
                "SIM-140",
            )
        if amount == 0:
            raise BusinessError("amountTC", "Invoice amount cannot be zero", "0")
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("SELECT 1 FROM ar_mstr WHERE ar_po=?", (ref,)).fetchone():
                raise BusinessError(
                    "reference",
                    f"Customer invoice with reference {ref} already exists",
                    ref,
                    "SIM-102",
                )
            nbr = f"CI{self._next('next_inv'):06d}"
            voucher = self._next("next_voucher")
            db.execute(
                "INSERT INTO ar_mstr VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    nbr,
                    DOMAIN,
                    ENTITY,
                    "I",
                    cust,
                    cust,
                    inv_date.isoformat(),
                    post.isoformat(),
                    due.isoformat(),
                    str(amount),
                    curr,
                    ref,
                    daybook,
                    _s(rec.get("description")),
                    voucher,
                    year,
                    per,
                ),
            )
            for i, (acc, sub, cc, amt, desc) in enumerate(parsed, start=1):
                db.execute(
                    "INSERT INTO ard_det VALUES (?,?,?,?,?,?,?)",
                    (nbr, i, acc, sub, cc, str(amt), desc),
                )
            # AR control debit, revenue lines credit (credit = negative gltr_amt).
            gl = [(AR_CONTROL, "", "", amount, curr, nbr)]
            gl += [(acc, sub, cc, -amt, curr, desc) for acc, sub, cc, amt, desc in parsed]
            self._post_gl(
                voucher, gl, eff=post, year=year, per=per, daybook=daybook, doc=ref, doc_typ="IV"
            )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return {"invoiceNumber": nbr, "voucher": voucher, "postingYear": year, "postingPeriod": per}

    def journal(self, key: str, *, by: str = "voucher") -> dict[str, Any] | None:
        if by == "reference":
            rows = self.query(
                "SELECT * FROM gltr_hist WHERE gltr_doc=? AND gltr_doc_typ='JL' ORDER BY gltr_line",
                (key,),
            )
        else:
            try:
                v = int(key)
            except ValueError:
                return None
            rows = self.query(
                "SELECT * FROM gltr_hist WHERE gltr_voucher=? AND gltr_doc_typ='JL' "
                "ORDER BY gltr_line",
                (v,),
            )
        if not rows:
            return None
        head = {
            k: rows[0][k]
            for k in (
                "gltr_voucher",
                "gltr_ref",
                "gltr_eff_dt",
                "gltr_dy_code",
                "gltr_doc",
                "gltr_year",
                "gltr_per",
                "gltr_entity",
            )
        }
        head["lines"] = rows
        return head

    def create_journal(self, rec: Mapping[str, Any]) -> dict[str, Any]:
        ref = _s(rec.get("reference"))
        if not ref:
            raise BusinessError("reference", "Reference is mandatory")
        daybook = _s(rec.get("daybookCode")) or "JE"
        self._daybook(daybook)
        post = parse_date(rec.get("postingDate"), "postingDate")
        year, per = self._open_period(post, "postingDate")
        head_curr = _s(rec.get("currencyCode")) or "USD"
        lines = rec.get("lines") or []
        if len(lines) < 2:
            raise BusinessError("lines", "A journal entry needs at least two lines")
        parsed = []
        debit_total = credit_total = Decimal(0)
        for ln in lines:
            acc = _s(ln.get("glAccount"))
            self._account(acc)
            dr = dec(ln.get("debitTC") or 0, "debitTC")
            cr = dec(ln.get("creditTC") or 0, "creditTC")
            if dr < 0 or cr < 0:
                raise BusinessError("debitTC", "Debit and credit amounts cannot be negative")
            if dr and cr:
                raise BusinessError("creditTC", "A line cannot have both a debit and a credit")
            if not dr and not cr:
                raise BusinessError("debitTC", "A line needs a debit or a credit amount")
            debit_total += dr
            credit_total += cr
            curr = _s(ln.get("currencyCode")) or head_curr
            parsed.append(
                (
                    acc,
                    _s(ln.get("subAccount")),
                    _s(ln.get("costCenter")),
                    dr - cr,
                    curr,
                    _s(ln.get("description")),
                )
            )
        if debit_total != credit_total:
            raise BusinessError(
                "lines",
                f"Journal entry is not balanced: debit {debit_total} credit {credit_total}",
                str(debit_total - credit_total),
                "SIM-150",
            )
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute(
                "SELECT 1 FROM gltr_hist WHERE gltr_doc=? AND gltr_doc_typ='JL'", (ref,)
            ).fetchone():
                raise BusinessError(
                    "reference",
                    f"Journal entry with reference {ref} already exists",
                    ref,
                    "SIM-102",
                )
            voucher = self._next("next_voucher")
            self._post_gl(
                voucher,
                parsed,
                eff=post,
                year=year,
                per=per,
                daybook=daybook,
                doc=ref,
                doc_typ="JL",
            )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return {"voucher": voucher, "postingYear": year, "postingPeriod": per}


def _today() -> str:
    return datetime.now(UTC).date().isoformat()
