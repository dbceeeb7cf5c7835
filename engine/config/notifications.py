"""``[notifications]``: the optional ORDER_CHANGE accelerator (Amazon Notifications -> SQS).

Own module so its keys and their checks stay together (model.py only adds the section). Off by
default: the orders poller is the safety net either way [D Amazon: "build a backup mechanism"].
Whether the section hangs together (queue URL, region, endpoint) is checked when the config is
loaded, so a wrong value is a ConfigError before data moves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from engine.config.checks import checked, ranged
from engine.config.urls import is_loopback_host, validate_service_url
from engine.errors import ConfigError

__all__ = ["NotificationsConfig", "check_notifications"]

# AWS region names: us-east-1, eu-west-2, ap-southeast-1, us-gov-west-1, cn-north-1 [D].
_AWS_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")
_AWS_HOSTS = (".amazonaws.com", ".amazonaws.com.cn")
_LOGIN = "the AWS access key lives in the vault (`ml-connector creds set aws`)"


def _aws_region(value: Any, where: str) -> None:
    if value != "" and not _AWS_REGION.fullmatch(str(value)):
        raise ConfigError(f'{where} must be an AWS region like "us-east-1", got {value!r}')


def _url(what: str) -> Any:
    def check(value: Any, where: str) -> None:
        if value != "":
            sqs_url(str(value), what=where)

    return check


def sqs_url(url: str, *, what: str) -> str:
    """An SQS URL receives signed AWS requests: https to ``*.amazonaws.com`` (or
    ``*.amazonaws.com.cn``), or a local stand-in on loopback (http or https), nothing else."""
    text = validate_service_url(url, what=what, example=_EXAMPLE, login=_LOGIN)
    host = (urlsplit(text).hostname or "").lower()
    if is_loopback_host(host):
        return text
    if not text.startswith("https://") or not (host.endswith(_AWS_HOSTS)):
        raise ConfigError(
            f"{what} must be https://...amazonaws.com (AWS), or a local stand-in on "
            f"127.0.0.1/localhost; got host {host!r}"
        )
    return text


_EXAMPLE = "https://sqs.us-east-1.amazonaws.com/123456789012/ml-connector-orders"


@dataclass(frozen=True, slots=True)
class NotificationsConfig:
    """``[notifications]``: consume ORDER_CHANGE notifications from an SQS Standard queue."""

    enabled: bool = False
    # The queue's URL (SQS GetQueueUrl / console), e.g. _EXAMPLE.
    sqs_queue_url: str = checked("", _url("sqs_queue_url"))
    aws_region: str = checked("", _aws_region)
    # SQS endpoint override for a local stand-in (moto's server in tests): loopback only,
    # unless https to amazonaws.com. Empty: the region's public SQS endpoint.
    endpoint: str = checked("", _url("endpoint"))
    credential: str = "default"  # vault record aws:<name>
    # Long poll: ReceiveMessage WaitTimeSeconds 0-20, MaxNumberOfMessages 1-10 [D SQS API].
    wait_s: int = ranged(20, 0, 20)
    max_messages: int = ranged(10, 1, 10)
    # A received message stays invisible this long; not deleted by then (a crash): redelivered.
    visibility_timeout_s: int = ranged(60, 0, 43200)
    # After the first message, keep receiving this long so repeated order ids coalesce into
    # one getOrder (Amazon may send several changes of one order close together).
    coalesce_s: float = ranged(2.0, 0, 60)
    # Bodies above this are refused unread (left for the queue's redrive policy / DLQ).
    # ORDER_CHANGE bodies are a few kB; SQS allows 256 KiB [D].
    max_body_bytes: int = ranged(65536, 1024, 262144)


def check_notifications(cfg: NotificationsConfig, source: str) -> None:
    """The section as a whole: enabled needs a queue URL and a region that agree."""
    if not cfg.enabled:
        return
    where = f"{source}: [notifications]"
    if not cfg.sqs_queue_url:
        raise ConfigError(f"{where} enabled = true needs sqs_queue_url (e.g. {_EXAMPLE})")
    if not cfg.aws_region:
        raise ConfigError(f'{where} enabled = true needs aws_region (e.g. "us-east-1")')
    host = (urlsplit(cfg.sqs_queue_url).hostname or "").lower()
    if host.endswith(_AWS_HOSTS):
        # sqs.<region>.amazonaws.com: a queue of another region would sign for the wrong one.
        if f".{cfg.aws_region}." not in f".{host}":
            raise ConfigError(
                f"{where} sqs_queue_url is in another region than aws_region "
                f"{cfg.aws_region!r} (host {host!r})"
            )
    elif not cfg.endpoint:
        raise ConfigError(
            f"{where} sqs_queue_url points at a local stand-in ({host}): set endpoint to it too"
        )
    if not cfg.credential or ":" in cfg.credential:
        raise ConfigError(f"{where} credential must name a vault record (creds set aws --name)")
