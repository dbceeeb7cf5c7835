"""``ml-connector creds set|list|delete|rotate-key``: the encrypted credential vault.

Secrets are never taken from argv (they would show in ``ps`` and shell history): they are read
from a no-echo prompt, or from stdin when it is not a terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from engine.cli.creds_aws import add_aws_parser, aws_credential
from engine.errors import ConfigError, CredentialError
from engine.ops.rotate_key import rotate_master_key
from engine.ops.sim_credentials import fetch_sim_credentials
from engine.security.credentials import REGIONS, AmazonCredential, Credential, QadCredential
from engine.security.keys import ENV_KEY, default_key_file, encode_key
from engine.security.urls import validate_tenant_url
from engine.security.vault import Vault, default_vault_path, open_vault

__all__ = ["register", "run"]

STDIN_HELP = """\
Secrets are never accepted as arguments. On a terminal you are prompted (no echo for secrets).
Without a terminal, stdin is read instead, either
  * a JSON object, e.g. for amazon:
      {"client_id": "...", "client_secret": "...", "refresh_token": "Atzr|...",
       "region": "NA", "seller_id": "...", "next_client_secret": "...",
       "secret_expires": "2026-12-31"}
    or for qad:
      {"tenant_url": "https://acme.qad.com/clouderp", "username": "...", "password": "...",
       "domain": "10USA", "entity": "10USACO"}
  * or one answer per line, in the order of the prompts (values given as options are not
    asked): amazon: client id, client secret, refresh token[, next client secret]
            qad: tenant URL, username, password, domain, entity
