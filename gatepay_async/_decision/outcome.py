"""The one decision on a create's outcome: issued, refused, not sent or unknown.

``create`` and ``create_many`` (both facades) hand every create answer, and every create
that got no answer, to this module and nowhere else. The decision is a lookup in
:data:`DECISIONS` (HTTP status class x what the body holds); docs/reliability.md
publishes the same table and a test keeps the two equal.

Only the card number and the key identify an issued card: a SUCCESS answer with both is
issued however its other fields are written. In doubt the outcome is unknown, and an
unknown create is never resent on its own.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager
from decimal import Decimal
from typing import Any

import attrs
import httpx

from gatepay_async._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    GatePayError,
    OutcomeUnknownError,
    RawAnswer,
    RequestNotSentError,
    ResponseValidationError,
)
from gatepay_async._models import GiftCard
from gatepay_async._wire.decoding import decode_card_leniently
from gatepay_async._wire.envelope import decode_envelope, parse_json
from gatepay_async._wire.request_options import NO_OPTIONS, RequestOptions
from gatepay_async._wire.validation import CreateRequest

__all__ = [
    "BODY_KINDS",
    "DECISIONS",
    "LOST_ANSWERS",
    "RATE_LIMITED_SENDS",
    "STATUS_CLASSES",
    "AsyncSendCreate",
    "AttemptAbandoned",
    "CreateCall",
    "CreateOutcome",
    "Outcome",
    "SendCreate",
    "as_issued",
    "as_requested",
    "body_kind",
    "create_answer",
    "create_lost",
    "decide",
    "issued_data",
    "lost_answer_kind",
    "recover_card",
    "status_class",
    "unknown_error",
]


class Outcome(str, enum.Enum):
    ISSUED = "issued"
    REFUSED = "refused"
    NOT_SENT = "not sent"
    UNKNOWN = "unknown"


#: HTTP status classes, as the table's rows name them.
STATUS_CLASSES = ("2xx", "3xx", "409", "429", "other 4xx", "5xx", "other")
#: What an answer's body holds, as the table's columns name them.
#: "card": a SUCCESS envelope (or a bare object) whose data has a non-empty card number
#: and key; "success, no card": a SUCCESS envelope without both; "FAIL": a FAIL
#: envelope, whatever its code, with no card in its data; "FAIL with a card": a FAIL
#: envelope whose data names a card number and key; "other status": an envelope whose
#: status is neither; "no envelope": not JSON, not an envelope, or data that is unreadable.
BODY_KINDS = (
    "card",
    "success, no card",
    "FAIL",
    "FAIL with a card",
    "other status",
    "no envelope",
)

_I, _R, _U = Outcome.ISSUED, Outcome.REFUSED, Outcome.UNKNOWN

# Why each row is what it is (docs/reliability.md says the same, for users):
# - 3xx: a signed create is never followed; 303 after a POST means "processed, look
#   elsewhere", so a redirect does not prove that nothing was issued.
# - 409: a conflict on a create may mean "a card for this already exists or is being
#   made": no proof of a refusal.
# - other 4xx (400, 401, 403, 404, 405, 408, 410, 413, 415, 422...): GatePay (or a proxy
#   in front of it) refused the request before acting on it. 408 means the server never
#   received the whole request; 404 means no endpoint took it.
# - 429: refused unprocessed; the one retry loop sends it again.
# - 5xx: the failure may have happened after the card was issued.
# - A body holding a card under a non-2xx status contradicts itself: unknown, never
#   refused, and the raw answer is kept so its key is not lost. So does a FAIL envelope
#   whose data holds a card, and a SUCCESS envelope under a 4xx other than 429 (its card
#   may be written in a way the SDK does not read): unknown, never resent. A 429 is the
#   one refusal that says "not processed" whatever its body carries besides a card.
DECISIONS: dict[tuple[str, str], Outcome] = {
    ("2xx", "card"): _I,
    ("2xx", "success, no card"): _U,
    ("2xx", "FAIL"): _R,
    ("2xx", "FAIL with a card"): _U,
    ("2xx", "other status"): _U,
    ("2xx", "no envelope"): _U,
    **{("3xx", kind): _U for kind in BODY_KINDS},
    **{("409", kind): _U for kind in BODY_KINDS},
    ("429", "card"): _U,
    ("429", "success, no card"): _R,
    ("429", "FAIL"): _R,
    ("429", "FAIL with a card"): _U,
    ("429", "other status"): _R,
    ("429", "no envelope"): _R,
    ("other 4xx", "card"): _U,
    ("other 4xx", "success, no card"): _U,
    ("other 4xx", "FAIL"): _R,
    ("other 4xx", "FAIL with a card"): _U,
    ("other 4xx", "other status"): _R,
    ("other 4xx", "no envelope"): _R,
    **{("5xx", kind): _U for kind in BODY_KINDS},
    **{("other", kind): _U for kind in BODY_KINDS},
}

#: A create that got no answer at all.
LOST_ANSWERS: dict[str, Outcome] = {
    "connection never made": Outcome.NOT_SENT,
    "connection lost after the request was written": Outcome.UNKNOWN,
    "timeout after the request was written": Outcome.UNKNOWN,
}

_SUCCESS_CODES = (None, "", "000000", "0", 0)
_NUMBER_KEYS = ("card_num", "cardNumber", "card_number", "cardNum")
_KEY_KEYS = ("card_key", "key", "cardKey")


def status_class(status_code: int) -> str:
    if 200 <= status_code < 300:
        return "2xx"
    if 300 <= status_code < 400:
        return "3xx"
    if status_code in (409, 429):
        return str(status_code)
    if 400 <= status_code < 500:
        return "other 4xx"
    if 500 <= status_code < 600:
        return "5xx"
    return "other"


def _usable(value: object) -> str | None:
    """A card number or key as text, or None when it cannot identify a card."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value)
    return text if text.strip() else None


