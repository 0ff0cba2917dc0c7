"""The sandbox app through httpx.ASGITransport: round trips, shapes, every rejection."""

from __future__ import annotations

import base64
import json
import time
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from gatepay_async.sandbox import Sandbox, SandboxConfig
from tests.test_sandbox_support import (
    BALANCE,
    CREATE,
    INSTITUTION,
    QUERY,
    TEMPLATE_ID,
    TEMPLATES,
    asgi_client,
    assert_fail,
    auth_headers,
    create_payload,
    dumps,
    get,
    now_ms,
    post,
    response_signature_ok,
    success_data,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(SandboxConfig(pending_seconds=0))


async def _create(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = success_data(await post(client, CREATE, create_payload(**overrides)))
    return data


# -- merchant round trip -------------------------------------------------------------


async def test_merchant_round_trip(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox) as client:
        templates = success_data(await get(client, TEMPLATES))
        assert len(templates) >= 3
        assert TEMPLATE_ID in {t["card_temp_id"] for t in templates}
        for template in templates:
            assert set(template) == {
                "card_temp_id",
                "image_url",
                "title_en",
                "title_cn",
                "cover_type",
                "status",
            }

        before = now_ms()
        response = await post(client, CREATE, create_payload(title="Gift A", amount="000.9900"))
        card = success_data(response)
        assert set(card) == {
            "card_num",
            "card_key",
            "amount",
            "currency",
            "status",
            "card_temp_id",
            "creator",
            "creator_name",
            "exchange_uid",
            "owner",
            "give_count",
            "last_give_time",
            "create_time",
        }  # exactly seed 003's fields: the create answer does not echo the title
        assert len(card["card_num"]) == 16
        assert card["card_num"].isdigit()
        assert len(base64.b64decode(card["card_key"], validate=True)) == 32
        assert card["amount"] == "0.99"
        assert card["currency"] == "USDT"
        assert card["status"] == 1
        assert card["card_temp_id"] == TEMPLATE_ID
        assert isinstance(card["creator"], int)
        assert (card["exchange_uid"], card["give_count"], card["last_give_time"]) == (0, 0, 0)
        assert before <= card["create_time"] <= now_ms()

        by_number = success_data(await post(client, QUERY, {"card_number": card["card_num"]}))
        assert by_number == {
            "card_num": card["card_num"],
            "key": card["card_key"],
            "title": "Gift A",
            "creator_name": card["creator_name"],
            "amount": "0.99",
            "status": 2,
            "currency": "USDT",
            "card_temp_id": TEMPLATE_ID,
            "create_time": card["create_time"],
            "exchange_uid": 0,
            "exchange_time": 0,
        }  # exactly seed 004's fields: the gift fields appear once a card is gifted on
        by_key = success_data(
            await post(client, QUERY, {"card_number": "", "key": card["card_key"]})
        )
        assert by_key == by_number
        camel = success_data(await post(client, QUERY, {"cardNumber": card["card_num"]}))
        assert camel == by_number

        for params in ({"key": card["card_key"]}, {"cardNumber": card["card_num"]}):
            balance = success_data(await get(client, BALANCE, params))
            assert balance == {
                "cardNumber": card["card_num"],
                "currency": "USDT",
                "amount": "0.99",
                "status": 2,
            }
        merchant = success_data(await get(client, BALANCE))
        # The flat object the official clients parse: currency -> decimal string.
        assert isinstance(merchant, dict)
        assert merchant["USDT"] == "1000000.00"
        assert all(isinstance(v, str) for v in merchant.values())
    assert sandbox.store.count() == 1
    assert sandbox.store.all_titles() == ["Gift A"]


async def test_query_prefers_key_when_both_are_given(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox) as client:
        first = await _create(client, title="first")
        second = await _create(client, title="second")
        found = success_data(
            await post(client, QUERY, {"card_number": first["card_num"], "key": second["card_key"]})
        )
    assert found["card_num"] == second["card_num"]


async def test_status_stays_pending_until_pending_seconds_pass() -> None:
    sandbox = Sandbox(SandboxConfig(pending_seconds=3600))
    async with asgi_client(sandbox) as client:
        card = await _create(client)
        queried = success_data(await post(client, QUERY, {"key": card["card_key"]}))
    assert card["status"] == 1
    assert queried["status"] == 1


async def test_status_one_in_create_answer_then_two_when_pending_seconds_is_zero(
    sandbox: Sandbox,
) -> None:
    async with asgi_client(sandbox) as client:
        card = await _create(client)
        balance = success_data(await get(client, BALANCE, {"key": card["card_key"]}))
    assert card["status"] == 1
    assert balance["status"] == 2


async def test_card_numbers_and_keys_are_unique(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox) as client:
        cards = [await _create(client, title=f"card {i}") for i in range(200)]
    assert len({c["card_num"] for c in cards}) == 200
    assert len({c["card_key"] for c in cards}) == 200
    assert sandbox.store.count() == 200
    assert sandbox.store.all_titles() == [f"card {i}" for i in range(200)]


@pytest.mark.parametrize(
    ("given", "canonical"),
    [("0.99", "0.99"), ("000.990000", "0.99"), ("100", "100"), ("100.000", "100"),
     ("0.0001", "0.0001"), ("5000000", "5000000"), ("1.123456", "1.123456")],
)  # fmt: skip
async def test_amount_is_answered_in_canonical_form(
    sandbox: Sandbox, given: str, canonical: str
) -> None:
    async with asgi_client(sandbox) as client:
        card = await _create(client, amount=given)
    assert card["amount"] == canonical


async def test_extra_fields_are_ignored(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox) as client:
        card = await _create(client, memo="ignored", nested={"x": [1, 2]})
    assert "memo" not in card


async def test_every_answer_is_signed_and_dated(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox) as client:
        ok = await post(client, CREATE, create_payload())
        rejected = await post(client, CREATE, create_payload(), secret="wrong")
        missing = await client.get("/no/such/path")
    for response in (ok, rejected, missing):
        assert response.headers["content-type"] == "application/json"
        assert response_signature_ok(response)
        assert not response_signature_ok(response, secret="another-secret")
        date = parsedate_to_datetime(response.headers["date"]).timestamp()
        assert abs(date - time.time()) < 5
    assert b", " not in ok.content  # compact JSON
    assert missing.status_code == 404
    assert missing.json()["status"] == "FAIL"


async def test_wrong_method_and_unknown_path_answer_fail_envelopes(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox) as client:
        wrong_method = await get(client, CREATE)
        unknown = await get(client, "/v1/pay/gift/nothing")
    assert_fail(wrong_method, 405, "405000")
    assert "/v1/pay/gift/nothing" in assert_fail(unknown, 404, "404000")
    assert sandbox.attempts("create") == 0


# -- institution ----------------------------------------------------------------------


async def test_institution_round_trip_and_sub_account_isolation(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox) as client:
        templates = success_data(await get(client, INSTITUTION + TEMPLATES, on_behalf_of="sub-1"))
        assert TEMPLATE_ID in {t["card_temp_id"] for t in templates}
        card = success_data(
            await post(client, INSTITUTION + CREATE, create_payload(), on_behalf_of="sub-1")
        )
        assert card["status"] == 1
        assert "card_key" in card
        found = success_data(
            await post(
                client, INSTITUTION + QUERY, {"card_number": card["card_num"]}, on_behalf_of="sub-1"
            )
        )
        assert found["key"] == card["card_key"]
        balance = success_data(
            await get(
                client, INSTITUTION + BALANCE, {"key": card["card_key"]}, on_behalf_of="sub-1"
            )
        )
        assert balance["amount"] == "0.99"

        other_sub = await post(
            client, INSTITUTION + QUERY, {"key": card["card_key"]}, on_behalf_of="sub-2"
        )
        assert assert_fail(other_sub, 400, "400001") == "gift card not found"
        merchant = await post(client, QUERY, {"key": card["card_key"]})
        assert assert_fail(merchant, 400, "400001") == "gift card not found"
        other_balance = await get(
            client, INSTITUTION + BALANCE, {"cardNumber": card["card_num"]}, on_behalf_of="sub-2"
        )
        assert assert_fail(other_balance, 400, "400001") == "gift card not found"


async def test_merchant_cards_are_invisible_to_sub_accounts(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox) as client:
        card = await _create(client)
        response = await post(
            client, INSTITUTION + QUERY, {"key": card["card_key"]}, on_behalf_of="sub-1"
        )
    assert assert_fail(response, 400, "400001") == "gift card not found"


@pytest.mark.parametrize("header", [None, "", "   "])
async def test_institution_requires_on_behalf_of(sandbox: Sandbox, header: str | None) -> None:
    async with asgi_client(sandbox) as client:
        response = await post(client, INSTITUTION + CREATE, create_payload(), on_behalf_of=header)
    assert "X-GatePay-On-Behalf-Of" in assert_fail(response, 400, "400001")
    assert sandbox.store.count() == 0


# -- older paths (seed 000) -----------------------------------------------------------


async def test_legacy_round_trip(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox) as client:
        templates = success_data(await get(client, "/v1/pay/giftcard/template/list"))
        assert TEMPLATE_ID in {t["templateId"] for t in templates}
        assert set(templates[0]) == {"templateId", "templateName", "coverUrl", "status"}

        card = success_data(
            await post(client, "/v1/pay/giftcard/create", create_payload(amount="12.50"))
        )
        assert card == {
            "cardNumber": card["cardNumber"],
            "key": card["key"],
            "status": "CREATED",
            "amount": "12.5",
            "currency": "USDT",
            "title": "Holiday",
            "templateId": TEMPLATE_ID,
        }
        for params in ({"cardNumber": card["cardNumber"]}, {"key": card["key"]}):
            assert success_data(await get(client, "/v1/pay/giftcard/query", params)) == card
            balance = success_data(await get(client, "/v1/pay/balance/query", params))
            assert balance == {
                "cardNumber": card["cardNumber"],
                "currency": "USDT",
                "amount": "12.5",
                "status": 2,
            }
        both = {"cardNumber": card["cardNumber"], "key": card["key"]}
        for path in ("/v1/pay/giftcard/query", "/v1/pay/balance/query"):
            assert "cardNumber" in assert_fail(await get(client, path, both), 400, "400001")
            assert "cardNumber" in assert_fail(await get(client, path), 400, "400001")


async def test_balance_with_both_parameters_is_rejected(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox) as client:
        card = await _create(client)
        response = await get(
            client, BALANCE, {"cardNumber": card["card_num"], "key": card["card_key"]}
        )
    assert "cardNumber" in assert_fail(response, 400, "400001")


# -- authentication -------------------------------------------------------------------


async def test_bad_signature_is_400002(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox) as client:
        response = await post(client, CREATE, create_payload(), secret="not-the-secret")
        body = dumps(create_payload())
        tampered = await client.post(
            CREATE, content=body.replace(b"0.99", b"9.99"), headers=auth_headers(body)
        )
        get_with_body_signed = await client.get(
            TEMPLATES, headers=auth_headers(b"{}", content_type=None)
        )
    assert "X-GatePay-Signature" in assert_fail(response, 401, "400002")
    assert_fail(tampered, 401, "400002")
    assert_fail(get_with_body_signed, 401, "400002")
    assert sandbox.store.count() == 0


@pytest.mark.parametrize("skew_ms", [-11_000, 11_000, -3_600_000, 3_600_000])
async def test_timestamp_outside_window_is_400003(sandbox: Sandbox, skew_ms: int) -> None:
    async with asgi_client(sandbox) as client:
        response = await post(client, CREATE, create_payload(), timestamp=now_ms() + skew_ms)
    assert "X-GatePay-Timestamp" in assert_fail(response, 401, "400003")


@pytest.mark.parametrize("skew_ms", [-8_000, 8_000])
async def test_timestamp_inside_window_is_accepted(sandbox: Sandbox, skew_ms: int) -> None:
    async with asgi_client(sandbox) as client:
        response = await post(client, CREATE, create_payload(), timestamp=now_ms() + skew_ms)
    success_data(response)


@pytest.mark.parametrize("timestamp", ["12.5", "abc", "-5", "1e12", "１２３", "9" * 40])
async def test_timestamp_not_integer_ms_is_400003(sandbox: Sandbox, timestamp: str) -> None:
    body = dumps(create_payload())
    headers = {k.encode(): v.encode() for k, v in auth_headers(body).items()}
    headers[b"X-GatePay-Timestamp"] = timestamp.encode("utf-8")
    async with asgi_client(sandbox) as client:
        response = await client.post(CREATE, content=body, headers=headers)
    assert_fail(response, 401, "400003")


async def test_timestamp_is_checked_against_the_offset_clock() -> None:
    sandbox = Sandbox(SandboxConfig(clock_offset=120))
    async with asgi_client(sandbox) as client:
        real_time = await post(client, CREATE, create_payload())
        server_time = await post(client, CREATE, create_payload(), timestamp=now_ms() + 120_000)
    assert_fail(real_time, 401, "400003")
    success_data(server_time)
    date = parsedate_to_datetime(real_time.headers["date"]).timestamp()
    assert 110 < date - time.time() < 130
    assert abs(int(real_time.headers["X-GatePay-Timestamp"]) - (now_ms() + 120_000)) < 10_000


async def test_replayed_nonce_is_400005(sandbox: Sandbox) -> None:
    body = dumps(create_payload())
    headers = auth_headers(body, nonce="abc123")
    async with asgi_client(sandbox) as client:
        first = await client.post(CREATE, content=body, headers=headers)
        second = await client.post(CREATE, content=body, headers=headers)
        fresh = await post(client, CREATE, body)
    success_data(first)
    assert "X-GatePay-Nonce" in assert_fail(second, 401, "400005")
    success_data(fresh)
    assert sandbox.store.count() == 2
    assert sandbox.nonces_seen.count("abc123") == 2

    sandbox.reset_counters()  # forgets the nonces, so the same one is accepted again
    async with asgi_client(sandbox) as client:
        again = await post(client, CREATE, body, nonce="abc123")
    success_data(again)


async def test_nonce_of_a_badly_signed_request_is_not_burnt(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox) as client:
        bad = await post(client, CREATE, create_payload(), nonce="samenonce", secret="wrong")
        good = await post(client, CREATE, create_payload(), nonce="samenonce")
    assert_fail(bad, 401, "400002")
    success_data(good)


@pytest.mark.parametrize("nonce", ["bad-nonce", "has space", "a" * 33, "nonce\u00e9", "x_y"])
async def test_malformed_nonce_is_400005(sandbox: Sandbox, nonce: str) -> None:
    async with asgi_client(sandbox) as client:
        body = dumps(create_payload())
        headers = {k.encode(): v.encode() for k, v in auth_headers(body).items()}
        headers[b"X-GatePay-Nonce"] = nonce.encode("utf-8")
        response = await client.post(CREATE, content=body, headers=headers)
    assert_fail(response, 401, "400005")


async def test_nonce_of_32_letters_and_digits_is_accepted(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox) as client:
        response = await post(client, CREATE, create_payload(), nonce="aZ09" * 8)
    success_data(response)


async def test_unknown_client_id_is_400004(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox) as client:
        response = await post(client, CREATE, create_payload(), client_id="someone-else")
    assert "client id" in assert_fail(response, 401, "400004")


@pytest.mark.parametrize(
    "header",
    [
        "X-GatePay-Certificate-ClientId",
        "X-GatePay-Timestamp",
        "X-GatePay-Nonce",
        "X-GatePay-Signature",
    ],
)
async def test_missing_auth_header_is_400004(sandbox: Sandbox, header: str) -> None:
    body = dumps(create_payload())
    headers = auth_headers(body)
    del headers[header]
    async with asgi_client(sandbox) as client:
        response = await client.post(CREATE, content=body, headers=headers)
    assert header in assert_fail(response, 401, "400004")


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
async def test_wrong_or_missing_content_type_is_400007(
    sandbox: Sandbox, content_type: str | None
) -> None:
    async with asgi_client(sandbox) as client:
        response = await post(client, CREATE, create_payload(), content_type=content_type)
    assert "Content-Type" in assert_fail(response, 400, "400007")
    assert sandbox.store.count() == 0


async def test_content_type_parameters_are_accepted(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox) as client:
        response = await post(
            client, CREATE, create_payload(), content_type="Application/JSON; charset=utf-8"
        )
    success_data(response)


async def test_get_needs_no_content_type(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox) as client:
        response = await get(client, TEMPLATES, content_type=None)
    success_data(response)


@pytest.mark.parametrize(
    ("options", "code"),
    [
        ({"content_type": "text/plain", "secret": "wrong"}, "400007"),
        ({"client_id": "other", "timestamp": 1}, "400004"),
        ({"timestamp": 1, "nonce": "bad-nonce"}, "400003"),
        ({"nonce": "bad-nonce", "secret": "wrong"}, "400005"),
    ],
)
async def test_checks_run_in_documented_order(
    sandbox: Sandbox, options: dict[str, Any], code: str
) -> None:
    async with asgi_client(sandbox) as client:
        response = await post(client, CREATE, create_payload(), **options)
    assert_fail(response, 401 if code != "400007" else 400, code)


async def test_signature_is_checked_before_the_body(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox) as client:
        response = await post(client, CREATE, b"{not json", secret="wrong")
    assert_fail(response, 401, "400002")


# -- body validation ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": None}, "title"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": 123}, "title"),
        ({"templateId": None}, "templateId"),
        ({"templateId": 255267012439183360}, "templateId"),
        ({"templateId": "no-such-template"}, "templateId"),
        ({"currency": None}, "currency"),
        ({"currency": "DOGE"}, "currency"),
        ({"currency": "usdt"}, "currency"),
        ({"amount": None}, "amount"),
        ({"amount": ""}, "amount"),
        ({"amount": 0.99}, "amount"),
        ({"amount": "abc"}, "amount"),
        ({"amount": "1e3"}, "amount"),
        ({"amount": "-1"}, "amount"),
        ({"amount": "+1"}, "amount"),
        ({"amount": " 1"}, "amount"),
        ({"amount": "1."}, "amount"),
        ({"amount": ".5"}, "amount"),
        ({"amount": "NaN"}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"amount": "0.00009"}, "amount"),
        ({"amount": "1.1234567"}, "amount"),
        ({"amount": "5000000.000001"}, "amount"),
        ({"amount": "1" + "0" * 80}, "amount"),
        ({"amount": "\u0661"}, "amount"),
    ],
)
async def test_bad_create_field_is_400001_naming_the_field(
    sandbox: Sandbox, overrides: dict[str, Any], field: str
) -> None:
    async with asgi_client(sandbox) as client:
        response = await post(client, CREATE, create_payload(**overrides))
    message = assert_fail(response, 400, "400001")
    assert message.startswith(f"{field}:"), message
    assert sandbox.store.count() == 0


