"""The re-sign after a clock refusal rests on the answer's Date header, not on a code.

GatePay documents no error code for a stale timestamp (400003 is the sandbox's own), so
a refusal is re-signed once when its Date shows the request's timestamp outside the
10-second window, whatever the code, and not when the Date agrees, whatever the code.
"""

from __future__ import annotations

import contextlib
from decimal import Decimal
from typing import Any

import httpx
import pytest

from gatepay_async import (
    APIError,
    AsyncGatePay,
    AuthenticationError,
    InvalidRequestError,
    OutcomeUnknownError,
)
from tests.helpers import (
    BASE_URL,
    CLIENT_ID,
    SECRET_KEY,
    TEMPLATE_ID,
    Recorder,
    assert_signed,
    card_data,
    fail,
    http_date,
    raw,
    success,
)


def make_client(recorder: Recorder) -> AsyncGatePay:
    return AsyncGatePay(
        client_id=CLIENT_ID,
        secret_key=SECRET_KEY,
        base_url=BASE_URL,
        max_retries=2,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(recorder)),
    )


async def create(gp: AsyncGatePay) -> Any:
    return await gp.gift_cards.create(
        title="Holiday", template_id=TEMPLATE_ID, currency="USDT", amount=Decimal("0.99")
    )


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
