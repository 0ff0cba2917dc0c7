"""``create(..., idempotency_key=...)`` through a ledger, on SQLite and on PostgreSQL.

Scripted answers (httpx.MockTransport) for the decisions; the two-process and crash
tests over real HTTP are in tests/test_idempotency_processes.py.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

import gatepay_async._decision.outcome as outcome_module
from gatepay_async import (
    AsyncGatePay,
    GiftCard,
    InvalidRequestError,
    Ledger,
    LedgerError,
    OutcomeUnknownError,
    RequestNotSentError,
    ValidationError,
)
from gatepay_async._decision.outcome import CreateOutcome, Outcome
from gatepay_async._storage.ledger import ledger_account
from gatepay_async._wire.validation import build_create_request
from tests import helpers
from tests.postgres_server import SUPERUSER
from tests.secret_leaks import leaked_pieces, raised_texts

from .conftest import mock_client

KEY = "order-123"
#: The account of ``mock_client``'s clients, as the ledger keeps it.
ACCOUNT = ledger_account(helpers.BASE_URL, helpers.CLIENT_ID, None)
ANSWER = helpers.success(helpers.card_data())


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty ledger database: an SQLite file, or a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return str(request.getfixturevalue("postgres_url"))


async def create(gp: AsyncGatePay, key: str | None = KEY, **changes: Any) -> GiftCard:
    fields: dict[str, Any] = {
        "title": "Holiday",
        "template_id": helpers.TEMPLATE_ID,
        "currency": "USDT",
        "amount": Decimal("0.99"),
    }
    fields.update(changes)
    return await gp.gift_cards.create(**fields, idempotency_key=key)


COLUMNS = ("state", "attempts", "answer_status", "answer_body", "card", "error")
SELECT_ROW = (
    "SELECT state, attempts, answer_status, answer_body, card, error"
    " FROM gatepay_ledger WHERE idempotency_key = ?"
)


def row(ledger: Ledger, key: str = KEY) -> dict[str, Any]:
    """The ledger's row for ``key``, by column."""
    found = ledger._database.transaction(lambda tx: tx.execute(SELECT_ROW, (key,)))
    assert found, "no row"
    values = dict(zip(COLUMNS, found[0], strict=True))
    if values["answer_body"] is not None:
        values["answer_body"] = bytes(values["answer_body"])
    return values


def request_of(**changes: Any) -> Any:
    fields: dict[str, Any] = {
        "title": "Holiday",
        "template_id": helpers.TEMPLATE_ID,
        "currency": "USDT",
        "amount": "0.99",
    }
    fields.update(changes)
    return build_create_request(**fields)


# ------------------------------------------------------------------ same key


@pytest.mark.anyio
async def test_same_key_same_request_returns_the_stored_card_and_sends_nothing(
    ledger_url: str,
) -> None:
    recorder = helpers.Recorder(ANSWER)
    with Ledger(ledger_url) as ledger:
        async with mock_client(recorder, ledger=ledger) as gp:
            first = await create(gp)
            assert row(ledger)["state"] == "issued"
            again = await create(gp, amount="0.990")  # the same amount, written otherwise
        # Another client (another process or host) on the same ledger.
        async with mock_client(recorder, ledger=ledger_url) as other:
            stored = await create(other)
    assert recorder.count == 1
    assert first.card_number == again.card_number == stored.card_number == helpers.CARD_NUMBER
    assert first.key == again.key == stored.key == helpers.CARD_KEY


@pytest.mark.anyio
async def test_same_key_another_request_is_refused_naming_the_fields(ledger_url: str) -> None:
    recorder = helpers.Recorder(ANSWER)
    async with mock_client(recorder, ledger=ledger_url) as gp:
        await create(gp)
        with pytest.raises(ValidationError) as info:
            await create(gp, amount="1.99", title="Other")
        assert info.value.argument == "idempotency_key"
        assert "title" in info.value.reason
        assert "amount" in info.value.reason
        assert "currency" not in info.value.reason
        with pytest.raises(ValidationError, match="template_id"):
            await create(gp, template_id="42")
    assert recorder.count == 1
    assert not leaked_pieces(helpers.CARD_KEY, raised_texts(info.value))


