"""Model serialisation and hashing, the README's exception table, and GATEPAY_LOG."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gatepay_async
import gatepay_sync
from gatepay_async import (
    GiftCard,
    GiftCardBalance,
    GiftCardStatus,
    GiftCardTemplate,
    MerchantBalance,
    ValidationError,
)
from gatepay_async.sandbox import SandboxServer
from tests.conftest import SANDBOX_CLIENT_ID, SANDBOX_SECRET_KEY

ROOT = Path(__file__).resolve().parents[1]

decimals = st.decimals(allow_nan=False, allow_infinity=False, places=None)
datetimes = st.datetimes(timezones=st.just(dt.timezone.utc)) | st.none()
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | decimals,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
extras = st.dictionaries(st.text(), json_values, max_size=3)
ids = st.none() | st.integers() | st.text()
cards = st.builds(
    GiftCard,
    card_number=st.text(min_size=1),
    key=st.text(),
    amount=decimals | st.none(),
    currency=st.text() | st.none(),
    status=st.sampled_from(GiftCardStatus),
    raw_status=st.none() | st.integers() | st.text(),
    title=st.text() | st.none(),
    template_id=st.text() | st.none(),
    creator=ids,
    creator_name=st.text() | st.none(),
    owner=ids,
    exchange_uid=ids,
    give_count=st.integers() | st.none(),
    created_at=datetimes,
    exchanged_at=datetimes,
    last_given_at=datetimes,
    extra=extras,
)
balances = st.dictionaries(st.text(min_size=1), decimals, max_size=3)
card_balances = st.builds(
    GiftCardBalance,
    card_number=st.text(),
    currency=st.text(),
    amount=decimals | st.none(),
    status=st.sampled_from(GiftCardStatus),
    raw_status=st.none() | st.integers(),
    balances=balances,
    extra=extras,
)
merchant_balances = st.builds(MerchantBalance, balances=balances, extra=extras)
templates = st.builds(
    GiftCardTemplate,
    template_id=st.text(),
    name=st.text(),
    cover_url=st.text(),
    status=st.text(),
    title_en=st.text(),
    title_cn=st.text(),
    cover_type=st.text(),
    extra=extras,
)
models = cards | card_balances | merchant_balances | templates


@given(models)
def test_a_model_survives_to_dict_json_and_from_dict(model: Any) -> None:
    data = model.to_dict()
    assert json.loads(json.dumps(data)) == data  # JSON-safe, nothing lost in the text
    again = type(model).from_dict(json.loads(model.to_json()))
    assert again == model
    assert hash(again) == hash(model)


def test_to_dict_writes_decimals_as_text_datetimes_iso_and_the_status_by_name() -> None:
    card = GiftCard(
        card_number="GC1",
        key="KEY-1",
        amount=Decimal("0.10"),
        status=GiftCardStatus.NOT_REDEEMED,
        created_at=dt.datetime(2025, 1, 27, 1, 41, 45, tzinfo=dt.timezone.utc),
        extra={"note": "kept"},
    )
    data = card.to_dict()
    assert data["amount"] == "0.10"
    assert data["status"] == "NOT_REDEEMED"
    assert data["created_at"] == "2025-01-27T01:41:45+00:00"
    assert data["key"] == "KEY-1"
    assert data["extra"] == {"note": "kept"}
    assert {card, GiftCard.from_dict(data)} == {card}  # hashable, equal models hash equal


def test_from_dict_names_the_field_it_cannot_read() -> None:
    with pytest.raises(ValidationError) as caught:
        GiftCard.from_dict({"card_number": "GC1", "amount": "lots"})
    assert caught.value.argument == "amount"


def test_models_are_hashable_and_equal_models_hash_equal() -> None:
    assert hash(MerchantBalance(balances={"USDT": Decimal("1.50")})) == hash(
        MerchantBalance(balances={"USDT": Decimal("1.5")})
    )
    assert attrs.has(GiftCardTemplate)
    hash(GiftCardTemplate(template_id="t", extra={"nested": [1, {"a": 2}]}))


def test_every_exception_the_readme_names_is_importable_from_both_packages() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = re.findall(r"^\| `([A-Z]\w*Error)`", text, flags=re.MULTILINE)
    also = text.split("\nAlso: ", 1)[1].split("\n\n", 1)[0]  # the line after the table
    names = {*table, *re.findall(r"`([A-Z]\w*Error)`", also)}
    names.update(re.findall(r"\(`([A-Z]\w*Error)` when", text))
    assert "RequestNotSentTimeoutError" in names
    for name in sorted(names):
        for package in (gatepay_async, gatepay_sync):
            assert isinstance(getattr(package, name, None), type), f"{package.__name__}.{name}"
            assert name in package.__all__


_SCRIPT = textwrap.dedent(
    """
    from decimal import Decimal
    import gatepay_sync
    from gatepay_sync import GatePay

    with GatePay() as gp:
        card = gp.gift_cards.create(title="T", template_id="255267012439183360",
                                    currency="USDT", amount=Decimal("1"))
        gp.gift_cards.query(key=card.key)
        gp.gift_cards.balance(key=card.key)  # answered 503 twice: retried, then read
        print(card.key)
    """
)


@pytest.mark.parametrize("level", ["debug", "info"])
def test_gatepay_log_sends_the_gatepay_logger_to_stderr_without_secrets(
    sandbox: SandboxServer, level: str
) -> None:
    sandbox.sandbox.inject(
        __import__("gatepay_async.sandbox._faults", fromlist=["x"]).parse_fault(
            "balance:status=503,retry_after=0,times=2"
        )
    )
    env = {
        **os.environ,
        "GATEPAY_LOG": level,
        "GATEPAY_BASE_URL": sandbox.url,
        "GATEPAY_CLIENT_ID": SANDBOX_CLIENT_ID,
        "GATEPAY_SECRET_KEY": SANDBOX_SECRET_KEY,
    }
    done = subprocess.run(  # noqa: S603 - this interpreter on our own script
        [sys.executable, "-c", _SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    card_key = done.stdout.strip().splitlines()[-1]
    assert "retrying in" in done.stderr  # a retry, with its wait
    assert "INFO" in done.stderr
    if level == "debug":
        assert "DEBUG" in done.stderr
    pieces = [SANDBOX_SECRET_KEY, card_key[:12], card_key[-12:]]
    for piece in pieces:
        assert piece not in done.stderr


def test_without_gatepay_log_the_sdk_prints_nothing(sandbox: SandboxServer) -> None:
    env = {k: v for k, v in os.environ.items() if k != "GATEPAY_LOG"}
    code = "import logging, gatepay_async; print(logging.getLogger('gatepay').handlers)"
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
