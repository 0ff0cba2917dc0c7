"""The re-sign after a clock refusal rests on the answer's Date header, not on a code.

GatePay documents no error code for a stale timestamp (400003 is the sandbox's own), so
a refusal is re-signed once when its Date shows the request's timestamp outside the
10-second window, whatever the code, and not when the Date agrees, whatever the code.
"""

from __future__ import annotations

import contextlib
import json
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from gatepay_async import (
    APIError,
    AuthenticationError,
    BulkState,
    CardSpec,
    InvalidRequestError,
    OutcomeUnknownError,
)
from tests.helpers import (
    CARD_KEY,
    TEMPLATE_ID,
    Recorder,
    assert_signed,
    card_data,
    fail,
    http_date,
    raw,
    success,
)

from .conftest import create, mock_client

#: Retries allowed: a request sent once was not resent by choice, not for want of a retry.
make_client = partial(mock_client, max_retries=2)


#: Refusals in shapes real GatePay might use: no sandbox code among them.
REFUSALS_WITHOUT_A_SANDBOX_CODE = [
    pytest.param(401, "401000", id="http-401-other-code"),
    pytest.param(403, None, id="http-403-no-code"),
    pytest.param(400, "400001", id="http-400-documented-code"),
    pytest.param(200, "999999", id="fail-envelope-unknown-code"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("status_code", "code"), REFUSALS_WITHOUT_A_SANDBOX_CODE)
async def test_a_refusal_whose_date_shows_the_skew_is_re_signed_once(
    status_code: int, code: str | None
) -> None:
    refusal = fail(code or "", status_code=status_code, headers={"Date": http_date(60)})
    recorder = Recorder(refusal, success(card_data()))
    async with make_client(recorder) as gp:
        card = await create(gp)
        assert 58_000 <= gp.clock.offset_ms <= 62_000
    assert card.card_number
    assert recorder.count == 2
    first, second = recorder.sent
    assert first.content == second.content
    assert first.headers["X-GatePay-Nonce"] != second.headers["X-GatePay-Nonce"]
    assert_signed(second, offset_ms=60_000, tolerance_ms=2_000)


@pytest.mark.anyio
@pytest.mark.parametrize(("status_code", "code"), REFUSALS_WITHOUT_A_SANDBOX_CODE)
async def test_re_signed_at_most_once(status_code: int, code: str | None) -> None:
    refusal = fail(code or "", status_code=status_code, headers={"Date": http_date(60)})
    recorder = Recorder(refusal)  # refused every time, the Date always 60 s ahead
    async with make_client(recorder) as gp:
        with pytest.raises(APIError):
            await create(gp)
    assert recorder.count == 2


@pytest.mark.anyio
@pytest.mark.parametrize("status_code", [200, 401])
async def test_the_timestamp_code_alone_is_no_evidence(status_code: int) -> None:
    """400003 with a Date that agrees with the client: resending would change nothing."""
    recorder = Recorder(fail("400003", status_code=status_code, headers={"Date": http_date(0)}))
    async with make_client(recorder) as gp:
        with pytest.raises(AuthenticationError):
            await create(gp)
    assert recorder.count == 1


@pytest.mark.anyio
async def test_no_date_header_means_no_re_sign() -> None:
    recorder = Recorder(fail("400003", status_code=401))
    async with make_client(recorder) as gp:
        with pytest.raises(AuthenticationError):
            await gp.gift_cards.list_templates()
    assert recorder.count == 1


@pytest.mark.anyio
async def test_the_timestamp_code_counts_a_skew_just_inside_the_window() -> None:
    """With the code, a skew of 9 s (transit time may have eaten the rest) is enough."""
    with_code = Recorder(
        fail("400003", status_code=401, headers={"Date": http_date(10)}), success([])
    )
    async with make_client(with_code) as gp:
        await gp.gift_cards.list_templates()
    assert with_code.count == 2
    without_code = Recorder(
        fail("401000", status_code=401, headers={"Date": http_date(10)}), success([])
    )
    async with make_client(without_code) as gp:
        with pytest.raises(AuthenticationError):
            await gp.gift_cards.list_templates()
    assert without_code.count == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(success(card_data(), headers={"Date": http_date(60)}), id="success"),
        pytest.param(raw(503, "{}", headers={"Date": http_date(60)}), id="http-503"),
        pytest.param(raw(429, "{}", headers={"Date": http_date(60)}), id="http-429"),
    ],
)
async def test_answers_that_are_not_refusals_are_never_re_signed(answer: httpx.Response) -> None:
    recorder = Recorder(answer, success(card_data()))
    async with make_client(recorder) as gp:
        # A create's 5xx is OutcomeUnknownError (never resent); a 429 an APIError.
        with contextlib.suppress(APIError, OutcomeUnknownError):
            await create(gp)
    # 429 is retried by the retry policy, not re-signed by the clock: at most that retry.
    assert recorder.count == (2 if answer.status_code == 429 else 1)


