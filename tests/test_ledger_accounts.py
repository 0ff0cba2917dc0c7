"""A ledger key's account: one text per account, and ledgers written before kept reachable.

The ledger used to keep a key's account as ``"<base_url> client_id=<id>[ on_behalf_of=<id>]"``,
unescaped, so ``client_id="m on_behalf_of=s"`` and ``client_id="m", on_behalf_of="s"`` were
one account to it: the second was handed the first's card and nothing was sent. Old
ledgers are built here as the code before wrote them (its schema and rows, by SQL), on
SQLite and on a real PostgreSQL server, and opened with today's code.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from gatepay_async._storage import ledger_account as _ledger_account
from gatepay_async._storage.ledger_account import joined_writers, ledger_account
from gatepay_sync import GatePay, GiftCard, Ledger, ValidationError
from tests import helpers
from tests.secret_leaks import leaked_pieces, raised_texts

KEY = "order-123"
ANSWER = helpers.success(helpers.card_data())
MERCHANT: dict[str, Any] = {"client_id": "merchant-7", "on_behalf_of": "sub-9"}
#: The same joined text as MERCHANT, from another account (its client id holds the joint).
LOOKALIKE: dict[str, Any] = {"client_id": "merchant-7 on_behalf_of=sub-9", "on_behalf_of": None}

#: The ledger's table as the code before made it (no account_encoding column).
OLD_TABLE = (
    "CREATE TABLE gatepay_ledger ("
    " idempotency_key TEXT PRIMARY KEY, title TEXT NOT NULL, template_id TEXT NOT NULL,"
    " currency TEXT NOT NULL, amount TEXT NOT NULL, account TEXT NOT NULL,"
    " state TEXT NOT NULL, owner TEXT NOT NULL, attempts INTEGER NOT NULL,"
    " answer_status INTEGER, answer_body {blob}, card TEXT, error TEXT,"
    " created_ms BIGINT NOT NULL, updated_ms BIGINT NOT NULL)"
)
OLD_ROW = (
    "INSERT INTO gatepay_ledger (idempotency_key, title, template_id, currency, amount,"
    " account, state, owner, attempts, answer_status, answer_body, card, error,"
    " created_ms, updated_ms) VALUES ({marks})"
)


def old_joined(base_url: str, client_id: str, on_behalf_of: str | None) -> str:
    """The account text of the code before, copied from it (not imported: it must not
    follow today's code)."""
    account = f"{base_url.rstrip('/')} client_id={client_id}"
    return f"{account} on_behalf_of={on_behalf_of}" if on_behalf_of else account


def old_issued_row(key: str, account: str) -> tuple[Any, ...]:
    """An issued row as the code before wrote it."""
    card = json.dumps(helpers.card_data())
    fields = (key, "Holiday", helpers.TEMPLATE_ID, "USDT", "0.99", account, "issued")
    return (*fields, "f" * 32, 1, 200, ANSWER.content, card, None, 1, 1)


@pytest.fixture(params=["sqlite", "postgresql"])
def old_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """(url, write) of an empty ledger in the old schema; ``write(rows)`` inserts old rows."""
    if request.param == "sqlite":
        path = tmp_path / "ledger.db"
        with sqlite3.connect(path) as db:
            db.execute(OLD_TABLE.format(blob="BLOB"))

        def write_sqlite(rows: list[tuple[Any, ...]]) -> None:
            with sqlite3.connect(path) as db:
                db.executemany(OLD_ROW.format(marks=", ".join("?" * 15)), rows)

        yield f"sqlite:///{path}", write_sqlite
        return
    url = str(request.getfixturevalue("postgres_url"))
    with psycopg.connect(url, autocommit=True) as pg:
        pg.execute(OLD_TABLE.format(blob="BYTEA"))

    def write_postgres(rows: list[tuple[Any, ...]]) -> None:
        with psycopg.connect(url, autocommit=True) as pg, pg.cursor() as cursor:
            cursor.executemany(OLD_ROW.format(marks=", ".join(["%s"] * 15)), rows)

    yield url, write_postgres


def client(recorder: helpers.Recorder, ledger: str, **account: Any) -> GatePay:
    return GatePay(
        secret_key=helpers.SECRET_KEY,
        base_url=account.pop("base_url", helpers.BASE_URL),
        http_client=httpx.Client(transport=httpx.MockTransport(recorder)),
        ledger=ledger,
        **account,
    )


def create(gp: GatePay, key: str = KEY) -> GiftCard:
    return gp.gift_cards.create(
        title="Holiday",
        template_id=helpers.TEMPLATE_ID,
        currency="USDT",
        amount=Decimal("0.99"),
        idempotency_key=key,
    )


# ------------------------------------------------------------------ accounts that join alike


def test_the_lookalike_accounts_join_alike_in_the_old_text() -> None:
    # The collision this file is about, in the old joining itself.
    assert old_joined(helpers.BASE_URL, **MERCHANT) == old_joined(helpers.BASE_URL, **LOOKALIKE)
    assert old_joined("http://h client_id=a", "b", None) == old_joined(
        "http://h", "a client_id=b", None
    )
    assert ledger_account(helpers.BASE_URL, **MERCHANT) != ledger_account(
        helpers.BASE_URL, **LOOKALIKE
    )


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (LOOKALIKE, MERCHANT),
        (MERCHANT, LOOKALIKE),
        (
            {"base_url": "http://gatepay.test client_id=a", "client_id": "b"},
            {"base_url": "http://gatepay.test", "client_id": "a client_id=b"},
        ),
    ],
    ids=["client-id-holds-on-behalf-of", "on-behalf-of-first", "base-url-holds-client-id"],
)
def test_accounts_that_joined_alike_never_get_each_others_card(
    tmp_path: Path, first: dict[str, Any], second: dict[str, Any]
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    recorder = helpers.Recorder(ANSWER)
    with client(recorder, url, **first) as gp:
        create(gp)
    with client(recorder, url, **second) as gp, pytest.raises(ValidationError) as info:
        create(gp)
    assert "another GatePay account" in str(info.value)
    assert not leaked_pieces(helpers.CARD_KEY, raised_texts(info.value))
    assert len(recorder.sent) == 1  # the second was handed nothing, and sent nothing


# ------------------------------------------------------------------ ledgers written before


def test_an_old_ledger_gives_its_owner_the_stored_card_and_sends_nothing(
    old_ledger: tuple[str, Any],
) -> None:
    url, write = old_ledger
    write([old_issued_row(KEY, old_joined(helpers.BASE_URL, helpers.CLIENT_ID, None))])
    recorder = helpers.Recorder(ANSWER)
    with client(recorder, url, client_id=helpers.CLIENT_ID) as gp:
        card = create(gp)
        assert create(gp).card_number == card.card_number  # and again, now the row is read
    assert (card.card_number, card.key) == (helpers.CARD_NUMBER, helpers.CARD_KEY)
    assert recorder.sent == []
    # Another account on the old ledger is still refused.
    with (
        client(recorder, url, client_id="another-merchant") as gp,
        pytest.raises(ValidationError, match="another GatePay account"),
    ):
        create(gp)
    assert recorder.sent == []


def test_an_ambiguous_old_row_is_served_to_neither_account_until_adopted(
    old_ledger: tuple[str, Any],
) -> None:
    url, write = old_ledger
    write([old_issued_row(KEY, old_joined(helpers.BASE_URL, **MERCHANT))])
    recorder = helpers.Recorder(ANSWER)
    for account in (MERCHANT, LOOKALIKE):  # either may have written it: neither gets it
        with client(recorder, url, **account) as gp, pytest.raises(ValidationError) as info:
            create(gp)
        assert "served to neither" in str(info.value)
        assert not leaked_pieces(helpers.CARD_KEY, raised_texts(info.value))
    assert recorder.sent == []  # and it is never sent again: its card may be the owner's
    with Ledger(url) as ledger:
        assert ledger.state(KEY) == "issued"  # the card is kept
        assert ledger.adopt(base_url=helpers.BASE_URL, **LOOKALIKE, key="other-key") == 0
        assert ledger.adopt(base_url=helpers.BASE_URL + "/", **MERCHANT) == 1
    with client(recorder, url, **MERCHANT) as gp:
        card = create(gp)
    assert (card.card_number, card.key) == (helpers.CARD_NUMBER, helpers.CARD_KEY)
    with client(recorder, url, **LOOKALIKE) as gp, pytest.raises(ValidationError):
        create(gp)
    assert recorder.sent == []


def test_an_old_failed_row_is_taken_over_by_its_owner_and_rewritten(
    old_ledger: tuple[str, Any],
) -> None:
    url, write = old_ledger
    account = old_joined(helpers.BASE_URL, helpers.CLIENT_ID, None)
    refused = (KEY, "Holiday", helpers.TEMPLATE_ID, "USDT", "0.99", account, "failed")
    write([(*refused, "f" * 32, 1, None, None, None, "InvalidRequestError: refused", 1, 1)])
    recorder = helpers.Recorder(ANSWER)
    with client(recorder, url, client_id=helpers.CLIENT_ID) as gp:
        assert create(gp).card_number == helpers.CARD_NUMBER  # sent again: it was refused
        assert create(gp).card_number == helpers.CARD_NUMBER  # now stored in today's form
    assert len(recorder.sent) == 1
    with Ledger(url) as ledger:
        stored = ledger._database.transaction(
            lambda tx: tx.execute("SELECT account, account_encoding FROM gatepay_ledger")
        )
    assert stored == [(ledger_account(helpers.BASE_URL, helpers.CLIENT_ID, None), 2)]


def test_an_old_ledger_still_written_by_old_code_after_the_upgrade(
    old_ledger: tuple[str, Any],
) -> None:
    # A process of the code before, still running once the ledger has the new column,
    # inserts rows without it: they are read as the old text they are.
    url, write = old_ledger
    Ledger(url).close()  # today's code opens it first: the column is added
    write([old_issued_row(KEY, old_joined(helpers.BASE_URL, helpers.CLIENT_ID, None))])
    recorder = helpers.Recorder(ANSWER)
    with client(recorder, url, client_id=helpers.CLIENT_ID) as gp:
        assert create(gp).card_number == helpers.CARD_NUMBER
    assert recorder.sent == []


# ------------------------------------------------------------------ who may have written a text


@pytest.mark.parametrize(
    ("joined", "writers"),
    [
        ("http://h client_id=m", 1),
        ("http://h client_id=m on_behalf_of=s", 2),
        ("http://h client_id=a client_id=b", 2),
        ("http://h client_id=a on_behalf_of=b on_behalf_of=c", 3),
        ("http://h client_id=m on_behalf_of=", 1),  # an empty on-behalf-of is none
        ("no joint at all", 0),
    ],
)
def test_every_account_that_joins_to_a_text_is_counted(joined: str, writers: int) -> None:
    found = joined_writers(joined)
    assert len(found) == writers
    assert all(old_joined(*parts) == joined for parts in found)


def test_the_account_encodings_are_the_values_ledgers_on_disk_hold() -> None:
    """1 and 2 are written in ledgers already (1 is the column's default an older gatepay
    relied on): a new value would read every existing row as another account's."""
    assert (_ledger_account.ACCOUNT_JOINED, _ledger_account.ACCOUNT_JSON) == (1, 2)


@pytest.mark.parametrize("other_base", ["https://a.example", "https://z.example"])
def test_an_old_row_joined_from_another_account_is_never_served(other_base: str) -> None:
    """Whether the other account's joined text sorts before or after this one's."""
    mine = ledger_account("https://m.example", "merchant", None)
    stored = _ledger_account.joined_account(other_base, "merchant", None)
    assert (
        _ledger_account.match_account(stored, _ledger_account.ACCOUNT_JOINED, mine)
        is _ledger_account.AccountMatch.OTHER
    )


@pytest.mark.parametrize("encoding", [0, -1, 3])
def test_a_row_in_an_encoding_this_version_does_not_know_is_another_accounts(
    encoding: int,
) -> None:
    mine = ledger_account("https://m.example", "merchant", None)
    stored = _ledger_account.joined_account("https://m.example", "merchant", None)
    assert (
        _ledger_account.match_account(stored, encoding, mine) is _ledger_account.AccountMatch.OTHER
    )


def test_a_row_in_a_later_encoding_is_another_accounts_even_when_its_text_matches() -> None:
    """A later gatepay's encoding may spell some other account as this one's JSON text:
    only the encoding this version writes is compared as JSON."""
    mine = ledger_account("https://m.example", "merchant", None)
    for encoding in (3, 4):
        assert (
            _ledger_account.match_account(mine, encoding, mine)
            is _ledger_account.AccountMatch.OTHER
        )


def test_an_accounts_text_is_the_ascii_json_ledgers_on_disk_hold() -> None:
    """Rows are compared by this exact text: rows already written hold non-ASCII parts
    escaped, and a text with a lone surrogate stays storable."""
    assert (
        ledger_account("https://m.example/", "mérchant", "sub-ü")
        == '["https://m.example","m\\u00e9rchant","sub-\\u00fc"]'
    )
    assert ledger_account("https://m.example", "m\ud800", None) == (
        '["https://m.example","m\\ud800",null]'
    )
