"""One event log per QAD tenant entity: a claim recorded on this machine, checked before posting.

Two event logs posting to one tenant race each other's look-up-before-create and duplicate
documents (seen: the same config run from two folders made 149 duplicates). Each log carries a
random identity (table ``deployment`` in the log file, so it survives a move or a restore of
that file); the first log that posts to a tenant entity records itself in
``<config dir>/tenants/<hash of URL + entity>.json``, and any other log is refused with a clear
error until an operator moves the claim (``ml-connector tenant claim``).

Evidence gap: a marker inside QAD itself would also guard two machines, but no QAD entity is
known to be writable for that on every tenant (see the QAD real-tenant issue); until one is, the
guard covers one machine, which is where the duplicates were made.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from engine.errors import ConfigError, StoreError
from engine.log.ports import EventLog
from engine.log.sqlite import SQLiteEventLog
from engine.ops.status import existing_db
from engine.security.keys import config_dir
from engine.security.vault import atomic_write

__all__ = [
    "TenantClaim",
    "claim_for_config",
    "claim_tenant",
    "claims_dir",
    "current_claim",
    "log_identity",
]

_DEPLOYMENT = "CREATE TABLE IF NOT EXISTS deployment (key TEXT PRIMARY KEY, value TEXT NOT NULL);"


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
    return _read(_claim_path(tenant_url, entity, directory or claims_dir()))


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
    """
    my_id = await log_identity(log)
    path = _claim_path(tenant_url, entity, directory or claims_dir())
    with _locked(path):
        existing = _read(path)
        if existing is not None and existing.log_id == my_id:
            return existing, None
        if existing is not None and not take_over:
            raise ConfigError(
                f"QAD tenant {tenant_url} entity {entity or '(default)'} is already fed by another "
                f"event log ({existing.db}, claimed {existing.claimed_at}); two logs posting to "
                f"one tenant duplicate documents. Use that log (check [engine] db), or, if it is "
                f"gone for good, move the claim: ml-connector tenant claim --config <file>"
            )
        mine = TenantClaim(
            tenant_url=tenant_url,
            entity=entity,
            log_id=my_id,
            db=_where(log),
            claimed_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        atomic_write(path, json.dumps(asdict(mine), indent=1).encode())
    return mine, existing


async def claim_for_config(
    db: str, tenant_url: str, entity: str, *, directory: Path | None = None
) -> tuple[TenantClaim, TenantClaim | None]:
    """``tenant claim``: make the event log ``db`` the one feeding the tenant (takes over)."""
    async with SQLiteEventLog.open(existing_db(db)) as log:  # never a new or empty file
        return await claim_tenant(log, tenant_url, entity, directory=directory, take_over=True)