@pytest.mark.anyio
async def test_a_bad_parameter_refusal_with_agreeing_clock_is_not_resent() -> None:
    recorder = Recorder(fail("400001", status_code=400, headers={"Date": http_date(0)}))
    async with make_client(recorder) as gp:
        with pytest.raises(InvalidRequestError):
            await create(gp)
    assert recorder.count == 1


def _fail_with_card(status_code: int) -> httpx.Response:
    body = {"status": "FAIL", "code": "400001", "errorMessage": "no", "data": card_data()}
    return raw(status_code, json.dumps(body), headers={"Date": http_date(60)})


#: Answers that may come with a card, dated 60 s off the client's clock: the clock
#: evidence alone would re-sign them, but only a refusal may be sent again.
ANSWERS_THAT_MAY_HOLD_A_CARD = [
    pytest.param(
        lambda: fail("400001", status_code=409, headers={"Date": http_date(60)}), id="409"
    ),
    pytest.param(lambda: _fail_with_card(200), id="fail-holding-a-card"),
    pytest.param(
        lambda: success(card_data(), status_code=400, headers={"Date": http_date(60)}),
        id="400-holding-a-card",
    ),
]


@pytest.mark.anyio
@pytest.mark.parametrize("first", ANSWERS_THAT_MAY_HOLD_A_CARD)
async def test_a_skewed_answer_that_may_hold_a_card_is_never_re_sent(first: Any) -> None:
    recorder = Recorder(first(), success(card_data()))
    async with make_client(recorder) as gp:
        with pytest.raises(OutcomeUnknownError) as info:
            await create(gp)
    assert recorder.count == 1
    assert info.value.answer is not None  # the first answer is kept, whatever it held


@pytest.mark.anyio
@pytest.mark.parametrize("first", ANSWERS_THAT_MAY_HOLD_A_CARD)
async def test_a_skewed_answer_in_a_bulk_run_is_journaled_and_never_re_sent(
    first: Any, tmp_path: Path
) -> None:
    recorder = Recorder(first(), success(card_data()))
    journal = tmp_path / "run.journal"
    spec = CardSpec(
        ref="r1", title="Holiday", template_id=TEMPLATE_ID, currency="USDT", amount="0.99"
    )
    async with make_client(recorder) as gp:
        results = [r async for r in gp.gift_cards.create_many([spec], journal=journal)]
    assert recorder.count == 1
    assert results[0].state is BulkState.UNKNOWN
    text = journal.read_text(encoding="utf-8")
    assert '"op":"answer"' in text  # the first answer is durable, whatever it held
    if first().content.find(CARD_KEY.encode()) >= 0:  # the answers that hold a card
        assert CARD_KEY in text


@pytest.mark.anyio
async def test_a_skewed_refusal_of_a_create_is_journaled_before_the_re_sign(
    tmp_path: Path,
) -> None:
    refusal = fail("400002", status_code=401, headers={"Date": http_date(60)})
    recorder = Recorder(refusal, success(card_data()))
    journal = tmp_path / "run.journal"
    spec = CardSpec(
        ref="r1", title="Holiday", template_id=TEMPLATE_ID, currency="USDT", amount="0.99"
    )
    async with make_client(recorder) as gp:
        results = [r async for r in gp.gift_cards.create_many([spec], journal=journal)]
    assert recorder.count == 2
    assert results[0].state is BulkState.ISSUED
    answers = [line for line in journal.read_text().splitlines() if '"op":"answer"' in line]
    assert len(answers) == 2  # the refusal, then the card
