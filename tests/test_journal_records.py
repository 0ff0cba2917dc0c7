"""A journal's records read back: what each says of its ref, whatever store kept it.

Every journal store decodes a ref's deciding record with ``entry_of``; these tests hand it
records as the stores read them back (parsed JSON), including records no run writes (a
hand-edited or damaged line): reading one never raises, and a card is only ever read from
an issued record or from a raw answer that today's rules call issued.
"""

from __future__ import annotations

import base64
import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gatepay_async import BulkState
from gatepay_async._storage import journal_records as records
from gatepay_async._wire.validation import build_create_request

KEY = "KEY-journal-records-0001"
CARD = {"card_num": "GC0000000007", "card_key": KEY, "amount": "1.5", "currency": "USDT"}
ANSWER = json.dumps({"status": "SUCCESS", "code": "000000", "data": CARD}).encode()
REQUEST = build_create_request(title="Spring", template_id="255", currency="USDT", amount="1.5")
FIELDS = {"title": "Spring", "template_id": "255", "currency": "USDT", "amount": "1.5"}


def read(record: dict[str, Any]) -> records.JournalEntry:
    """The entry of ``record`` as a store reads it back: its JSON text parsed."""
    parsed = records.parse_record(records.encode_record(record))
    assert parsed is not None
    return records.entry_of("r", records.STATE_OF_OP[record["op"]], parsed)


# ------------------------------------------------------------------ what each record says


def test_an_issued_record_is_issued_neither_interrupted_nor_recovered() -> None:
    entry = read(records.issued_record("r", CARD, REQUEST))
    assert entry.state is BulkState.ISSUED
    assert entry.card is not None
    assert entry.card.key == KEY
    assert (entry.interrupted, entry.recovered, entry.error) == (False, False, None)
    assert entry.intent == FIELDS


def test_a_failed_record_is_failed_neither_interrupted_nor_recovered() -> None:
    entry = read(records.failed_record("r", "InvalidRequestError: refused"))
    assert entry.state is BulkState.FAILED
    assert (entry.interrupted, entry.recovered, entry.card) == (False, False, None)
    assert entry.error == "InvalidRequestError: refused"


def test_an_intent_alone_is_an_interrupted_unknown_with_what_was_sent() -> None:
    entry = read(records.intent_record("r", REQUEST))
    assert entry.state is BulkState.UNKNOWN
    assert entry.interrupted
    assert entry.error == records.INTERRUPTED
    assert entry.intent == FIELDS


def test_a_recorded_answer_with_a_card_is_issued_as_recovered_as_it_was_sent() -> None:
    entry = read(records.answer_record("r", REQUEST, 200, ANSWER))
    assert entry.state is BulkState.ISSUED
    assert entry.recovered
    assert not entry.interrupted
    assert entry.card is not None
    assert entry.card.key == KEY
    assert entry.card.title == "Spring"  # the intent's, which GatePay's answer left out
    assert entry.intent == FIELDS  # from the answer record's "request"


def test_a_recorded_answer_without_a_card_is_an_interrupted_unknown() -> None:
    entry = read(records.answer_record("r", REQUEST, 500, b"<html>upstream failed</html>"))
    assert entry.state is BulkState.UNKNOWN
    assert entry.interrupted
    assert entry.error == records.INTERRUPTED_AFTER_ANSWER
    assert entry.intent == FIELDS


def test_an_issued_record_whose_card_cannot_be_read_is_unknown() -> None:
    entry = read(records.issued_record("r", {"card_key": KEY}, REQUEST))  # no number
    assert entry.state is BulkState.UNKNOWN
    assert "unreadable" in (entry.error or "")


def test_a_failed_record_stays_failed_whatever_else_it_holds() -> None:
    # Only an unknown record's answer is decided again: the last record's op decides.
    record = {**records.failed_record("r", "refused"), "answer": {"status": 200, "body": "x"}}
    record["answer"]["body"] = ANSWER.decode()
    assert read(record).state is BulkState.FAILED


