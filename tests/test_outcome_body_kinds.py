"""How a create answer's body is classified, case by case, where one wrong cell costs money.

The outcome table (``DECISIONS``) is checked against docs/reliability.md elsewhere; these
tests pin what the table's columns mean: which bodies are envelopes, which values identify
a card, and the guards that keep an answer holding a card from ever becoming a crash or a
refusal.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

from gatepay_async import APIConnectionError, APITimeoutError, OutcomeUnknownError
from gatepay_async._decision import outcome as outcome_module
from gatepay_async._decision.outcome import Outcome, body_kind, create_answer, create_lost, decide
from gatepay_async._errors import RawAnswer, RequestNotSentError, RequestNotSentTimeoutError
from gatepay_async._wire.decoding import decode_card
from gatepay_async._wire.validation import build_create_request

NUMBER = "GC100200300400"
KEY = "Zk3mQ9vT2xLp8Rw4Yb6Nc1Hd5Jf7Gs0A"
REQUEST = build_create_request(
    title="Holiday", template_id="255267012439183360", currency="USDT", amount="1"
)


def body(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def answer(status_code: int, payload: Any) -> httpx.Response:
    content = payload if isinstance(payload, bytes) else body(payload)
    request = httpx.Request("POST", "http://gatepay.test/v1/pay/gift/create")
    return httpx.Response(status_code, content=content, request=request)


# ------------------------------------------------------------------- which status class

CARD = {"status": "SUCCESS", "data": {"card_num": "GC100200300400", "card_key": "k" * 32}}


@pytest.mark.parametrize(
    ("status_code", "status_class", "outcome"),
    [
        (199, "other", Outcome.UNKNOWN),  # not a final answer: never proof of a card
        (200, "2xx", Outcome.ISSUED),
        (299, "2xx", Outcome.ISSUED),
        (300, "3xx", Outcome.UNKNOWN),
        (399, "3xx", Outcome.UNKNOWN),
        (400, "other 4xx", Outcome.UNKNOWN),
        (499, "other 4xx", Outcome.UNKNOWN),
        (500, "5xx", Outcome.UNKNOWN),
        (599, "5xx", Outcome.UNKNOWN),
        (600, "other", Outcome.UNKNOWN),
        (601, "other", Outcome.UNKNOWN),
        (999, "other", Outcome.UNKNOWN),
    ],
)
def test_each_status_class_ends_where_http_says(
    status_code: int, status_class: str, outcome: Outcome
) -> None:
    """Only a 2xx answer holding a card is issued: a card under a status just outside
    200-299 (a 199, a 300) is unknown, and no status above 599 is a server error."""
    assert outcome_module.status_class(status_code) == status_class
    assert decide(status_code, body(CARD)) is outcome


# ------------------------------------------------------------------------ what an envelope is


@pytest.mark.parametrize("status_code", [400, 401, 403, 404, 422])
def test_a_bare_success_status_under_a_4xx_is_unknown_not_refused(status_code: int) -> None:
    """``{"status": "SUCCESS"}`` alone is an envelope (any one of its marks makes one): a
    SUCCESS under a 4xx contradicts itself, so the card may exist."""
    assert body_kind(body({"status": "SUCCESS"})) == ("success, no card", None)
    assert decide(status_code, body({"status": "SUCCESS"})) is Outcome.UNKNOWN


@pytest.mark.parametrize(
    "payload",
    [
        {"data": {"card_num": NUMBER, "card_key": KEY}},  # data alone: an envelope
        {"code": "000000", "data": {"card_num": NUMBER, "card_key": KEY}},  # no status
        {"code": 0, "data": {"card_num": NUMBER, "card_key": KEY}},
        {"status": "SUCCESS", "data": {"card_num": NUMBER, "card_key": KEY}},
    ],
)
def test_envelopes_without_every_mark_still_carry_an_issued_card(payload: Any) -> None:
    kind, data = body_kind(body(payload))
    assert kind == "card"
    assert data == payload["data"]
    assert decide(200, body(payload)) is Outcome.ISSUED


def test_a_code_alone_that_is_not_success_is_another_status() -> None:
    payload = {"code": "500001", "data": {"card_num": NUMBER, "card_key": KEY}}
    assert body_kind(body(payload))[0] == "other status"
    assert decide(200, body(payload)) is Outcome.UNKNOWN


@pytest.mark.parametrize(
    ("status_code", "expected"),
    [
        (200, Outcome.UNKNOWN),
        (403, Outcome.REFUSED),
        (404, Outcome.REFUSED),
        (429, Outcome.REFUSED),
        (409, Outcome.UNKNOWN),
        (502, Outcome.UNKNOWN),
    ],
)
def test_a_proxys_json_without_an_envelope_is_no_envelope(
    status_code: int, expected: Outcome
) -> None:
    """A proxy's ``{"message": "Forbidden"}`` is JSON but not GatePay's: the "no envelope"
    column, as an HTML page would be."""
    proxy = body({"message": "Forbidden"})
    assert body_kind(proxy) == ("no envelope", None)
    assert decide(status_code, proxy) is expected


# ------------------------------------------------------------------------ what identifies a card


@pytest.mark.parametrize("number_field", ["card_num", "cardNumber", "card_number", "cardNum"])
@pytest.mark.parametrize("key_field", ["card_key", "key", "cardKey"])
def test_every_spelling_of_number_and_key_is_issued(number_field: str, key_field: str) -> None:
    payload = {"status": "SUCCESS", "data": {number_field: NUMBER, key_field: KEY}}
    assert decide(200, body(payload)) is Outcome.ISSUED
    created = create_answer(REQUEST, answer(200, payload))
    assert created.outcome is Outcome.ISSUED
    assert created.card is not None
    assert (created.card.card_number, created.card.key) == (NUMBER, KEY)


@pytest.mark.parametrize(
    "data",
    [
        {"card_num": True, "card_key": True},
        {"card_num": NUMBER, "card_key": True},
        {"card_num": False, "card_key": KEY},
        {"card_num": NUMBER, "card_key": None},
        {"card_num": NUMBER, "card_key": "   "},
        {"card_num": "", "card_key": KEY},
        {"card_num": [NUMBER], "card_key": KEY},
        {"card_num": NUMBER, "card_key": {"k": KEY}},
        {"card_num": 1.5, "card_key": KEY},
    ],
)
def test_values_that_cannot_identify_a_card_make_it_unknown(data: dict[str, Any]) -> None:
    """JSON ``true`` is not the card number "True": SUCCESS without a usable number and key
    is unknown, never issued."""
    payload = {"status": "SUCCESS", "data": data}
    assert body_kind(body(payload)) == ("success, no card", None)
    created = create_answer(REQUEST, answer(200, payload))
    assert created.outcome is Outcome.UNKNOWN
    assert created.card is None


def test_an_integer_card_number_identifies_the_card() -> None:
    payload = {"status": "SUCCESS", "data": {"card_num": 100200300, "card_key": KEY}}
    created = create_answer(REQUEST, answer(200, payload))
    assert created.outcome is Outcome.ISSUED
    assert created.card is not None
    assert created.card.card_number == "100200300"


def test_a_later_spelling_is_used_when_an_earlier_one_is_unusable() -> None:
    data = {"card_num": "", "cardNumber": NUMBER, "card_key": None, "key": KEY}
    created = create_answer(REQUEST, answer(200, {"status": "SUCCESS", "data": data}))
    assert created.card is not None
    assert (created.card.card_number, created.card.key) == (NUMBER, KEY)


# ------------------------------------------------------------------------ guards


def test_a_data_string_with_a_lone_surrogate_is_unreadable_not_a_crash() -> None:
    """JSON may escape a lone surrogate, which no UTF-8 text can hold: the data string
    cannot be parsed again, so the answer reads as no envelope (unknown under a 2xx)."""
    content = b'{"status": "SUCCESS", "data": "\\ud800"}'
    assert body_kind(content) == ("no envelope", None)
    assert decide(200, content) is Outcome.UNKNOWN


LOST_AFTER_WRITING = "connection lost after the request was written"


@pytest.mark.parametrize(
    ("lost", "row"),
    [
        (RequestNotSentError("refused", method="POST"), "connection never made"),
        (RequestNotSentTimeoutError("pool", method="POST"), "connection never made"),
        (APITimeoutError("read", method="POST"), "timeout after the request was written"),
        (
            APIConnectionError("reset", method="POST"),
            "connection lost after the request was written",
        ),
    ],
)
def test_each_create_without_an_answer_falls_in_its_row(lost: APIConnectionError, row: str) -> None:
    """The row of the no-answer table (docs/reliability.md) each lost create is in."""
    assert outcome_module.lost_answer_kind(lost) == row
    assert create_lost(REQUEST, lost).outcome is outcome_module.LOST_ANSWERS[row]


@pytest.mark.parametrize(
    ("status_code", "payload", "refused"),
    [
        (400, {"status": "FAIL", "code": "400002", "message": "bad timestamp"}, True),
        (429, {"status": "FAIL", "code": "429000"}, True),
        (409, {"status": "FAIL", "code": "409000"}, False),  # a conflict may hide a card
        (400, {"status": "FAIL", "data": {"card_num": NUMBER, "card_key": KEY}}, False),
        (500, {"status": "FAIL"}, False),
        (200, {"status": "SUCCESS", "data": {"card_num": NUMBER, "card_key": KEY}}, False),
    ],
)
def test_only_a_refusal_lets_the_client_resend_a_create(
    status_code: int, payload: Any, refused: bool
) -> None:
    """``CreateCall.refused`` is what the client asks before re-signing and resending a
    create refused for its timestamp: only an answer the decision calls refused is."""
    call = outcome_module.CreateCall(REQUEST)
    assert call.refused(answer(status_code, payload)) is refused


def test_a_bug_while_deciding_keeps_the_raw_answer_on_an_unknown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The outer guard: an unexpected failure while reading a card is an unknown outcome
    whose error carries the raw answer, never an exception that loses the card."""

    def broken(*args: object) -> None:
        raise KeyError("a bug in decoding")

    monkeypatch.setattr(outcome_module, "decode_card_leniently", broken)
    payload = {"status": "SUCCESS", "data": {"card_num": NUMBER, "card_key": KEY}}
    created = create_answer(REQUEST, answer(200, payload))
    assert created.outcome is Outcome.UNKNOWN
    assert isinstance(created.error, OutcomeUnknownError)
    assert created.error.answer == RawAnswer(200, body(payload))
    assert isinstance(created.error.__cause__, KeyError)


