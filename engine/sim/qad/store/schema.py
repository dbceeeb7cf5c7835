"""The simulated tenant's tables (named as in QAD SE), their seed, and the GL calendar.

Classic QAD tables hold the business state; ``sim_*`` tables hold the state of QAD's stateful UI
flows (lines initialised or field-changed but not committed, unplanned-receipt trees handed out
by init), kept on disk so a simulator restart mid-flow behaves like a tenant that kept its
session state.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from engine.sim import business

__all__ = ["DECIMAL_COLUMNS", "DOMAIN", "ENTITY", "SITES", "create", "ensure_periods"]

DOMAIN = "10USA"
ENTITY = "10USACO"
SITES = {"10-100": "Main warehouse", "10-FBA": "Amazon FBA stock"}
DAYBOOKS = {"SALES": "Customer invoices", "JE": "Journal entries", "INV": "Inventory"}
DEFAULT_LOC = "010"
INITIAL_ON_HAND = Decimal(100)

_TABLES = """
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
CREATE TABLE IF NOT EXISTS sim_sod_pending (nbr TEXT, line INTEGER, PRIMARY KEY (nbr, line));
CREATE TABLE IF NOT EXISTS sim_sod_changed (nbr TEXT, line INTEGER, field TEXT, value TEXT,
  PRIMARY KEY (nbr, line, field));
CREATE TABLE IF NOT EXISTS sim_unplanned (header_id TEXT PRIMARY KEY, kind TEXT, site TEXT,
  detail_id TEXT, item TEXT, qty TEXT, committed INTEGER, created TEXT);
"""

# Columns added after the first release: created on new files, added to older state files.
_ADDED_COLUMNS: dict[str, tuple[str, ...]] = {
    "so_mstr": (
        "so_shipvia",
        "so_lang",
        "so_daybookset",
        "so_ex_rate",
        "so_ex_rate2",
        "so_conf",
        "so_ship_addr",  # JSON of the header's shipToAddress (merchant-fulfilled orders)
        "so_rmks",  # remarks: the business PO / VAT id when [qad.fields] so_remarks is set
    ),
    "sod_det": ("sod_status", "sod_disc"),
}

# Look-ups filter on these case-insensitively (browse filters are case-insensitive text).
_INDEXES = """
CREATE INDEX IF NOT EXISTS so_po_idx ON so_mstr (so_po);
CREATE INDEX IF NOT EXISTS so_po_lower_idx ON so_mstr (lower(so_po));
CREATE INDEX IF NOT EXISTS gltr_doc_idx ON gltr_hist (gltr_doc, gltr_doc_typ);
CREATE INDEX IF NOT EXISTS gltr_doc_lower_idx ON gltr_hist (lower(gltr_doc));
CREATE INDEX IF NOT EXISTS tr_nbr_lower_idx ON tr_hist (lower(tr_nbr));
CREATE INDEX IF NOT EXISTS ar_po_lower_idx ON ar_mstr (lower(ar_po));
CREATE INDEX IF NOT EXISTS ld_part_lower_idx ON ld_det (lower(ld_part));
"""

# TEXT columns holding Decimals (converted back on read).
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
        "sod_disc",
        "ar_amt",
        "ard_amt",
        "gltr_amt",
        "gltr_curramt",
    }
)


def create(db: sqlite3.Connection) -> None:
    """Tables, late columns and indexes; the seed on a new file."""
    db.executescript(_TABLES)
    for table, columns in _ADDED_COLUMNS.items():
        have = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
        for col in columns:
            if col not in have:
                default = "'0'" if col == "sod_disc" else "''"
                db.execute(f"ALTER TABLE {table} ADD COLUMN {col} TEXT DEFAULT {default}")
    db.executescript(_INDEXES)
    if db.execute("SELECT value FROM meta WHERE key='seeded'").fetchone() is None:
        _seed(db)
    _seed_charge_items(db)


# Non-inventory items the connector posts an order's charges on ([orders] shipping_item,
# gift_wrap_item, tax_item defaults): item type "NI" [G: a QAD user's usual setup for freight
# or tax lines on a sales order], no stock rows. Also added to simulators seeded before them.
CHARGE_ITEMS = {
    "AMZ-SHIP": "Amazon shipping charge",
    "AMZ-GIFT": "Amazon gift wrap charge",
    "AMZ-TAX": "Amazon sales tax / VAT",
}


def _seed_charge_items(db: sqlite3.Connection) -> None:
    db.execute("BEGIN IMMEDIATE")
    for code, desc in CHARGE_ITEMS.items():
        db.execute(
            "INSERT OR IGNORE INTO pt_mstr VALUES (?,?,?,?,?,?,?,?,?)",
            (DOMAIN, code, desc, "Amazon order charge", "EA", "CHG", "0", "ACTIVE", "NI"),
        )
    db.execute("COMMIT")


def _seed(db: sqlite3.Connection) -> None:
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
                "INSERT INTO in_mstr VALUES (?,?,?,?,?,?)", (DOMAIN, it.item_code, site, q, "0", q)
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


def ensure_periods(db: sqlite3.Connection, start: date, end: date) -> None:
    """Calendar-month periods; existing rows (and their open/closed flag) are kept."""
    y, m = start.year, start.month
    db.execute("BEGIN IMMEDIATE")
    while date(y, m, 1) <= end:
        first = date(y, m, 1)
        nxt = date(y + (m == 12), m % 12 + 1, 1)
        db.execute(
            "INSERT OR IGNORE INTO glc_cal VALUES (?,?,?,?,0)",
            (y, m, first.isoformat(), (nxt - timedelta(days=1)).isoformat()),
        )
        y, m = nxt.year, nxt.month
    db.execute("COMMIT")
