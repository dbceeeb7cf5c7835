"""``ml-connector creds set aws``: the AWS access key of the notifications queue (SQS).

Its own module so creds.py stays small; the prompts follow the same rules (never argv: a
no-echo prompt on a terminal, else JSON or one line per prompt on stdin).
"""

from __future__ import annotations

import argparse
from typing import Any, Protocol

from engine.security.credentials import AwsCredential

__all__ = ["AWS_HELP", "add_aws_parser", "aws_credential"]

AWS_HELP = """\
The AWS access key that reads the notifications queue ([notifications] in config.toml): it
needs sqs:ReceiveMessage, sqs:DeleteMessage and sqs:GetQueueAttributes on that queue only.
Never given as arguments: prompted on a terminal (no echo for the secret), else stdin holds
  * a JSON object {"access_key_id": "AKIA...", "secret_access_key": "...",
                   "session_token": "..." (temporary credentials only)}
  * or one line each: access key id, secret access key[, session token]
"""


class Answers(Protocol):
    def ask(self, field: str, label: str, *, secret: bool, optional: bool = False) -> str: ...


def add_aws_parser(kinds: Any, common: argparse.ArgumentParser, run: Any) -> None:
    aws = kinds.add_parser(
        "aws",
        parents=[common],
        help="AWS access key of the notifications queue (SQS)",
        description=AWS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    aws.add_argument("--name", default="default", help="record name ([notifications] credential)")
    aws.add_argument("--access-key-id", default=None, help="AWS access key id (not secret)")
    aws.add_argument("--from-sim", default=None, help=argparse.SUPPRESS)  # not for aws
    aws.set_defaults(func=run)


def aws_credential(args: argparse.Namespace, a: Answers) -> AwsCredential:
    key_id = args.access_key_id or a.ask("access_key_id", "AWS access key id", secret=False)
    secret = a.ask("secret_access_key", "AWS secret access key", secret=True)
    token = a.ask("session_token", "AWS session token (empty: none)", secret=True, optional=True)
    return AwsCredential(args.name, key_id, secret, token)
