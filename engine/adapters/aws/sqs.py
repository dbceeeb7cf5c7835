"""An SQS Standard queue read with aiobotocore: long-poll receive, batch delete, attributes.

Why aiobotocore: the well-kept asyncio client on botocore (signing, retries of throttling,
endpoint rules) [D aiobotocore README]. It is an optional extra (``pip install
'ml-connector[sqs]'``): imported only when ``[notifications] enabled``, so the engine runs
without it otherwise. The AWS key goes only to the configured SQS endpoint (config checks:
https ``*.amazonaws.com``, or loopback for a local stand-in).

Errors map onto the engine's tree: throttling, 5xx and connection failures are retriable;
a refused key or a missing queue is fatal (the flow is marked refused in status, the poller
keeps running).
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from engine.errors import AuthError, ConfigError, Rejected, RemoteUnavailable
from engine.security.credentials import AwsCredential

if TYPE_CHECKING:
    from types_aiobotocore_sqs.client import SQSClient

__all__ = ["QueueMessage", "SqsQueue"]

log = logging.getLogger(__name__)

# Error codes that mean the key or its permissions are wrong [D SQS/IAM common errors].
_AUTH_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
        "ExpiredToken",
        "InvalidSecurity",
    }
)
_MISSING_QUEUE = frozenset(
    {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "NonExistentQueue"}
)


@dataclass(frozen=True, slots=True)
class QueueMessage:
    """One received message. ``body`` is untrusted text; ``receive_count`` is SQS's
    ApproximateReceiveCount (a redelivery has 2 or more)."""

    message_id: str
    receipt_handle: str
    body: str
    receive_count: int


class SqsQueue:
    """``async with SqsQueue(url, region, credential) as q: await q.receive(...)``."""

    def __init__(
        self,
        queue_url: str,
        region: str,
        credential: AwsCredential,
        *,
        endpoint: str = "",
        timeout_s: float = 30.0,
    ) -> None:
        self.queue_url = queue_url
        self.region = region
        self._credential = credential
        self._endpoint = endpoint or None
        self._timeout_s = timeout_s
        self._stack: AsyncExitStack | None = None
        self._client: SQSClient | None = None

    async def __aenter__(self) -> Self:
        try:
            from aiobotocore.config import AioConfig
            from aiobotocore.session import get_session
        except ImportError:  # the optional extra is missing
            raise ConfigError(
                "[notifications] enabled needs the sqs extra: pip install 'ml-connector[sqs]'"
            ) from None
        stack = AsyncExitStack()
        cred = self._credential
        config = AioConfig(
            # The long poll holds the connection up to 20 s: the read timeout must exceed it.
            read_timeout=self._timeout_s + 20,
            connect_timeout=self._timeout_s,
            retries={"max_attempts": 3, "mode": "standard"},
        )
        self._client = await stack.enter_async_context(
            get_session().create_client(
                "sqs",
                region_name=self.region,
                endpoint_url=self._endpoint,
                aws_access_key_id=cred.access_key_id,
                aws_secret_access_key=cred.secret_access_key,
                aws_session_token=cred.session_token or None,
                config=config,
            )
        )
        self._stack = stack
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._stack is not None:
            await self._stack.aclose()
        self._stack = self._client = None

    @property
    def client(self) -> SQSClient:
        if self._client is None:
            raise RuntimeError("SqsQueue used outside `async with`")
        return self._client

    async def receive(
        self, *, max_messages: int, wait_s: int, visibility_timeout_s: int
    ) -> list[QueueMessage]:
        """One ReceiveMessage (long poll up to ``wait_s``); [] when the queue stayed empty."""
        resp = await self._call(
            "ReceiveMessage",
            self.client.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=max_messages,
                WaitTimeSeconds=wait_s,
                VisibilityTimeout=visibility_timeout_s,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            ),
        )
        out: list[QueueMessage] = []
        for m in resp.get("Messages") or []:
            attrs = m.get("Attributes") or {}
            try:
                count = int(attrs.get("ApproximateReceiveCount", "1"))
            except ValueError:
                count = 1
            out.append(
                QueueMessage(
                    message_id=str(m.get("MessageId", "")),
                    receipt_handle=str(m.get("ReceiptHandle", "")),
                    body=str(m.get("Body", "")),
                    receive_count=count,
                )
            )
        return out

    async def delete(self, messages: list[QueueMessage]) -> int:
        """DeleteMessageBatch in batches of 10; returns how many SQS confirmed. A failed entry is
        left alone: it reappears after its visibility timeout and dedupes in the log."""
        deleted = 0
        for i in range(0, len(messages), 10):
            batch = messages[i : i + 10]
            entries = [
                {"Id": str(n), "ReceiptHandle": m.receipt_handle} for n, m in enumerate(batch)
            ]
            resp = await self._call(
                "DeleteMessageBatch",
                self.client.delete_message_batch(QueueUrl=self.queue_url, Entries=entries),  # type: ignore[arg-type]
            )
            deleted += len(resp.get("Successful") or [])
            for failed in resp.get("Failed") or []:
                log.warning("sqs: delete of a message failed (%s)", failed.get("Code"))
        return deleted

    async def attributes(self) -> dict[str, str]:
        """GetQueueAttributes (All): proves the key, the permission and the queue exist."""
        resp = await self._call(
            "GetQueueAttributes",
            self.client.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["All"]),
        )
        return dict(resp.get("Attributes") or {})

    async def _call(self, op: str, aw: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return await aw
        except ClientError as exc:
            err = exc.response.get("Error") or {}
            code = str(err.get("Code", ""))
            status = int((exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode", 0))
            if code in _AUTH_CODES or status in (401, 403):
                raise AuthError(f"sqs {op}: {code}", status=status, system="sqs") from None
            if code in _MISSING_QUEUE:
                raise Rejected(
                    f"sqs {op}: the queue does not exist ({code})", status=status, system="sqs"
                ) from None
            if status >= 500 or status == 429 or "Throttl" in code or not status:
                raise RemoteUnavailable(f"sqs {op}: {code}", status=status, system="sqs") from None
            raise Rejected(f"sqs {op}: {code}", status=status, system="sqs") from None
        except BotoCoreError as exc:  # connection refused, timeouts, endpoint problems
            raise RemoteUnavailable(f"sqs {op}: {type(exc).__name__}", system="sqs") from None
