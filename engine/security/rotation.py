"""LWA client-secret rotation: when to warn that a stored secret is about to expire.

Amazon makes LWA client secrets expire; a seller rotates them in Seller Central and stores the
new one as the credential's *next* secret (the client falls back to it on ``invalid_client``).
`ping`, `status` and the engine's start-up log all use this one rule so they never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from engine.security.credentials import AmazonCredential

__all__ = ["EXPIRY_WARNING", "SecretExpiry", "secret_expiry"]

EXPIRY_WARNING = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class SecretExpiry:
    credential: str
    expires: date
    days_left: int
    failed: bool  # expired and no next secret to fall back to

    @property
    def message(self) -> str:
        when = "expired" if self.days_left < 0 else "expires"
        return (
            f"LWA client secret of amazon credential {self.credential!r} {when} "
            f"{self.expires.isoformat()} ({self.days_left} days)"
        )

    @property
    def fix(self) -> str:
        return (
            "rotate it in Seller Central and store the new one with "
            f"`ml-connector creds set amazon --name {self.credential} --next-secret`"
        )


def secret_expiry(cred: AmazonCredential, today: date) -> SecretExpiry | None:
    """A notice when the secret expires within EXPIRY_WARNING (or has expired), else None."""
    if cred.secret_expires is None:
        return None
    left = cred.secret_expires - today
    if left > EXPIRY_WARNING:
        return None
    failed = left.days < 0 and not cred.next_client_secret
    return SecretExpiry(cred.name, cred.secret_expires, left.days, failed)