@pytest.mark.anyio
@pytest.mark.parametrize(
    "other",
    [
        {"base_url": "https://sandbox.gatepay.invalid"},
        {"client_id": "another-merchant"},
        {"on_behalf_of": "sub-merchant-2"},
    ],
    ids=["base_url", "client_id", "on_behalf_of"],
)
async def test_a_key_used_by_another_gatepay_account_is_refused(
    ledger_url: str, other: dict[str, str]
) -> None:
    # One ledger, two accounts (a sandbox and production, two merchants, two
    # sub-merchants of an institution) with the same order number: the second must
    # never be handed the first one's card, and nothing is sent.
    recorder = helpers.Recorder(ANSWER)
    async with mock_client(recorder, ledger=ledger_url) as gp:
        await create(gp)
    async with mock_client(recorder, ledger=ledger_url, **other) as gp:
        with pytest.raises(ValidationError, match="another GatePay account") as info:
            await create(gp)
    assert recorder.count == 1
    assert not leaked_pieces(helpers.CARD_KEY, raised_texts(info.value))


@pytest.mark.anyio
async def test_a_failed_key_with_another_request_is_refused(ledger_url: str) -> None:
    recorder = helpers.Recorder(helpers.fail("400001", status_code=400), ANSWER)
    async with mock_client(recorder, ledger=ledger_url) as gp:
        with pytest.raises(InvalidRequestError):
            await create(gp)
        with pytest.raises(ValidationError, match="currency"):
            await create(gp, currency="BTC")
    assert recorder.count == 1


# ------------------------------------------------------------------ earlier attempts


@pytest.mark.anyio
@pytest.mark.parametrize(
    "first",
    [
        helpers.raw(503, "upstream failed"),
        helpers.raw(200, '{"status": "SUCCESS", "data": {"card_num": "GC1"'),  # cut short
        httpx.ReadError("connection reset"),  # lost after the request was written
    ],
    ids=["5xx", "unreadable", "lost"],
)
async def test_an_earlier_unknown_attempt_is_never_sent_again(
    ledger_url: str, first: helpers.Step
) -> None:
    recorder = helpers.Recorder(first, ANSWER)
    with Ledger(ledger_url) as ledger:
        async with mock_client(recorder, ledger=ledger, max_retries=3) as gp:
            with pytest.raises(OutcomeUnknownError):
                await create(gp)
            assert row(ledger)["state"] == "unknown"
            with pytest.raises(OutcomeUnknownError) as info:
                await create(gp)
    assert recorder.count == 1
    text = str(info.value)
    assert "earlier attempt with this idempotency key" in text
    assert "ended unknown" in text
    assert "not resent" in text


@pytest.mark.anyio
async def test_an_attempt_in_flight_elsewhere_is_not_sent_again(ledger_url: str) -> None:
    recorder = helpers.Recorder(ANSWER)
    with Ledger(ledger_url) as ledger:
        # Another process claimed the key and is sending (or died mid-create).
        assert ledger.begin(KEY, request_of(), account=ACCOUNT).owner is not None
        async with mock_client(recorder, ledger=ledger) as gp:
            with pytest.raises(OutcomeUnknownError) as info:
                await create(gp)
        assert row(ledger)["state"] == "intent"
    assert recorder.count == 0
    assert "in flight elsewhere" in str(info.value)
    assert "not resent" in str(info.value)


@pytest.mark.anyio
async def test_a_key_in_doubt_is_sent_again_only_once_released(ledger_url: str) -> None:
    recorder = helpers.Recorder(ANSWER)
    with Ledger(ledger_url) as ledger:
        # An attempt claimed the key and its process died before sending anything.
        dead = ledger.begin(KEY, request_of(), account=ACCOUNT).owner
        assert dead is not None
        async with mock_client(recorder, ledger=ledger) as gp:
            with pytest.raises(OutcomeUnknownError):
                await create(gp)
            assert recorder.count == 0
            # The merchant checked GatePay's records: no card. Released, it is sent again.
            assert ledger.release(KEY)
            assert row(ledger)["state"] == "failed"
            assert not ledger.release(KEY)  # not in doubt any more
            card = await create(gp)
        assert recorder.count == 1
        assert row(ledger)["state"] == "issued"
        assert not ledger.release(KEY)  # an issued key is never released
        assert not ledger.release("never-used")
        # The dead attempt, were it to come back, can record nothing over it.
        assert not ledger.record_outcome(KEY, dead, CreateOutcome(Outcome.UNKNOWN))
    assert (card.card_number, card.key) == (helpers.CARD_NUMBER, helpers.CARD_KEY)


