"""Every GatePay error code this project knows, in one place, with where it comes from.

GatePay documents only ``400001`` and ``400007`` for gift cards (and ``300001`` in its
general reference). The authentication codes are conventions of the local sandbox: real
GatePay may refuse a bad signature or a stale timestamp under other codes, so no client
behaviour that must work against GatePay may rely on them alone (the clock re-sign, for
instance, decides on the answer's ``Date`` header, see ``_http.clock.clock_refusal``).

The sandbox answers with these constants and the SDK's error mapping reads them, so the two
cannot drift apart.
"""

from __future__ import annotations

import enum

import attrs

__all__ = [
    "ALL_CODES",
    "AUTHENTICATION_CODES",
    "BAD_CONTENT_TYPE",
    "BAD_NONCE",
    "BAD_SIGNATURE",
    "BAD_TIMESTAMP",
    "INVALID_PARAMETERS",
    "INVALID_REQUEST_CODES",
    "PARAMETER_ERROR",
    "SUCCESS",
    "UNKNOWN_CLIENT",
    "Code",
    "Source",
    "http_status_code",
    "label_of",
]


class Source(enum.Enum):
    """Who says a code exists."""

    #: In GatePay's own documentation.
    GATEPAY = "documented by GatePay"
    #: Only the local sandbox answers with it; GatePay may use another code.
    SANDBOX = "sandbox convention"


@attrs.frozen
class Code:
    code: str
    label: str
    source: Source
    meaning: str


SUCCESS = Code("000000", "", Source.GATEPAY, "success (a null code means success too)")
INVALID_PARAMETERS = Code(
    "400001", "Invalid request parameters", Source.GATEPAY, "a parameter is missing or malformed"
)
BAD_CONTENT_TYPE = Code(
    "400007", "Unsupported Content-Type", Source.GATEPAY, "the body is not application/json"
)
PARAMETER_ERROR = Code(
    "300001", "Parameter error", Source.GATEPAY, "parameter error (GatePay's general reference)"
)
BAD_SIGNATURE = Code("400002", "Invalid signature", Source.SANDBOX, "the signature does not match")
BAD_TIMESTAMP = Code(
    "400003",
    "Invalid timestamp",
    Source.SANDBOX,
    "the timestamp is not integer milliseconds or is over 10 s from the server's clock",
)
UNKNOWN_CLIENT = Code(
    "400004", "Invalid client", Source.SANDBOX, "client id unknown or auth headers missing"
)
BAD_NONCE = Code("400005", "Invalid nonce", Source.SANDBOX, "nonce malformed or replayed")

ALL_CODES: tuple[Code, ...] = (
    SUCCESS,
    INVALID_PARAMETERS,
    BAD_CONTENT_TYPE,
    PARAMETER_ERROR,
    BAD_SIGNATURE,
    BAD_TIMESTAMP,
    UNKNOWN_CLIENT,
    BAD_NONCE,
)

#: Codes meaning "the request was malformed"; GatePay did not act on it.
INVALID_REQUEST_CODES: frozenset[str] = frozenset(
    c.code for c in (INVALID_PARAMETERS, BAD_CONTENT_TYPE, PARAMETER_ERROR)
)
#: The sandbox's codes for refused credentials, signature, timestamp or nonce. Real GatePay
#: may use others; an HTTP 401/403 is classified as an authentication error whatever its code.
AUTHENTICATION_CODES: frozenset[str] = frozenset(
    c.code for c in (BAD_SIGNATURE, BAD_TIMESTAMP, UNKNOWN_CLIENT, BAD_NONCE)
)

_LABELS = {c.code: c.label for c in ALL_CODES}


def http_status_code(status: int) -> str:
    """The code the sandbox puts in a FAIL envelope for an HTTP-level refusal (404, 405,
    429, 5xx...): the status followed by ``000``, e.g. ``503000``. A sandbox convention:
    the SDK classifies these answers by their HTTP status, never by this code."""
    return f"{status}000"


def label_of(code: str) -> str:
    """The label answered with ``code`` ("" for a code this project does not know)."""
    return _LABELS.get(code, "")