def _first(data: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        found = _usable(data.get(name))
        if found is not None:
            return found
    return None


def _card_data(data: object) -> Mapping[str, Any] | None:
    """``data`` when it names a usable card number and key, else None."""
    if not isinstance(data, Mapping):
        return None
    if _first(data, _NUMBER_KEYS) is None or _first(data, _KEY_KEYS) is None:
        return None
    return data


def body_kind(content: bytes) -> tuple[str, Mapping[str, Any] | None]:
    """What the body holds (one of BODY_KINDS) and, for "card", the card's data."""
    try:
        payload = parse_json(content)
    except (ValueError, RecursionError):
        return "no envelope", None
    if not isinstance(payload, Mapping):
        return "no envelope", None
    is_envelope = (
        payload.get("status") in ("SUCCESS", "FAIL") or "data" in payload or "code" in payload
    )
    if not is_envelope:  # a bare object, as seed 001's example shows
        card = _card_data(payload)
        return ("card", card) if card is not None else ("no envelope", None)
    status = payload.get("status")
    code = payload.get("code")
    if status == "FAIL":
        # A refusal that carries a card contradicts itself: the card may exist.
        failed_card = _card_data(_data_of(payload, default=None))
        return ("FAIL with a card", None) if failed_card is not None else ("FAIL", None)
    if status == "SUCCESS" or (status is None and code in _SUCCESS_CODES):
        data = _data_of(payload, default=_UNREADABLE)
        if data is _UNREADABLE:
            return "no envelope", None
        card = _card_data(data)
        return ("card", card) if card is not None else ("success, no card", None)
    return "other status", None


_UNREADABLE = object()


def _data_of(payload: Mapping[str, Any], *, default: object) -> object:
    """The envelope's ``data``, parsed when it is a string holding JSON (``default`` when
    that string is not JSON)."""
    data = payload.get("data")
    if isinstance(data, str):
        try:
            return parse_json(data.encode("utf-8"))
        except (ValueError, RecursionError, UnicodeEncodeError):
            return default
    return data


def decide(status_code: int, content: bytes) -> Outcome:
    """The outcome of a create answered with ``status_code`` and ``content``."""
    kind, _ = body_kind(content)
    return DECISIONS.get((status_class(status_code), kind), Outcome.UNKNOWN)


def recover_card(status_code: int, content: bytes) -> GiftCard | None:
    """The card in a raw answer recorded earlier, if today's rules say it was issued."""
    try:
        kind, card_data = body_kind(content)
        if DECISIONS.get((status_class(status_code), kind)) is not Outcome.ISSUED:
            return None
        assert card_data is not None
        return decode_card_leniently(
            card_data, _first(card_data, _NUMBER_KEYS), _first(card_data, _KEY_KEYS)
        )
    except Exception:
        return None


def issued_data(content: bytes) -> Mapping[str, Any] | None:
    """The card's data in an answer that :func:`decide` calls issued (for the journal)."""
    return body_kind(content)[1]


@attrs.frozen
class CreateOutcome:
    """What one create came to: its ``outcome``, GatePay's last raw ``answer`` (None when
    none arrived), and either the ``card`` (issued) or the ``error`` that ``create``
    raises (a refusal's APIError, the never-sent APIConnectionError, OutcomeUnknownError).
    """

    outcome: Outcome
    answer: httpx.Response | None = None
    card: GiftCard | None = None
    error: Exception | None = None

    def card_or_raise(self) -> GiftCard:
        """The issued card, or the outcome's exception raised."""
        if self.card is not None:
            return self.card
        assert self.error is not None
        raise self.error


def unknown_error(
    request: CreateRequest, cause: BaseException, answer: RawAnswer | None
) -> OutcomeUnknownError:
    """The OutcomeUnknownError of a create of ``request``: ``cause`` says why, ``answer``
    is GatePay's raw answer when one arrived (it may hold the card)."""
    error = OutcomeUnknownError(
        title=request.title,
        template_id=request.template_id,
        currency=request.currency,
        amount=request.amount,
        cause=cause,
        answer=answer,
    )
    error.__cause__ = cause  # as ``raise error from cause`` would chain it
    return error


def _unknown(
    request: CreateRequest,
    cause: BaseException,
    answer: RawAnswer | None,
    response: httpx.Response | None = None,
) -> CreateOutcome:
    error = unknown_error(request, cause, answer)
    return CreateOutcome(Outcome.UNKNOWN, response, error=error)


def create_answer(
    request: CreateRequest, response: httpx.Response, *, method: str = "POST", path: str = ""
) -> CreateOutcome:
    """The outcome of a create GatePay answered with ``response``.

    Never raises: whatever the answer holds, an unexpected failure here is an unknown
    outcome, with the raw answer kept on its error.
    """
    answer = RawAnswer(response.status_code, response.content)
    try:
        status_code = response.status_code
        kind, card_data = body_kind(response.content)
        outcome = DECISIONS.get((status_class(status_code), kind), Outcome.UNKNOWN)
        if outcome is Outcome.ISSUED and card_data is not None:
            card = decode_card_leniently(
                card_data, _first(card_data, _NUMBER_KEYS), _first(card_data, _KEY_KEYS)
            )
            return CreateOutcome(Outcome.ISSUED, response, card=as_requested(card, request))
        try:  # the decoder names the error: the refusal itself, or the unknown's cause
            decode_envelope(response, method=method, path=path)
        except APIError as exc:
            if outcome is Outcome.REFUSED:
                return CreateOutcome(Outcome.REFUSED, response, error=exc)
            return _unknown(request, exc, answer, response)
        except GatePayError as exc:
            return _unknown(request, exc, answer, response)
        reason = f"the answer ({kind}) has no usable card number and key"
        cause = ResponseValidationError(reason, status_code=status_code)
        return _unknown(request, cause, answer, response)
    except Exception as exc:  # a bug must not turn a paid card into a crash
        return _unknown(request, exc, answer, response)


def as_requested(card: GiftCard, request: CreateRequest) -> GiftCard:
    """``card`` with the title, template, currency and amount of the create that issued
    it, where GatePay's answer left them out (its create answer carries no title); a
    value GatePay gave wins."""
    return as_issued(
        card,
        title=request.title,
        template_id=request.template_id,
        currency=request.currency,
        amount=request.amount,
    )


def as_issued(
    card: GiftCard, *, title: str, template_id: str, currency: str, amount: Decimal
) -> GiftCard:
    """:func:`as_requested` from the request's fields (as a journal's intent keeps them)."""
    changes: dict[str, Any] = {}
    if not card.title:
        changes["title"] = title
    if not card.template_id:
        changes["template_id"] = template_id
    if not card.currency:
        changes["currency"] = currency
    if card.amount is None:
        changes["amount"] = amount
    return attrs.evolve(card, **changes) if changes else card


def lost_answer_kind(exc: APIConnectionError) -> str:
    """Which row of :data:`LOST_ANSWERS` a create without an answer falls in."""
    if isinstance(exc, RequestNotSentError):
        return "connection never made"
    if isinstance(exc, APITimeoutError):
        return "timeout after the request was written"
    return "connection lost after the request was written"


def create_lost(request: CreateRequest, exc: APIConnectionError) -> CreateOutcome:
    """The outcome of a create that got no answer: not sent (its error is ``exc``
    itself; the retry loop may send it again) or unknown."""
    if LOST_ANSWERS.get(lost_answer_kind(exc)) is Outcome.NOT_SENT:
        return CreateOutcome(Outcome.NOT_SENT, error=exc)
    return _unknown(request, exc, exc.partial_answer)  # what arrived may hold the card


class AttemptAbandoned(OutcomeUnknownError):
    """A bulk run abandoned this create while it was in flight (a second Ctrl-C or
    ``abandon()``): the request may have reached GatePay, so a card may exist."""


#: A create refused with HTTP 429 every time is sent at most this many times in all by a
#: bulk run (whatever ``max_retries``), the waits between being the run's shared pause.
RATE_LIMITED_SENDS = 8


@attrs.frozen
class CreateCall:
    """One create as the client sends it (see ``AsyncGatePay._send_create``): the checked
    request, what a bulk run plugs into the send, and the decisions on each answer.

    ``on_answer(response)`` is called (and awaited, in the async facade) with each raw
    answer before it is interpreted: a bulk run makes it durable in its journal there.
    ``pause(exc, seconds)`` replaces the loop's own wait between attempts: a bulk run
    turns a 429 into a pause shared by all its workers. ``rate_limited_sends`` caps the
    sends of a create refused with 429 every time (else ``max_retries`` does).
    ``guard()`` is entered around each attempt (send, ``on_answer``, decision): a bulk
    run shields it from cancellation, leaving the waits between attempts cancellable.
    """

    request: CreateRequest
    on_answer: Callable[[httpx.Response], Any] | None = None
    pause: Callable[[BaseException, float], Any] | None = None
    rate_limited_sends: int | None = None
    guard: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext
    #: The caller's per-call ``timeout=`` and ``extra_headers=`` (checked already).
    options: RequestOptions = NO_OPTIONS

    def interpret(self, response: httpx.Response, *, method: str, path: str) -> CreateOutcome:
        return create_answer(self.request, response, method=method, path=path)

    def lost(self, exc: APIConnectionError) -> CreateOutcome:
        return create_lost(self.request, exc)

    def refused(self, response: httpx.Response) -> bool:
        """Whether this answer proves GatePay did not issue (so a resend is safe)."""
        return decide(response.status_code, response.content) is Outcome.REFUSED

    def unreadable(self, exc: ResponseValidationError) -> CreateOutcome:
        """An answer the client refused to read (too large): a card may be in it, so
        what was read of it is kept."""
        return _unknown(self.request, exc, exc.partial_answer)

    def abandoned(self) -> CreateOutcome:
        """An attempt whose guard swallowed its own cancellation: it may have reached
        GatePay."""
        request = self.request
        error = AttemptAbandoned(
            title=request.title,
            template_id=request.template_id,
            currency=request.currency,
            amount=request.amount,
            cause=RuntimeError("abandoned while in flight"),
        )
        return CreateOutcome(Outcome.UNKNOWN, error=error)


#: The one internal create, as ``create_many`` is handed it: GatePay's raw answer to a
#: :class:`CreateCall` and the outcome decided on it. The sync form is the generated
#: code's name for it (``Async`` dropped).
AsyncSendCreate = Callable[[CreateCall], Awaitable[CreateOutcome]]
SendCreate = Callable[[CreateCall], CreateOutcome]
