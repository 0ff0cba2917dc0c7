"""HMAC-SHA512 request signing: GATEPAY_API.md's vectors and verify()'s behaviour."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatepay_async._http.signing import sign, signing_payload, verify

SECRET = "gatepay-test-secret-0001"
TIMESTAMP = "1737942105582"
NONCE = "5417061546"
BODY = (
    b'{"title":"api create gift card1","templateId":"255267012439183360",'
    b'"currency":"USDT","amount":"0.99"}'
)
BODY_SIGNATURE = (
    "ea33b6f46ae1738ee800384e6434db0ff4c4c3fb1213e0fe6264449482837aae"
    "7bd4adf137f5d539a7106d20d28216f48c62f4bb686aacfbc9619a50f879fa32"
)
EMPTY_SIGNATURE = (
    "21b7381aee75790dc2b70949b01235e6cf88e939055ed2e01441045c0bfef0b3"
    "467001eaaa93a436334a8c77c0f7dd1ecfd5fa20b039d6f9c40cbde7caf18a29"
)


def test_vector_with_body() -> None:
    assert sign(SECRET, TIMESTAMP, NONCE, BODY) == BODY_SIGNATURE


def test_vector_with_empty_body() -> None:
    assert sign(SECRET, TIMESTAMP, NONCE, b"") == EMPTY_SIGNATURE


def test_integer_timestamp_signs_like_its_text() -> None:
    assert sign(SECRET, int(TIMESTAMP), NONCE, BODY) == BODY_SIGNATURE


def test_signing_payload_layout() -> None:
    assert signing_payload(TIMESTAMP, NONCE, b"{}") == b"1737942105582\n5417061546\n{}\n"
    assert signing_payload(TIMESTAMP, NONCE, b"") == b"1737942105582\n5417061546\n\n"


def test_signature_is_128_lowercase_hex() -> None:
    signature = sign(SECRET, TIMESTAMP, NONCE, BODY)
    assert len(signature) == 128
    assert signature == signature.lower()
    int(signature, 16)


def test_verify_accepts_the_vectors() -> None:
    assert verify(SECRET, TIMESTAMP, NONCE, BODY, BODY_SIGNATURE) is True
    assert verify(SECRET, TIMESTAMP, NONCE, b"", EMPTY_SIGNATURE) is True


def flip(data: bytes, index: int) -> bytes:
    changed = bytearray(data)
    changed[index] ^= 0x01
    return bytes(changed)


@pytest.mark.parametrize("index", [0, 1, 10, len(BODY) // 2, len(BODY) - 1])
def test_verify_rejects_a_changed_body_byte(index: int) -> None:
    assert verify(SECRET, TIMESTAMP, NONCE, flip(BODY, index), BODY_SIGNATURE) is False


@pytest.mark.parametrize("timestamp", ["1737942105583", "1737942105581", "173794210558", ""])
def test_verify_rejects_a_changed_timestamp(timestamp: str) -> None:
    assert verify(SECRET, timestamp, NONCE, BODY, BODY_SIGNATURE) is False


@pytest.mark.parametrize("nonce", ["5417061547", "541706154", "5417061546x", ""])
def test_verify_rejects_a_changed_nonce(nonce: str) -> None:
    assert verify(SECRET, TIMESTAMP, nonce, BODY, BODY_SIGNATURE) is False


@pytest.mark.parametrize("index", [0, 63, 64, 127])
def test_verify_rejects_a_changed_signature_character(index: int) -> None:
    replacement = "0" if BODY_SIGNATURE[index] != "0" else "1"
    changed = BODY_SIGNATURE[:index] + replacement + BODY_SIGNATURE[index + 1 :]
    assert verify(SECRET, TIMESTAMP, NONCE, BODY, changed) is False


@pytest.mark.parametrize(
    "signature",
    [
        "",
        BODY_SIGNATURE[:-1],
        BODY_SIGNATURE + "0",
        BODY_SIGNATURE.upper(),
        "z" * 128,
        "not hex at all",
        "é" * 128,
        BODY_SIGNATURE[:-1] + "é",
        "🎁" * 64,
    ],
    ids=[
        "empty",
        "short",
        "long",
        "uppercase",
        "zzz",
        "words",
        "non_ascii",
        "last_non_ascii",
        "emoji",
    ],
)
def test_verify_rejects_malformed_signatures_without_raising(signature: str) -> None:
    assert verify(SECRET, TIMESTAMP, NONCE, BODY, signature) is False


def test_verify_rejects_another_secret() -> None:
    assert verify("gatepay-test-secret-0002", TIMESTAMP, NONCE, BODY, BODY_SIGNATURE) is False


def test_verify_with_non_ascii_nonce_is_false_not_an_error() -> None:
    assert verify(SECRET, TIMESTAMP, "nönce", BODY, BODY_SIGNATURE) is False


def test_non_ascii_secret_is_used_as_utf8() -> None:
    signature = sign("sécret", TIMESTAMP, NONCE, BODY)
    assert verify("sécret", TIMESTAMP, NONCE, BODY, signature) is True
    assert verify("secret", TIMESTAMP, NONCE, BODY, signature) is False


# ------------------------------------------------------------------------ properties

secrets_ = st.text(min_size=1, max_size=64)
timestamps = st.integers(min_value=0, max_value=9_999_999_999_999).map(str)
nonces = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    min_size=1,
    max_size=32,
)
bodies = st.binary(max_size=512)


@given(secret=secrets_, timestamp=timestamps, nonce=nonces, body=bodies)
def test_verify_accepts_what_sign_produced(
    secret: str, timestamp: str, nonce: str, body: bytes
) -> None:
    signature = sign(secret, timestamp, nonce, body)
    assert len(signature) == 128
    assert verify(secret, timestamp, nonce, body, signature) is True


@given(
    secret=secrets_,
    timestamp=timestamps,
    nonce=nonces,
    body=st.binary(min_size=1, max_size=512),
    data=st.data(),
)
def test_flipping_any_body_byte_breaks_the_signature(
    secret: str, timestamp: str, nonce: str, body: bytes, data: st.DataObject
) -> None:
    signature = sign(secret, timestamp, nonce, body)
    index = data.draw(st.integers(min_value=0, max_value=len(body) - 1), label="index")
    bit = data.draw(st.integers(min_value=0, max_value=7), label="bit")
    changed = bytearray(body)
    changed[index] ^= 1 << bit
    assert verify(secret, timestamp, nonce, bytes(changed), signature) is False


@given(
    secret=secrets_,
    timestamp=timestamps,
    nonce=nonces,
    body=bodies,
    extra=st.binary(min_size=1, max_size=64),
)
def test_appending_to_the_body_breaks_the_signature(
    secret: str, timestamp: str, nonce: str, body: bytes, extra: bytes
) -> None:
    signature = sign(secret, timestamp, nonce, body)
    assert verify(secret, timestamp, nonce, body + extra, signature) is False


@given(signature=st.text(max_size=200))
def test_verify_never_raises(signature: str) -> None:
    assert verify(SECRET, TIMESTAMP, NONCE, BODY, signature) is (signature == BODY_SIGNATURE)
