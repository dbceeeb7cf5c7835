"""Mapping look-ups shared by the projectors: SKU -> item, marketplace -> customer, GL rules."""

from __future__ import annotations

from fnmatch import fnmatchcase

from engine.config import MappingConfig, MarketplaceMap, SettlementRule

__all__ = ["DEFAULT_SETTLEMENT_RULES", "Mapper"]

# Used when config.toml lists no [[mapping.settlement]] rules. The most specific rule wins
# (most non-"*" fields); ties go to the earlier rule.
DEFAULT_SETTLEMENT_RULES: tuple[SettlementRule, ...] = (
    SettlementRule("4100", "Refund", "ItemPrice", "Principal"),
    SettlementRule("4100", "Refund", "ItemPrice", "Shipping"),
    SettlementRule("4000", "*", "ItemPrice", "Principal"),
    SettlementRule("4010", "*", "ItemPrice", "Shipping"),
    SettlementRule("4010", "*", "ItemPrice", "GiftWrap"),
    SettlementRule("2300", "*", "ItemPrice", "*Tax"),
    SettlementRule("2300", "*", "ItemPrice", "Product Tax"),
    SettlementRule("2300", "*", "ItemWithheldTax", "*"),
    SettlementRule("6100", "*", "ItemFees", "Commission"),
    SettlementRule("6100", "*", "ItemFees", "RefundCommission"),
    SettlementRule("6110", "*", "ItemFees", "FBA*"),
    SettlementRule("6130", "*", "ItemFees", "*"),
    SettlementRule("4900", "*", "Promotion", "*"),
    SettlementRule("1290", "*", "other-transaction", "*Reserve*"),
    SettlementRule("6120", "*", "other-transaction", "Storage*"),
    SettlementRule("6120", "*", "other-transaction", "Subscription Fee"),
    SettlementRule("6110", "*", "other-transaction", "FBA*"),
    SettlementRule("6130", "*", "other-transaction", "*"),
    SettlementRule("6130", "*", "FBA Inventory Reimbursement", "*"),
    SettlementRule("6120", "ServiceFee", "*", "*"),
)


class Mapper:
    """Resolves mapping questions; pure and cheap (rules sorted once)."""

    def __init__(self, cfg: MappingConfig) -> None:
        self.cfg = cfg
        rules = cfg.settlement or DEFAULT_SETTLEMENT_RULES
        indexed = list(enumerate(rules))
        # Most specific first, then file order.
        indexed.sort(key=lambda ir: (-_specificity(ir[1]), ir[0]))
        self._rules = [r for _, r in indexed]
        self._cache: dict[tuple[str, str, str], str | None] = {}
        self._by_name: dict[str, str] = {}
        self._items_to_skus: dict[str, list[str]] = {}
        for sku, item in sorted(cfg.sku.items()):
            self._items_to_skus.setdefault(item, []).append(sku)

    def item_for(self, sku: str | None) -> str | None:
        # Payloads are untrusted: a non-string SKU is simply unmapped (the order parks).
        return self.cfg.sku.get(sku) if isinstance(sku, str) and sku else None

    def skus_for(self, item: str) -> list[str]:
        return self._items_to_skus.get(item, [])

    def marketplace(self, marketplace_id: str) -> MarketplaceMap | None:
        return self.cfg.marketplaces.get(marketplace_id)

    def account_for(self, transaction_type: str, amount_type: str, description: str) -> str | None:
        """The GL account of a settlement line, or None (-> suspense, flagged)."""
        key = (transaction_type, amount_type, description)
        if key not in self._cache:
            self._cache[key] = next(
                (
                    r.account
                    for r in self._rules
                    if fnmatchcase(transaction_type.lower(), r.transaction_type.lower())
                    and fnmatchcase(amount_type.lower(), r.amount_type.lower())
                    and fnmatchcase(description.lower(), r.amount_description.lower())
                ),
                None,
            )
        return self._cache[key]


def _specificity(rule: SettlementRule) -> int:
    fields = (rule.transaction_type, rule.amount_type, rule.amount_description)
    return sum(2 if "*" not in f else (1 if f != "*" else 0) for f in fields)
