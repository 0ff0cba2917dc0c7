"""The records of a bulk journal, whatever stores them: what was sent, what came of it.

A journal store (the JSON-lines file of ``_storage.journal``, the database of
``_storage.journal_db``) keeps a run's records in order, each a JSON object with an ``op``:

``{"op": "journal", "version": 1, "at": MS, "campaign": ID}``
    the first record of a journal file; ``campaign`` is the journal's campaign id, made
    when the journal is created (:func:`new_campaign_id`).
``{"op": "campaign", "campaign": ID, "at": MS}``
    the campaign id of a journal file made by a version that wrote none in its first
    record, given on its first open by this one (the first such record counts).
``{"op": "intent", "ref": R, "title": T, "template_id": I, "currency": C, "amount": "0.99", ...}``
    written and fsynced *before* the create for ``R`` is sent.
``{"op": "answer", "ref": R, "status": 200, "body": TEXT, "request": {...}, "at": MS}``
    GatePay's raw answer to a create, written and fsynced *before* anything interprets
    it (``body_base64`` instead of ``body`` when the bytes are not UTF-8); ``request``
    repeats the intent's title, template_id, currency and amount.
``{"op": "issued", "ref": R, "card": {...the create answer's data...}, "request": {...}, "at": MS}``
    the create succeeded; ``card`` is GatePay's answer as received (it holds the key).
``{"op": "failed", "ref": R, "error": TEXT, "at": MS}``
    definitely not issued (bad row, refused by GatePay, never sent); may be sent again.
``{"op": "unknown", "ref": R, "error": TEXT, "request": {...}, "answer": {...}, "at": MS}``
    sent, outcome unknown: a card may exist. ``answer`` (status and body, as in an
    ``answer`` record) is there when GatePay answered something the SDK could not rely on.

The last record of a ref decides its state; an ``intent`` or ``answer`` with no record
after it (the process stopped mid-request) counts as ``unknown``. Reading an ``answer``
(last, or inside an ``unknown``) decides it again with today's rules: a card whose
answer an earlier run could not interpret is recovered, number and key, when it can
be now.

This module builds the records, writes and reads their JSON text, and decides what a
ref's deciding record says (:func:`entry_of`); :class:`RecordMethods` gives a store the
``record_*`` methods from one ``_put``.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import attrs

from gatepay_async._bulk_models import BulkState
from gatepay_async._decision.outcome import as_issued, recover_card
from gatepay_async._errors import GatePayError
from gatepay_async._models import GiftCard
from gatepay_async._wire.decoding import decode_card
from gatepay_async._wire.validation import CreateRequest

__all__ = [
    "BULK_STATES",
    "CAMPAIGN",
    "FAILED",
    "INTENT",
    "INTERRUPTED",
    "INTERRUPTED_AFTER_ANSWER",
    "ISSUED",
    "STATE_OF_OP",
    "UNKNOWN",
    "VERSION",
    "JournalEntry",
    "JournalError",
    "RecordMethods",
    "answer_record",
    "encode_record",
    "ended_record",
    "entry_of",
    "failed_record",
    "intent_record",
    "issued_cards",
    "issued_record",
    "new_campaign_id",
    "now_ms",
    "parse_record",
    "unknown_record",
]

VERSION = 1
#: The op of the record that gives an older journal file its campaign id.
CAMPAIGN = "campaign"

# The state a ref's last record gives it. An answer with no outcome after it is an
# interrupted create, like an intent: it reads as "intent", and reading it back looks at
# what the answer says.
INTENT, ISSUED, FAILED, UNKNOWN = "intent", "issued", "failed", "unknown"
STATE_OF_OP = {
    "intent": INTENT,
    "answer": INTENT,
    "issued": ISSUED,
    "failed": FAILED,
    "unknown": UNKNOWN,
}
BULK_STATES = {
    INTENT: BulkState.UNKNOWN,
    ISSUED: BulkState.ISSUED,
    FAILED: BulkState.FAILED,
    UNKNOWN: BulkState.UNKNOWN,
}
INTERRUPTED = (
    "an earlier run sent this create and stopped before its answer was recorded: a card "
    "may have been issued"
)
INTERRUPTED_AFTER_ANSWER = (
    "an earlier run recorded GatePay's answer to this create and stopped before deciding"
    " it; the answer holds no usable card number and key: a card may have been issued"
)


class JournalError(GatePayError):
    """A journal cannot be opened or written (in use by another run, unreadable, I/O)."""


@attrs.frozen
class JournalEntry:
    """What the journal knows of one ref. ``interrupted``: an intent with no outcome.

    ``intent`` is what was sent (title, template_id, currency, amount as text) when the
    journal recorded it; ``recovered`` is True for a card read again from a raw answer
    that the run which received it did not record as issued.
    """

    ref: str
    state: BulkState
    card: GiftCard | None = None
    error: str | None = None
    interrupted: bool = False
    intent: Mapping[str, str] | None = None
    recovered: bool = False


def entry_of(ref: str, last_state: str, record: Mapping[str, Any] | None) -> JournalEntry:
    """What a ref's deciding record says: its state (``intent``, ``issued``, ``failed``
    or ``unknown``, as the record's op gave it) and the record itself (None if it cannot
    be read). Every journal store decodes its records here.
    """
    state = BULK_STATES[last_state]
    intent = _intent_of(record)
    if last_state == INTENT:
        raw = _answer_of(record) if record and record.get("op") == "answer" else None
        if raw is not None:
            card = recover_card(*raw)
            if card is not None:
                card = _as_intended(card, intent)
                return JournalEntry(ref, BulkState.ISSUED, card=card, intent=intent, recovered=True)
            return JournalEntry(
                ref, state, error=INTERRUPTED_AFTER_ANSWER, interrupted=True, intent=intent
            )
        return JournalEntry(ref, state, error=INTERRUPTED, interrupted=True, intent=intent)
    if last_state == ISSUED:
        try:
            card = decode_card(record.get("card") if record else None)
        except GatePayError as exc:
            return JournalEntry(
                ref,
                BulkState.UNKNOWN,
                error=f"the journal's issued record is unreadable: {exc}",
                intent=intent,
            )
        return JournalEntry(ref, state, card=_as_intended(card, intent), intent=intent)
    error = record.get("error") if record else None
    if last_state == UNKNOWN and record and isinstance(record.get("answer"), Mapping):
        raw = _answer_of(record["answer"])
        card = recover_card(*raw) if raw is not None else None
        if card is not None:
            card = _as_intended(card, intent)
            return JournalEntry(ref, BulkState.ISSUED, card=card, intent=intent, recovered=True)
    return JournalEntry(ref, state, error=str(error) if error is not None else None, intent=intent)


def _request_fields(request: CreateRequest) -> dict[str, str]:
    return {
        "title": request.title,
        "template_id": request.template_id,
        "currency": request.currency,
        "amount": format(request.amount, "f"),
    }


def _answer_fields(status_code: int, body: bytes) -> dict[str, Any]:
    """A raw answer as JSON fields: text when the bytes are UTF-8, else base64."""
    try:
        return {"status": status_code, "body": body.decode("utf-8")}
    except UnicodeDecodeError:
        return {"status": status_code, "body_base64": base64.b64encode(body).decode("ascii")}


def _answer_of(record: Mapping[str, Any]) -> tuple[int, bytes] | None:
    status = record.get("status")
    if not isinstance(status, int) or isinstance(status, bool):
        return None
    body = record.get("body")
    if isinstance(body, str):
        return status, body.encode("utf-8")
    encoded = record.get("body_base64")
    if isinstance(encoded, str):
        try:
            return status, base64.b64decode(encoded, validate=True)
        except ValueError:
            return None
    return None


def _as_intended(card: GiftCard, intent: Mapping[str, str] | None) -> GiftCard:
    """A card read back from the journal with the title, template, currency and amount
    its intent recorded, where GatePay's answer left them out (as ``create`` returns it)."""
    if intent is None:
        return card
    try:
        amount = Decimal(intent["amount"])
    except ArithmeticError:
        return card
    return as_issued(
        card,
        title=intent["title"],
        template_id=intent["template_id"],
        currency=intent["currency"],
        amount=amount,
    )