async def test_amount_with_too_many_decimals_says_so(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox) as client:
        response = await post(client, CREATE, create_payload(amount="0.1234567"))
    message = assert_fail(response, 400, "400001")
    assert message == "amount: must be a decimal string with at most 6 decimal places"


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"", b"[1, 2]", b'"text"', b"null", b"\xff\xfe\x00garbage", b"[" * 100_000],
)
async def test_malformed_or_non_object_body_is_400001(sandbox: Sandbox, body: bytes) -> None:
    async with asgi_client(sandbox) as client:
        create = await post(client, CREATE, body)
        query = await post(client, QUERY, body)
    assert assert_fail(create, 400, "400001").startswith("body:")
    assert assert_fail(query, 400, "400001").startswith("body:")


async def test_oversized_body_is_400001() -> None:
    sandbox = Sandbox(SandboxConfig(max_body_bytes=100))
    async with asgi_client(sandbox) as client:
        response = await post(client, CREATE, create_payload(title="x" * 200))
    assert "body" in assert_fail(response, 400, "400001")


@pytest.mark.parametrize(
    "payload",
    [{}, {"card_number": "", "key": ""}, {"card_number": None}, {"other": "x"}],
)
async def test_query_without_number_or_key_is_400001(
    sandbox: Sandbox, payload: dict[str, Any]
) -> None:
    async with asgi_client(sandbox) as client:
        response = await post(client, QUERY, payload)
    assert assert_fail(response, 400, "400001").startswith("card_number:")