@pytest.mark.anyio
async def test_an_answer_recorded_by_an_attempt_that_died_gives_its_card(
    ledger_url: str,
) -> None:
    recorder = helpers.Recorder(ANSWER)
    with Ledger(ledger_url) as ledger:
        owner = ledger.begin(KEY, request_of(), account=ACCOUNT).owner
        assert owner is not None
        assert ledger.record_answer(KEY, owner, 200, ANSWER.content)
        # ... and its process died before recording the outcome.
        async with mock_client(recorder, ledger=ledger) as gp:
            card = await create(gp)
    assert recorder.count == 0
    assert (card.card_number, card.key) == (helpers.CARD_NUMBER, helpers.CARD_KEY)


@pytest.mark.anyio
async def test_an_earlier_refused_attempt_is_sent_again(ledger_url: str) -> None:
    recorder = helpers.Recorder(helpers.fail("400001", status_code=400), ANSWER)
    with Ledger(ledger_url) as ledger:
        async with mock_client(recorder, ledger=ledger) as gp:
            with pytest.raises(InvalidRequestError):
                await create(gp)
            assert row(ledger)["state"] == "failed"
            card = await create(gp)
            assert row(ledger)["state"] == "issued"
            assert row(ledger)["attempts"] == 2
            assert (await create(gp)).card_number == card.card_number
    assert recorder.count == 2
    assert card.key == helpers.CARD_KEY


@pytest.mark.anyio
@pytest.mark.parametrize("odd", ["\x00", "\ud800"], ids=["nul", "lone-surrogate"])
async def test_a_refusal_with_an_odd_message_is_recorded_as_failed(
    ledger_url: str, odd: str
) -> None:
    # The refusal's text goes to the ledger: PostgreSQL text holds no NUL, and UTF-8
    # no lone surrogate. Left in doubt, the key would never be sent again.
    refusal = helpers.fail("400001", status_code=400, message=f"bad {odd} title")
    recorder = helpers.Recorder(refusal, ANSWER)
    with Ledger(ledger_url) as ledger:
        async with mock_client(recorder, ledger=ledger) as gp:
            with pytest.raises(InvalidRequestError):
                await create(gp)
            assert row(ledger)["state"] == "failed"
            card = await create(gp)
    assert recorder.count == 2
    assert card.key == helpers.CARD_KEY


@pytest.mark.anyio
async def test_an_earlier_attempt_never_sent_is_sent_again(ledger_url: str) -> None:
    recorder = helpers.Recorder(httpx.ConnectError("connection refused"), ANSWER)
    with Ledger(ledger_url) as ledger:
        async with mock_client(recorder, ledger=ledger, max_retries=0) as gp:
            with pytest.raises(RequestNotSentError):
                await create(gp)
            assert row(ledger)["state"] == "failed"
            card = await create(gp)
        assert row(ledger)["state"] == "issued"
    assert recorder.count == 2
    assert card.card_number == helpers.CARD_NUMBER


@pytest.mark.anyio
async def test_a_not_sent_attempt_retried_within_the_call_issues_once(
    ledger_url: str, fast_retries: None
) -> None:
    recorder = helpers.Recorder(httpx.ConnectError("connection refused"), ANSWER)
    with Ledger(ledger_url) as ledger:
        async with mock_client(recorder, ledger=ledger, max_retries=2) as gp:
            card = await create(gp)
        assert row(ledger)["state"] == "issued"
        assert row(ledger)["attempts"] == 1
    assert recorder.count == 2
    assert card.key == helpers.CARD_KEY


# ------------------------------------------------------------------ the raw answer


