"""Objects pickled by an earlier version of the SDK still load as themselves.

``tests/data/pickled_before_layout.pickle`` was written (protocol 2) by the code before
the package was regrouped into layer folders. A pickle names each class by its module
path, so the modules of the pickled classes (``gatepay_async._errors``, ``_models``,
``_bulk_models``) keep their paths; this test fails if one of them moves.
"""

from __future__ import annotations

import datetime as dt
import pickle
import pickletools
from decimal import Decimal
from pathlib import Path
from typing import Any

from gatepay_async import (
    APIError,
    BulkResult,
    BulkState,
    CardSpec,
    GiftCard,
    GiftCardBalance,
    GiftCardStatus,
    GiftCardTemplate,
    InvalidRequestError,
    MerchantBalance,
    OutcomeUnknownError,
    RequestNotSentError,
    ValidationError,
)
from gatepay_async._errors import RawAnswer

DATA = Path(__file__).parent / "data" / "pickled_before_layout.pickle"


def _loaded() -> dict[str, Any]:
    loaded: dict[str, Any] = pickle.loads(DATA.read_bytes())  # noqa: S301 (our own test data)
    return loaded


def test_the_old_pickle_names_the_module_paths_of_the_pickled_classes() -> None:
    modules = {
        arg.split(" ")[0]
        for op, arg, _ in pickletools.genops(DATA.read_bytes())
        if op.name == "GLOBAL" and isinstance(arg, str)
    }
    assert {
        "gatepay_async._errors",
        "gatepay_async._models",
        "gatepay_async._bulk_models",
    } <= modules


def test_errors_pickled_before_load_as_the_same_class_text_and_attributes() -> None:
    loaded = _loaded()
    unknown = loaded["outcome_unknown"]
    assert type(unknown) is OutcomeUnknownError
    assert unknown.answer == RawAnswer(status_code=502, body=b'{"status":"SUCCESS"}')
    assert (unknown.title, unknown.currency, unknown.amount) == ("Holiday", "USDT", Decimal("0.99"))
    assert unknown.status_code == 502
    assert "a card may have been issued" in str(unknown)
    # protocol 2 names a TimeoutError by its OSError alias
    assert isinstance(unknown.cause, OSError)
    assert str(unknown.cause) == "read timed out"
    assert loaded["raw_answer"] == RawAnswer(status_code=200, body=b"{}")

    refused = loaded["api_error"]
    assert type(refused) is InvalidRequestError
    assert isinstance(refused, APIError)
    assert (refused.code, refused.status_code, refused.path) == (
        "400001",
        400,
        "/v1/giftcard/create",
    )
    assert (
        str(refused) == "POST /v1/giftcard/create: HTTP 400, code 400001, INVALID_PARAM: bad amount"
    )
    assert type(loaded["api_error_text"]) is APIError
    assert str(loaded["api_error_text"]) == "plain text"
    assert type(loaded["validation"]) is ValidationError
    assert str(loaded["validation"]) == "amount must be positive"
    assert type(loaded["not_sent"]) is RequestNotSentError


def test_models_pickled_before_load_equal_to_the_same_models_built_now() -> None:
    loaded = _loaded()
    card = GiftCard(
        card_number="GC-0001",
        key="k-secret-0001",
        amount=Decimal("0.99"),
        currency="USDT",
        status=GiftCardStatus.PENDING_PAYMENT,
        title="Holiday",
        template_id="255267012439183360",
        created_at=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
        extra={"note": "kept"},
    )
    assert loaded["gift_card"] == card
    assert loaded["balance"] == GiftCardBalance(
        card_number="GC-0001",
        currency="USDT",
        amount=Decimal("0.5"),
        balances={"USDT": Decimal("0.5")},
    )
    assert loaded["merchant_balance"] == MerchantBalance(balances={"USDT": Decimal("12.5")})
    assert loaded["template"] == GiftCardTemplate(template_id="255267012439183360", name="Holiday")
    assert loaded["spec"] == CardSpec(
        ref="row-1",
        title="Holiday",
        template_id="255267012439183360",
        currency="USDT",
        amount="0.99",
    )
    assert loaded["bulk_result"] == BulkResult(ref="row-1", state=BulkState.ISSUED, card=card)
    assert loaded["bulk_result"].issued
    assert loaded["bulk_unknown"] == BulkResult(
        ref="row-2", state=BulkState.UNKNOWN, error="answer lost"
    )
