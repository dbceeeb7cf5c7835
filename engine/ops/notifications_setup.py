"""What ``ml-connector notifications subscribe`` does: the SQS destination and the seller's
ORDER_CHANGE subscription in every region of ``amazon.marketplaces`` (README "Notifications
accelerator", steps 2 and 3).

The queue's ARN comes from SQS itself (``GetQueueAttributes`` QueueArn, with the configured AWS
key), so a typo in the URL fails here rather than in a destination Amazon can never deliver to.
Idempotent (``engine.adapters.amazon.notifications_api.ensure_order_change``): a second run
finds what the first created.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from engine.adapters.amazon.client import AmazonClient
from engine.adapters.amazon.notifications_api import Setup, ensure_order_change, queue_arn
from engine.adapters.amazon.regions import MARKETPLACE_REGION
from engine.adapters.amazon.retry import Backoff
from engine.adapters.aws.sqs import SqsQueue
from engine.config import Config
from engine.errors import ConfigError
from engine.ops.credentials import amazon_account
from engine.security.vault import Vault

__all__ = ["RegionSetup", "subscribe"]


@dataclass(frozen=True, slots=True)
class RegionSetup:
    region: str
    arn: str
    setup: Setup


async def subscribe(cfg: Config, vault: Vault, *, timeout_s: float = 30.0) -> list[RegionSetup]:
    """Destination + ORDER_CHANGE subscription per configured region (ids, never secrets)."""
    n = cfg.notifications
    if not n.sqs_queue_url or not n.aws_region:
        raise ConfigError("notifications subscribe needs [notifications] sqs_queue_url, aws_region")
    async with SqsQueue(
        n.sqs_queue_url,
        n.aws_region,
        vault.get_aws(n.credential),
        endpoint=n.endpoint,
        timeout_s=timeout_s,
    ) as queue:
        arn = queue_arn(n.sqs_queue_url, await queue.attributes())
    account = amazon_account(cfg, vault.get_amazon(cfg.amazon.credential))
    by_region: dict[str, list[str]] = {}
    for mp in cfg.amazon.marketplaces:
        by_region.setdefault(MARKETPLACE_REGION.get(mp, "?"), []).append(mp)
    out: list[RegionSetup] = []
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for region, mps in sorted(by_region.items()):
            endpoint = cfg.amazon.endpoint.replace("{region}", region.lower()) or None
            client = AmazonClient(
                session,
                account,
                region,
                endpoint=endpoint,
                lwa_url=cfg.amazon.lwa_url,
                backoff=Backoff(base=0.5, cap=5.0, max_tries=4),
                timeout_s=timeout_s,
            )
            setup = await ensure_order_change(
                client, arn, lwa_url=cfg.amazon.lwa_url, marketplace_ids=tuple(mps)
            )
            out.append(RegionSetup(region, arn, setup))
    return out
