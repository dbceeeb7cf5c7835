"""Hostile event-log matrix (hardening issue item 13): every CLI command that takes an event log,
against a log file that is missing, random bytes, a directory, read-only (chmod 0444 of a valid
log), zero bytes, or damaged (a valid first page over garbage pages).

Each cell runs ``engine.cli.main`` in-process (a few also as ``python -m engine`` to catch what
the interpreter itself would print) and checks: the exit code expected for that cell (table in
``expect``), exactly one ``ml-connector: ...`` line on stderr for a failure, no "Traceback"
anywhere, and that nothing that only reads ever creates or changes a file. Network targets are
a loopback server answering 404 to everything, so commands that get past the log fail at once
with one line (QAD paths "not found (HTTP 404)", exit 2) instead of retrying.

Running as root (a container), chmod does not stop writes; the read-only cells then run with the
effective uid of ``nobody`` (seteuid, restored after), in a work folder outside pytest's 0700
base so that user can reach it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import http.server
import io
import json
import logging
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.cli import main
from engine.commands.outbox import Outbox
from engine.commands.records import AttemptRecord
from engine.commands.vocabulary import make_command
from engine.config import Config, to_toml
from engine.log import NewEvent, SQLiteEventLog
from engine.security.credentials import AmazonCredential, QadCredential
from engine.security.keys import encode_key, generate_key
from engine.security.pii import PiiSealer
from engine.security.vault import Vault

ROOT = Path(__file__).resolve().parents[2]
NOBODY = 65534
ROOTED = os.geteuid() == 0
KEY = generate_key()  # one per run: the template log's PII keys are wrapped by it
STATES = ("missing", "corrupt", "directory", "readonly", "empty", "damaged")
NOT_FOUND = ("does not exist", "not found")


# -- the world: a loopback 404 server, key, vault, config, a template log ---------------------


class _NotFound(http.server.BaseHTTPRequestHandler):
    def _answer(self) -> None:
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_PUT = do_PATCH = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def qad_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/clouderp"
    server.shutdown()
    server.server_close()


async def _seed(db: Path) -> str:
    """A small valid log: orders, a settlement, a parked command, an old sealed address."""
    cmd = make_command("qad.sales_order.create", "qad", "111", "AMZ-111", {"order": "111"})
    async with SQLiteEventLog.open(db) as log:
        outbox = Outbox(log)
        await outbox.ensure()
        sealer = PiiSealer.from_log(log, KEY)
        await sealer.ensure_schema()
        ship = await sealer.seal("111", {"Name": "Ottoline Vandermeer"})
        await log.append(
            [
                NewEvent("amazon.orders", "OrderFetched", "111", {"status": "Pending"}),
                NewEvent("amazon.orders", "OrderFetched", "111", {"status": "Shipped", "a": ship}),
                NewEvent("amazon.settlements", "SettlementFetched", "S9", {"t": "1"}),
            ]
        )
        async with log.transaction() as tx:
            await outbox.add_commands(tx, [cmd], "orders")
            await tx.execute("UPDATE pii_keys SET created_at = '2000-01-01T00:00:00.000000Z'")
        await outbox.record_attempt(
            AttemptRecord(cmd.command_id, datetime.now(UTC), "-", "post", "HTTP 422", "parked")
        )
    return cmd.command_id


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    db = tmp_path_factory.mktemp("template") / "events.db"
    return db, asyncio.run(_seed(db))


@dataclass(frozen=True)
class World:
    work: Path
    data: Path
    db: Path
    config: Path
    vault: Path
    command_id: str
    template: Path
    qad_url: str

    def argv(self, text: str) -> list[str]:
        subst = {
            "DB": str(self.db),
            "CFG": str(self.config),
            "CMD": self.command_id,
            "OTHER_QAD": self.qad_url.replace("/clouderp", "/other"),
            "BACKUP_TO": str(self.work / "backup.db"),
            "BACKUP": str(self.work / "template.db"),
            "VAULT": str(self.vault),
        }
        return [subst.get(word, word) for word in text.split()]


def write_config(path: Path, db: str, qad_url: str, raw: Path) -> None:
    cfg = Config()
    cfg = dataclasses.replace(
        cfg,
        engine=dataclasses.replace(cfg.engine, db=db),
        amazon=dataclasses.replace(
            cfg.amazon, endpoint="http://127.0.0.1:9/{region}", lwa_url="http://127.0.0.1:9/t"
        ),
        qad=dataclasses.replace(cfg.qad, tenant_url=qad_url),
        poll=dataclasses.replace(cfg.poll, raw_dir=str(raw)),
    )
    path.write_text(to_toml(cfg), encoding="utf-8")


@pytest.fixture
def world(
    monkeypatch: pytest.MonkeyPatch, qad_url: str, template: tuple[Path, str]
) -> Iterator[World]:
    work = Path(tempfile.mkdtemp(prefix="ml-hard-matrix-"))
    work.chmod(0o755)
    for name in [k for k in os.environ if k.startswith("ML_CONNECTOR_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ML_CONNECTOR_KEY", encode_key(KEY))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(work / "xdg"))
    vault = work / "xdg" / "ml-connector" / "vault.bin"
    v = Vault.open(vault, KEY, create=True)
    v.put(AmazonCredential("default", "amzn1.app", "s3cret", {"NA": "Atzr|token"}))
    v.put(QadCredential("default", qad_url, "user", "pw", "10USA", "10USACO"))
    data = work / "data"
    data.mkdir()
    shutil.copyfile(template[0], work / "template.db")  # `log restore --from`
    (work / "cfg").mkdir()
    config = work / "cfg" / "config.toml"
    write_config(config, str(data / "events.db"), qad_url, work / "raw")
    try:
        yield World(
            work, data, data / "events.db", config, vault, template[1], template[0], qad_url
        )
    finally:
        for d, _, _ in os.walk(work):
            Path(d).chmod(0o755)
        shutil.rmtree(work, ignore_errors=True)


def make_state(w: World, state: str) -> None:
    db = w.db
    if state == "corrupt":
        db.write_bytes(random.Random(13).randbytes(8192))
    elif state == "directory":
        db.mkdir()
    elif state == "empty":
        db.write_bytes(b"")
    elif state in ("readonly", "damaged", "valid"):
        shutil.copyfile(w.template, db)
        db.chmod(0o600)
        if state == "damaged":
            raw = bytearray(db.read_bytes())
            raw[4096:] = random.Random(7).randbytes(len(raw) - 4096)
            db.write_bytes(bytes(raw))
        elif state == "readonly":
            db.chmod(0o444)


@contextlib.contextmanager
def unprivileged(w: World) -> Iterator[None]:
    """As root, run the block as ``nobody`` so file modes mean what they say."""
    if not ROOTED:
        yield
        return
    for d, dirs, files in os.walk(w.work):
        for name in (d, *(os.path.join(d, f) for f in dirs + files)):
            os.lchown(name, NOBODY, NOBODY)
    os.setegid(NOBODY)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def snapshot(directory: Path) -> dict[str, bytes | None]:
    """Every entry below ``directory`` with its bytes (None for a directory)."""
    out: dict[str, bytes | None] = {}
    for p in sorted(directory.rglob("*")):
        out[str(p.relative_to(directory))] = None if p.is_dir() else p.read_bytes()
    return out


def drop_reader_files(before: dict[str, bytes | None], after: dict[str, bytes | None]) -> None:
    """SQLite's own reader files of an existing WAL log are not "a file created by a command":
    any reader of a WAL database makes an empty ``-wal`` and a ``-shm`` index beside it (SQLite
    has no reader mode without them, short of ``immutable``, which is unsafe beside a writer).
    The log itself and everything else must stay byte-for-byte the same."""
    if after.get("events.db-wal", b"") == b"" and "events.db-wal" not in before:
        after.pop("events.db-wal", None)
        if "events.db-shm" not in before:
            after.pop("events.db-shm", None)


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code if isinstance(exc.code, int) else 2
    except Exception as exc:
        out, err = capsys.readouterr()
        pytest.fail(f"{argv} raised {type(exc).__name__}: {exc}\nstdout={out}\nstderr={err}")
    out, err = capsys.readouterr()
    return code, out, err


def assert_failed_cleanly(code: int, out: str, err: str, codes: set[int], *needles: str) -> str:
    """A failure: expected code, one ``ml-connector:`` line on stderr, no traceback."""
    assert "Traceback" not in out + err, out + err
    assert code in codes, f"exit {code}, expected {codes}: {err}"
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {lines}"
    assert lines[0].startswith("ml-connector: "), lines
    if needles:
        assert any(n in lines[0] for n in needles), f"none of {needles} in {lines[0]!r}"
    return lines[0]


# -- the matrix -------------------------------------------------------------------------------

# id -> (argv, role). Roles: "read" only reads the log; "write" needs an existing log and writes
# it; "engine" opens the engine (creates a missing log, as `sync` must); "source" reads the log
# and writes its own replay outbox beside it.
COMMANDS: dict[str, tuple[str, str]] = {
    "status": ("status --db DB", "read"),
    "status-json": ("status --db DB --json", "read"),
    "audit": ("audit --db DB 111", "read"),
    "log-stats": ("log stats --db DB", "read"),
    "log-show": ("log show --db DB 111", "read"),
    "log-check": ("log check --db DB", "check"),
    "log-backup": ("log backup --db DB --to BACKUP_TO", "read"),
    "log-restore": ("log restore --from BACKUP --db DB", "restore"),
    "rebuild-dry-run": ("rebuild --config CFG --dry-run", "read"),
    "rebuild-dry-run-db": ("rebuild --config CFG --dry-run --db DB", "read"),
    "replay-parked": ("replay --db DB --parked", "write"),
    "replay-command": ("replay --db DB --command CMD", "write"),
    "purge-pii": ("purge-pii --db DB --older-than 30", "write"),
    "rebuild-no-dispatch": ("rebuild --config CFG --no-dispatch", "write"),
    "rebuild": ("rebuild --config CFG", "write"),
    "tenant-claim": ("tenant claim --config CFG", "write"),
    "rotate-key": ("creds rotate-key --db DB", "write"),
    "sync-once": ("sync --config CFG --once", "engine"),
    "run": ("run --config CFG", "engine"),
    "replay-to-tenant": (
        "replay --db DB --to-tenant OTHER_QAD --entity 20X --config CFG",
        "source",
    ),
}
# The 404 loopback QAD: what a command says once it got past the event log.
QAD_404 = ("404",)
READ_ONLY = ("read-only", "readonly")


@dataclass(frozen=True)
class Expect:
    codes: set[int]
    needles: tuple[str, ...] = ()  # one of them is in the stderr line (none: exit 0)
    untouched: bool = True  # the data folder is byte-for-byte as before
    lock_ok: bool = False  # ... except that a writer may leave <db>.lock
    created: bool = False  # a valid log exists afterwards
    report: bool = False  # a failure may be a report on stdout instead of one stderr line


def expect(role: str, state: str) -> Expect:
    """The contract of each cell (roles in COMMANDS; "check" reads, "restore" writes the db)."""
    writer = role in ("write", "engine")
    if role == "restore":  # the db is the target: only a missing one is written (no --force)
        if state == "missing":
            return Expect({0}, untouched=False, created=True)
        return Expect({1, 2}, ("exists", "directory"), lock_ok=True)
    if state == "missing":
        if role == "engine":  # sync/run create their log, then fail on the 404 QAD
            return Expect({2}, QAD_404, untouched=False, created=True)
        return Expect({2}, NOT_FOUND)  # never a new file
    if state == "directory":
        return Expect({2}, ("directory",))
    if state in ("corrupt", "damaged"):
        return Expect({1}, ("events.db",), lock_ok=writer, report=role == "check")
    if state == "empty":
        if role == "engine":  # an empty file is a log not created yet (no -wal beside it)
            return Expect({2}, QAD_404, untouched=False, created=True)
        return Expect({1}, ("empty",))
    assert state == "readonly"
    if role in ("read", "check"):
        return Expect({0})
    if role == "source":  # the source is only read; the replay outbox goes beside it
        return Expect({2}, QAD_404, untouched=False)
    return Expect({1}, READ_ONLY, lock_ok=True)


XFAIL: dict[str, str] = {}  # command id -> reason, for a cell known to fail


def cells() -> Iterator[object]:
    for cid, (_, role) in COMMANDS.items():
        for state in STATES:
            marks = []
            if cid in XFAIL:
                marks.append(pytest.mark.xfail(reason=XFAIL[cid], strict=False))
            yield pytest.param(cid, role, state, id=f"{cid}-{state}", marks=marks)


@pytest.mark.parametrize(("cid", "role", "state"), list(cells()))
def test_matrix(
    world: World, capsys: pytest.CaptureFixture[str], cid: str, role: str, state: str
) -> None:
    make_state(world, state)
    exp = expect(role, state)
    before = snapshot(world.data)
    argv = world.argv(COMMANDS[cid][0])
    ctx = unprivileged(world) if state == "readonly" else contextlib.nullcontext()
    with ctx:
        code, out, err = run_cli(argv, capsys)
    if exp.codes == {0}:
        assert "Traceback" not in out + err
        assert code == 0, f"exit {code}: {err}"
    elif exp.report and code == 1 and not err:
        assert "Traceback" not in out and "CORRUPT" in out, out
    else:
        assert_failed_cleanly(code, out, err, exp.codes, *exp.needles)
    after = snapshot(world.data)
    if exp.untouched:
        if exp.lock_ok:
            after.pop("events.db.lock", None)
        drop_reader_files(before, after)
        assert after == before, f"files changed: {sorted(set(after) ^ set(before))}"
    if exp.created:
        assert world.db.is_file() and world.db.stat().st_size > 0


# -- the same cells as a real process: nothing the interpreter prints on its own --------------

SUBPROCESS_CELLS = [
    ("status", "corrupt"),
    ("status", "damaged"),
    ("log-stats", "directory"),
    ("audit", "empty"),
    ("purge-pii", "damaged"),
    ("replay-parked", "missing"),
    ("sync-once", "corrupt"),
    ("rebuild-dry-run", "damaged"),
]


@pytest.mark.parametrize(
    ("cid", "state"), SUBPROCESS_CELLS, ids=[f"{c}-{s}" for c, s in SUBPROCESS_CELLS]
)
def test_matrix_as_a_process(world: World, cid: str, state: str) -> None:
    make_state(world, state)
    argv, role = COMMANDS[cid]
    exp = expect(role, state)
    proc = subprocess.run(
        [sys.executable, "-m", "engine", *world.argv(argv)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert_failed_cleanly(proc.returncode, proc.stdout, proc.stderr, exp.codes, *exp.needles)


@pytest.mark.parametrize("days", ["1e308", "inf", "nan", "-1", "0", "-0", "36501"])
def test_purge_pii_refuses_absurd_ages(
    world: World, capsys: pytest.CaptureFixture[str], days: str
) -> None:
    make_state(world, "valid")
    before = snapshot(world.data)
    code, out, err = run_cli(["purge-pii", "--db", str(world.db), "--older-than", days], capsys)
    assert_failed_cleanly(code, out, err, {2}, "--older-than")
    assert snapshot(world.data) == before


def test_purge_pii_absurd_age_as_a_process(world: World) -> None:
    make_state(world, "valid")
    proc = subprocess.run(
        [sys.executable, "-m", "engine", "purge-pii", "--db", str(world.db), "--older-than=1e308"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert_failed_cleanly(proc.returncode, proc.stdout, proc.stderr, {2}, "--older-than")


# -- the log in a directory nobody may write to: no lock file can be created ------------------

LOCKED_DIR_READERS = ("status", "audit", "log-stats", "rebuild-dry-run")
LOCKED_DIR_WRITERS = ("purge-pii", "replay-parked", "sync-once", "tenant-claim")


@pytest.mark.parametrize("cid", LOCKED_DIR_READERS + LOCKED_DIR_WRITERS)
def test_log_in_a_read_only_directory(
    world: World, capsys: pytest.CaptureFixture[str], cid: str
) -> None:
    make_state(world, "valid")
    before = snapshot(world.data)
    world.data.chmod(0o555)
    with unprivileged(world):
        code, out, err = run_cli(world.argv(COMMANDS[cid][0]), capsys)
    if cid in LOCKED_DIR_READERS:
        assert code == 0 and "Traceback" not in out + err, err
    else:
        assert_failed_cleanly(code, out, err, {1}, "lock", "read-only", "readonly")
    assert snapshot(world.data) == before


# -- config values the loader refuses: sync says so in one line -------------------------------


def test_sync_with_raw_dir_that_is_a_file(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    (world.work / "rawfile").write_text("not a folder\n", encoding="utf-8")
    write_config(world.config, str(world.db), world.qad_url, world.work / "rawfile")
    code, out, err = run_cli(world.argv("sync --config CFG --once"), capsys)
    assert_failed_cleanly(code, out, err, {2}, "poll.raw_dir")
    assert not world.db.exists()


@pytest.mark.parametrize("cid", ["sync-once", "run", "rebuild-dry-run", "tenant-claim"])
def test_empty_db_setting(world: World, capsys: pytest.CaptureFixture[str], cid: str) -> None:
    write_config(world.config, "", world.qad_url, world.work / "raw")
    code, out, err = run_cli(world.argv(COMMANDS[cid][0]), capsys)
    assert_failed_cleanly(code, out, err, {2}, "engine.db")
    assert sorted(p.name for p in world.work.iterdir()) == [
        "cfg",
        "data",
        "template.db",
        "xdg",
    ]


# -- a mistyped $ML_CONNECTOR_KEY_FILE: never a new key for a command that needs the old one --

NEEDS_KEY = {
    "status-vault": "status --db DB --vault VAULT",
    "sync-once": "sync --config CFG --once",
    "creds-list": "creds list",
    "creds-set": "creds set qad --name second",  # the vault exists: its key must too
}


def _typo_key_file(world: World, monkeypatch: pytest.MonkeyPatch) -> Path:
    typo = world.work / "keys" / "mastr.key"
    monkeypatch.delenv("ML_CONNECTOR_KEY")
    monkeypatch.setenv("ML_CONNECTOR_KEY_FILE", str(typo))
    make_state(world, "valid")
    return typo


@pytest.mark.parametrize("cid", NEEDS_KEY)
def test_mistyped_key_file_creates_no_key(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, cid: str
) -> None:
    typo = _typo_key_file(world, monkeypatch)
    code, out, err = run_cli(world.argv(NEEDS_KEY[cid]), capsys)
    assert_failed_cleanly(code, out, err, {2}, str(typo))
    assert not typo.parent.exists(), "a new key was created"


@pytest.mark.parametrize("cid", NEEDS_KEY)
def test_mistyped_key_file_is_reported_missing(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, cid: str
) -> None:
    _typo_key_file(world, monkeypatch)
    code, out, err = run_cli(world.argv(NEEDS_KEY[cid]), capsys)
    assert_failed_cleanly(code, out, err, {2}, "does not exist")


# -- creds set (JSON on stdin): refresh tokens with whitespace, seller ids that are no string -

BAD_AMAZON_FIELDS: dict[str, dict[str, object]] = {
    "token-space": {"refresh_token": "Atzr|abc def"},
    "token-tab": {"refresh_token": "Atzr|abc\tdef"},
    "token-newline": {"refresh_token": "Atzr|abc\ndef"},
    "seller-int": {"seller_id": 12345},
    "seller-bool": {"seller_id": True},
    "seller-list": {"seller_id": ["A1SELLER"]},
    "seller-object": {"seller_id": {"id": "A1SELLER"}},
    "seller-space": {"seller_id": "A1 SELLER"},
}


def _creds_set(
    world: World,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    fields: dict[str, object],
) -> tuple[int, str, str]:
    doc = {"client_id": "amzn1.app", "client_secret": "s3", "refresh_token": "Atzr|ok", **fields}
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(doc)))
    return run_cli(["creds", "set", "amazon", "--name", "second"], capsys)


@pytest.mark.parametrize("case", BAD_AMAZON_FIELDS)
def test_creds_set_refuses(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    before = world.vault.read_bytes()
    code, out, err = _creds_set(world, capsys, monkeypatch, BAD_AMAZON_FIELDS[case])
    line = assert_failed_cleanly(code, out, err, {2})
    assert "abc" not in line, "the secret was echoed"
    assert world.vault.read_bytes() == before


def test_creds_set_accepts_a_clean_record(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = _creds_set(world, capsys, monkeypatch, {"seller_id": "A1SELLER"})
    assert code == 0, err
    assert "seller_id=A1SELLER" in out


# -- a dry-run rebuild is read-only, also on a log no projector has run on yet ----------------


def test_rebuild_dry_run_on_a_never_projected_log(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    async def seed() -> None:
        async with SQLiteEventLog.open(world.db) as log:
            await log.append([NewEvent("amazon.orders", "OrderFetched", "9", {"x": 1})])

    asyncio.run(seed())
    (world.data / "events.db.lock").unlink(missing_ok=True)
    before = world.db.read_bytes()
    code, out, err = run_cli(world.argv("rebuild --config CFG --dry-run"), capsys)
    assert code == 0, err
    assert "rebuild: 1 events re-projected" in out
    assert world.db.read_bytes() == before
    assert not (world.data / "events.db.lock").exists()  # no writer lock: safe beside a sync
    with contextlib.closing(sqlite3.connect(f"file:{world.db}?mode=ro", uri=True)) as con:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
    assert "commands" not in tables


# -- the last-resort handler: an OS or SQLite error nobody anticipated is still one line ------


@pytest.mark.parametrize(
    "exc",
    [
        PermissionError(13, "Permission denied", "/var/lib/x/events.db"),
        sqlite3.DatabaseError("database disk image is malformed\n(page 7)"),
    ],
    ids=["oserror", "sqlite"],
)
def test_unanticipated_file_errors_are_one_line(
    world: World,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    exc: Exception,
) -> None:
    import engine.cli.status as status_cli

    async def boom(log: object) -> dict[str, object]:
        raise exc

    make_state(world, "valid")
    monkeypatch.setattr(status_cli, "collect_status", boom)
    with caplog.at_level(logging.DEBUG, logger="engine.cli"):
        code, out, err = run_cli(["-v", "status", "--db", str(world.db)], capsys)
    line = assert_failed_cleanly(code, out, err, {1})
    assert ("/var/lib/x/events.db" in line) if isinstance(exc, OSError) else ("page 7" in line)
    assert any(r.exc_info for r in caplog.records), "-v must keep the traceback"