def test_an_unknown_record_with_a_card_in_its_answer_is_recovered() -> None:
    entry = read(records.unknown_record("r", "odd", REQUEST, (200, ANSWER)))
    assert entry.state is BulkState.ISSUED
    assert entry.recovered


# ------------------------------------------------------------------ raw answers kept as bytes


def test_an_answer_that_is_not_utf8_is_kept_as_base64_and_read_back_whole() -> None:
    body = ANSWER + b"\xff"  # GatePay's answer with a stray byte: not UTF-8
    record = records.answer_record("r", REQUEST, 200, body)
    assert "body" not in record
    assert base64.b64decode(record["body_base64"]) == body


def test_an_answer_kept_as_base64_is_decided_again_when_read() -> None:
    record = records.answer_record("r", REQUEST, 200, ANSWER)
    del record["body"]
    record["body_base64"] = base64.b64encode(ANSWER).decode()
    entry = read(record)
    assert entry.state is BulkState.ISSUED
    assert entry.card is not None
    assert entry.card.key == KEY


@pytest.mark.parametrize(
    "answer",
    [
        {"status": 200, "body_base64": "*" + base64.b64encode(ANSWER).decode()},  # not base64
        {"status": 200, "body_base64": base64.b64encode(ANSWER).decode()[:-1]},  # cut
        {"status": 200.0, "body": ANSWER.decode()},
        {"status": "200", "body": ANSWER.decode()},
        {"status": True, "body": ANSWER.decode()},
        {"status": 200, "body": None},
    ],
    ids=["not-base64", "cut-base64", "float-status", "text-status", "true-status", "no-body"],
)
def test_an_answer_that_cannot_be_read_exactly_is_never_taken_for_a_card(
    answer: dict[str, Any],
) -> None:
    """In doubt, unknown: a damaged recorded answer is not read as issued."""
    entry = read({"op": "answer", "ref": "r", **answer, "request": FIELDS})
    assert entry.state is BulkState.UNKNOWN
    assert entry.card is None
    unknown = read({"op": "unknown", "ref": "r", "error": "e", "answer": answer})
    assert unknown.state is BulkState.UNKNOWN
    assert unknown.card is None


def test_an_intent_whose_amount_is_no_number_leaves_the_card_as_gatepay_gave_it() -> None:
    request = {**FIELDS, "amount": "one and a half"}
    entry = read(
        {"op": "answer", "ref": "r", "status": 200, "body": ANSWER.decode(), "request": request}
    )
    assert entry.card is not None
    assert entry.card.key == KEY
    assert entry.card.title != "Spring"


# ------------------------------------------------------------------ records without an op


def test_a_ref_whose_record_has_no_op_reads_as_interrupted() -> None:
    # A store keeps the state beside the record: a damaged record must not stop reading.
    for record in ({"ref": "r"}, None):
        entry = records.entry_of("r", records.INTENT, record)
        assert entry.state is BulkState.UNKNOWN
        assert entry.error == records.INTERRUPTED


@pytest.mark.parametrize("line", [b'{"op":"issued","ref":', b"[1, 2]", b"\xff\xfe", b""])
def test_a_line_that_is_no_json_object_reads_as_no_record(line: bytes) -> None:
    assert records.parse_record(line) is None


def test_an_ended_intent_without_an_op_is_closed_as_interrupted() -> None:
    ended = records.ended_record("r", {"ref": "r", "status": 200, "body": ANSWER.decode()})
    assert ended["error"] == records.INTERRUPTED
    assert "answer" not in ended


def test_an_ended_answer_keeps_the_raw_answer() -> None:
    last = records.answer_record("r", REQUEST, 200, ANSWER)
    ended = records.ended_record("r", last)
    assert ended["error"] == records.INTERRUPTED_AFTER_ANSWER
    assert ended["answer"] == {"status": 200, "body": ANSWER.decode()}
    assert read(ended).state is BulkState.ISSUED


