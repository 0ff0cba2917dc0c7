"""What the ledger makes of a key's stored row: the card it serves, or the error it raises.

Rows are written here by SQL, as a run (or an older gatepay) leaves them, and claimed
with ``Ledger.begin`` as a create with the key would: a card is served only from an
issued row of the same request and account, and a row in doubt is never sent again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gatepay_async._storage.ledger import Ledger
from gatepay_async._storage.ledger_account import ledger_account
from gatepay_async._wire.validation import build_create_request
from gatepay_sync import OutcomeUnknownError, ValidationError

KEY = "order-7"
CARD_KEY = "KEY-ledger-rows-secret-0001"
CARD = {"card_num": "GC0000000042", "card_key": CARD_KEY, "amount": "0.99", "currency": "USDT"}
ACCOUNT = ledger_account("https://m.example", "merchant", None)
REQUEST = build_create_request(title="Holiday", template_id="255", currency="USDT", amount="0.99")


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as opened:
        yield opened


def put(ledger: Ledger, state: str, *, amount: str = "0.99", card: Any = None) -> None:
    """A row of ``state`` for KEY and REQUEST's fields, with no raw answer."""
    ledger._database.transaction(
        lambda tx: tx.execute(
            "INSERT INTO gatepay_ledger (idempotency_key, title, template_id, currency, amount,"
            " account, account_encoding, state, owner, attempts, answer_status, answer_body,"
            " card, error, created_ms, updated_ms)"
            " VALUES (?, 'Holiday', '255', 'USDT', ?, ?, 2, ?, ?, 1, NULL, NULL, ?, NULL, 1, 1)",
            (KEY, amount, ACCOUNT, state, "f" * 32, card),
        )
    )


def test_an_issued_row_without_its_raw_answer_serves_its_card(ledger: Ledger) -> None:
    put(ledger, "issued", card=json.dumps(CARD))
    begun = ledger.begin(KEY, REQUEST, account=ACCOUNT)
    assert begun.owner is None
    assert begun.card is not None
    assert (begun.card.card_number, begun.card.key) == ("GC0000000042", CARD_KEY)


@pytest.mark.parametrize("state", ["unknown", "intent"])
def test_a_row_in_doubt_is_never_served_from_its_card_column(ledger: Ledger, state: str) -> None:
    put(ledger, state, card=json.dumps(CARD))
    with pytest.raises(OutcomeUnknownError) as info:
        ledger.begin(KEY, REQUEST, account=ACCOUNT)
    expected = "ended unknown" if state == "unknown" else "still in flight"
    assert expected in str(info.value.__cause__)


@pytest.mark.parametrize(
    "card", ["not json", json.dumps({"card_key": CARD_KEY}), json.dumps([1])], ids=repr
)
def test_an_issued_row_whose_card_cannot_be_read_is_unknown(ledger: Ledger, card: str) -> None:
    put(ledger, "issued", card=card)
    with pytest.raises(OutcomeUnknownError) as info:
        ledger.begin(KEY, REQUEST, account=ACCOUNT)
    assert "issued a card the ledger cannot read" in str(info.value.__cause__)


@pytest.mark.parametrize("stored", ["5", "0.98", "1E+3"])
def test_a_key_first_used_for_another_amount_is_refused(ledger: Ledger, stored: str) -> None:
    put(ledger, "issued", amount=stored, card=json.dumps(CARD))
    with pytest.raises(ValidationError, match=re.escape(f"amount differ: amount was '{stored}'")):
        ledger.begin(KEY, REQUEST, account=ACCOUNT)


def test_a_stored_amount_that_is_no_number_is_another_amount(ledger: Ledger) -> None:
    put(ledger, "issued", amount="ninety-nine cents", card=json.dumps(CARD))
    with pytest.raises(ValidationError, match="amount differ"):
        ledger.begin(KEY, REQUEST, account=ACCOUNT)


def test_the_error_for_a_stored_row_leaves_no_frame_holding_the_row(ledger: Ledger) -> None:
    """Error tools show each frame's locals: the frames that held the row (its card and
    raw answer) are cut from the traceback of the error raised for it."""
    put(ledger, "issued", amount="5", card=json.dumps(CARD))
    with pytest.raises(ValidationError) as info:
        ledger.begin(KEY, REQUEST, account=ACCOUNT)
    error: BaseException | None = info.value
    while error is not None:
        traceback = error.__traceback__
        while traceback is not None:
            for name, value in traceback.tb_frame.f_locals.items():
                assert CARD_KEY not in repr(value), (traceback.tb_frame.f_code.co_name, name)
            traceback = traceback.tb_next
        error = error.__cause__ or error.__context__


def test_a_card_whose_answer_gives_its_amount_as_a_number_is_stored(tmp_path: Path) -> None:
    """GatePay's numbers with a fraction are read as Decimal; the card column keeps them
    as text."""
    import httpx

    from gatepay_sync import GatePay
    from tests import helpers

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    answer = helpers.raw(
        200,
        '{"status":"SUCCESS","code":"000000","data":'
        f'{{"card_num":"GC0000000042","card_key":"{CARD_KEY}","amount":0.99}}}}',
    )
    recorder = helpers.Recorder(answer)
    with GatePay(
        secret_key=helpers.SECRET_KEY,
        client_id=helpers.CLIENT_ID,
        base_url=helpers.BASE_URL,
        http_client=httpx.Client(transport=httpx.MockTransport(recorder)),
        ledger=url,
    ) as gp:
        card = gp.gift_cards.create(
            title="Holiday", template_id="255", currency="USDT", amount="0.99", idempotency_key=KEY
        )
    assert card.key == CARD_KEY
    with Ledger(url) as ledger:
        stored = ledger._database.transaction(
            lambda tx: tx.execute("SELECT state, card FROM gatepay_ledger")
        )
    assert stored[0][0] == "issued"
    assert json.loads(stored[0][1])["amount"] == "0.99"