def _intent_of(record: Mapping[str, Any] | None) -> Mapping[str, str] | None:
    if not record:
        return None
    fields = record.get("request") if record.get("op") != "intent" else record
    if not isinstance(fields, Mapping):
        return None
    names = ("title", "template_id", "currency", "amount")
    if not all(isinstance(fields.get(name), str) for name in names):
        return None
    return {name: fields[name] for name in names}


def intent_record(ref: str, request: CreateRequest) -> dict[str, Any]:
    return {
        "op": "intent",
        "ref": ref,
        "title": request.title,
        "template_id": request.template_id,
        "currency": request.currency,
        "amount": format(request.amount, "f"),
        "at": now_ms(),
    }


def answer_record(
    ref: str, request: CreateRequest, status_code: int, body: bytes
) -> dict[str, Any]:
    return {
        "op": "answer",
        "ref": ref,
        **_answer_fields(status_code, body),
        "request": _request_fields(request),
        "at": now_ms(),
    }


def issued_record(
    ref: str, card_data: Mapping[str, Any], request: CreateRequest | None
) -> dict[str, Any]:
    record: dict[str, Any] = {"op": "issued", "ref": ref, "card": card_data}
    if request is not None:
        record["request"] = _request_fields(request)
    record["at"] = now_ms()
    return record