Options override JSON fields. For an existing amazon record an empty client secret keeps the
stored one, so `--region EU` adds a region's refresh token to an account.
"""


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "creds",
        help="manage the encrypted credential vault (Amazon LWA, QAD)",
        description=(
            "Store Amazon and QAD credentials encrypted (AES-256-GCM) in the vault file. The "
            f"master key comes from ${ENV_KEY} (base64 of 32 bytes) or a key file created with "
            f"mode 0600 on first use (default {default_key_file()}; $ML_CONNECTOR_KEY_FILE)."
        ),
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--vault",
        type=Path,
        default=None,
        help=f"vault file (default $ML_CONNECTOR_VAULT or {default_vault_path()})",
    )
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    setp = verbs.add_parser(
        "set",
        help="add or replace a credential",
        description=STDIN_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    kinds = setp.add_subparsers(dest="kind", metavar="KIND", required=True)
    am = kinds.add_parser(
        "amazon",
        parents=[common],
        help="SP-API seller account (LWA app + refresh token per region)",
        description=STDIN_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    am.add_argument("--name", default="default", help="record name (config: credential = ...)")
    am.add_argument("--region", choices=REGIONS, default=None, help="region of the token (NA)")
    am.add_argument("--client-id", default=None, help="LWA client id (not secret)")
    am.add_argument("--seller-id", default=None, help="selling partner id (not secret)")
    am.add_argument(
        "--next-secret", action="store_true", help="also ask for the next (rotated) client secret"
    )
    am.add_argument(
        "--secret-expires", default=None, metavar="YYYY-MM-DD", help="client secret expiry date"
    )
    am.add_argument(
        "--from-sim",
        default=None,
        metavar="URL",
        help="store the demo credentials of a local `sim amazon` (e.g. http://127.0.0.1:8600): "
        "every region's refresh token and the seller id; waits up to 30 s for it to start",
    )
    am.set_defaults(func=run)
    qd = kinds.add_parser(
        "qad",
        parents=[common],
        help="QAD tenant login",
        description=STDIN_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    qd.add_argument("--name", default="default", help="record name (config: credential = ...)")
    qd.add_argument("--tenant-url", default=None, help="full tenant URL (https)")
    qd.add_argument("--username", default=None)
    qd.add_argument("--domain", default=None)
    qd.add_argument("--entity", default=None)
    qd.add_argument(
        "--from-sim",
        default=None,
        metavar="TENANT_URL",
        help="store the demo login of a local `sim qad` (its full tenant URL, e.g. "
        "http://127.0.0.1:8081/clouderp); waits up to 30 s for it to start",
    )
    qd.set_defaults(func=run)
    add_aws_parser(kinds, common, run)

    ls = verbs.add_parser("list", parents=[common], help="names and non-secret fields")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=run)

    de = verbs.add_parser("delete", parents=[common], help="remove a credential")
    de.add_argument("kind", choices=("amazon", "qad", "aws"))
    de.add_argument("--name", default="default")
    de.set_defaults(func=run)

    rk = verbs.add_parser(
        "rotate-key",
        parents=[common],
        help="re-encrypt the vault (and PII keys) under a new master key",
        description=(
            "Generate a new master key, re-encrypt every vault record and, with --db, every "
            "buyer-PII data key of those event logs. With a key file, the file is replaced; with "
            f"${ENV_KEY}, the new key is shown once (and kept in a file beside the key file) for "
            "you to put into the variable. Takes each SQLite event log's writer lock: refused "
            "while `run`/`sync` uses it. A PostgreSQL log (--db postgresql://..., no password in "
            "the URL) is rotated beside running engines: from then on those still holding the "
            "old key are refused PII work until restarted with the new one (every machine must "
            "get it). Interrupted? Run the same command again: it finishes the rotation (never "
            "delete the pending key file by hand)."
        ),
    )
    which = rk.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--db",
        type=str,  # not Path: it would fold a URL's "//"
        action="append",
        default=None,
        help="event log whose PII keys to rewrap: a file or a postgresql:// URL (repeat for "
        "several logs)",
    )
    which.add_argument(
        "--skip-pii",
        action="store_true",
        help="no event log holds buyer PII under this key (it would become unreadable)",
    )
    rk.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path: Path = args.vault or default_vault_path()
    verb = args.verb
    if verb == "set":
        return _set(args, path, sys.stdin, sys.stdout)
    if verb == "list":
        return _list(path, as_json=args.json, out=sys.stdout)
    if verb == "delete":
        vault = open_vault(path)
        if not vault.delete(args.kind, args.name):
            raise CredentialError(f"no {args.kind} credential named {args.name!r} in {path}")
        print(f"deleted {args.kind} credential {args.name!r} from {path}")
        return 0
    if verb == "rotate-key":
        return _rotate(path, args.db)
    raise ConfigError(f"unknown creds verb {verb!r}")  # pragma: no cover (argparse guards)


# -- set -----------------------------------------------------------------------------------


class _Answers:
    """Prompts on a terminal; otherwise JSON or one line per prompt from stdin."""

    def __init__(self, stdin: TextIO) -> None:
        self._tty = stdin.isatty()
        self._stdin = stdin
        self.json: dict[str, Any] = {}
        self._lines: list[str] = []
        if not self._tty:
            text = stdin.read()
            if text.lstrip().startswith("{"):
                try:
                    data = json.loads(text)
                except ValueError as exc:
                    raise ConfigError(f"stdin is not valid JSON: {exc}") from None
                if not isinstance(data, dict):
                    raise ConfigError("stdin JSON must be an object")
                self.json = data
            else:
                self._lines = text.splitlines()

    def ask(self, field: str, label: str, *, secret: bool, optional: bool = False) -> str:
        if field in self.json:
            value = self.json[field]
            if not isinstance(value, str):
                raise ConfigError(f"stdin JSON field {field!r} must be a string")
            return value.strip()
        if self.json:
            if optional:
                return ""
            raise ConfigError(f"stdin JSON lacks {field!r}")
        if not self._tty:
            if not self._lines:
                if optional:
                    return ""
                raise ConfigError(f"stdin ended before the {label} (one value per line)")
            return self._lines.pop(0).strip()
        if secret:
            return getpass.getpass(f"{label}: ").strip()
        print(f"{label}: ", end="", file=sys.stderr, flush=True)
        return self._stdin.readline().strip()


def _set(args: argparse.Namespace, path: Path, stdin: TextIO, out: TextIO) -> int:
    cred: Credential
    if args.kind == "aws":
        if args.from_sim:
            raise ConfigError("creds set aws has no --from-sim: give the key on stdin")
        vault = open_vault(path, create=True)
        cred = aws_credential(args, _Answers(stdin))
    elif args.from_sim:
        cred = _from_sim(args)  # before the vault opens: a wrong URL creates no key or vault
        vault = open_vault(path, create=True)
    else:
        vault = open_vault(path, create=True)
        answers = _Answers(stdin)
        cred = _amazon(args, vault, answers) if args.kind == "amazon" else _qad(args, answers)
    vault.put(cred)
    shown = ", ".join(f"{k}={v}" for k, v in cred.public().items() if v)
    print(f"saved {cred.kind} credential {cred.name!r} in {path} ({shown})", file=out)
    return 0


def _amazon(args: argparse.Namespace, vault: Vault, a: _Answers) -> AmazonCredential:
    existing = None
    if ("amazon", args.name) in vault.names("amazon"):
        existing = vault.get_amazon(args.name)
    client_id = args.client_id or a.ask("client_id", "LWA client id", secret=False)
    secret = a.ask(
        "client_secret",
        "LWA client secret" + (" (empty = keep)" if existing else ""),
        secret=True,
        optional=existing is not None,
    )
    if not secret and existing is not None:
        secret = existing.client_secret
    region = args.region or str(a.json.get("region") or "NA")
    if region not in REGIONS:
        raise ConfigError(f"region must be one of {', '.join(REGIONS)}, not {region!r}")
    token = a.ask("refresh_token", f"LWA refresh token for {region}", secret=True)
    if not token.startswith("Atzr|"):
        raise ConfigError("an LWA refresh token starts with 'Atzr|': check what you pasted")
    next_secret: str | None = existing.next_client_secret if existing else None
    if args.next_secret or "next_client_secret" in a.json:
        next_secret = a.ask("next_client_secret", "next LWA client secret", secret=True) or None
    expires_text = args.secret_expires or a.json.get("secret_expires")
    expires = existing.secret_expires if existing else None
    if expires_text:
        try:
            expires = date.fromisoformat(str(expires_text))
        except ValueError:
            raise ConfigError(
                f"--secret-expires must be YYYY-MM-DD, not {expires_text!r}"
            ) from None
    tokens = dict(existing.refresh_tokens) if existing else {}
    tokens[region] = token
    raw_seller = a.json.get("seller_id")
    if raw_seller is not None and not isinstance(raw_seller, str):
        # str() would turn 12345, true or a list into a valid-looking seller id.
        raise ConfigError("stdin JSON field 'seller_id' must be a string")
    seller = args.seller_id or raw_seller or (existing.seller_id if existing else "")
    return AmazonCredential(
        name=args.name,
        client_id=client_id,
        client_secret=secret,
        refresh_tokens=tokens,
        seller_id=seller,
        next_client_secret=next_secret,
        secret_expires=expires,
    )


def _from_sim(args: argparse.Namespace) -> Credential:
    data = fetch_sim_credentials(args.from_sim)

    def text(key: str) -> str:
        value = data.get(key)
        if not isinstance(value, str) or not value:
            raise CredentialError(f"the simulator's credentials lack {key!r}")
        return value

    if args.kind == "qad":
        return QadCredential(
            args.name,
            validate_tenant_url(text("tenant_url")),
            text("username"),
            text("password"),
            text("domain"),
            text("entity"),
        )
    tokens = data.get("refresh_tokens")
    if not isinstance(tokens, dict) or not tokens or not set(tokens) <= set(REGIONS):
        raise CredentialError("the simulator's credentials lack refresh tokens per region")
    return AmazonCredential(
        name=args.name,
        client_id=text("client_id"),
        client_secret=text("client_secret"),
        refresh_tokens={str(r): str(t) for r, t in tokens.items()},
        seller_id=text("seller_id"),
    )


def _qad(args: argparse.Namespace, a: _Answers) -> QadCredential:
    url = validate_tenant_url(
        args.tenant_url or a.ask("tenant_url", "QAD tenant URL", secret=False)
    )
    user = args.username or a.ask("username", "QAD username", secret=False)
    password = a.ask("password", "QAD password", secret=True)
    domain = args.domain or a.ask("domain", "QAD domain", secret=False)
    entity = args.entity or a.ask("entity", "QAD entity", secret=False)
    return QadCredential(args.name, url, user, password, domain, entity)


# -- list / rotate ---------------------------------------------------------------------------


def _list(path: Path, *, as_json: bool, out: TextIO) -> int:
    vault = open_vault(path)
    rows = [
        {"kind": kind, "name": name, **vault.get(kind, name).public()}  # type: ignore[arg-type]
        for kind, name in vault.names()
    ]
    if as_json:
        print(json.dumps(rows, indent=1), file=out)
        return 0
    if not rows:
        print(f"no credentials in {path}", file=out)
        return 0
    for row in rows:
        details = "  ".join(f"{k}={v}" for k, v in row.items() if k not in ("kind", "name") and v)
        print(f"{row['kind']:<7} {row['name']:<16} {details}", file=out)
    return 0


def _rotate(path: Path, dbs: list[str] | None) -> int:
    """The locked, resumable rotation lives in engine.ops.rotate_key; here only the report."""
    done = asyncio.run(rotate_master_key(path, dbs or []))
    if done.resumed and done.outcome != "finished":
        print("finishing an interrupted `creds rotate-key`")
    for db, n in done.rewrapped.items():
        print(f"rewrapped {n} PII data keys in {db}")
    if done.outcome == "replaced":
        print(f"vault {done.vault} re-encrypted. The new master key replaced {done.key_file}.")
        shared = [str(db) for db in done.rewrapped if isinstance(db, str)]  # PostgreSQL URLs
        if shared:
            print(
                f"Engines sharing {', '.join(shared)} with the old key are now refused PII work: "
                f"copy {done.key_file} and {done.vault} to every machine, then restart them."
            )
    elif done.outcome == "finished":
        print(f"key rotation complete: the new master key is in effect ({done.pending} removed).")
    elif done.new_key is not None:
        print(
            f"vault {done.vault} re-encrypted. New master key (shown once; also kept in "
            f"{done.pending}): {encode_key(done.new_key)}\n"
            f"Set {ENV_KEY} to it wherever ml-connector runs, then run `{done.command}` once more "
            "to remove that file. Until then every command refuses to start."
        )
    else:
        print(
            f"everything is already encrypted with the new master key in {done.pending}: set "
            f"{ENV_KEY} to that file's contents, then run `{done.command}` once more."
        )
    return 0
