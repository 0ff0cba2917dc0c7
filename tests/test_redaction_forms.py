"""Each form of masking that docs/reliability.md ("Secrets") promises, one test per form,
so that dropping any one pass or pattern fails a test that names it."""

from __future__ import annotations

import logging

import pytest

from gatepay_async._secrets.log_redaction import QueryRedactingFilter, install_log_redaction
from gatepay_async._secrets.redact import (
    mask_secret,
    redact_text,
    redact_url,
    redact_value,
    scrub_known,
)

KEY = "Zk3mQ9vT2xLp8Rw4Yb6Nc1Hd5Jf7Gs0A"


def pieces(secret: str, text: str) -> list[str]:
    return [secret[i : i + 8] for i in range(len(secret) - 7) if secret[i : i + 8] in text]


def test_a_mask_shows_four_characters_and_an_ellipsis() -> None:
    assert mask_secret(KEY) == "Zk3m…"
    assert mask_secret("") == ""
    assert mask_secret(None) == ""


@pytest.mark.parametrize(
    "text",
    [
        f"card key {KEY} not found",  # prose: a long token right after the name
        f"The secret {KEY} was rejected",
        f"unknown cardKey   {KEY}",
    ],
)
def test_plain_prose_after_a_key_name_is_masked(text: str) -> None:
    redacted = redact_text(text)
    assert not pieces(KEY, redacted)
    assert "Zk3m…" in redacted


def test_prose_masking_leaves_short_words_alone() -> None:
    assert redact_text("the key is wrong") == "the key is wrong"


def test_prose_masking_starts_at_eight_characters() -> None:
    assert redact_text("card key ABCD1234 not found") == "card key ABCD… not found"
    assert redact_text("card key ABCD123 not found") == "card key ABCD123 not found"


@pytest.mark.parametrize(
    "text",
    [
        f'{{"client_secret": "{KEY}"}}',
        f"app_secret={KEY}&x=1",
        f"secret: {KEY}",
        f'{{"SECRET": "{KEY}"}}',
    ],
)
def test_names_ending_in_secret_are_masked(text: str) -> None:
    assert not pieces(KEY, redact_text(text))


@pytest.mark.parametrize(
    "text",
    [
        f"<card_key>{KEY}</card_key>",
        f"<cardKey>  {KEY}</cardKey>",
        f"<response><key>{KEY}</key></response>",
    ],
)
def test_the_xml_form_is_masked(text: str) -> None:
    assert not pieces(KEY, redact_text(text))


@pytest.mark.parametrize(
    "text", [f'"key" => "{KEY}"', f"card_key => {KEY}", f"{{:card_key=>'{KEY}'}}"]
)
def test_the_arrow_separator_is_masked(text: str) -> None:
    """PHP's and Ruby's hash notation, as a proxy or a support tool may print it."""
    assert not pieces(KEY, redact_text(text))


@pytest.mark.parametrize(
    "text",
    [
        f'{{"card_key": "{KEY}"}}',
        f'{{\\"card_key\\":\\"{KEY}\\"}}',  # escaped JSON inside a data string
        f"card_key={KEY}&card_num=GC1",
        f"key: {KEY}\n",
        f'{{"card_key": "{KEY[:20]}',  # cut mid-value
        f"{{'key': '{KEY}'}}",  # a Python repr
    ],
)
def test_json_forms_and_escapes_are_masked(text: str) -> None:
    assert not pieces(KEY, redact_text(text))


@pytest.mark.parametrize("literal", ["null", "true", "false", "None"])
def test_literals_after_a_key_name_are_kept(literal: str) -> None:
    text = f'{{"card_key": {literal}}}'
    assert redact_text(text) == text


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ('{"card_key":"abc12"}', '{"card_key":"abc1…"}'),  # a short key is masked too
        ("key=AB", "key=AB…"),
        ('{"key":"ABCDE…"}', '{"key":"ABCD…"}'),  # an ellipsis does not make a mask
        ("secret=ABCDEFGH…", "secret=ABCD…"),
    ],
)
def test_a_value_is_left_alone_only_when_it_is_already_a_mask(text: str, masked: str) -> None:
    """Masking a text twice changes nothing (an error rebuilt from its text is masked
    again); only a value that is what a mask looks like (at most 4 characters and the
    ellipsis) is taken for one, whatever its length otherwise."""
    assert redact_text(text) == masked
    assert redact_text(masked) == masked