def failed_record(ref: str, error: str) -> dict[str, Any]:
    return {"op": "failed", "ref": ref, "error": error, "at": now_ms()}


def unknown_record(
    ref: str,
    error: str,
    request: CreateRequest | None = None,
    answer: tuple[int, bytes] | None = None,
) -> dict[str, Any]:
    record: dict[str, Any] = {"op": "unknown", "ref": ref, "error": error}
    if request is not None:
        record["request"] = _request_fields(request)
    if answer is not None:
        record["answer"] = _answer_fields(*answer)
    record["at"] = now_ms()
    return record


def ended_record(ref: str, last: Mapping[str, Any] | None) -> dict[str, Any]:
    """The unknown record that closes an intent whose writer is known to have ended
    (``last``: the ref's last record, an intent or a recorded answer). It keeps the
    request (a changed row is still seen) and the raw answer (a card in it is still
    recovered): the ref reads as before, but as decided, so that ``retry_unknown`` may
    send it again once the user has checked it."""
    answer = last if last and last.get("op") == "answer" else None
    record: dict[str, Any] = {
        "op": "unknown",
        "ref": ref,
        "error": INTERRUPTED if answer is None else INTERRUPTED_AFTER_ANSWER,
    }
    request = _intent_of(last)
    if request is not None:
        record["request"] = dict(request)
    if answer is not None:
        record["answer"] = {
            name: answer[name] for name in ("status", "body", "body_base64") if name in answer
        }
    record["at"] = now_ms()
    return record


def issued_cards(
    records: Iterable[Mapping[str, Any] | None],
) -> list[tuple[str, dict[str, Any]]]:
    """(ref, card data) of the issued records among ``records``."""
    cards = []
    for record in records:
        if record and record.get("op") == "issued" and isinstance(record.get("card"), dict):
            cards.append((str(record.get("ref")), record["card"]))
    return cards


def now_ms() -> int:
    return int(time.time() * 1000)


def new_campaign_id() -> str:
    """A new campaign's identity: random, so two journals never share one. The outputs a
    journal's runs write carry it, and only an output that carries its journal's id is
    ever read back into that journal (see ``cli._output_origin``)."""
    return secrets.token_hex(16)


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to the journal")


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_json_default)
#: What UTF-8 cannot carry: a lone surrogate, which GatePay's JSON may hold escaped in a
#: card's descriptive field (a creator name) and json.loads hands on as is.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def encode_record(record: Mapping[str, Any]) -> str:
    """A record as the journal writes it: one line of compact JSON (no newline), its
    text as is (a ref can be searched for), but a lone surrogate as its JSON escape, so
    that every record can be written as UTF-8 and reads back the same."""
    text = _ENCODER.encode(record)
    return _LONE_SURROGATE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


def parse_record(line: bytes | str) -> dict[str, Any] | None:
    """A record read back (None for a line that is not a JSON object)."""
    return _parse(line)


def _parse(line: bytes | str) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


class RecordMethods:
    """The ``record_*`` methods of a journal store, each building its record and handing
    it to the store's ``_put(ref, state, record)`` (the file appends a line, the database
    queues a row). ``_failure``: set once a write failed; then no intent is accepted."""

    _failure: JournalError | None

    def _put(self, ref: str, state: str, record: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def record_intent(self, ref: str, request: CreateRequest) -> None:
        """Note that the create for ``ref`` is about to be sent (then :meth:`flush`).

        Raises :class:`JournalError` once a write has failed: nothing more may be sent.
        """
        if self._failure is not None:
            raise self._failure
        self._put(ref, INTENT, intent_record(ref, request))

    def record_answer(
        self, ref: str, request: CreateRequest, status_code: int, body: bytes
    ) -> None:
        """Record GatePay's raw answer to the create for ``ref`` (then :meth:`flush`),
        before anything interprets it."""
        self._put(ref, INTENT, answer_record(ref, request, status_code, body))

    def record_issued(
        self, ref: str, card_data: Mapping[str, Any], request: CreateRequest | None = None
    ) -> None:
        """Record the create's answer (its ``data`` object, card key included)."""
        self._put(ref, ISSUED, issued_record(ref, card_data, request))

    def record_failed(self, ref: str, error: str) -> None:
        self._put(ref, FAILED, failed_record(ref, error))

    def record_unknown(
        self,
        ref: str,
        error: str,
        request: CreateRequest | None = None,
        answer: tuple[int, bytes] | None = None,
    ) -> None:
        """Record an unknown outcome, with GatePay's raw answer when there was one."""
        self._put(ref, UNKNOWN, unknown_record(ref, error, request, answer))
