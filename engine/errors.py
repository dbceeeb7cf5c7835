"""The single exception tree of ml-connector, classified by what the caller should do.

EngineError
├── ConfigError              bad/missing config or CLI input: fix it, exit 2
├── CredentialError          vault unreadable, wrong key, missing credential: exit 2
├── StoreError               event log problems
│   └── StoreBusy            another process holds the writer lock
├── DataError                input data that cannot be used (quarantine/park it)
│   └── ParseError           a document that cannot be parsed
└── RemoteError              anything a remote system (SP-API, LWA, QAD) said or failed to say
    ├── RetriableRemoteError try again later (retry_after travels on the exception)
    │   ├── RateLimited           HTTP 429
    │   ├── RemoteUnavailable     HTTP 5xx, refused/dropped connection, truncated body
    │   ├── RemoteTimeout         no answer in time (also a TimeoutError)
    │   └── UnknownOutcome        a write may or may not have been applied: look up first
    └── FatalRemoteError     retrying the same request cannot help
        ├── AuthError             401/403 after one refresh, invalid_grant/invalid_client
        ├── Rejected              4xx or a QAD business error (submitResult.success=false)
        └── Conflict              the remote holds a different document under our reference
"""

from __future__ import annotations


class EngineError(Exception):
    """Base of every error ml-connector raises on purpose."""


class ConfigError(EngineError):
    """Configuration or command-line input is wrong; the message names the key/file and the fix."""


class CredentialError(EngineError):
    """The credential vault cannot be read or lacks a needed credential."""


class StoreError(EngineError):
    """The event log failed."""


class StoreBusy(StoreError):
    """Another process holds the event log's writer lock."""


class DataError(EngineError):
    """Input data cannot be used as is; it is quarantined or parked with this reason."""


class ParseError(DataError):
    """A document (report, payload) cannot be parsed."""


class RemoteError(EngineError):
    """A remote system failed or refused.

    Attributes:
        status: HTTP status when there was one.
        retry_after: seconds the remote asked us to wait, if known.
        system: "amazon", "lwa" or "qad".
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        system: str = "",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.system = system


class RetriableRemoteError(RemoteError):
    """Trying again later may succeed."""


class RateLimited(RetriableRemoteError):
    """HTTP 429."""


class RemoteUnavailable(RetriableRemoteError):
    """HTTP 5xx, a dropped connection or a truncated body."""


class RemoteTimeout(RetriableRemoteError, TimeoutError):
    """No answer in time."""


class UnknownOutcome(RetriableRemoteError):
    """A write may have been applied; look the document up before trying again."""


class FatalRemoteError(RemoteError):
    """The same request will fail again."""


class AuthError(FatalRemoteError):
    """Authentication or authorization failed."""


class Rejected(FatalRemoteError):
    """The remote rejected the request (4xx or a business error)."""


class Conflict(FatalRemoteError):
    """The remote already holds a different document under our deterministic reference."""