@pytest.mark.anyio
async def test_the_raw_answer_is_in_the_ledger_before_it_is_interpreted(
    ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = b'{"status": "SUCCESS", "data": {"card_num": "GC9", "card_key": "' + b"K" * 20
    recorder = helpers.Recorder(helpers.raw(200, body))
    seen: list[dict[str, Any]] = []
    decide = outcome_module.create_answer

    with Ledger(ledger_url) as ledger:

        def checked(request: Any, response: httpx.Response, **options: Any) -> Any:
            seen.append(row(ledger))  # what the ledger holds when the answer is decided
            return decide(request, response, **options)

        monkeypatch.setattr(outcome_module, "create_answer", checked)
        async with mock_client(recorder, ledger=ledger) as gp:
            with pytest.raises(OutcomeUnknownError):
                await create(gp)
        kept = row(ledger)
    assert [(s["state"], s["answer_status"], s["answer_body"]) for s in seen] == [
        ("intent", 200, body)
    ]
    assert (kept["state"], kept["answer_status"], kept["answer_body"]) == ("unknown", 200, body)


@pytest.mark.anyio
async def test_a_card_with_an_odd_descriptive_field_is_returned_and_stored(
    ledger_url: str,
) -> None:
    # A lone surrogate (U+D800: valid JSON, not encodable as UTF-8) in a field that is
    # only description: the card is issued, whatever that field holds.
    body = helpers.success(helpers.card_data(creator_name="\ud800")).content
    assert b"\\ud800" in body
    recorder = helpers.Recorder(helpers.raw(200, body))
    with Ledger(ledger_url) as ledger:
        async with mock_client(recorder, ledger=ledger) as gp:
            card = await create(gp)
            assert row(ledger)["state"] == "issued"
            assert await create(gp) == card
    assert card.key == helpers.CARD_KEY
    assert recorder.count == 1


@pytest.mark.anyio
async def test_an_answer_too_large_is_unknown_and_what_was_read_is_kept(
    ledger_url: str,
) -> None:
    # A card answer padded past max_response_bytes: the card's number and key arrived,
    # in the bytes read before the cap. They reach the caller and the ledger.
    card_answer = helpers.success(helpers.card_data()).content
    padded = card_answer[:-1] + b', "padding": "' + b"x" * 5000 + b'"}'
    recorder = helpers.Recorder(helpers.raw(200, padded))
    with Ledger(ledger_url) as ledger:
        async with mock_client(recorder, ledger=ledger, max_response_bytes=2000) as gp:
            with pytest.raises(OutcomeUnknownError) as info:
                await create(gp)
            assert row(ledger)["state"] == "unknown"
            stored = row(ledger)["answer_body"]
            with pytest.raises(OutcomeUnknownError):  # never sent again
                await create(gp)
    assert info.value.answer is not None
    assert info.value.answer.body == padded[:2000]
    assert stored == padded[:2000]
    assert helpers.CARD_KEY.encode() in stored
    shown = [helpers.CARD_NUMBER]  # the error quotes the answer, the card's number in clear
    assert not leaked_pieces(helpers.CARD_KEY, raised_texts(info.value), public=shown)
    assert recorder.count == 1


@pytest.mark.anyio
async def test_an_issued_row_keeps_the_raw_answer_and_the_card(ledger_url: str) -> None:
    with Ledger(ledger_url) as ledger:
        async with mock_client(helpers.Recorder(ANSWER), ledger=ledger) as gp:
            await create(gp)
        kept = row(ledger)
    assert kept["answer_body"] == ANSWER.content
    assert helpers.CARD_KEY in kept["card"]
    assert helpers.CARD_NUMBER in kept["card"]


# ------------------------------------------------------------------ bad input


@pytest.mark.anyio
@pytest.mark.parametrize(
    "key", ["", "   ", "x" * 201, "order\n1", "order\x001", 123, b"order"], ids=repr
)
async def test_a_bad_key_is_refused_and_nothing_is_sent(ledger_url: str, key: Any) -> None:
    recorder = helpers.Recorder(ANSWER)
    async with mock_client(recorder, ledger=ledger_url) as gp:
        with pytest.raises(ValidationError) as info:
            await create(gp, key=key)
    assert info.value.argument == "idempotency_key"
    assert recorder.count == 0


@pytest.mark.anyio
async def test_the_request_is_checked_before_the_key(ledger_url: str) -> None:
    recorder = helpers.Recorder(ANSWER)
    async with mock_client(recorder, ledger=ledger_url) as gp:
        with pytest.raises(ValidationError) as info:
            await create(gp, key="", amount=1.5)
    assert info.value.argument == "amount"
    assert recorder.count == 0


@pytest.mark.anyio
async def test_a_key_needs_a_ledger() -> None:
    recorder = helpers.Recorder(ANSWER)
    async with mock_client(recorder) as gp:
        with pytest.raises(ValidationError, match="needs a ledger") as info:
            await create(gp)
        await create(gp, key=None)  # without a key, create is unchanged
    assert info.value.argument == "idempotency_key"
    assert recorder.count == 1


@pytest.mark.parametrize(
    "ledger", [123, "ledger.db", "mysql://host/db", "sqlite://", b"sqlite:///x.db"], ids=repr
)
def test_a_bad_ledger_argument_is_refused(ledger: Any) -> None:
    with pytest.raises(ValidationError) as info:
        AsyncGatePay(client_id="c", secret_key="s", ledger=ledger)
    assert info.value.argument == "ledger"


# ------------------------------------------------------------------ the ledger's life


@pytest.mark.anyio
async def test_a_ledger_url_is_the_clients_and_a_ledger_object_the_callers(
    ledger_url: str,
) -> None:
    recorder = helpers.Recorder(ANSWER)
    async with mock_client(recorder, ledger=ledger_url) as gp:
        opened = gp._ledger
        assert opened is not None
        await create(gp)
    with pytest.raises(LedgerError):
        opened.state(KEY)  # closed with the client
    with Ledger(ledger_url) as mine:
        async with mock_client(recorder, ledger=mine) as gp:
            await create(gp)
        assert mine.state(KEY) == "issued"  # still open
    assert recorder.count == 1


def test_a_ledger_repr_hides_the_password(postgres_url: str) -> None:
    # The test server trusts loopback: any password is accepted, and must never show.
    url = postgres_url.replace(f"://{SUPERUSER}@", f"://{SUPERUSER}:hunter2-secret@", 1)
    assert "hunter2-secret" in url
    with Ledger(url) as ledger:
        assert "hunter2-secret" not in repr(ledger)
        assert repr(ledger).startswith("Ledger('postgresql://")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://user@127.0.0.1:1/db?password=hunter2-secret",
        "postgresql://user:hunter2%zz-secret@127.0.0.1:1/db",
    ],
    ids=["password-parameter", "bad-percent-encoding"],
)
def test_a_password_is_in_no_message_or_log(url: str, caplog: pytest.LogCaptureFixture) -> None:
    # Nothing listens on port 1: the ledger cannot open, and says so without the password.
    caplog.set_level(logging.DEBUG)
    with pytest.raises((LedgerError, ValidationError)) as info:
        Ledger(url)
    assert "hunter2" not in str(info.value)
    assert "hunter2" not in repr(info.value)
    assert "hunter2" not in caplog.text


