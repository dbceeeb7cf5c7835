"""Docker HEALTHCHECK: GET /healthz of the status page; exit 0 when it answers 200, else 1.

The page listens where ``[web] bind`` says; the image sets it with ``ML_CONNECTOR_WEB_BIND``
(the standard environment override), so this reads the same variable. A wildcard bind
(0.0.0.0, ::) is reached on loopback. Standard library only: the slim image has no curl.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

DEFAULT_BIND = "127.0.0.1:8700"


def healthz_url(bind: str) -> str:
    host, _, port = bind.strip().rpartition(":")
    host = host.strip("[]")
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - a wildcard bind is reached on loopback
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/healthz"


def main() -> int:
    url = healthz_url(os.environ.get("ML_CONNECTOR_WEB_BIND") or DEFAULT_BIND)
    try:
        with urllib.request.urlopen(url, timeout=4) as resp:  # noqa: S310 - our own http URL
            ok = resp.status == 200
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"healthcheck: {url}: {exc}", file=sys.stderr)
        return 1
    print(f"healthcheck: {url}: {'ok' if ok else 'not ok'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
