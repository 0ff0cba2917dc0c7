"""Client configuration: arguments, environment fallbacks, checks and repr."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gatepay_async import AsyncGatePay, ValidationError
from tests.helpers import (
    BASE_URL,
    CLIENT_ID,
    SECRET_KEY,
    TEMPLATE_ID,
    Recorder,
    assert_signed,
    success,
)
from tests.secret_leaks import leaked_pieces

from .conftest import Handler

ENV_NAMES = ("GATEPAY_CLIENT_ID", "GATEPAY_SECRET_KEY", "GATEPAY_BASE_URL")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


def mock_http(handler: Handler, **kwargs: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler), **kwargs)


def templates() -> httpx.Response:
    return success([{"templateId": TEMPLATE_ID}])


# ------------------------------------------------------------------------ credentials


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({}, "client_id"),
        ({"secret_key": SECRET_KEY}, "client_id"),
        ({"client_id": CLIENT_ID}, "secret_key"),
        ({"client_id": "", "secret_key": SECRET_KEY}, "client_id"),
        ({"client_id": CLIENT_ID, "secret_key": ""}, "secret_key"),
        ({"client_id": 42, "secret_key": SECRET_KEY}, "client_id"),
        ({"client_id": CLIENT_ID, "secret_key": b"bytes"}, "secret_key"),
    ],
)
def test_missing_or_bad_credentials_are_refused(kwargs: dict[str, Any], named: str) -> None:
    recorder = Recorder(templates())
    with pytest.raises(ValidationError) as info:
        AsyncGatePay(base_url=BASE_URL, http_client=mock_http(recorder), **kwargs)
    assert info.value.argument == named
    assert named in str(info.value)
    assert recorder.count == 0


def test_missing_credentials_message_names_the_environment_variable() -> None:
    with pytest.raises(ValidationError) as info:
        AsyncGatePay(client_id=CLIENT_ID)
    assert "GATEPAY_SECRET_KEY" in str(info.value)


@pytest.mark.anyio
async def test_environment_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEPAY_CLIENT_ID", "env-client")
    monkeypatch.setenv("GATEPAY_SECRET_KEY", "env-secret")
    monkeypatch.setenv("GATEPAY_BASE_URL", "http://env-gatepay.test/")
    recorder = Recorder(templates())
    async with AsyncGatePay(http_client=mock_http(recorder)) as gp:
        assert gp.base_url == "http://env-gatepay.test"
        await gp.gift_cards.list_templates()
    sent = recorder.sent[0]
    assert str(sent.url) == "http://env-gatepay.test/v1/pay/gift/temp/list"
    assert_signed(sent, secret="env-secret", client_id="env-client")


@pytest.mark.anyio
async def test_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEPAY_CLIENT_ID", "env-client")
    monkeypatch.setenv("GATEPAY_SECRET_KEY", "env-secret")
    monkeypatch.setenv("GATEPAY_BASE_URL", "http://env-gatepay.test")
    recorder = Recorder(templates())
    async with AsyncGatePay(
        client_id=CLIENT_ID,
        secret_key=SECRET_KEY,
        base_url=BASE_URL,
        http_client=mock_http(recorder),
    ) as gp:
        await gp.gift_cards.list_templates()
    sent = recorder.sent[0]
    assert sent.url.host == "gatepay.test"
    assert_signed(sent)


@pytest.mark.anyio
async def test_default_base_url() -> None:
    recorder = Recorder(templates())
    async with AsyncGatePay(
        client_id=CLIENT_ID, secret_key=SECRET_KEY, http_client=mock_http(recorder)
    ) as gp:
        assert gp.base_url == "https://openplatform.gateapi.io"
        await gp.gift_cards.list_templates()
    assert str(recorder.sent[0].url) == "https://openplatform.gateapi.io/v1/pay/gift/temp/list"


@pytest.mark.anyio
async def test_base_url_trailing_slash_is_dropped() -> None:
    recorder = Recorder(templates())
    async with AsyncGatePay(
        client_id=CLIENT_ID,
        secret_key=SECRET_KEY,
        base_url=BASE_URL + "/",
        http_client=mock_http(recorder),
    ) as gp:
        await gp.gift_cards.list_templates()
    assert str(recorder.sent[0].url) == BASE_URL + "/v1/pay/gift/temp/list"


@pytest.mark.parametrize("base_url", ["gatepay.test", "ftp://gatepay.test", "//gatepay.test"])
def test_base_url_needs_a_scheme(base_url: str) -> None:
    with pytest.raises(ValidationError) as info:
        AsyncGatePay(client_id=CLIENT_ID, secret_key=SECRET_KEY, base_url=base_url)
    assert info.value.argument == "base_url"


# ------------------------------------------------------------------------ numbers


@pytest.mark.parametrize("max_retries", [-1, -10, 1.5, "2", None, True])
def test_bad_max_retries_is_refused(max_retries: Any) -> None:
    with pytest.raises(ValidationError) as info:
        AsyncGatePay(
            client_id=CLIENT_ID, secret_key=SECRET_KEY, base_url=BASE_URL, max_retries=max_retries
        )
    assert info.value.argument == "max_retries"


@pytest.mark.parametrize("timeout", [0, 0.0, -1, -0.5, "30", None, True])
def test_bad_timeout_is_refused(timeout: Any) -> None:
    with pytest.raises(ValidationError) as info:
        AsyncGatePay(client_id=CLIENT_ID, secret_key=SECRET_KEY, base_url=BASE_URL, timeout=timeout)
    assert info.value.argument == "timeout"


def test_max_retries_zero_is_allowed() -> None:
    gp = AsyncGatePay(client_id=CLIENT_ID, secret_key=SECRET_KEY, base_url=BASE_URL, max_retries=0)
    assert gp.max_retries == 0


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("timeout", "expected"),
    [
        (5, httpx.Timeout(5.0)),
        (2.5, httpx.Timeout(2.5)),
        (httpx.Timeout(1.0, connect=3.0), httpx.Timeout(1.0, connect=3.0)),
    ],
)
async def test_timeout_is_applied_to_each_request(timeout: Any, expected: httpx.Timeout) -> None:
    recorder = Recorder(templates())
    async with AsyncGatePay(
        client_id=CLIENT_ID,
        secret_key=SECRET_KEY,
        base_url=BASE_URL,
        timeout=timeout,
        http_client=mock_http(recorder, timeout=99.0),
    ) as gp:
        await gp.gift_cards.list_templates()
    assert recorder.sent[0].extensions["timeout"] == expected.as_dict()


@pytest.mark.parametrize(("name", "value"), [("on_behalf_of", ""), ("api_key", "")])
def test_empty_optional_strings_are_refused(name: str, value: str) -> None:
    with pytest.raises(ValidationError) as info:
        AsyncGatePay(client_id=CLIENT_ID, secret_key=SECRET_KEY, base_url=BASE_URL, **{name: value})
    assert info.value.argument == name


def test_properties() -> None:
    gp = AsyncGatePay(
        client_id=CLIENT_ID,
        secret_key=SECRET_KEY,
        base_url=BASE_URL,
        on_behalf_of="sub-1",
        max_retries=4,
    )
    assert gp.base_url == BASE_URL
    assert gp.on_behalf_of == "sub-1"
    assert gp.max_retries == 4


# ------------------------------------------------------------------------ secrets


def test_repr_has_no_secrets() -> None:
    gp = AsyncGatePay(
        client_id=CLIENT_ID,
        secret_key=SECRET_KEY,
        base_url=BASE_URL,
        api_key="api-key-is-a-secret-too",
        on_behalf_of="sub-1",
    )
    text = repr(gp)
    assert CLIENT_ID in text
    assert not leaked_pieces(SECRET_KEY, text)
    assert not leaked_pieces("api-key-is-a-secret-too", text)
    assert not leaked_pieces(SECRET_KEY, str(gp))
    assert not leaked_pieces(SECRET_KEY, repr(vars(gp)))


@pytest.mark.anyio
async def test_secret_from_environment_stays_out_of_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEPAY_CLIENT_ID", "env-client")
    monkeypatch.setenv("GATEPAY_SECRET_KEY", "env-secret-value-xyz")
    async with AsyncGatePay(base_url=BASE_URL, http_client=mock_http(Recorder())) as gp:
        assert "env-secret-value-xyz" not in repr(gp)
        assert "env-client" in repr(gp)
