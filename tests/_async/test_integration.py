"""The SDK against the sandbox served by uvicorn on 127.0.0.1: real HTTP, real signing."""

from __future__ import annotations

import logging
from decimal import Decimal
from functools import partial

import pytest

from gatepay_async import (
    AuthenticationError,
    GatePayError,
    GiftCardStatus,
    InvalidRequestError,
)
from gatepay_async.sandbox import SandboxServer, parse_fault
from tests.conftest import SANDBOX_CLIENT_ID, SANDBOX_SECRET_KEY
from tests.secret_leaks import leaked_pieces, raised_texts

from .conftest import client_at

TEMPLATE_ID = "255267012439183360"
API_KEY = "integration-api-key-0001"


make_client = partial(client_at, timeout=5.0)


@pytest.mark.anyio
@pytest.mark.parametrize("on_behalf_of", [None, "sub-account-7"])
async def test_lifecycle_templates_create_query_balance(
    sandbox: SandboxServer, on_behalf_of: str | None
) -> None:
    async with make_client(sandbox.url, on_behalf_of=on_behalf_of) as gp:
        templates = await gp.gift_cards.list_templates()
        assert TEMPLATE_ID in [t.template_id for t in templates]
        card = await gp.gift_cards.create(
            title="Holiday", template_id=TEMPLATE_ID, currency="USDT", amount=Decimal("0.99")
        )
        assert card.amount == Decimal("0.99")
        assert card.currency == "USDT"
        assert card.status is GiftCardStatus.PENDING_PAYMENT
        assert len(card.card_number) == 16
        assert card.key
        by_number = await gp.gift_cards.query(card_number=card.card_number)
        by_key = await gp.gift_cards.query(key=card.key)
        assert by_number.card_number == by_key.card_number == card.card_number
        assert by_number.amount == Decimal("0.99")
        assert by_number.created_at is not None
        assert by_number.created_at.tzinfo is not None
        balance = await gp.gift_cards.balance(key=card.key)
        assert (balance.amount, balance.currency) == (Decimal("0.99"), "USDT")
        assert balance.card_number == card.card_number


@pytest.mark.anyio
async def test_institution_cards_are_scoped_to_their_sub_account(sandbox: SandboxServer) -> None:
    async with make_client(sandbox.url, on_behalf_of="sub-a") as sub_a:
        card = await sub_a.gift_cards.create(
            title="scoped", template_id=TEMPLATE_ID, currency="USDT", amount="3"
        )
    async with make_client(sandbox.url, on_behalf_of="sub-b") as sub_b:
        with pytest.raises(InvalidRequestError):
            await sub_b.gift_cards.query(card_number=card.card_number)


@pytest.mark.anyio
async def test_status_moves_from_pending_to_not_redeemed(sandbox: SandboxServer) -> None:
    async with make_client(sandbox.url) as gp:
        card = await gp.gift_cards.create(
            title="pending", template_id=TEMPLATE_ID, currency="USDT", amount="1"
        )
        assert card.status is GiftCardStatus.PENDING_PAYMENT
        later = await gp.gift_cards.wait_for_status(
            card_number=card.card_number,
            statuses={GiftCardStatus.NOT_REDEEMED},
            timeout=5.0,
            interval=0.05,
        )
        assert later.status is GiftCardStatus.NOT_REDEEMED


@pytest.mark.anyio
async def test_wrong_secret_is_an_authentication_error(sandbox: SandboxServer) -> None:
    async with make_client(sandbox.url, secret_key="not-the-secret") as gp:
        with pytest.raises(AuthenticationError) as info:
            await gp.gift_cards.list_templates()
    assert info.value.status_code == 401
    assert info.value.code == "400002"
    assert sandbox.sandbox.attempts("templates") == 1
    assert "not-the-secret" not in str(info.value)


