"""One event log per QAD tenant entity: a claim checked before posting.

Two event logs posting to one tenant race each other's look-up-before-create and duplicate
documents (seen: the same config run from two folders made 149 duplicates). Each log carries a
random identity (table ``deployment`` in the log itself, so it survives a move or a restore of
that log); the first log that posts to a tenant entity records itself as its claimer, and any
other log is refused with a clear error until an operator moves the claim
(``ml-connector tenant claim``). Where the claim is kept follows the log:

- an SQLite log: ``<config dir>/tenants/<hash of URL + entity>.json`` on this machine (a file
  lock serialises two engines starting at once);
- a PostgreSQL log: table ``mlc_control.tenant_claims`` in the log's database. That log is
  shared by workers on several machines, which a file on one of them cannot guard; and each
  partition's log may sit in its own schema (its ``search_path``), so the claims live in one
  schema every partition shares and are always named with it. A claim is one row per
  (normalised tenant URL, entity), taken by ``INSERT ... ON CONFLICT DO NOTHING`` and read back
  locked in the same transaction: of two logs claiming at once exactly one holds the row.

Evidence gap: a marker inside QAD itself would also guard logs in two databases (or an SQLite
file and a PostgreSQL log), but no QAD entity is known to be writable for that on every tenant
(see the QAD real-tenant issue); until one is, the guard covers one machine's files or one
PostgreSQL database.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import asdict, astuple, dataclass
from datetime import UTC, datetime
from pathlib import Path

from engine.config.database import is_postgresql_url
from engine.errors import ConfigError, StoreError
from engine.log.opening import open_event_log
from engine.log.ports import EventLog
from engine.ops.status import existing_log
from engine.security.keys import config_dir
from engine.security.vault import atomic_write

__all__ = [
    "TenantClaim",
    "claim_for_config",
    "claim_tenant",
    "claims_dir",
    "current_claim",
    "log_identity",
    "show_claim",
]

_DEPLOYMENT = "CREATE TABLE IF NOT EXISTS deployment (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
# PostgreSQL's own DDL (native): schema-qualified, never in the log's search_path schema.
CONTROL_SCHEMA = "mlc_control"
_CLAIMS = f"""
CREATE SCHEMA IF NOT EXISTS {CONTROL_SCHEMA};
CREATE TABLE IF NOT EXISTS {CONTROL_SCHEMA}.tenant_claims (
    tenant     TEXT NOT NULL,  -- the normalised tenant URL (_normalise)
    entity     TEXT NOT NULL,
    tenant_url TEXT NOT NULL,  -- as the claimer's config gave it
    log_id     TEXT NOT NULL,  -- the claimer's deployment log_id
    db         TEXT NOT NULL,  -- where that log was (its label: no user, no password)
    claimed_at TEXT NOT NULL,
    PRIMARY KEY (tenant, entity)
);
"""
_CLAIM_COLUMNS = "tenant_url, entity, log_id, db, claimed_at"


@dataclass(frozen=True, slots=True)
class TenantClaim:
    tenant_url: str
    entity: str
    log_id: str
    db: str  # where that log was when it claimed (for the operator; the id is what counts)
    claimed_at: str


def claims_dir(env: Mapping[str, str] | None = None) -> Path:
    return config_dir(env) / "tenants"


def _normalise(tenant_url: str) -> str:
    # Scheme and host are case-insensitive; the context root is kept as given (it is a path).
    head, sep, rest = tenant_url.rstrip("/").partition("://")
    host, slash, path = rest.partition("/")
    return f"{head.lower()}{sep}{host.lower()}{slash}{path}"


def _claim_path(tenant_url: str, entity: str, directory: Path) -> Path:
    digest = hashlib.sha256(f"{_normalise(tenant_url)}\n{entity}".encode()).hexdigest()[:32]
    return directory / f"{digest}.json"


async def log_identity(log: EventLog) -> str:
    """This log's random identity, created on first use (the same for every later open)."""
    await log.ensure_schema(_DEPLOYMENT)
    async with log.transaction() as tx:
        await tx.execute(
            "INSERT OR IGNORE INTO deployment (key, value) VALUES ('log_id', ?)",
            (secrets.token_hex(16),),
        )
        rows = await tx.fetchall("SELECT value FROM deployment WHERE key = 'log_id'")
    return str(rows[0][0])


def _where(log: EventLog) -> str:
    """The log's place for the operator: a resolved file path, or the PostgreSQL label (which
    never carries a user or password)."""
    return str(Path(log.label).resolve()) if log.capabilities.single_file else log.label


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise claimers of one tenant (two engines starting at once)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _read(path: Path) -> TenantClaim | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return TenantClaim(**{k: str(data[k]) for k in TenantClaim.__dataclass_fields__})
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StoreError(
            f"tenant claim {path} is unreadable ({exc}); remove it and run "
            "`ml-connector tenant claim --config F` for the one event log that feeds this tenant"
        ) from None


def current_claim(
    tenant_url: str, entity: str, *, directory: Path | None = None
) -> TenantClaim | None:
    """The file claim of this machine (SQLite logs)."""
    return _read(_claim_path(tenant_url, entity, directory or claims_dir()))