def test_base64_slashes_escaped_in_json_are_masked() -> None:
    key = "ab/cd+ef/gh12345678=="
    text = '{"card_key": "' + key.replace("/", "\\/") + '"}'
    assert "gh123456" not in redact_text(text)


def test_every_query_value_of_a_url_is_masked() -> None:
    url = f"https://gatepay.test/v1/pay/balance?key={KEY}&card_num=GC100200300"
    redacted = redact_url(url)
    assert redacted == "https://gatepay.test/v1/pay/balance?key=Zk3m…&card_num=GC10…"
    assert redact_url("https://gatepay.test/v1/pay/balance") == (
        "https://gatepay.test/v1/pay/balance"
    )


def test_known_secrets_are_scrubbed_from_text_when_long_enough() -> None:
    assert scrub_known(f"no card {KEY}!", [KEY]) == "no card Zk3m…!"
    assert scrub_known("a short abc12 word", ["abc12"]) == "a short abc12 word"
    assert scrub_known("a short abc123 word", ["abc123"]) == "a short abc1… word"


# ------------------------------------------------------------ an answer's decoded body

PROSE = f"card key {KEY} not found"


def test_an_answers_text_is_masked_as_text_or_as_bytes() -> None:
    """An error keeps GatePay's body as decoded JSON, text or bytes: each is masked."""
    assert redact_value(PROSE) == "card key Zk3m… not found"
    assert redact_value(PROSE.encode()) == "card key Zk3m… not found".encode()
    assert redact_value("the card GC1 is used", [KEY, "GC1"]) == "the card GC1 is used"
    assert redact_value(f"sent {KEY} twice", [KEY]) == "sent Zk3m… twice"


def test_an_answers_object_is_masked_member_by_member_and_never_changed() -> None:
    answer = {
        "card_key": KEY,
        "cardKey": KEY,
        "message": PROSE,
        "status": "FAIL",
        "code": 4001,
        "data": [{"secret": KEY}, (PROSE,)],
    }
    before = repr(answer)
    assert redact_value(answer) == {
        "card_key": "Zk3m…",
        "cardKey": "Zk3m…",
        "message": "card key Zk3m… not found",
        "status": "FAIL",
        "code": 4001,
        "data": [{"secret": "Zk3m…"}, ("card key Zk3m… not found",)],
    }
    assert repr(answer) == before


def test_a_secret_named_member_that_is_not_text_is_walked_into_not_masked() -> None:
    """Only a text value is masked by its member's name; a number or an object under a
    secret's name is redacted as any other value (masking one would raise)."""
    answer = {"key": 12345678, "card_key": {"inner_key": KEY, "note": "ok"}, 7: "seven"}
    assert redact_value(answer) == {
        "key": 12345678,
        "card_key": {"inner_key": "Zk3m…", "note": "ok"},
        7: "seven",
    }


# ------------------------------------------------------------------------ log records

LOGGERS = [
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "aiohttp.client",
]


@pytest.mark.parametrize("name", LOGGERS)
def test_each_http_logger_gets_the_query_filter(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    install_log_redaction()
    logger = logging.getLogger(name)
    assert sum(isinstance(f, QueryRedactingFilter) for f in logger.filters) == 1
    install_log_redaction()  # idempotent
    assert sum(isinstance(f, QueryRedactingFilter) for f in logger.filters) == 1
    with caplog.at_level(logging.DEBUG, logger=name):
        logger.debug("GET %s", f"https://gatepay.test/v1/pay/balance?key={KEY}")
    assert caplog.records
    assert not pieces(KEY, caplog.text)
    assert "?key=Zk3m…" in caplog.records[-1].getMessage()


def test_a_record_without_a_query_is_left_as_it_was() -> None:
    record = logging.LogRecord("httpx", logging.INFO, __file__, 1, "HTTP %s", ("200",), None)
    assert QueryRedactingFilter().filter(record)
    assert (record.msg, record.args) == ("HTTP %s", ("200",))


@pytest.mark.parametrize("value", [f"{KEY[:4]}中文{KEY[4:]}", "1234€5678", "clé-secrète"])
def test_a_query_value_is_masked_in_a_record_whatever_its_characters(value: str) -> None:
    """Non-Latin characters right after the four shown (a mask sorts before them) are
    masked like any other."""
    record = logging.LogRecord(
        "httpx", logging.INFO, __file__, 1, "HTTP Request: GET %s", (f"/b?key={value}",), None
    )
    assert QueryRedactingFilter().filter(record)
    assert record.getMessage() == f"HTTP Request: GET /b?key={value[:4]}…"
