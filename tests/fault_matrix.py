"""The retry matrix: for each injected fault, what a read and a create do.

One table, used by the fault tests (on asyncio, trio and the sync facade) and checked
against the published table in docs/reliability.md so the two cannot drift apart.
Every row runs with ``max_retries=2`` (so at most 3 attempts) and a 0.75 s timeout.

A 5xx create is ``OutcomeUnknownError`` (GatePay may have issued the card before
failing), the same in ``create`` and ``create_many``: one outcome decision for both.
"""

from __future__ import annotations

from typing import NamedTuple


class Row(NamedTuple):
    name: str
    spec: str  # the sandbox fault spec after "<operation>:"
    read_attempts: int
    read_outcome: str  # "ok" or the exception class name
    create_attempts: int
    create_outcome: str
    create_cards: int | None  # cards the sandbox holds after the create; None: racy, unchecked


OK = "ok"

MATRIX: list[Row] = [
    Row("HTTP 503", "status=503", 3, "ServerError", 1, "OutcomeUnknownError", 0),
    Row("HTTP 503 once", "status=503,times=1", 2, OK, 1, "OutcomeUnknownError", 0),
    Row("HTTP 429, Retry-After: 0", "status=429,retry_after=0", 3, "RateLimitError", 3,
        "RateLimitError", 0),
    Row("HTTP 429 once", "status=429,retry_after=0,times=1", 2, OK, 2, OK, 1),
    Row("HTML error page (502)", "html_error", 3, "ServerError", 1, "OutcomeUnknownError", 0),
    Row("connection dropped before processing", "drop_before", 3, "APIConnectionError", 1,
        "OutcomeUnknownError", 0),
    Row("connection dropped once, before processing", "drop_before,times=1", 2, OK, 1,
        "OutcomeUnknownError", 0),
    Row("answer lost after processing", "drop_after", 3, "APIConnectionError", 1,
        "OutcomeUnknownError", 1),
    Row("read timeout (2.5 s latency)", "latency=2.5", 3, "APITimeoutError", 1,
        "OutcomeUnknownError", None),
    Row("malformed JSON after processing", "malformed_json", 1, "ResponseValidationError", 1,
        "OutcomeUnknownError", 1),
    Row("wrong Content-Type on the answer", "wrong_content_type", 1, OK, 1, OK, 1),
    Row("data as a string holding JSON", "data_as_string", 1, OK, 1, OK, 1),
    # A timestamp code alone is no evidence of a skewed clock: nothing is resent.
    Row("timestamp refused, clocks agree", "reject_timestamp", 1, "AuthenticationError", 1,
        "AuthenticationError", 0),
    # The refusal's Date header shows the skew: re-signed once with the server's time.
    Row("server clock 60 s ahead", "clock_offset=60", 2, OK, 2, OK, 1),
]  # fmt: skip
