"""Freshness benchmark: how old QAD's view of Amazon is under ``ml-connector run``.

    .venv/bin/python scripts/bench_freshness.py [--scale 20] [--minutes 120] [--api 2026-01-01]
        [--orders-per-day 1500] [--every 180] [--lag 125] [--overlap 600] [--accelerator]

The Amazon simulator (Amazon's usage plans on, time-scaled) and the QAD simulator run in this
process; the engine runs as ``python -m engine run`` in a subprocess with ``[amazon] clock =
"simulator"``, so its cadences, windows and buckets live on simulated time. Orders keep
arriving and changing (payment, shipment, cancellation) while it runs. After a warm-up (the
initial catch-up of ``--history-days``) the bench watches ``--minutes`` simulated minutes and
then reads the engine's own freshness table (``order_freshness``: Amazon LastUpdateDate ->
successful QAD post, on the simulator's clock) for the order versions last updated in the
measured span (less a tail, so every such version had time to be posted).

Prints one JSON line: p50/p95/max freshness in simulated minutes, versions posted, Amazon
requests by operation during the span (counted at the simulator), requests per order version
(all order calls, and follow-up calls only: items, addresses, RDTs), and the 429s answered.
``--accelerator`` turns on the notifications accelerator (issue 17, helper N1) where
``_accelerator_config`` knows how; without it the figures are polling alone. Progress: stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import signal
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from engine.config import Config, to_toml
from engine.ops.demo import simulator_config
from engine.ops.freshness import percentile
from engine.security.keys import encode_key, generate_key
from engine.security.vault import AmazonCredential, QadCredential, Vault
from engine.sim.amazon import AmazonSimulator
from engine.sim.qad import QadSimulator

ORDER_OPS = ("searchOrders", "getOrders", "getOrderItems", "getOrder2026", "getOrder")
FOLLOW_UPS = ("getOrderItems", "getOrderAddress", "getOrder2026", "createRestrictedDataToken")
TAIL = timedelta(minutes=15)  # versions updated in the last minutes may not be posted yet


def _say(msg: str) -> None:
    print(f"[bench_freshness {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class RequestCounter:
    """Counts every SP-API call the simulator's usage plans see, by operation (429s apart)."""

    def __init__(self, amazon: AmazonSimulator) -> None:
        self.calls: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()
        plans = amazon.world.plans
        allow = plans.allow

        def counting(key: str, operation: str, overrides: dict[str, tuple[float, int]]) -> bool:
            ok = allow(key, operation, overrides)
            self.calls[operation] += 1
            if not ok:
                self.throttled[operation] += 1
            return ok

        plans.allow = counting  # type: ignore[method-assign]

    def reset(self) -> None:
        self.calls.clear()
        self.throttled.clear()


_EXTRA_CREDENTIALS: list[Any] = []  # put into the bench vault too (the accelerator's AWS key)
_BACKGROUND: set[asyncio.Task[None]] = set()  # the accelerator's publisher task (kept alive)
_MOTO_KEY = ("AKIAIOSFODNN7EXAMPLE", "moto-takes-any-secret")  # a local stand-in only


