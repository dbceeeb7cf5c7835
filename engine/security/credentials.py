"""Credential records the vault holds: an Amazon seller account (LWA) and a QAD tenant login.

Secrets never appear in ``repr`` or ``public()``; the vault (``security.vault``) seals them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from engine.errors import ConfigError, CredentialError
from engine.security.urls import validate_tenant_url

__all__ = ["REGIONS", "AmazonCredential", "Credential", "Kind", "QadCredential"]

REGIONS = ("NA", "EU", "FE")
Kind = Literal["amazon", "qad"]


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


Credential = AmazonCredential | QadCredential


def _fmt(d: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in d.items())
