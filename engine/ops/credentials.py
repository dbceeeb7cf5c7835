"""Build the QAD client settings from config + the credential vault (or the simulator's demo login).

``build_qad_settings`` is what ``replay --config`` uses; the engine runtime can call the same
function. Demo credentials are only accepted for a tenant on this machine (the simulator).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from engine.adapters.amazon.auth import AmazonAccount
from engine.adapters.qad.settings import QadSettings, profile_kwargs
from engine.config import Config
from engine.errors import ConfigError
from engine.security.credentials import AmazonCredential
from engine.security.vault import default_vault_path, open_vault

__all__ = ["amazon_account", "build_amazon_account", "build_qad_settings", "profile_settings"]

_LOCAL = ("127.0.0.1", "localhost", "::1")


def build_amazon_account(cfg: Config, *, vault_path: Path | None = None) -> AmazonAccount:
    """The SP-API account for ``cfg.amazon``: the vault entry ``amazon.credential``."""
    vault = open_vault(vault_path or default_vault_path())
    return amazon_account(cfg, vault.get_amazon(cfg.amazon.credential))


def amazon_account(cfg: Config, credential: AmazonCredential) -> AmazonAccount:
    """The account of a vault ``AmazonCredential``, with the one seller-id rule applied.

    Config ``amazon.seller_id`` wins over the vault's seller id when set; otherwise the vault's
    (``creds set amazon --seller-id``) is used. Empty in both: the Listings flow refuses to post.
    """
    account = AmazonAccount.from_credential(credential)
    if cfg.amazon.seller_id:
        account = dataclasses.replace(account, seller_id=cfg.amazon.seller_id)
    return account


def build_qad_settings(
    cfg: Config,
    *,
    vault_path: Path | None = None,
    demo: bool = False,
    timeout_s: float | None = None,
) -> QadSettings:
    """QadSettings for ``cfg.qad``: credentials from the vault entry ``qad.credential``.

    ``demo=True`` uses the QAD simulator's published demo login instead (local tenants only).
    """
    timeout = timeout_s if timeout_s is not None else cfg.dispatch.timeout_s
    if demo:
        from engine.ops.demo import demo_qad_login

        user, password = demo_qad_login()
        url = cfg.qad.tenant_url
        if not url:
            raise ConfigError(f"{cfg.source}: qad.tenant_url is required with demo credentials")
        if (urlsplit(url).hostname or "") not in _LOCAL:
            raise ConfigError(
                f"{cfg.source}: demo credentials only work against a local simulator, "
                f"not {urlsplit(url).hostname}; store real ones with `ml-connector creds set qad`"
            )
        return QadSettings(
            tenant_url=url,
            username=user,
            password=password,
            domain=cfg.qad.domain,
            entity=cfg.qad.entity,
            request_timeout_s=timeout,
            **profile_settings(cfg),
        )
    cred = open_vault(vault_path or default_vault_path()).get_qad(cfg.qad.credential)
    return QadSettings(
        tenant_url=cfg.qad.tenant_url or cred.tenant_url,
        username=cred.username,
        password=cred.password,
        domain=cred.domain or cfg.qad.domain,
        entity=cred.entity or cfg.qad.entity,
        request_timeout_s=timeout,
        **profile_settings(cfg),
    )


def profile_settings(cfg: Config) -> dict[str, Any]:
    """The QadSettings keywords that come from the tenant profile in ``[qad]``."""
    return profile_kwargs(cfg.qad)