@pytest.mark.anyio
async def test_a_ledger_file_made_readable_by_others_is_made_owner_only(tmp_path: Path) -> None:
    # A file made beforehand (touch, a deployment tool), and the -wal/-shm files of an
    # earlier run: SQLite gives new -wal/-shm files the database file's mode.
    path = tmp_path / "ledger.db"
    for name in ("ledger.db", "ledger.db-wal", "ledger.db-shm"):
        (tmp_path / name).touch()
        (tmp_path / name).chmod(0o644)
    async with mock_client(helpers.Recorder(ANSWER), ledger=f"sqlite:///{path}") as gp:
        await create(gp)
        for name in ("ledger.db", "ledger.db-wal", "ledger.db-shm"):
            assert (tmp_path / name).stat().st_mode & 0o777 == 0o600, name


def _drop_connections(postgres_url: str) -> int:
    """Ends every server session on the ledger's database, as a failover, a restart or
    an idle-connection timeout does: the database is up, the pooled connections dead."""
    name = postgres_url.rsplit("/", 1)[1]
    with psycopg.connect(postgres_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
        found = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s",
            (name,),
        ).fetchone()
    assert found is not None
    return int(found[0])


@pytest.mark.anyio
async def test_connections_dropped_by_the_database_server_are_replaced(
    postgres_url: str,
) -> None:
    def answer_after_a_drop(request: httpx.Request) -> httpx.Response:
        assert _drop_connections(postgres_url) >= 1  # between the claim and the answer
        return httpx.Response(200, content=ANSWER.content)

    recorder = helpers.Recorder(ANSWER, answer_after_a_drop, ANSWER)
    with Ledger(postgres_url) as ledger:
        async with mock_client(recorder, ledger=ledger) as gp:
            await create(gp, key="before")
            assert _drop_connections(postgres_url) >= 1
            await create(gp, key="after-a-drop")  # claimed, not a LedgerError
            card = await create(gp, key="dropped-mid-create")
            assert row(ledger, "dropped-mid-create")["state"] == "issued"
            assert (await create(gp, key="dropped-mid-create")) == card
    assert recorder.count == 3


@pytest.mark.anyio
async def test_a_ledger_that_cannot_be_reached_sends_nothing(ledger_url: str) -> None:
    recorder = helpers.Recorder(ANSWER)
    ledger = Ledger(ledger_url)
    ledger.close()  # as good as a database that went down
    async with mock_client(recorder, ledger=ledger) as gp:
        with pytest.raises(LedgerError) as info:
            await create(gp)
    assert recorder.count == 0
    assert not leaked_pieces(KEY, raised_texts(info.value))


