"""Per-call options (``timeout=``, ``extra_headers=``) and the sink that a raw-response call
reads its answer from.

Extra headers go on the wire after the client's own, but may not replace what the SDK
owns: the ``X-GatePay-*`` headers it signs with, ``Content-Type`` (what GatePay's
signature covers is read as JSON) and ``Host`` (the signed request goes where the client
points). Such a header is refused with a ValidationError naming ``extra_headers``, before
anything is sent.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

import attrs
import httpx

from gatepay_async._errors import ValidationError

__all__ = [
    "NO_OPTIONS",
    "RequestOptions",
    "collecting_answers",
    "note_answer",
    "request_options",
]

#: Header names (lower case) that only the SDK sets.
_RESERVED = frozenset({"content-type", "host", "content-length", "transfer-encoding"})
_RESERVED_PREFIX = "x-gatepay-"


@attrs.frozen
class RequestOptions:
    """What one call changes of its client's defaults. ``timeout`` None: the client's."""

    timeout: httpx.Timeout | None = None
    #: Seconds one attempt may take from connect to last byte (a number given as timeout).
    attempt_timeout: float | None = None
    extra_headers: tuple[tuple[str, str], ...] = ()


NO_OPTIONS = RequestOptions()


def request_options(
    timeout: float | httpx.Timeout | None, extra_headers: Mapping[str, str] | None
) -> RequestOptions:
    """The checked options of one call (ValidationError naming the argument)."""
    if timeout is None and not extra_headers:
        return NO_OPTIONS
    checked: httpx.Timeout | None = None
    attempt: float | None = None
    if isinstance(timeout, httpx.Timeout):
        checked = timeout
    elif timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ValidationError(
                "timeout", "must be a positive number of seconds or httpx.Timeout"
            )
        checked, attempt = httpx.Timeout(float(timeout)), float(timeout)
    return RequestOptions(checked, attempt, _checked_headers(extra_headers))


def _checked_headers(extra_headers: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    if not extra_headers:
        return ()
    if not isinstance(extra_headers, Mapping):
        raise ValidationError("extra_headers", "must be a mapping of header names to strings")
    headers = []
    for name, value in extra_headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise ValidationError("extra_headers", "names and values must be strings")
        lowered = name.strip().lower()
        if lowered in _RESERVED or lowered.startswith(_RESERVED_PREFIX):
            raise ValidationError(
                "extra_headers", f"{name!r} is set by the SDK (signature, body type, host)"
            )
        if any(c in name + value for c in "\r\n\0"):
            raise ValidationError("extra_headers", f"{name!r}: no line breaks in headers")
        headers.append((name, value))
    return tuple(headers)


#: Set by a ``with_raw_response`` call: every complete answer of the call is noted here
#: (the last one is the call's answer).
_ANSWERS: ContextVar[list[httpx.Response] | None] = ContextVar("gatepay_answers", default=None)


@contextmanager
def collecting_answers() -> Iterator[list[httpx.Response]]:
    """Collect the answers the calls made inside the block receive."""
    answers: list[httpx.Response] = []
    token = _ANSWERS.set(answers)
    try:
        yield answers
    finally:
        _ANSWERS.reset(token)


def note_answer(response: httpx.Response) -> None:
    answers = _ANSWERS.get()
    if answers is not None:
        answers.append(response)