def test_a_recorded_answer_that_breaks_decoding_recovers_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object) -> None:
        raise KeyError("a bug in decoding")

    monkeypatch.setattr(outcome_module, "decode_card_leniently", broken)
    payload = {"status": "SUCCESS", "data": {"card_num": NUMBER, "card_key": KEY}}
    assert outcome_module.recover_card(200, body(payload)) is None


@pytest.mark.parametrize(
    "lost",
    [
        APITimeoutError("timed out"),
        APIConnectionError("connection reset"),
    ],
)
def test_an_unknown_create_chains_its_cause(lost: APIConnectionError) -> None:
    created = create_lost(REQUEST, lost)
    assert created.outcome is Outcome.UNKNOWN
    assert isinstance(created.error, OutcomeUnknownError)
    assert created.error.__cause__ is lost
    assert created.error.cause is lost


def test_an_answered_unknown_chains_the_decoders_error() -> None:
    created = create_answer(REQUEST, answer(502, b"<html>bad gateway</html>"))
    assert created.outcome is Outcome.UNKNOWN
    assert created.error is not None
    assert created.error.__cause__ is not None
    assert getattr(created.error.__cause__, "status_code", None) == 502


def test_an_issued_card_gets_the_requests_fields_only_where_gatepay_left_them_out() -> None:
    request = build_create_request(title="Holiday", template_id="255", currency="USDT", amount="1")
    bare = outcome_module.as_requested(decode_card({"card_num": "GC1", "card_key": "K"}), request)
    assert (bare.title, bare.template_id, bare.currency, bare.amount) == (
        "Holiday",
        "255",
        "USDT",
        Decimal("1"),
    )
    given = {"title": "T", "card_temp_id": "999", "currency": "EUR", "amount": "5"}
    full = outcome_module.as_requested(
        decode_card({"card_num": "GC1", "card_key": "K", **given}), request
    )
    assert (full.title, full.template_id, full.currency, full.amount) == (
        "T",
        "999",
        "EUR",
        Decimal("5"),
    )