@pytest.mark.anyio
async def test_unknown_client_id_is_an_authentication_error(sandbox: SandboxServer) -> None:
    async with make_client(sandbox.url, client_id="someone-else") as gp:
        with pytest.raises(AuthenticationError) as info:
            await gp.gift_cards.list_templates()
    assert info.value.code == "400004"


@pytest.mark.anyio
async def test_stale_local_clock_is_corrected_from_the_server_date(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with make_client(sandbox.url) as gp:
        # This machine's clock runs 60 s slow: the first request is refused for its
        # timestamp, re-signed with the server's time and accepted.
        monkeypatch.setattr(gp.clock, "_offset_ms", -60_000.0)
        templates = await gp.gift_cards.list_templates()
        assert templates
        assert sandbox.sandbox.attempts("templates") == 2
        assert abs(gp.clock.offset_ms) < 2_000
        await gp.gift_cards.list_templates()
        assert sandbox.sandbox.attempts("templates") == 3


@pytest.mark.anyio
async def test_server_clock_ahead_is_learned_after_the_first_response(
    sandbox: SandboxServer,
) -> None:
    sandbox.sandbox.inject(parse_fault("*:clock_offset,offset=60"))
    async with make_client(sandbox.url) as gp:
        await gp.gift_cards.list_templates()  # refused once, re-signed, accepted
        assert sandbox.sandbox.attempts("templates") == 2
        assert 58_000 < gp.clock.offset_ms < 62_000
        card = await gp.gift_cards.create(
            title="skewed", template_id=TEMPLATE_ID, currency="USDT", amount="1"
        )
        await gp.gift_cards.query(card_number=card.card_number)
    assert sandbox.sandbox.attempts("create") == 1
    assert sandbox.sandbox.attempts("query") == 1


@pytest.mark.anyio
async def test_replayed_nonce_is_refused(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gatepay_async._http.auth.new_nonce", lambda: "replayednonce0001")
    async with make_client(sandbox.url) as gp:
        await gp.gift_cards.list_templates()
        with pytest.raises(AuthenticationError) as info:
            await gp.gift_cards.list_templates()
    assert info.value.code == "400005"


@pytest.mark.anyio
async def test_server_side_validation_error_names_the_field(sandbox: SandboxServer) -> None:
    async with make_client(sandbox.url) as gp:
        with pytest.raises(InvalidRequestError) as info:
            await gp.gift_cards.create(
                title="t", template_id="no-such-template", currency="USDT", amount="1"
            )
    assert info.value.code == "400001"
    assert "templateId" in info.value.message


@pytest.mark.anyio
async def test_debug_logs_reprs_and_errors_hold_no_secret(
    sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    async with make_client(sandbox.url, api_key=API_KEY) as gp:
        texts.append(repr(gp))
        await gp.gift_cards.list_templates()
        card = await gp.gift_cards.create(
            title="secret-hygiene", template_id=TEMPLATE_ID, currency="USDT", amount="5"
        )
        texts.append(repr(card))
        texts.append(repr(await gp.gift_cards.query(key=card.key)))
        texts.append(repr(await gp.gift_cards.balance(key=card.key)))
        with pytest.raises(GatePayError) as unknown_number:
            await gp.gift_cards.query(card_number="0000000000000000")
        with pytest.raises(GatePayError) as unknown_key:
            await gp.gift_cards.balance(key=card.key + "x")
        for error in (unknown_number.value, unknown_key.value):
            texts.append(raised_texts(error))
    records = [r.getMessage() for r in caplog.records]
    assert any("gift/create" in r for r in records), "the gatepay logger recorded nothing"
    everything = "\n".join(records + texts)
    for secret in (SANDBOX_SECRET_KEY, API_KEY, card.key):
        # The client id and the card number are shown in clear; a piece of a secret that
        # is also part of them proves nothing.
        assert not leaked_pieces(secret, everything, public=[SANDBOX_CLIENT_ID, card.card_number])
    assert card.key[:4] + "…" in repr(card)
