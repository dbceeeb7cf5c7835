"""Credential records the vault holds: an Amazon seller account (LWA), a QAD tenant login and an
AWS access key (the notifications accelerator reads its SQS queue with it).

Secrets never appear in ``repr`` or ``public()``; the vault (``security.vault``) seals them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from engine.errors import ConfigError, CredentialError
from engine.security.urls import validate_tenant_url

__all__ = [
    "REGIONS",
    "AmazonCredential",
    "AwsCredential",
    "Credential",
    "Kind",
    "QadCredential",
    "SecretCredential",
]

REGIONS = ("NA", "EU", "FE")
Kind = Literal["amazon", "qad", "aws", "secret"]
# AWS access key ids: 16-128 word characters [D IAM AccessKeyMetadata.AccessKeyId pattern
# "[\\w]+"]; secrets are opaque strings, only whitespace (a pasting accident) is refused.
_AWS_KEY_ID = re.compile(r"\w{16,128}")


@dataclass(frozen=True, slots=True)
class AmazonCredential:
    """An SP-API seller account: LWA app credentials plus one refresh token per region."""

    name: str
    client_id: str
    client_secret: str
    refresh_tokens: Mapping[str, str]  # region ("NA"/"EU"/"FE") -> "Atzr|..."
    seller_id: str = ""
    next_client_secret: str | None = None  # LWA secret rotation: tried on invalid_client
    secret_expires: date | None = None  # when client_secret expires (status warns before)
    kind: Kind = field(default="amazon", init=False)

    def __post_init__(self) -> None:
        if not self.client_id or not self.client_secret:
            raise CredentialError(f"amazon credential {self.name!r}: client id and secret needed")
        if not self.refresh_tokens:
            raise CredentialError(f"amazon credential {self.name!r}: at least one refresh token")
        for region in self.refresh_tokens:
            if region not in REGIONS:
                raise CredentialError(
                    f"amazon credential {self.name!r}: region {region!r} is not one of "
                    f"{', '.join(REGIONS)}"
                )
            token = self.refresh_tokens[region]
            if not isinstance(token, str) or not token or any(c.isspace() for c in token):
                raise CredentialError(
                    f"amazon credential {self.name!r}: the {region} refresh token is empty or "
                    "contains whitespace (a line break from pasting?); paste it again in one piece"
                )
        if not isinstance(self.seller_id, str) or any(c.isspace() for c in self.seller_id):
            raise CredentialError(
                f"amazon credential {self.name!r}: seller id must be a string without spaces, "
                f"not {self.seller_id!r}"
            )

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(r for r in REGIONS if r in self.refresh_tokens)

    def refresh_token(self, region: str) -> str:
        try:
            return self.refresh_tokens[region]
        except KeyError:
            raise CredentialError(
                f"amazon credential {self.name!r} has no refresh token for region {region}: "
                f"run `ml-connector creds set amazon --name {self.name} --region {region}`"
            ) from None

    def public(self) -> dict[str, Any]:
        """Non-secret fields (for ``creds list`` and status)."""
        return {
            "client_id": self.client_id,
            "regions": ",".join(self.regions),
            "seller_id": self.seller_id,
            "next_secret": "yes" if self.next_client_secret else "no",
            "secret_expires": self.secret_expires.isoformat() if self.secret_expires else "",
        }

    def __repr__(self) -> str:
        return f"AmazonCredential(name={self.name!r}, {_fmt(self.public())}, secrets=***)"

    def _to_dict(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_tokens": dict(self.refresh_tokens),
            "seller_id": self.seller_id,
            "next_client_secret": self.next_client_secret,
            "secret_expires": self.secret_expires.isoformat() if self.secret_expires else None,
        }

    @classmethod
    def _from_dict(cls, name: str, d: dict[str, Any]) -> AmazonCredential:
        exp = d.get("secret_expires")
        return cls(
            name=name,
            client_id=d["client_id"],
            client_secret=d["client_secret"],
            refresh_tokens=dict(d["refresh_tokens"]),
            seller_id=d.get("seller_id", ""),
            next_client_secret=d.get("next_client_secret"),
            secret_expires=date.fromisoformat(exp) if exp else None,
        )

    def _secrets(self) -> list[str]:
        return [self.client_secret, self.next_client_secret or "", *self.refresh_tokens.values()]


@dataclass(frozen=True, slots=True)
class QadCredential:
    """A QAD tenant login. ``tenant_url`` is validated (https, no userinfo/query/fragment)."""

    name: str
    tenant_url: str
    username: str
    password: str
    domain: str
    entity: str
    kind: Kind = field(default="qad", init=False)

    def __post_init__(self) -> None:
        try:
            url = validate_tenant_url(self.tenant_url, what=f"qad credential {self.name!r} URL")
        except ConfigError as exc:
            raise CredentialError(str(exc)) from None
        object.__setattr__(self, "tenant_url", url)
        if not self.username or not self.password:
            raise CredentialError(f"qad credential {self.name!r}: username and password needed")

    def public(self) -> dict[str, Any]:
        return {
            "tenant_url": self.tenant_url,
            "username": self.username,
            "domain": self.domain,
            "entity": self.entity,
        }

    def __repr__(self) -> str:
        return f"QadCredential(name={self.name!r}, {_fmt(self.public())}, password=***)"

    def _to_dict(self) -> dict[str, Any]:
        return {
            "tenant_url": self.tenant_url,
            "username": self.username,
            "password": self.password,
            "domain": self.domain,
            "entity": self.entity,
        }

    @classmethod
    def _from_dict(cls, name: str, d: dict[str, Any]) -> QadCredential:
        return cls(name=name, **{k: d[k] for k in cls._fields()})

    @staticmethod
    def _fields() -> tuple[str, ...]:
        return ("tenant_url", "username", "password", "domain", "entity")

    def _secrets(self) -> list[str]:
        return [self.password]


@dataclass(frozen=True, slots=True)
class AwsCredential:
    """An AWS access key of the seller's (or agency's) AWS account that may receive and delete
    messages of the notifications queue (SQS ReceiveMessage, DeleteMessage, GetQueueAttributes).

    A separate secret type from LWA [D wave2-anchors 2.4]: it goes only to the SQS endpoint."""

    name: str
    access_key_id: str
    secret_access_key: str
    session_token: str = ""  # temporary (STS) credentials only
    kind: Kind = field(default="aws", init=False)

    def __post_init__(self) -> None:
        if not _AWS_KEY_ID.fullmatch(self.access_key_id or ""):
            raise CredentialError(
                f"aws credential {self.name!r}: the access key id must be 16-128 letters or "
                "digits (e.g. AKIA...)"
            )
        secret = self.secret_access_key
        if not secret or any(c.isspace() for c in secret):
            raise CredentialError(
                f"aws credential {self.name!r}: the secret access key is empty or contains "
                "whitespace (a line break from pasting?)"
            )
        if any(c.isspace() for c in self.session_token):
            raise CredentialError(f"aws credential {self.name!r}: session token has whitespace")

    def public(self) -> dict[str, Any]:
        # The key id is not a secret in AWS's model, but shown shortened all the same.
        return {
            "access_key_id": self.access_key_id[:4] + "..." + self.access_key_id[-4:],
            "session_token": "yes" if self.session_token else "no",
        }

    def __repr__(self) -> str:
        return f"AwsCredential(name={self.name!r}, {_fmt(self.public())}, secrets=***)"

    def _to_dict(self) -> dict[str, Any]:
        return {
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
            "session_token": self.session_token,
        }

    @classmethod
    def _from_dict(cls, name: str, d: dict[str, Any]) -> AwsCredential:
        return cls(
            name=name,
            access_key_id=d["access_key_id"],
            secret_access_key=d["secret_access_key"],
            session_token=d.get("session_token") or "",
        )

    def _secrets(self) -> list[str]:
        return [self.secret_access_key, self.session_token]


@dataclass(frozen=True, slots=True)
class SecretCredential:
    """One named secret value (the status page's access token, ``[web] token_secret``)."""

    name: str
    value: str
    kind: Kind = field(default="secret", init=False)

    def __post_init__(self) -> None:
        if len(self.value) < 16 or any(c.isspace() for c in self.value):
            raise CredentialError(
                f"secret {self.name!r} must be at least 16 characters without whitespace"
            )

    def public(self) -> dict[str, Any]:
        return {"length": len(self.value)}

    def __repr__(self) -> str:
        return f"SecretCredential(name={self.name!r}, value=***)"

    def _to_dict(self) -> dict[str, Any]:
        return {"value": self.value}

    @classmethod
    def _from_dict(cls, name: str, d: dict[str, Any]) -> SecretCredential:
        return cls(name=name, value=d["value"])

    def _secrets(self) -> list[str]:
        return [self.value]


Credential = AmazonCredential | QadCredential | AwsCredential | SecretCredential


def _fmt(d: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in d.items())
