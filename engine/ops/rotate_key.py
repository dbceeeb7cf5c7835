"""``creds rotate-key``: move the vault and every buyer-PII data key to a new master key.

Crash-safe, resumable, and it keeps engines from writing under the retired key. Files beside the
key file (``engine.security.keys``): ``master.key.new`` (the pending new key) and
``master.key.rotation`` (a journal naming the key ids, the vault and the event logs, so a rerun
covers the same data).

Keeping others out, before anything is written (``engine.ops.rotate_key_logs`` opens the logs):

1. ``<key file>.lock`` (flock): one rotation per key at a time on this machine.
2. An SQLite log: its writer lock, by opening it with ``SQLiteEventLog.open`` (the ``<db>.lock``
   flock every writer takes), held to the end. A running ``sync``/``run``/``purge-pii`` makes
   rotate-key refuse at once with one line and nothing changed (we refuse rather than wait:
   ``run`` never ends by itself). The other way round, a sync started on this machine during a
   rotation is refused by ``load_master_key``, which hands out no key while a pending key exists.
3. A PostgreSQL log (``--db postgresql://...``): engines on several machines share it, so no
   lock is held for the rotation and running engines are not refused; they are FENCED
   (engine/security/pii_keys_postgres.py). The log's ``pii_master`` row names (by fingerprint)
   the master key that wraps ``pii_keys``; every new PII key is stored under a shared advisory
   lock after checking that row; the rewrap takes the lock exclusively (waiting for seals in
   flight), rewraps every row and moves the row to the new key in one transaction. From its
   commit an engine still holding the old key is refused whenever it stores or opens a PII key
   ("the master key was rotated by another process; restart with the new key") and stores
   nothing: its orders poll fails and is fetched again later (the watermark commits only with
   the events), and a sales order whose ship-to it cannot open parks (retry it after restart).

Steps, in order; each name is also a crash point of the test hook (``CRASH_ENV``):

``validated``        every lock held, the vault opens, every db is an event log and every live
                     PII key opens: nothing has been written yet
``pending-written``  the new key is in ``master.key.new`` (0600, file and directory fsync'd)
``journal-written``  the journal is written (atomically)
``pii-rewrapped``    one event log's PII keys are re-wrapped (one transaction per log; on
                     PostgreSQL the fenced one, which also moves ``pii_master``)
``vault-rotated``    the vault is re-encrypted under the new key (atomic replace)
``key-replaced``     ``master.key.new`` renamed over the key file (atomic); the journal goes next
``env-recorded``     with ``$ML_CONNECTOR_KEY``: journal says only the variable is left to change
``pending-removed``  with ``$ML_CONNECTOR_KEY`` already set to the new key: the rerun that
                     removes the pending file (and then the journal)

Once the pending key exists the rotation only rolls forward, and every step is idempotent and
probes instead of trusting the journal: the vault is opened with the new key, else the old one;
``PiiSealer.rewrap`` keeps keys that already open under the new key and moves the others (on
PostgreSQL a ``pii_master`` already naming the new key is accepted). So each PII key is readable
under one of the two keys at every instant, both keys are on disk until the last rename, and
running the same command again finishes the job.

Why the event logs before the vault: a crash between the two leaves the logs under the new key
and the vault under the old, both keys on disk, and the rerun finishes it (either order would be
recoverable so). The logs go first because that is the step that can fail for reasons outside
this machine (the fence waits at most the log's lock timeout for seals in flight, the server may
be gone, a key may be under a third master key), and failing there leaves the vault and the key
file as they were; the vault step is a local atomic rename [I].

Several machines on one PostgreSQL log must share ONE master key, the one ``pii_master`` names
(an engine with any other key is refused at its first PII key): give every machine the same
``$ML_CONNECTOR_KEY`` from the deployment's secret store (a systemd credential, an orchestrator
secret), or a copy of the 0600 key file where ``$ML_CONNECTOR_KEY_FILE`` points (never beside
the vault), plus a copy of the vault. Rotate on ONE machine (the key-file lock is per machine; a
rotation elsewhere with a third key finds the fence moved and refuses), then copy the new key
and the re-encrypted vault to every machine and restart its workers; until then their PII work
is refused as above, and nothing is lost.

With ``$ML_CONNECTOR_KEY`` the key cannot be replaced by us: the rotation ends with everything
under the new key, which stays in ``master.key.new`` and is shown once; every command then
refuses (with that advice) until the variable holds it, and one more ``rotate-key`` run with the
new variable removes the pending file.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from engine.errors import CredentialError, StoreBusy, StoreError
from engine.log.ports import EventLog
from engine.ops.rotate_key_logs import Target, check_target, has_pii_keys, open_target, targets
from engine.security.keys import (
    AWAITING_ENV,
    ENV_KEY,
    STARTED,
    RotationJournal,
    default_key_file,
    fsync_dir,
    generate_key,
    key_id,
    load_master_key,
    pending_key_file,
    read_pending_key,
    rotation_journal,
    write_key_file,
)
from engine.security.pii import PiiSealer
from engine.security.vault import Vault, atomic_write

__all__ = ["CRASH_ENV", "STEPS", "Rotation", "rotate_master_key"]

# Test hook, read only here: when set to one of STEPS the process dies right after that step as
# if killed (os._exit, no cleanup), so tests can prove every intermediate state recoverable.
# Harmless if set by mistake: it only produces a state a real kill could produce.
CRASH_ENV = "ML_CONNECTOR_TEST_CRASH_AT"
STEPS = (
    "validated",
    "pending-written",
    "journal-written",
    "pii-rewrapped",
    "vault-rotated",
    "key-replaced",
    "env-recorded",
    "pending-removed",
)


@dataclass(frozen=True, slots=True)
class Rotation:
    """What ``rotate_master_key`` did.

    ``outcome``: ``replaced`` (key file now holds the new key), ``awaiting-env`` (everything is
    under the key in ``pending``; $ML_CONNECTOR_KEY must be set to it) or ``finished`` (an earlier
    rotation was completed by this run; nothing was re-encrypted).
    """

    outcome: str
    vault: Path
    key_file: Path
    pending: Path
    command: str
    resumed: bool = False
    rewrapped: dict[Target, int] = field(default_factory=dict)
    new_key: bytes | None = None  # set once, when the operator must store it in $ML_CONNECTOR_KEY


async def rotate_master_key(
    vault: Path, dbs: Sequence[str | Path], env: Mapping[str, str] | None = None
) -> Rotation:
    """Rotate (or finish an interrupted rotation of) the master key; see the module doc.
    ``dbs``: SQLite files and PostgreSQL URLs."""
    for db in targets((), dbs):
        check_target(db)  # a URL with a password is refused before any file is touched
    env = os.environ if env is None else env
    key_file = default_key_file(env)
    vault = vault.expanduser().absolute()
    with _rotation_lock(key_file):
        current = load_master_key(env, create=False, forbid_dir=vault.parent, allow_pending=True)
        pending_key = read_pending_key(key_file)
        journal = RotationJournal.read(key_file)
        if journal is not None and Path(journal.vault) != vault:
            raise CredentialError(
                f"the unfinished key rotation is for vault {journal.vault}, not {vault}: run "
                f"`{journal.command()}`"
            )
        paths = targets(journal.dbs if journal else (), dbs)
        for db in paths:
            check_target(db)
        run = _Run(env, key_file, vault, paths, current, pending_key, journal)
        async with AsyncExitStack() as stack:
            for db in paths:
                run.logs[db] = await open_target(stack, db)
            if pending_key is None and journal is not None:
                return await run.after_lost_pending()
            if pending_key is not None and pending_key == current:
                return await run.finish_env()
            return await run.forward()


class _Run:
    """One rotation run under its locks: the paths, both keys and the event logs, opened."""

    def __init__(
        self,
        env: Mapping[str, str],
        key_file: Path,
        vault: Path,
        dbs: list[Target],
        current: bytes,
        pending_key: bytes | None,
        journal: RotationJournal | None,
    ) -> None:
        self.env = env
        self.key_file = key_file
        self.pending = pending_key_file(key_file)
        self.journal_path = rotation_journal(key_file)
        self.vault = vault
        self.dbs = dbs
        self.current = current
        self.pending_key = pending_key
        self.journal = journal
        self.logs: dict[Target, EventLog] = {}
        self.from_env = bool(env.get(ENV_KEY))

    @property
    def command(self) -> str:
        dbs = tuple(str(d) for d in self.dbs)
        return RotationJournal("", "", "", str(self.vault), dbs).command()

    def result(
        self,
        outcome: str,
        *,
        resumed: bool,
        rewrapped: dict[Target, int] | None = None,
        new_key: bytes | None = None,
    ) -> Rotation:
        return Rotation(
            outcome,
            self.vault,
            self.key_file,
            self.pending,
            self.command,
            resumed,
            rewrapped or {},
            new_key,
        )

    def step(self, name: str) -> None:
        if self.env.get(CRASH_ENV) == name:
            os._exit(137)

    async def sealers(self, master: bytes) -> list[tuple[Target, PiiSealer]]:
        out = []
        for db, log in self.logs.items():
            if await has_pii_keys(log):  # SQLite without the table: it never sealed any PII
                sealer = PiiSealer.from_log(log, master)
                postgres = log.capabilities.backend == "postgresql"
                if postgres and {"pii_keys", "pii_master"} - await log.tables():
                    # The fence's table, e.g. on a log with no key yet. Only then: its DDL
                    # (CREATE INDEX IF NOT EXISTS) would wait for every seal writing the table.
                    await sealer.ensure_schema()
                out.append((db, sealer))
        return out

    async def forward(self) -> Rotation:
        """Fresh rotation (no pending key) or roll an interrupted one forward."""
        resumed = self.pending_key is not None
        new = self.pending_key or generate_key()
        keep = f"; keep {self.pending}" if resumed else ""
        vault, vault_done = self.open_vault(new if resumed else None)
        sealers = await self.sealers(self.current)
        for db, sealer in sealers:
            try:
                await sealer.rewrap(new, dry_run=True)
            except CredentialError as exc:
                raise CredentialError(f"{db}: {exc}{keep}") from None
        self.step("validated")
        if not resumed:
            write_key_file(self.pending, new)
            self.step("pending-written")
        old = self.journal
        state = old.state if old is not None and old.new_key_id == key_id(new) else STARTED
        dbs = tuple(str(d) for d in self.dbs)
        want = RotationJournal(state, key_id(self.current), key_id(new), str(self.vault), dbs)
        if want != old:
            atomic_write(self.journal_path, want.dumps())
            self.step("journal-written")
        counts: dict[Target, int] = {}
        for db, sealer in sealers:
            try:
                counts[db] = await sealer.rewrap(new)
            except (CredentialError, StoreError) as exc:  # that log's transaction rolled back
                raise type(exc)(
                    f"{db}: {exc}; the rotation is unfinished: run `{self.command}` again "
                    f"(keep {self.pending})"
                ) from None
            self.step("pii-rewrapped")
        if not vault_done:
            vault.rotate_key(new)
        self.step("vault-rotated")
        if self.from_env:
            first = state != AWAITING_ENV
            if first:
                atomic_write(self.journal_path, replace(want, state=AWAITING_ENV).dumps())
            self.step("env-recorded")
            shown = new if first else None
            return self.result("awaiting-env", resumed=resumed, rewrapped=counts, new_key=shown)
        os.replace(self.pending, self.key_file)  # the commit point: the new key is in effect
        fsync_dir(self.key_file.parent)
        self.step("key-replaced")
        _remove(self.journal_path)
        return self.result("replaced", resumed=resumed, rewrapped=counts)

    async def finish_env(self) -> Rotation:
        """$ML_CONNECTOR_KEY already holds the pending key: drop the pending file if all data is
        under it (else the variable was changed too early and the old key is still needed)."""
        premature = CredentialError(
            f"${ENV_KEY} already holds the new key but the rotation is unfinished; set it back to "
            f"the previous key and run this command again (keep {self.pending})"
        )
        try:
            Vault.open(self.vault, self.current)
            for _, sealer in await self.sealers(self.current):
                await sealer.rewrap(self.current, dry_run=True)
        except CredentialError:
            raise premature from None
        _remove(self.pending)
        self.step("pending-removed")
        _remove(self.journal_path)
        return self.result("finished", resumed=True)

    async def after_lost_pending(self) -> Rotation:
        """A journal without its pending key: the key file already holds the new key (we died
        after the rename), or someone deleted the pending key file."""
        assert self.journal is not None
        if key_id(self.current) == self.journal.new_key_id:
            _remove(self.journal_path)
            return self.result("finished", resumed=True)
        try:  # deleted: harmless only if nothing had been moved to it yet
            Vault.open(self.vault, self.current)
            for _, sealer in await self.sealers(self.current):
                await sealer.rewrap(self.current, dry_run=True)
        except CredentialError as exc:
            raise CredentialError(
                f"the pending key file {self.pending} of an unfinished rotation is missing and "
                f"some data is already encrypted with it ({exc}); restore that file from a "
                "backup and run this command again"
            ) from None
        _remove(self.journal_path)
        self.journal = None
        return await self.forward()

    def open_vault(self, new: bytes | None) -> tuple[Vault, bool]:
        """The vault and whether it is already under ``new`` (probe: new key first, then old)."""
        if new is not None:
            try:
                return Vault.open(self.vault, new), True
            except CredentialError:
                pass  # not re-encrypted yet (or damaged: the current key's error says which)
            try:
                return Vault.open(self.vault, self.current), False
            except CredentialError as exc:
                raise CredentialError(
                    f"{exc}; it opens with neither the current nor the pending key: nothing "
                    f"changed, keep {self.pending}"
                ) from None
        return Vault.open(self.vault, self.current), False


@contextmanager
def _rotation_lock(key_file: Path) -> Iterator[None]:
    key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(key_file.with_name(key_file.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreBusy(
            f"another `creds rotate-key` is running for {key_file}; nothing changed"
        ) from None
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    fsync_dir(path.parent)