def _refusal(tenant_url: str, entity: str, existing: TenantClaim) -> ConfigError:
    return ConfigError(
        f"QAD tenant {tenant_url} entity {entity or '(default)'} is already fed by another "
        f"event log ({existing.db}, claimed {existing.claimed_at}); two logs posting to "
        f"one tenant duplicate documents. Use that log (check [engine] db), or, if it is "
        f"gone for good, move the claim: ml-connector tenant claim --config <file>"
    )


def _claim_of(log: EventLog, tenant_url: str, entity: str, log_id: str) -> TenantClaim:
    return TenantClaim(
        tenant_url=tenant_url,
        entity=entity,
        log_id=log_id,
        db=_where(log),
        claimed_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


async def claim_tenant(
    log: EventLog,
    tenant_url: str,
    entity: str,
    *,
    directory: Path | None = None,
    take_over: bool = False,
) -> tuple[TenantClaim, TenantClaim | None]:
    """Record that ``log`` feeds the tenant entity; refuse if another log already does.

    Returns (the claim now in force, the previous claim if ``take_over`` replaced one).
    ``directory`` (the file claims' folder) applies to an SQLite log only.
    """
    my_id = await log_identity(log)
    if log.capabilities.backend == "postgresql":
        return await _claim_in_database(log, tenant_url, entity, my_id, take_over=take_over)
    path = _claim_path(tenant_url, entity, directory or claims_dir())
    with _locked(path):
        existing = _read(path)
        if existing is not None and existing.log_id == my_id:
            return existing, None
        if existing is not None and not take_over:
            raise _refusal(tenant_url, entity, existing)
        mine = _claim_of(log, tenant_url, entity, my_id)
        atomic_write(path, json.dumps(asdict(mine), indent=1).encode())
    return mine, existing


async def _claim_in_database(
    log: EventLog, tenant_url: str, entity: str, my_id: str, *, take_over: bool
) -> tuple[TenantClaim, TenantClaim | None]:
    """The claim as a row of ``mlc_control.tenant_claims`` (see the module doc)."""
    await log.ensure_schema(_CLAIMS, native=True)  # under the log's DDL lock: no CREATE race
    mine = _claim_of(log, tenant_url, entity, my_id)
    key = (_normalise(tenant_url), entity)
    async with log.transaction() as tx:
        # A claimer that inserted first and has not committed yet makes this wait for its
        # COMMIT (then insert nothing) or ROLLBACK (then insert): never two rows, never an error.
        inserted = await tx.execute(
            f"INSERT INTO {CONTROL_SCHEMA}.tenant_claims (tenant, {_CLAIM_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, entity) DO NOTHING",
            (key[0], *astuple(mine)),
        )
        if inserted:
            return mine, None
        # Locked until COMMIT: a concurrent take-over waits for this one's decision.
        rows = await tx.fetchall(
            f"SELECT {_CLAIM_COLUMNS} FROM {CONTROL_SCHEMA}.tenant_claims "
            "WHERE tenant = ? AND entity = ? FOR UPDATE",
            key,
        )
        existing = TenantClaim(*(str(v) for v in rows[0]))
        if existing.log_id == my_id:
            return existing, None
        if not take_over:
            raise _refusal(tenant_url, entity, existing)
        await tx.execute(
            f"UPDATE {CONTROL_SCHEMA}.tenant_claims SET tenant_url = ?, log_id = ?, db = ?, "
            "claimed_at = ? WHERE tenant = ? AND entity = ?",
            (mine.tenant_url, mine.log_id, mine.db, mine.claimed_at, *key),
        )
    return mine, existing


async def _database_claim(log: EventLog, tenant_url: str, entity: str) -> TenantClaim | None:
    [(table,)] = await log.query(f"SELECT to_regclass('{CONTROL_SCHEMA}.tenant_claims')")
    if table is None:  # no log of this database has claimed anything yet
        return None
    rows = await log.query(
        f"SELECT {_CLAIM_COLUMNS} FROM {CONTROL_SCHEMA}.tenant_claims "
        "WHERE tenant = ? AND entity = ?",
        (_normalise(tenant_url), entity),
    )
    return TenantClaim(*(str(v) for v in rows[0])) if rows else None


async def show_claim(
    db: str, tenant_url: str, entity: str, *, directory: Path | None = None
) -> TenantClaim | None:
    """``tenant show``: the claim in force for the tenant entity where the log ``db`` keeps
    its claims (this machine's file for an SQLite log, its database for a PostgreSQL one)."""
    if not is_postgresql_url(db):
        return current_claim(tenant_url, entity, directory=directory)
    async with open_event_log(db, readonly=True) as log:
        return await _database_claim(log, tenant_url, entity)


async def claim_for_config(
    db: str, tenant_url: str, entity: str, *, directory: Path | None = None
) -> tuple[TenantClaim, TenantClaim | None]:
    """``tenant claim``: make the event log ``db`` the one feeding the tenant (takes over)."""
    target = existing_log(db)  # never a new or empty file
    if is_postgresql_url(target):
        # Nor a database without a log: a read-only open refuses one (a writable open would
        # create an empty log there and hand it the tenant).
        async with open_event_log(target, readonly=True):
            pass
    async with open_event_log(target) as log:
        return await claim_tenant(log, tenant_url, entity, directory=directory, take_over=True)
