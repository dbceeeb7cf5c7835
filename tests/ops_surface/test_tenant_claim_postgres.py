"""The tenant claim of a PostgreSQL log lives in its database (``mlc_control.tenant_claims``).

Workers on several machines share one PostgreSQL log, which a claim file on one machine cannot
guard; and partitions keep their logs in schemas of one database. So two logs in two schemas of
one database are two claimers: the second is refused with the SQLite error, two claiming at
once leave exactly one winner, and ``tenant claim`` moves the claim. The same rules hold for
two SQLite files with the file claim (parametrised), which a PostgreSQL log never touches.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from pathlib import Path

import pytest

from engine.errors import ConfigError, StoreError
from engine.log.opening import open_event_log
from engine.log.ports import EventLog
from engine.ops.tenant_lease import (
    CONTROL_SCHEMA,
    claim_for_config,
    claim_tenant,
    claims_dir,
    log_identity,
    show_claim,
)

TENANT = "https://acme.qad.example/clouderp"
ENTITY = "10USA"
REFUSED = "already fed by another event log"

Opener = Callable[[], AbstractAsyncContextManager[EventLog]]


def _opener(target: str, namespace: str | None = None) -> Opener:
    def opened() -> AbstractAsyncContextManager[EventLog]:
        return open_event_log(target, namespace=namespace)

    return opened


@pytest.fixture(params=["sqlite", "postgresql"])
def two_logs(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Opener, Opener, str]:
    """(log A, log B, B's ``[engine] db`` for ``tenant claim``): two SQLite files, or on
    PostgreSQL a partition's log in schema ``mlc_a`` and the log in the database's default
    schema, both in one database."""
    if request.param == "sqlite":
        a, b = str(tmp_path / "a.db"), str(tmp_path / "b.db")
        return _opener(a), _opener(b), b
    dsn = str(request.getfixturevalue("pg_dsn"))
    return _opener(dsn, "mlc_a"), _opener(dsn), dsn


async def test_a_second_log_is_refused_and_tenant_claim_moves_the_claim(
    two_logs: tuple[Opener, Opener, str],
) -> None:
    open_a, open_b, db_b = two_logs
    async with open_a() as a, open_b() as b:
        id_a, id_b = await log_identity(a), await log_identity(b)
        assert id_a != id_b
        mine, previous = await claim_tenant(a, TENANT, ENTITY)
        assert (mine.log_id, previous) == (id_a, None)
        assert await claim_tenant(a, TENANT, ENTITY) == (mine, None)  # the same log: no change
        # The URL as another config may spell it (scheme and host case, trailing slash).
        for url in (TENANT, "HTTPS://ACME.qad.example/clouderp/"):
            with pytest.raises(ConfigError, match=REFUSED) as refused:
                await claim_tenant(b, url, ENTITY)
            assert a.label in str(refused.value) and "tenant claim" in str(refused.value)
        # Another entity of the tenant is another claim.
        other, _ = await claim_tenant(b, TENANT, "20DEU")
        assert other.log_id == id_b
        a_label, b_label = a.label, b.label
    shown = await show_claim(db_b, TENANT, ENTITY)
    assert shown is not None and shown.log_id == id_a and shown.db.endswith(Path(a_label).name)

    moved, was = await claim_for_config(db_b, TENANT, ENTITY)
    assert moved.log_id == id_b and was is not None and was.log_id == id_a
    async with open_a() as a, open_b() as b:
        with pytest.raises(ConfigError, match=REFUSED):
            await claim_tenant(a, TENANT, ENTITY)
        assert (await claim_tenant(b, TENANT, ENTITY))[0].log_id == id_b
    shown = await show_claim(db_b, TENANT, ENTITY)
    assert shown is not None and shown.log_id == id_b and shown.db.endswith(Path(b_label).name)


async def test_the_claim_of_a_postgresql_log_is_a_row_of_its_database(pg_dsn: str) -> None:
    async with open_event_log(pg_dsn, namespace="mlc_a") as a:
        mine, _ = await claim_tenant(a, TENANT, ENTITY)
        rows = await a.query(
            f"SELECT tenant, entity, tenant_url, log_id, db FROM {CONTROL_SCHEMA}.tenant_claims"
        )
        assert rows == [(TENANT, ENTITY, TENANT, mine.log_id, a.label)]
        assert "mlc_a" in a.label and "tenant_claims" not in await a.tables()
    # Nothing on this machine: the file claims' folder is not even created.
    assert not claims_dir().exists()


async def test_logs_claiming_at_once_leave_exactly_one_winner(pg_dsn: str) -> None:
    schemas = [f"mlc_w{i}" for i in range(6)]
    async with AsyncExitStack() as stack:
        opened = [
            await stack.enter_async_context(open_event_log(pg_dsn, namespace=s)) for s in schemas
        ]
        ids = {await log_identity(log): log for log in opened}  # identities exist before
        assert len(ids) == len(opened)
        for round_ in range(5):
            entity = f"E{round_}"

            async def claim(log: EventLog, entity: str = entity) -> str:
                return (await claim_tenant(log, TENANT, entity))[0].log_id

            calls: list[Awaitable[str]] = [claim(log) for log in opened]
            outcomes = await asyncio.gather(*calls, return_exceptions=True)
            winners = [o for o in outcomes if isinstance(o, str)]
            refused = [o for o in outcomes if not isinstance(o, str)]
            assert len(winners) == 1, outcomes
            assert all(isinstance(e, ConfigError) and REFUSED in str(e) for e in refused), refused
            rows = await opened[0].query(
                f"SELECT log_id FROM {CONTROL_SCHEMA}.tenant_claims WHERE entity = ?", (entity,)
            )
            assert rows == [(winners[0],)]


async def test_tenant_claim_needs_an_existing_postgresql_log(pg_cluster) -> None:  # type: ignore[no-untyped-def]
    empty = pg_cluster.new_database()
    with pytest.raises(StoreError, match="not an event log"):
        await claim_for_config(empty, TENANT, ENTITY)
    with pytest.raises(StoreError, match="not an event log"):
        await show_claim(empty, TENANT, ENTITY)
    # The refused claim created nothing there: a read-only open still finds no log.
    with pytest.raises(StoreError, match="not an event log"):
        async with open_event_log(empty, readonly=True):
            pass