async def test_query_with_non_string_key_is_400001(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox) as client:
        response = await post(client, QUERY, {"key": 5})
    assert assert_fail(response, 400, "400001").startswith("key:")


@pytest.mark.parametrize(
    ("path", "method", "lookup"),
    [
        (QUERY, "POST", {"card_number": "1234567890123456"}),
        (QUERY, "POST", {"key": "bm8gc3VjaCBrZXk="}),
        (BALANCE, "GET", {"cardNumber": "1234567890123456"}),
        ("/v1/pay/giftcard/query", "GET", {"key": "nope"}),
        ("/v1/pay/balance/query", "GET", {"cardNumber": "nope"}),
    ],
)
async def test_unknown_card_is_400001_not_found(
    sandbox: Sandbox, path: str, method: str, lookup: dict[str, str]
) -> None:
    async with asgi_client(sandbox) as client:
        if method == "POST":
            response = await post(client, path, lookup)
        else:
            response = await get(client, path, lookup)
    assert assert_fail(response, 400, "400001") == "gift card not found"


async def test_odd_requests_never_get_a_500(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox) as client:
        responses = [
            await client.post(CREATE, content=b"\x00\x01", headers={"Content-Type": "x"}),
            await client.post(CREATE, content=b"{}", headers={"Content-Type": "application/json"}),
            await client.get(BALANCE, params={"key": "\u2603" * 10}),
            await get(client, BALANCE, {"key": "\u2603"}),
            await get(client, BALANCE + "?cardNumber=%ff%fe&key="),
            await client.get(TEMPLATES, headers={b"X-GatePay-Timestamp": b"\xff" * 3}),
            await client.request("DELETE", CREATE),
        ]
    for response in responses:
        assert 400 <= response.status_code < 500, (response.status_code, response.text)
        assert json.loads(response.content)["status"] == "FAIL"