def _accelerator_config(cfg: Config, amazon: AmazonSimulator) -> Config | None:
    """The notifications accelerator against moto's SQS server on loopback (never AWS).

    Starts moto's server, creates a Standard queue (with a DLQ redrive policy, as README
    asks), stores the AWS key for the engine, and in this process: creates the destination
    and the seller's ORDER_CHANGE subscription over the simulator's Notifications API (the
    engine's own setup code, ``ensure_order_change``), then publishes the simulator's order
    changes to the queue every 0.2 real s, only as the subscription covers them. The
    notification delay (30 sim s) is the publisher's default [G: Amazon publishes none].
    None if moto or aiobotocore are missing (the ``test`` extra).
    """
    try:
        import boto3  # type: ignore[import-untyped]
        from moto.server import ThreadedMotoServer
    except ImportError:
        return None
    import atexit
    import logging

    from engine.security.credentials import AwsCredential
    from engine.sim.amazon.notifications import NotificationPublisher

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    atexit.register(server.stop)
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    region = "us-east-1"
    sqs = boto3.client(
        "sqs",
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id=_MOTO_KEY[0],
        aws_secret_access_key=_MOTO_KEY[1],
    )
    dlq = sqs.create_queue(QueueName="ml-orders-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])
    policy = {"deadLetterTargetArn": dlq_arn["Attributes"]["QueueArn"], "maxReceiveCount": "5"}
    attrs = {"RedrivePolicy": json.dumps(policy)}
    url = sqs.create_queue(QueueName="ml-orders", Attributes=attrs)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    arn = arn["Attributes"]["QueueArn"]
    _EXTRA_CREDENTIALS.append(AwsCredential("default", *_MOTO_KEY))

    def send_batch(bodies: list[str]) -> None:
        for i in range(0, len(bodies), 10):
            entries = [{"Id": str(n), "MessageBody": b} for n, b in enumerate(bodies[i : i + 10])]
            if sqs.send_message_batch(QueueUrl=url, Entries=entries).get("Failed"):
                raise RuntimeError("sqs send failed")

    async def send(bodies: list[str]) -> None:
        await asyncio.to_thread(send_batch, bodies)

    async def publish() -> None:
        import aiohttp

        from engine.adapters.amazon.auth import AmazonAccount
        from engine.adapters.amazon.client import AmazonClient
        from engine.adapters.amazon.notifications_api import ensure_order_change

        seller = amazon.sellers[0]
        account = AmazonAccount(
            seller.client_id,
            seller.client_secret,
            {r: rc.refresh_token for r, rc in seller.regions.items()},
            seller.seller_id,
        )
        async with aiohttp.ClientSession() as session:
            for region in sorted(seller.regions):  # one subscription per region endpoint
                client = AmazonClient(
                    session, account, region, endpoint=amazon.endpoint(region),
                    lwa_url=amazon.lwa_url, clock=amazon.clock.now,
                )  # fmt: skip
                setup = await ensure_order_change(client, arn, lwa_url=amazon.lwa_url)
                _say(f"accelerator: {region} ORDER_CHANGE {setup.subscription_id} -> {arn}")
        pub = NotificationPublisher(amazon.world, send, arn=arn)
        while True:
            await pub.publish_once()
            await asyncio.sleep(0.2)

    task = asyncio.get_running_loop().create_task(publish())
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)
    n = dataclasses.replace(
        cfg.notifications,
        enabled=True,
        sqs_queue_url=url,
        aws_region=region,
        endpoint=endpoint,
        wait_s=20,
        # coalesce_s is real time: at --scale 30, 0.2 s is 6 simulated seconds
        coalesce_s=0.2,
    )
    return dataclasses.replace(cfg, notifications=n)


def _vault(path: Path, key: bytes, amazon: AmazonSimulator, qad: QadSimulator) -> Path:
    seller = amazon.sellers[0]
    vault = Vault.open(path, key, create=True)
    vault.put(
        AmazonCredential(
            name="default",
            client_id=seller.client_id,
            client_secret=seller.client_secret,
            refresh_tokens={r: rc.refresh_token for r, rc in seller.regions.items()},
            seller_id=seller.seller_id,
        )
    )
    vault.put(
        QadCredential(
            name="default",
            tenant_url=qad.tenant_url(),
            username=qad.username,
            password=qad.password,
            domain="10USA",
            entity="10USACO",
        )
    )
    for extra in _EXTRA_CREDENTIALS:
        vault.put(extra)
    vault.save()
    return path


async def _sim_sleep(amazon: AmazonSimulator, minutes: float) -> None:
    end = amazon.clock.now() + timedelta(minutes=minutes)
    while amazon.clock.now() < end:
        await asyncio.sleep(0.5)


def _measure(db: Path, since: datetime, until: datetime) -> dict[str, Any]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT seconds, kind FROM order_freshness WHERE last_update >= ? AND last_update < ?",
            (since.isoformat(timespec="microseconds"), until.isoformat(timespec="microseconds")),
        ).fetchall()
        events = con.execute(
            "SELECT count(DISTINCT key || json_extract(payload, '$.last_update')) FROM events "
            "WHERE stream = 'amazon.orders' AND json_extract(payload, '$.last_update') >= ? "
            "AND json_extract(payload, '$.last_update') < ?",
            (_z(since), _z(until)),
        ).fetchone()[0]
    finally:
        con.close()
    values = sorted(float(r[0]) for r in rows)
    minutes = [round(v / 60, 2) if v is not None else None for v in values]

    def at(p: float) -> float | None:
        v = percentile(values, p)
        return None if v is None else round(v / 60, 2)

    return {
        "versions_posted": len(values),
        "creates": sum(1 for r in rows if r[1] == "create"),
        "versions_seen": int(events),
        "p50_min": at(50),
        "p95_min": at(95),
        "max_min": minutes[-1] if minutes else None,
    }


