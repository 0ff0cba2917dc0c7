"""``Secret``: the SDK's type for the signing secret, the api key and card keys; and the
card key a caller gets, which stays a plain ``str``."""

from __future__ import annotations

import copy
import json
import pickle
import pprint
from typing import Any

import attrs
import pytest
import rich.pretty
from sentry_sdk.serializer import serialize

from gatepay_async import AsyncGatePay, GiftCard, ValidationError
from gatepay_async._http.auth import GatePayAuth
from gatepay_async._http.config import ClientConfig
from gatepay_async._http.sending import MaskedRequest, masked
from gatepay_async._secrets.secret import Sealed, Secret
from gatepay_async._wire.validation import card_lookup, sealed_json
from gatepay_async.resources.gift_cards import AsyncGiftCards
from gatepay_sync import GatePay
from tests.frame_locals import frames, leaked, local_renderings

KEY = "q8Zf3Lm+Wx0/Tb7PkR2nYc5Vd1Hs9Ja4Ge6Ui8Oo3E="
SECRET = "frames-Signing-Secret-7Qx2Lm9Vb4"
API_KEY = "frames-Api-Key-Cert-8Hn3Kd6Wp1"


def displays(value: object) -> list[str]:
    """Every way a log line, an f-string or an error tool shows ``value``."""
    padded = [f"{value:>60}"] if isinstance(value, Secret) else []
    return [
        *padded,
        repr(value),
        str(value),
        f"{value}",
        f"{value!r}",
        "%s %r" % (value, value),  # noqa: UP031 (logging's own formatting)
        rich.pretty.pretty_repr(value),
        pprint.pformat(value),
        json.dumps(serialize({"v": value}, is_vars=True), ensure_ascii=False),
    ]


@pytest.mark.parametrize("value", [KEY, SECRET, API_KEY])
def test_no_display_form_of_a_secret_shows_it(value: str) -> None:
    secret = Secret(value)
    for text in displays(secret):
        assert not leaked(text), text
        assert value[:4] + "…" in text  # the masked form: first 4 characters, an ellipsis
    for text in displays({"key": secret, "nested": [secret]}):
        assert not leaked(text), text


def test_reveal_hands_the_value_out() -> None:
    secret = Secret(KEY)
    assert secret.reveal() == KEY
    assert secret.get_secret_value() == KEY
    assert Secret.of(secret) is secret
    assert Secret(secret).reveal() == KEY
    with pytest.raises(TypeError):
        Secret(b"bytes")  # type: ignore[arg-type]


def test_equality_and_hash_are_by_value() -> None:
    assert Secret(KEY) == Secret(KEY)
    assert Secret(KEY) == KEY  # a check against the plain text
    assert Secret(KEY) != Secret(KEY + "x")
    assert Secret(KEY) != 42
    assert hash(Secret(KEY)) == hash(Secret(KEY))
    assert len({Secret(KEY), Secret(KEY)}) == 1
    assert not Secret("")
    assert len(Secret(KEY)) == len(KEY)


def test_a_secret_is_immutable_and_never_pickled() -> None:
    secret = Secret(KEY)
    with pytest.raises(AttributeError):
        secret._value = "other"  # type: ignore[misc]
    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(secret)
    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(Sealed(KEY.encode()))
    assert copy.copy(secret) is secret
    assert copy.deepcopy({"k": secret})["k"] is secret


def test_a_sealed_value_shows_only_its_type() -> None:
    for text in displays(Sealed(("row", KEY.encode()))):
        assert not leaked(text), text
        assert "sealed tuple" in text


def test_the_client_config_shows_no_secret_field_by_field() -> None:
    # rich.pretty (rich tracebacks, structlog) walks an attrs object's fields one by one,
    # whatever its class's repr says.
    config = ClientConfig.resolve(
        client_id="c",
        secret_key=SECRET,
        base_url="http://127.0.0.1:9",
        on_behalf_of=None,
        api_key=API_KEY,
        timeout=5.0,
        max_retries=0,
        environ={},
    )
    assert config.secret_key.reveal() == SECRET
    assert config.api_key is not None
    assert config.api_key.reveal() == API_KEY
    for text in displays(config):
        assert not leaked(text), text