# ------------------------------------------------------------------ issued cards, for recovery


def test_only_issued_records_give_cards_for_recovery() -> None:
    issued = records.issued_record("a", CARD, None)
    found = records.issued_cards(
        [
            None,
            {"op": "unknown", "ref": "b", "card": CARD},
            {"op": "failed", "ref": "c", "card": CARD},
            {"op": "issued", "ref": "d", "card": "not an object"},
            issued,
        ]
    )
    assert found == [("a", CARD)]


# ------------------------------------------------------------------ the text of a record


def test_a_record_is_one_line_of_compact_json_with_amounts_as_text() -> None:
    text = records.encode_record({"op": "x", "amount": Decimal("1.50")})
    assert text == '{"op":"x","amount":"1.50"}'
    with pytest.raises(TypeError):
        records.encode_record({"op": "x", "value": object()})


def test_non_ascii_text_is_written_as_is_so_a_ref_can_be_searched_for() -> None:
    text = records.encode_record(records.failed_record("Frühling-1", "abgelehnt: Größe"))
    assert "Frühling-1" in text
    assert "Größe" in text


def test_a_lone_surrogate_in_a_record_is_written_as_its_escape_and_read_back() -> None:
    """GatePay's JSON may escape a lone surrogate in a descriptive field of a card (a
    creator name): UTF-8 cannot carry it, and its record must still be written."""
    card = {**CARD, "creator_name": "caf\ud800é"}
    text = records.encode_record(records.issued_record("r", card, REQUEST))
    assert "\\ud800" in text
    assert "é" in text
    assert records.parse_record(text.encode("utf-8")) == json.loads(text)
    assert read(records.issued_record("r", card, REQUEST)).card is not None


def test_times_are_milliseconds_since_the_epoch() -> None:
    before = int(time.time() * 1000)
    now = records.now_ms()
    after = int(time.time() * 1000)
    assert before <= now <= after


def test_a_campaign_id_is_128_random_bits_in_hex() -> None:
    ids = {records.new_campaign_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(len(campaign) == 32 and int(campaign, 16) >= 0 for campaign in ids)


def test_a_new_journal_file_says_it_is_in_version_1(tmp_path: Path) -> None:
    """The version journals on disk hold."""
    from gatepay_sync import Journal

    path = tmp_path / "j.jsonl"
    Journal.open(path).close()
    header = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    assert (header["op"], header["version"]) == ("journal", 1)


@pytest.mark.parametrize("journal", ["j.jsonl", "j.db"])
def test_a_card_whose_answer_holds_a_lone_surrogate_is_journaled_and_yielded(
    tmp_path: Path, journal: str
) -> None:
    """Its issued record was once a UnicodeEncodeError that stopped the run."""
    import httpx

    from gatepay_async._bulk.plan import open_journal
    from gatepay_sync import CardSpec, GatePay
    from tests import helpers

    location = (
        str(tmp_path / journal) if journal.endswith(".jsonl") else f"sqlite:///{tmp_path / journal}"
    )
    recorder = helpers.Recorder(helpers.success(helpers.card_data(creator_name="\ud800")))
    spec = CardSpec(ref="r", title="t", template_id="255", currency="USDT", amount="0.99")
    with (
        GatePay(
            secret_key=helpers.SECRET_KEY,
            client_id=helpers.CLIENT_ID,
            base_url=helpers.BASE_URL,
            http_client=httpx.Client(transport=httpx.MockTransport(recorder)),
        ) as gp,
        gp.gift_cards.create_many([spec], journal=location) as results,
    ):
        (result,) = list(results)
    assert result.state == "issued"
    assert result.card is not None
    assert result.card.key == helpers.CARD_KEY
    again, _ = open_journal(location)
    assert again is not None
    try:
        entry = again.entry("r")
    finally:
        again.close()
    assert entry is not None
    assert (entry.state, entry.recovered) == (BulkState.ISSUED, False)
    assert len(recorder.sent) == 1