def _backlog(db: Path) -> int:
    """Commands not finished yet (the initial catch-up is still being posted)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(
            con.execute(
                "SELECT count(*) FROM commands c WHERE NOT EXISTS (SELECT 1 FROM attempts a "
                "WHERE a.command_id = c.command_id AND a.outcome IN "
                "('ok', 'exists', 'skipped', 'parked'))"
            ).fetchone()[0]
        )
    except sqlite3.OperationalError:  # no outbox yet
        return 1
    finally:
        con.close()


def _z(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


async def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    start = datetime.now(UTC).replace(microsecond=0)
    async with (
        AmazonSimulator(
            seed=args.seed,
            time_scale=args.scale,
            history_days=args.history_days,
            orders_per_day=args.orders_per_day,
            rate_limits=True,
            start=start,
        ) as amazon,
        QadSimulator(tmp / "qad.db") as qad,
    ):
        counter = RequestCounter(amazon)
        db = tmp / "events.db"
        cfg = simulator_config(
            db, amazon_base=amazon.base_url, lwa_url=amazon.lwa_url, qad_url=qad.tenant_url()
        )
        cfg = dataclasses.replace(
            cfg,
            amazon=dataclasses.replace(cfg.amazon, clock="simulator", orders_api=args.api),
            poll=dataclasses.replace(
                cfg.poll,
                orders_every_s=args.every,
                orders_end_lag_s=args.lag,
                orders_overlap_s=args.overlap,
                orders_initial_lookback_days=args.history_days + 1,
            ),
            # QAD is not time-scaled: its 10 posts per real second would be 10/scale per
            # simulated second. Scale the bucket so QAD posts at its rate in simulated time.
            dispatch=dataclasses.replace(
                cfg.dispatch, qad_rate_per_s=cfg.dispatch.qad_rate_per_s * args.scale
            ),
        )
        if args.accelerator:
            accel = _accelerator_config(cfg, amazon)
            if accel is None:
                return {"accelerator": "not available in this build"}
            cfg = accel
        config = tmp / "config.toml"
        config.write_text(to_toml(cfg), encoding="utf-8")
        key = generate_key()
        vault = _vault(tmp / "vault.bin", key, amazon, qad)
        env = {**os.environ, "ML_CONNECTOR_KEY": encode_key(key)}
        log_file = (tmp / "engine.log").open("wb")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "engine", "run", "--config", str(config),
            "--vault", str(vault), "--drain", "5",
            env=env, stdout=log_file, stderr=log_file,
        )  # fmt: skip
        try:
            _say(f"warm-up {args.warmup:g} simulated min (x{args.scale:g}), then until caught up")
            await _sim_sleep(amazon, args.warmup)
            while _backlog(db) > 0:
                if proc.returncode is not None:
                    break
                await asyncio.sleep(1)
            if proc.returncode is not None:
                raise SystemExit((tmp / "engine.log").read_text()[-3000:])
            t0 = amazon.clock.now()
            counter.reset()
            _say(f"measuring {args.minutes:g} simulated min from {t0:%H:%M}")
            await _sim_sleep(amazon, args.minutes)
            t1 = amazon.clock.now()
            calls, throttled = dict(counter.calls), dict(counter.throttled)
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), 30)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
            log_file.close()
        result = _measure(db, t0, t1 - TAIL)
    order_calls = sum(calls.get(op, 0) for op in (*ORDER_OPS, "getOrderAddress"))
    follow = sum(calls.get(op, 0) for op in FOLLOW_UPS)
    versions = max(1, result["versions_seen"])
    return {
        "api": args.api,
        "accelerator": bool(args.accelerator),
        "scale": args.scale,
        "every_s": args.every,
        "lag_s": args.lag,
        "overlap_s": args.overlap,
        "orders_per_day": args.orders_per_day,
        "measured_sim_min": round((t1 - t0).total_seconds() / 60, 1),
        **result,
        "requests": {k: v for k, v in sorted(calls.items()) if v},
        "throttled_429": {k: v for k, v in sorted(throttled.items()) if v},
        "order_requests_per_version": round(order_calls / versions, 2),
        "follow_up_requests_per_version": round(follow / versions, 2),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", type=float, default=20.0, help="simulated seconds per real second")
    p.add_argument("--minutes", type=float, default=120.0, help="simulated minutes measured")
    p.add_argument("--warmup", type=float, default=20.0, help="simulated minutes before that")
    p.add_argument("--api", default="2026-01-01", choices=("2026-01-01", "v0"))
    p.add_argument("--orders-per-day", type=int, default=1500)
    p.add_argument("--history-days", type=int, default=2)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--every", type=float, default=Config().poll.orders_every_s)
    p.add_argument("--lag", type=float, default=Config().poll.orders_end_lag_s)
    p.add_argument("--overlap", type=float, default=Config().poll.orders_overlap_s)
    p.add_argument("--accelerator", action="store_true", help="notifications on (issue 17, N1)")
    p.add_argument("--keep", help="keep the engine's files (db, config, engine.log) here")
    args = p.parse_args(argv)
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=True)
        out = asyncio.run(run(args, Path(args.keep)))
    else:
        with tempfile.TemporaryDirectory(prefix="bench-freshness-") as tmp:
            out = asyncio.run(run(args, Path(tmp)))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
