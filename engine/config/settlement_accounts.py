"""Settlement account classes: what kind of money a settlement line is, and its default account.

A ``[[mapping.settlement]]`` rule maps a line either to a GL account or to one of these classes;
``[mapping.accounts]`` overrides the account of any class. The classes follow how accounting
peers book Amazon settlements (wave-2 anchors §5.2: A2X, Link My Books, Webgility) [D for the
treatment]; the account numbers are this project's demo chart of accounts [G], so a tenant
maps them to its own chart.
"""

from __future__ import annotations

from typing import Any

from engine.errors import ConfigError

__all__ = [
    "ACCOUNT_CLASSES",
    "DEFAULT_CLASS_ACCOUNTS",
    "known_account_classes",
    "rules_name_an_account",
]

# class -> (default account, what it is). Insertion order is the README table's order.
ACCOUNT_CLASSES: dict[str, tuple[str, str]] = {
    "revenue": ("4000", "product sales (principal)"),
    "shipping_revenue": ("4010", "shipping and gift-wrap charged to buyers"),
    "contra_revenue": ("4100", "refunds to buyers"),
    "chargeback": ("4110", "chargeback refunds (contra revenue, tagged apart)"),
    "atoz_refund": ("4120", "A-to-z Guarantee refunds (contra revenue, tagged apart)"),
    "promotion": ("4900", "promotion discounts"),
    "tax_passthrough": ("2300", "tax collected / withheld (marketplace facilitator)"),
    "commission": ("6100", "referral commission"),
    "fba_fee": ("6110", "FBA fulfilment fees"),
    "service_fee": ("6120", "subscription and storage fees"),
    "other_fee": ("6130", "other Amazon fees and adjustments"),
    "advertising": ("6140", "sponsored-products advertising"),
    "removal_disposal": ("6150", "FBA removal and disposal fees"),
    "reimbursement_income": ("7100", "SAFE-T and FBA inventory reimbursements (other income)"),
    "reserve": ("1290", "Amazon reserved balance (asset): current and previous reserve"),
    "loan": ("2500", "Amazon Lending loan (liability): advances and combined repayments"),
    "loan_interest": ("6900", "Amazon Lending interest, when a line carries it apart"),
    "clearing_pair": ("1260", "charge clearing: Payable to Amazon / Successful charge / debt"),
    "carry_forward": ("1270", "month-split carried-forward balance"),
}

DEFAULT_CLASS_ACCOUNTS: dict[str, str] = {k: v[0] for k, v in ACCOUNT_CLASSES.items()}


def known_account_classes(value: Any, where: str) -> None:
    """``[mapping.accounts]`` keys (or a rule's ``account_class``) must be known classes."""
    names = [value] if isinstance(value, str) else list(value)
    for name in names:
        if name and name not in ACCOUNT_CLASSES:
            raise ConfigError(
                f"{where}: unknown account class {name!r} (known: {', '.join(ACCOUNT_CLASSES)})"
            )


def rules_name_an_account(value: Any, where: str) -> None:
    """Every ``[[mapping.settlement]]`` rule names a GL ``account`` or an ``account_class``: a
    rule with neither would send the lines it matches to suspense without anyone asking."""
    for i, rule in enumerate(value):
        if not str(getattr(rule, "account", "") or "") and not getattr(rule, "account_class", ""):
            pattern = "/".join(
                str(getattr(rule, k, "*"))
                for k in ("transaction_type", "amount_type", "amount_description")
            )
            raise ConfigError(
                f"{where}[{i}] ({pattern}) names neither account nor account_class: set "
                f'account = "<GL account>" or account_class = one of {", ".join(ACCOUNT_CLASSES)}'
            )
