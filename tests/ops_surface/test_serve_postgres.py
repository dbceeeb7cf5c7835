"""``ml-connector serve --db postgresql://...``: the status page alone on a PostgreSQL log.

``serve`` checks an SQLite ``--db`` as a file (exit 2 for a wrong path); a URL has no file to
check and goes to the server as it is. As a real process: the page comes up over the log's
contents and SIGTERM stops it (exit 0); a database without a log, or one that does not exist,
is one line and exit 1, never a traceback, and a password in the URL is never shown.
"""

from __future__ import annotations

import asyncio
import os
from urllib.parse import urlsplit, urlunsplit

from engine.log.opening import open_event_log
from engine.log.records import NewEvent
from tests.web.test_serve_run import _cli, _free_port, _get_until, _stop

PASSWORD = "s3cret-never-shown"


def _missing_database(dsn: str) -> str:
    """``dsn`` with a password and a database name the cluster does not have."""
    parts = urlsplit(dsn)
    netloc = f"{parts.username or 'mlc'}:{PASSWORD}@{parts.hostname}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, "/no_such_database", "", ""))


async def test_serve_takes_a_postgresql_url(pg_dsn: str, pg_cluster) -> None:  # type: ignore[no-untyped-def]
    async with open_event_log(pg_dsn) as log:
        await log.append(
            [NewEvent("qad.items", "ItemSeen", sku, {"item": sku}, "test") for sku in ("A", "B")]
        )
    env = dict(os.environ)
    port = _free_port()
    proc = await _cli(env, "serve", "--db", pg_dsn, "--bind", f"127.0.0.1:{port}")
    try:
        html = await _get_until(f"http://127.0.0.1:{port}/", "Overview", proc)
    finally:
        out, err = await _stop(proc)
    assert proc.returncode == 0 and "stopped" in out, err
    assert "event log head 2" in html, html

    for db, words in (
        (pg_cluster.new_database(), "not an event log"),
        (_missing_database(pg_dsn), "cannot open event log"),
    ):
        proc = await _cli(env, "serve", "--db", db, "--bind", f"127.0.0.1:{_free_port()}")
        async with asyncio.timeout(60):
            raw_out, raw_err = await proc.communicate()
        text = raw_out.decode() + raw_err.decode()
        assert proc.returncode == 1, text
        assert words in text and "Traceback" not in text and PASSWORD not in text, text
        assert len(raw_err.decode().strip().splitlines()) == 1, text
