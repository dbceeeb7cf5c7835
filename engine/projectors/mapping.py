"""Mapping look-ups shared by the projectors: SKU -> item, marketplace -> customer, GL rules."""

from __future__ import annotations

from fnmatch import fnmatchcase

from engine.config import MappingConfig, MarketplaceMap, SettlementRule
from engine.config.settlement_accounts import DEFAULT_CLASS_ACCOUNTS

__all__ = ["DEFAULT_SETTLEMENT_RULES", "Mapper"]


# Used when config.toml lists no [[mapping.settlement]] rules (listing any replaces them all).
# The most specific rule wins (a literal field counts 2, a pattern 1, "*" 0); ties go to the
# earlier rule. Each maps to an account class (engine/config/settlement_accounts.py) whose
# account [mapping.accounts] can change. Line names: V2 flat-file transaction-type /
# amount-type / amount-description as public parsers see them [C]; Lending, SAFE-T, removal and
# disposal descriptions vary by region and year [I], hence the patterns.
def _r(cls: str, tt: str = "*", at: str = "*", ad: str = "*") -> SettlementRule:
    return SettlementRule("", tt, at, ad, account_class=cls)


DEFAULT_SETTLEMENT_RULES: tuple[SettlementRule, ...] = (
    _r("contra_revenue", "Refund", "ItemPrice", "Principal"),
    _r("contra_revenue", "Refund", "ItemPrice", "Shipping"),
    # Buyer disputes: contra revenue like refunds, kept apart (A-to-z refunds are not SAFE-T
    # eligible) [C].
    _r("chargeback", "Chargeback Refund", "ItemPrice", "Principal"),
    _r("chargeback", "Chargeback Refund", "ItemPrice", "Shipping"),
    _r("atoz_refund", "A-to-z Guarantee Refund", "ItemPrice", "Principal"),
    _r("atoz_refund", "A-to-z Guarantee Refund", "ItemPrice", "Shipping"),
    _r("revenue", "*", "ItemPrice", "Principal"),
    _r("shipping_revenue", "*", "ItemPrice", "Shipping"),
    _r("shipping_revenue", "*", "ItemPrice", "GiftWrap"),
    _r("tax_passthrough", "*", "ItemPrice", "*Tax"),
    _r("tax_passthrough", "*", "ItemPrice", "Product Tax"),
    _r("tax_passthrough", "*", "ItemWithheldTax", "*"),
    _r("commission", "*", "ItemFees", "Commission"),
    _r("commission", "*", "ItemFees", "RefundCommission"),
    _r("fba_fee", "*", "ItemFees", "FBA*"),
    _r("other_fee", "*", "ItemFees", "*"),
    _r("promotion", "*", "Promotion", "*"),
    # Balance-sheet movements: reserve held / released, Lending, charges to the seller's card.
    _r("reserve", "*", "other-transaction", "*Reserve*"),
    _r("loan_interest", "*", "other-transaction", "*Loan*Interest*"),
    _r("loan", "*", "other-transaction", "*Loan*"),
    _r("loan", "*", "other-transaction", "*Lending*"),
    _r("clearing_pair", "*", "other-transaction", "Payable to Amazon"),
    _r("clearing_pair", "*", "other-transaction", "Successful charge"),
    _r("clearing_pair", "*", "other-transaction", "Debt adjustment*"),
    _r("clearing_pair", "*", "other-transaction", "*Debt*"),
    _r("service_fee", "*", "other-transaction", "Storage*"),
    _r("service_fee", "*", "other-transaction", "Subscription Fee"),
    _r("removal_disposal", "*", "other-transaction", "*Removal*"),
    _r("removal_disposal", "*", "other-transaction", "*Disposal*"),
    _r("reimbursement_income", "*", "other-transaction", "SAFE-T*"),
    _r("fba_fee", "*", "other-transaction", "FBA*"),
    _r("other_fee", "*", "other-transaction", "*"),
    _r("reimbursement_income", "SAFE-T Reimbursement", "*", "*"),
    _r("reimbursement_income", "*", "FBA Inventory Reimbursement", "*"),
    _r("reimbursement_income", "FBA Inventory Reimbursement", "*", "*"),
    _r("advertising", "ServiceFee", "Cost of Advertising", "*"),
    _r("service_fee", "ServiceFee", "*", "*"),
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
        self._cache: dict[tuple[str, str, str], tuple[str, str] | None] = {}
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
        hit = self.rule_for(transaction_type, amount_type, description)
        return hit[0] if hit else None

    def class_account(self, account_class: str) -> str:
        """The GL account of an account class ([mapping.accounts], else the default)."""
        return self.cfg.accounts.get(account_class) or DEFAULT_CLASS_ACCOUNTS[account_class]

    def rule_for(
        self, transaction_type: str, amount_type: str, description: str
    ) -> tuple[str, str] | None:
        """(GL account, account class or "") of a settlement line, or None (unmapped)."""
        key = (transaction_type, amount_type, description)
        if key not in self._cache:
            rule = next(
                (
                    r
                    for r in self._rules
                    if fnmatchcase(transaction_type.lower(), r.transaction_type.lower())
                    and fnmatchcase(amount_type.lower(), r.amount_type.lower())
                    and fnmatchcase(description.lower(), r.amount_description.lower())
                ),
                None,
            )
            hit = None
            if rule is not None:
                cls = rule.account_class
                account = rule.account or (self.class_account(cls) if cls else "")
                hit = (account, cls) if account else None
            self._cache[key] = hit
        return self._cache[key]


def _specificity(rule: SettlementRule) -> int:
    fields = (rule.transaction_type, rule.amount_type, rule.amount_description)
    return sum(2 if "*" not in f else (1 if f != "*" else 0) for f in fields)
