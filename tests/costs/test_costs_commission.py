"""Pure cost functions and cost configs: exact dollar amounts."""

from __future__ import annotations

import dataclasses

import pytest

from tradelab.costs import (
    COMMISSION_PRESETS,
    COST_MODELS,
    CommissionConfig,
    CostConfig,
    commission,
    cost_model,
    sec_fee,
    slipped_price,
    trade_cost,
)
from tradelab.errors import ConfigError, UnknownNameError

IB_FIXED = COMMISSION_PRESETS["ib-fixed"]
IB_PRO = COMMISSION_PRESETS["ib-pro"]
FIXED = cost_model("ib-fixed")


# --- commission -----------------------------------------------------------------------------


def test_commission_ib_fixed_small_order_pays_the_one_dollar_minimum() -> None:
    assert commission(100, 50.0, IB_FIXED) == 1.00


def test_commission_ib_fixed_large_order_pays_half_a_cent_per_share() -> None:
    assert commission(1_000, 50.0, IB_FIXED) == 5.00


def test_commission_ib_fixed_cheap_trade_is_capped_at_one_percent_below_the_minimum() -> None:
    assert commission(10, 1.0, IB_FIXED) == 0.10


def test_commission_cap_applies_to_per_share_amount_on_penny_stock() -> None:
    # 10,000 shares at $0.20: $50 per-share charge, but 1% of $2,000 is $20.
    assert commission(10_000, 0.20, IB_FIXED) == 20.00


def test_commission_ib_pro_small_order_pays_the_35_cent_minimum() -> None:
    assert commission(100, 50.0, IB_PRO) == 0.35


def test_commission_ib_pro_large_order_pays_per_share_without_float_noise() -> None:
    assert commission(1_000, 50.0, IB_PRO) == 3.50
    assert commission(333, 50.0, IB_PRO) == 1.1655  # fractional cents are kept, not rounded


def test_commission_sign_of_shares_is_ignored() -> None:
    assert commission(-1_000, 50.0, IB_FIXED) == commission(1_000, 50.0, IB_FIXED) == 5.00


def test_commission_zero_shares_costs_nothing_despite_minimum() -> None:
    assert commission(0, 50.0, IB_FIXED) == 0.0


def test_commission_none_preset_is_free() -> None:
    assert commission(1_000, 50.0, COMMISSION_PRESETS["none"]) == 0.0


def test_commission_without_cap_keeps_the_minimum() -> None:
    config = CommissionConfig(per_share=0.005, minimum=1.0, maximum_pct=None)
    assert commission(10, 1.0, config) == 1.00


def test_commission_negative_price_raises_value_error() -> None:
    with pytest.raises(ValueError, match="price"):
        commission(100, -1.0, IB_FIXED)


# --- SEC fee and trade cost ------------------------------------------------------------------


def test_sec_fee_one_million_dollar_sale_is_27_80() -> None:
    assert sec_fee(1_000_000, FIXED) == 27.80


def test_sec_fee_keeps_fractional_cents() -> None:
    assert sec_fee(5_000, FIXED) == 0.139


def test_trade_cost_sell_adds_sec_fee_to_commission() -> None:
    # 1,000 x $50 = $50,000 proceeds: $5.00 commission + $1.39 SEC fee.
    assert trade_cost(1_000, 50.0, side="sell", config=FIXED) == 6.39


def test_trade_cost_buy_pays_no_sec_fee() -> None:
    assert trade_cost(1_000, 50.0, side="buy", config=FIXED) == 5.00


def test_trade_cost_one_million_dollar_sell_pays_27_80_sec_fee() -> None:
    # 20,000 x $50: commission $100 (0.005 x 20,000) + $27.80.
    assert trade_cost(20_000, 50.0, side="sell", config=FIXED) == 127.80
    assert trade_cost(20_000, 50.0, side="buy", config=FIXED) == 100.00


def test_trade_cost_none_model_is_zero_on_sells() -> None:
    assert trade_cost(1_000, 50.0, side="sell", config=cost_model("none")) == 0.0


def test_trade_cost_unknown_side_raises_unknown_name_error() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'sell'"):
        trade_cost(1, 1.0, side="sel", config=FIXED)


# --- slippage --------------------------------------------------------------------------------