def test_the_api_key_from_the_environment_is_masked() -> None:
    config = ClientConfig.resolve(
        client_id="c",
        secret_key=SECRET,
        base_url=None,
        on_behalf_of=None,
        api_key=None,
        timeout=5.0,
        max_retries=0,
        environ={"GATEPAY_API_KEY": API_KEY},
    )
    assert isinstance(config.api_key, Secret)
    assert config.api_key == API_KEY


def test_the_auth_and_the_clients_show_no_secret() -> None:
    auth = GatePayAuth("c", SECRET, api_key=API_KEY)
    with GatePay(
        client_id="c", secret_key=SECRET, api_key=API_KEY, base_url="http://127.0.0.1:9"
    ) as gp:
        for value in (auth, gp, gp.gift_cards, vars(gp)):
            for text in displays(value):
                assert not leaked(text), text


def test_a_key_lookup_and_its_body_stay_masked_until_the_wire() -> None:
    field, value = card_lookup(None, KEY)
    assert field == "key"
    assert isinstance(value, Secret)
    body = sealed_json({field: value})
    assert body.reveal().encode() == b'{"key":"' + KEY.encode() + b'"}'
    for text in displays(body) + displays(value):
        assert not leaked(text), text


def test_a_request_shows_its_query_masked() -> None:
    import httpx

    request = MaskedRequest("GET", httpx.URL("http://h/v1/pay/balance", params={"key": KEY}))
    assert request.url.params["key"] == KEY  # the wire has the key
    built = masked(httpx.Request("GET", httpx.URL("http://h/b", params={"key": KEY})))
    assert isinstance(built, MaskedRequest)
    for value in (request, built):
        for text in displays(value):
            assert not leaked(text), text


def test_the_card_key_a_caller_gets_is_a_plain_str() -> None:
    card = GiftCard(card_number="GC1", key=KEY)
    assert type(card.key) is str
    assert card.key == KEY
    assert {card.key: 1}[KEY] == 1
    assert json.loads(json.dumps(attrs.asdict(card), default=str))["key"] == KEY
    assert attrs.evolve(card) == card
    for text in (repr(card), rich.pretty.pretty_repr(card), pprint.pformat(card)):
        assert not leaked(text), text


def test_the_public_signatures_still_take_plain_text() -> None:
    import inspect

    assert "str | None" in str(inspect.signature(AsyncGiftCards.query).parameters["key"])


def build(client: type[Any], *, with_arguments: bool) -> BaseException:
    """The error of a client refused at construction (caught here, the secrets read from
    module constants: the caller's frame holds none of its own)."""
    try:
        if with_arguments:
            client(client_id="c", base_url="ftp://x", secret_key=SECRET, api_key=API_KEY)
        else:
            client(client_id="c", base_url="ftp://x")
    except ValidationError as exc:
        return exc
    raise AssertionError("the client was built")


@pytest.mark.parametrize("client", [AsyncGatePay, GatePay])
@pytest.mark.parametrize("from_the_environment", [False, True])
def test_a_client_refused_at_construction_shows_no_secret_in_its_frames(
    client: type[Any], from_the_environment: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if from_the_environment:
        monkeypatch.setenv("GATEPAY_SECRET_KEY", SECRET)
        monkeypatch.setenv("GATEPAY_API_KEY", API_KEY)
    error = build(client, with_arguments=not from_the_environment)
    assert "base_url" in str(error)
    walked = 0
    for where, variables in frames(error):
        walked += 1
        for name, value in variables.items():
            for text in local_renderings(value):
                assert not leaked(text), f"{where}: {name} = {text[:200]}"
    assert walked >= 3  # the caller, the client's __init__, the config's checks