@pytest.mark.anyio
async def test_an_answer_the_ledger_cannot_keep_still_gives_the_card(
    ledger_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = helpers.Recorder(ANSWER)
    with Ledger(ledger_url) as ledger:

        def broken(*args: object) -> bool:
            raise LedgerError("the ledger cannot be used: disk I/O error")

        monkeypatch.setattr(ledger, "record_answer", broken)
        monkeypatch.setattr(ledger, "record_outcome", broken)
        caplog.set_level(logging.DEBUG)
        async with mock_client(recorder, ledger=ledger) as gp:
            card = await create(gp)  # the card reaches the caller
            assert row(ledger)["state"] == "intent"
            with pytest.raises(OutcomeUnknownError):  # the safe side from now on
                await create(gp)
    assert card.key == helpers.CARD_KEY
    assert recorder.count == 1
    assert "could not record the answer" in caplog.text
    assert not leaked_pieces(helpers.CARD_KEY, caplog.text)
    assert not leaked_pieces(KEY, caplog.text)


@pytest.mark.anyio
async def test_a_refusal_the_ledger_cannot_keep_stops_before_the_next_send(
    ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = helpers.Recorder(helpers.raw(429, ""), ANSWER)
    with Ledger(ledger_url) as ledger:

        def broken(*args: object) -> bool:
            raise LedgerError("the ledger cannot be used: disk I/O error")

        monkeypatch.setattr(ledger, "record_answer", broken)
        async with mock_client(recorder, ledger=ledger, max_retries=3) as gp:
            with pytest.raises(LedgerError):
                await create(gp)
        assert row(ledger)["state"] == "failed"  # a 429 issued nothing
    assert recorder.count == 1


# ------------------------------------------------------------------ secrets


@pytest.mark.anyio
async def test_no_card_key_in_logs_or_exception_text(
    ledger_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    card_answer = helpers.raw(500, helpers.success(helpers.card_data()).content)
    texts: list[str] = []
    async with mock_client(helpers.Recorder(card_answer), ledger=ledger_url) as gp:
        for _ in range(2):  # the unknown outcome, then the earlier attempt in doubt
            with pytest.raises(OutcomeUnknownError) as info:
                await create(gp)
            texts.append(raised_texts(info.value))
        with pytest.raises(ValidationError) as refused:
            await create(gp, amount="5")
        texts.append(raised_texts(refused.value))
    async with mock_client(helpers.Recorder(ANSWER), ledger=ledger_url) as gp:
        card = await create(gp, key="order-2")
        texts.append(repr(card))
        texts.append(repr(await create(gp, key="order-2")))
        texts.append(repr(gp._ledger))
    assert "order-123" not in "".join(texts)
    for text in [*texts, caplog.text]:  # the card's number is shown in clear
        assert not leaked_pieces(helpers.CARD_KEY, text, public=[helpers.CARD_NUMBER])


@pytest.mark.anyio
async def test_a_ledger_row_locked_too_long_fails_the_create_instead_of_hanging(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Someone holds a lock on the ledger's table (an open transaction in an admin tool, a
    # migration): as SQLite's busy timeout, a bounded wait, then a LedgerError and
    # nothing sent; not a create that hangs for as long as the lock is held.
    monkeypatch.setattr("gatepay_async._storage.database.POSTGRES_LOCK_TIMEOUT_MS", 300)
    recorder = helpers.Recorder(ANSWER)
    with Ledger(postgres_url) as ledger, psycopg.connect(postgres_url) as holder:
        holder.execute("LOCK TABLE gatepay_ledger IN ACCESS EXCLUSIVE MODE")
        # Bounds the test without a lock timeout: the holder's session is ended at 8 s.
        released = threading.Timer(8.0, _end_session, (postgres_url, holder.info.backend_pid))
        released.start()
        started = time.monotonic()
        try:
            async with mock_client(recorder, ledger=ledger) as gp:
                with pytest.raises(LedgerError):
                    await create(gp)
        finally:
            released.cancel()
            with contextlib.suppress(psycopg.Error):
                holder.rollback()
        assert time.monotonic() - started < 5
    assert recorder.count == 0


def _end_session(postgres_url: str, pid: int) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