# -- counters -------------------------------------------------------------------------


async def test_attempts_and_nonces_count_everything_that_reached_the_app(
    sandbox: Sandbox,
) -> None:
    async with asgi_client(sandbox) as client:
        await post(client, CREATE, create_payload(), nonce="n1")
        await post(client, CREATE, create_payload(), nonce="n2", secret="wrong")
        await post(client, QUERY, {"key": "x"}, nonce="n3")
        await get(client, TEMPLATES, nonce="n4")
        await get(client, BALANCE, nonce="n5")
        await get(client, "/v1/pay/giftcard/template/list", nonce="n6")
        await client.get("/_sandbox/stats")
    assert sandbox.attempts("create") == 2
    assert sandbox.attempts("query") == 1
    assert sandbox.attempts("templates") == 2
    assert sandbox.attempts("balance") == 1
    assert sandbox.attempts("*") == 6
    assert sandbox.nonces_seen == ["n1", "n2", "n3", "n4", "n5", "n6"]
    sandbox.reset_counters()
    assert sandbox.attempts("*") == 0
    assert sandbox.nonces_seen == []
    assert sandbox.store.count() == 1
    with pytest.raises(ValueError, match="unknown operation"):
        sandbox.attempts("redeem")


# -- openapi.yaml ---------------------------------------------------------------------


async def test_openapi_yaml_is_served_when_present(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gatepay_async.sandbox import _app

    spec = tmp_path / "openapi.yaml"
    spec.write_text("openapi: 3.1.0\ninfo: {title: t, version: '1'}\n")
    monkeypatch.setattr(_app, "_OPENAPI", spec)
    async with asgi_client(sandbox) as client:
        present = await client.get("/openapi.yaml")
        monkeypatch.setattr(_app, "_OPENAPI", tmp_path / "missing.yaml")
        absent = await client.get("/openapi.yaml")
    assert present.status_code == 200
    assert present.headers["content-type"].startswith("application/yaml")
    assert present.content == spec.read_bytes()
    assert absent.status_code == 404
