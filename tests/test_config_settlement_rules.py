"""``[[mapping.settlement]]`` rules are refused at load unless each names where its lines go.

A rule with neither ``account`` nor ``account_class`` used to send the lines it matched to
suspense without a word; an unknown class is a typo. Both are a ConfigError naming the file and
the rule, before any data moves. Rules that do name an account load and map as written.
"""

from __future__ import annotations

import pytest

from engine.config import load_config
from engine.errors import ConfigError
from engine.projectors.mapping import Mapper

GOOD = """
[[mapping.settlement]]
transaction_type = "Order"
amount_type = "ItemPrice"
amount_description = "Principal"
account = "4001"

[[mapping.settlement]]
amount_type = "ItemFees"
account_class = "commission"
"""


def _load(tmp_path, text: str):
    p = tmp_path / "c.toml"
    p.write_text(text, encoding="utf-8")
    return p, lambda: load_config(p, env={})


def test_a_rule_naming_no_account_is_refused(tmp_path) -> None:
    bad = GOOD + '\n[[mapping.settlement]]\namount_type = "Promotion"\n'
    path, load = _load(tmp_path, bad)
    with pytest.raises(ConfigError) as exc:
        load()
    msg = str(exc.value)
    assert str(path) in msg and "mapping.settlement[2]" in msg, msg
    assert "*/Promotion/*" in msg and "neither account nor account_class" in msg, msg


def test_an_empty_account_and_class_is_refused(tmp_path) -> None:
    _, load = _load(tmp_path, '[[mapping.settlement]]\naccount = ""\naccount_class = ""\n')
    with pytest.raises(ConfigError, match=r"mapping\.settlement\[0\].*neither account"):
        load()


def test_an_unknown_account_class_is_refused(tmp_path) -> None:
    path, load = _load(tmp_path, '[[mapping.settlement]]\naccount_class = "revenu"\n')
    with pytest.raises(ConfigError) as exc:
        load()
    assert str(path) in str(exc.value) and "unknown account class 'revenu'" in str(exc.value)


def test_rules_with_an_account_or_a_class_load_and_map(tmp_path) -> None:
    _, load = _load(tmp_path, GOOD)
    mapper = Mapper(load().mapping)
    assert mapper.account_for("Order", "ItemPrice", "Principal") == "4001"
    assert mapper.account_for("Order", "ItemFees", "Commission") == "6100"
    assert mapper.account_for("Order", "Promotion", "Principal") is None  # suspense, flagged
