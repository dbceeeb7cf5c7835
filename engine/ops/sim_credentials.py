"""``creds set amazon|qad --from-sim URL``: the demo credentials of a local simulator.

The standalone recipe starts both simulators in the background and stores their demo
credentials right away, so the fetch waits (up to ``wait_s``) for the simulator to listen
instead of failing on the first refused connection. Loopback only: this path stores whatever
the answering server says, which is acceptable only for a simulator on this machine.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from engine.config.urls import is_loopback_host
from engine.errors import ConfigError, CredentialError

__all__ = ["fetch_sim_credentials"]


def _control_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not is_loopback_host(parts.hostname or ""):
        raise ConfigError(
            f"--from-sim takes a simulator on this machine (http://127.0.0.1:PORT...), not {url!r}"
        )
    return url.rstrip("/") + "/__sim/credentials"


async def _fetch(control: str, wait_s: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while True:
            try:
                async with session.get(control, allow_redirects=False) as resp:
                    raw = await resp.read()
                    status = resp.status
                break
            except (aiohttp.ClientConnectionError, TimeoutError):
                if loop.time() >= deadline:
                    raise CredentialError(
                        f"no simulator answered at {control} within {wait_s:g} s: start it first "
                        "(`ml-connector sim amazon --port 8600` / `ml-connector sim qad ...`)"
                    ) from None
                await asyncio.sleep(0.25)
    if status != 200:
        raise CredentialError(
            f"{control} answered HTTP {status}: not an ml-connector simulator of this kind "
            "(the QAD URL is the full tenant URL, e.g. http://127.0.0.1:8081/clouderp)"
        )
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise CredentialError(f"{control} did not answer JSON") from None
    if not isinstance(body, dict):
        raise CredentialError(f"{control} did not answer a JSON object")
    return body


def fetch_sim_credentials(url: str, wait_s: float = 30.0) -> dict[str, Any]:
    """The simulator's ``/__sim/credentials`` answer, waiting for it to come up."""
    return asyncio.run(_fetch(_control_url(url), wait_s))