def test_slipped_price_market_buy_pays_five_bps_more() -> None:
    assert slipped_price(100.0, side="buy", order_type="market", config=FIXED) == 100.05


def test_slipped_price_market_sell_receives_five_bps_less() -> None:
    assert slipped_price(100.0, side="sell", order_type="market", config=FIXED) == 99.95


def test_slipped_price_stop_slips_like_a_market_order() -> None:
    assert slipped_price(100.0, side="buy", order_type="stop", config=FIXED) == 100.05
    assert slipped_price(100.0, side="sell", order_type="stop", config=FIXED) == 99.95


@pytest.mark.parametrize("order_type", ["limit", "stop_limit"])
@pytest.mark.parametrize("side", ["buy", "sell"])
def test_slipped_price_limit_style_orders_do_not_slip(side: str, order_type: str) -> None:
    assert slipped_price(100.0, side=side, order_type=order_type, config=FIXED) == 100.0


def test_slipped_price_none_model_does_not_slip_market_orders() -> None:
    assert slipped_price(100.0, side="buy", order_type="market", config=cost_model("none")) == 100


def test_slipped_price_unknown_order_type_raises_with_suggestion() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'stop_limit'"):
        slipped_price(100.0, side="buy", order_type="stoplimit", config=FIXED)


# --- configs and presets ---------------------------------------------------------------------


def test_cost_models_have_the_three_documented_names() -> None:
    assert set(COST_MODELS) == {"ib-fixed", "ib-pro", "none"}
    assert cost_model("ib-pro").commission == IB_PRO
    none = cost_model("none")
    assert (none.sec_fee_per_million, none.slippage_bps) == (0.0, 0.0)
    assert (FIXED.sec_fee_per_million, FIXED.slippage_bps) == (27.80, 5.0)


def test_cost_model_unknown_name_raises_with_suggestion() -> None:
    with pytest.raises(UnknownNameError, match="unknown cost model 'ib-fix'. Did you mean"):
        cost_model("ib-fix")


def test_cost_configs_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        FIXED.slippage_bps = 0.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"per_share": -0.005}, "per_share is out of range: got -0.005"),
        ({"per_share": 0.005, "minimum": -1.0}, "minimum is out of range"),
        ({"per_share": 0.005, "maximum_pct": 1.5}, r"maximum_pct is out of range: got 1.5"),
        ({"per_share": float("nan")}, "per_share is out of range"),
        ({"per_share": "0.005"}, "must be a number, got '0.005'"),
        ({"per_share": True}, "must be a number"),
    ],
)
def test_commission_config_invalid_value_raises_config_error(
    settings: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        CommissionConfig(**settings)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"slippage_bps": -1.0}, "slippage_bps is out of range"),
        ({"slippage_bps": 10_000.0}, "slippage_bps is out of range"),
        ({"sec_fee_per_million": -27.8}, "sec_fee_per_million is out of range"),
    ],
)
def test_cost_config_invalid_value_raises_config_error(
    settings: dict[str, float], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        CostConfig(commission=IB_FIXED, **settings)


def test_cost_config_commission_must_be_a_commission_config() -> None:
    with pytest.raises(ConfigError, match="must be a CommissionConfig"):
        CostConfig(commission="ib-fixed")  # type: ignore[arg-type]


def test_cost_config_from_mapping_accepts_preset_name_and_nested_mapping() -> None:
    by_name = CostConfig.from_mapping({"commission": "ib-pro", "slippage_bps": 2})
    assert by_name == CostConfig(commission=IB_PRO, slippage_bps=2.0)
    nested = CostConfig.from_mapping({"commission": {"per_share": 0.01, "minimum": 2}})
    assert nested.commission == CommissionConfig(per_share=0.01, minimum=2.0)


def test_cost_config_from_mapping_unknown_key_raises_with_suggestion() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'slippage_bps'"):
        CostConfig.from_mapping({"commission": "ib-pro", "slipage_bps": 2})


def test_cost_config_from_mapping_missing_commission_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="missing cost setting 'commission'"):
        CostConfig.from_mapping({"slippage_bps": 2})


def test_commission_config_from_mapping_unknown_key_raises_with_suggestion() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'minimum'"):
        CommissionConfig.from_mapping({"per_share": 0.005, "minimun": 1.0})
