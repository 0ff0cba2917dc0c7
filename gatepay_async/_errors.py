"""The exception hierarchy shared by both facades.

Every exception raised by gatepay is a :class:`GatePayError`. Exception text never
contains the secret key, the api key or a full card key.

Every one crosses a process boundary as itself (pickle, copy, process pools, task queues):
see :class:`GatePayError`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs
import httpx

from gatepay_async._codes import AUTHENTICATION_CODES, INVALID_REQUEST_CODES
from gatepay_async._secrets.redact import mask_secret, redact_text, redact_url, redact_value

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AnswerHeaders",
    "AuthenticationError",
    "GatePayError",
    "InvalidRequestError",
    "OutcomeUnknownError",
    "RateLimitError",
    "RawAnswer",
    "RequestNotSentError",
    "RequestNotSentTimeoutError",
    "ResponseValidationError",
    "ServerError",
    "ValidationError",
    "WaitTimeoutError",
    "error_for_response",
]

_SNIPPET_LIMIT = 200


def body_snippet(body: bytes | str, limit: int = _SNIPPET_LIMIT) -> str:
    """A short, secret-free excerpt of a response body for exception text."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = redact_text(text)
    return text if len(text) <= limit else text[:limit] + "…"


class GatePayError(Exception):
    """Base class of every error raised by gatepay.

    A gatepay error is rebuilt as itself on the other side of a process boundary, in
    either of the two ways other tools rebuild an exception:

    - pickled (``pickle``, ``copy``, ``ProcessPoolExecutor``, Celery's pickle serializer):
      same class, same text, same attributes (``OutcomeUnknownError.answer`` included).
      The constructor is not run again: the text is the one the error was raised with,
      already masked, and never rebuilt from attributes that may hold a key.
    - called with its arguments, ``type(error)(*error.args)`` (Celery's json serializer):
      same class and same text; the attributes are not carried. ``error.args`` is always
      the text alone, and every subclass accepts being called with its text alone.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None and not _takes_its_text_alone(init):
            cls.__init__ = _also_from_its_text(init)  # type: ignore[method-assign]

    def __reduce__(self) -> tuple[Any, ...]:
        # BaseException's own reduction calls ``cls(*args)`` when unpickling, which our
        # keyword-only constructors refuse (pickle failed, Celery fell back to a bare
        # GatePayError, a process pool broke) or turn into another text. The attributes
        # are the state, restored by BaseException.__setstate__.
        return (_rebuilt, (type(self), self.args), self.__dict__)

    #: The headers of GatePay's answer, when the error was raised after one arrived
    #: (an :class:`AnswerHeaders`: their repr is masked, their values are as received).
    headers: httpx.Headers | None = None
    #: How many sends the call made, on an error that ended a call's retry loop (its
    #: text says the count when it is more than one).
    attempts: int | None = None


def _rebuilt(cls: type[GatePayError], args: tuple[Any, ...]) -> GatePayError:
    """A pickled error again, without its constructor: ``args`` (its text) as it was."""
    error = cls.__new__(cls, *args)
    error.args = args  # OSError's subclasses (a WaitTimeoutError) set it in __init__ only
    return error


def _takes_its_text_alone(init: Callable[..., None]) -> bool:
    try:
        inspect.signature(init).bind(None, "text")
    except TypeError:
        return False
    return True


def _also_from_its_text(init: Callable[..., None]) -> Callable[..., None]:
    """``init``, which cannot be called with one positional argument, that also takes
    the error's text alone: the error is then that text, without attributes."""

    @functools.wraps(init)
    def __init__(self: GatePayError, *args: Any, **kwargs: Any) -> None:
        if len(args) == 1 and not kwargs and isinstance(args[0], str):
            super(GatePayError, self).__init__(args[0])
            return
        init(self, *args, **kwargs)

    return __init__


#: Headers whose whole value is a credential: shown masked.
_CREDENTIAL_HEADERS = frozenset({"set-cookie", "cookie", "authorization", "proxy-authorization"})
#: Headers holding a URL, whose query may echo a card key (a redirect after balance(key=)).
_URL_HEADERS = frozenset({"location", "content-location", "refresh", "link"})


class AnswerHeaders(httpx.Headers):
    """An answer's headers as an error carries them: the values as received, a repr
    (what error tools and logs render) with credentials and URL query values masked."""

    def __repr__(self) -> str:
        shown = []
        for name, value in self.multi_items():
            lowered = name.lower()
            if lowered in _CREDENTIAL_HEADERS:
                value = mask_secret(value)
            elif lowered in _URL_HEADERS:
                value = redact_url(value)
            shown.append((name, redact_text(value)))
        return f"{type(self).__name__}({shown!r})"


class ValidationError(GatePayError, ValueError):
    """Bad input caught before anything was sent. ``argument`` names the culprit."""

    def __init__(self, argument: str, reason: str) -> None:
        self.argument = argument
        self.reason = reason
        super().__init__(f"{argument}: {reason}")


class APIConnectionError(GatePayError):
    """The request could not be completed: no connection, or the connection broke.

    ``request_sent`` is False only when the connection was never made, so the request
    certainly did not reach GatePay; ``transient`` is False for configuration errors.
    """

    request_sent = True
    #: What had arrived of the answer when the connection broke or the deadline passed
    #: (status and the bytes read so far), if anything: a cut create answer may already
    #: hold the card's number and key. Never put in the text.
    partial_answer: RawAnswer | None = None

    def __init__(
        self, message: str, *, method: str = "", path: str = "", transient: bool = True
    ) -> None:
        self.method = method
        self.path = path
        self.transient = transient
        super().__init__(message)


class APITimeoutError(APIConnectionError):
    """The request timed out."""


class RequestNotSentError(APIConnectionError):
    """The connection was never made: the request certainly did not reach GatePay."""

    request_sent = False


class RequestNotSentTimeoutError(APITimeoutError, RequestNotSentError):
    """Connecting, or waiting for a pooled connection, timed out; nothing was sent."""


class APIError(GatePayError):
    """GatePay answered with ``status: FAIL`` or a non-2xx HTTP status."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        label: str | None = None,
        status_code: int | None = None,
        body: Any = None,
        method: str = "",
        path: str = "",
        retry_after: float | None = None,
    ) -> None:
        # Masked here, not only in the text: programs log ``exc.message`` and ``exc.label``,
        # and the attributes travel with the error (pickles into a task queue's result
        # store, error tools' exception data). A refusal issued no card: nothing of it is
        # lost. An unknown create keeps GatePay's raw answer in OutcomeUnknownError.answer.
        self.message = redact_text(message)
        self.code = code
        self.label = None if label is None else redact_text(label)
        self.status_code = status_code
        self.body = redact_value(body)
        self.method = method
        self.path = path
        self.retry_after = retry_after
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts = [f"HTTP {self.status_code}" if self.status_code is not None else None]
        if self.code:
            parts.append(f"code {self.code}")
        if self.label:
            parts.append(self.label)
        where = f"{self.method} {self.path}: " if self.method else ""
        head = ", ".join(p for p in parts if p)
        if not self.message:
            return f"{where}{head}"
        prefix = f"{where}{head}: " if where or head else ""  # ``APIError(text)``: the text
        return prefix + redact_text(self.message)


class InvalidRequestError(APIError):
    """The server refused the request's parameters (400001, 400007, 300001, HTTP 400)."""


class AuthenticationError(APIError):
    """Signature, client id or timestamp refused (HTTP 401/403)."""


class RateLimitError(APIError):
    """Too many requests (HTTP 429). ``retry_after`` holds the server's hint in seconds."""


class ServerError(APIError):
    """GatePay failed (HTTP 5xx)."""


class ResponseValidationError(GatePayError):
    """A response arrived that cannot be decoded into the expected shape."""

    #: Of an answer refused unread (over ``max_response_bytes``): its status and the
    #: bytes read up to the cap, where a create's card may be.
    partial_answer: RawAnswer | None = None

    def __init__(
        self, reason: str, *, status_code: int | None = None, body: bytes | str | None = None
    ) -> None:
        self.reason = reason
        self.status_code = status_code
        self.snippet = "" if body is None else body_snippet(body)
        status = f"HTTP {status_code}: " if status_code is not None else ""
        # No body given, no body quoted: ``ResponseValidationError(text)`` is that text.
        quoted = "" if body is None else f"; body starts: {self.snippet!r}"
        super().__init__(f"{status}{reason}{quoted}")


#: The end of an OutcomeUnknownError's text when an answer arrived (a program reads it
#: from ``.answer``; the command line saves it to a file instead).
RAW_ANSWER_NOTE = " GatePay's raw answer is on this exception (.answer)."


@attrs.frozen
class RawAnswer:
    """GatePay's answer to a create, exactly as received. ``body`` may hold a card key:
    it is kept so that a card whose answer the SDK could not read is not lost, and it is
    left out of reprs."""

    status_code: int
    body: bytes = attrs.field(repr=lambda body: f"<{len(body)} bytes>")

    def text(self) -> str:
        """The body as text (undecodable bytes replaced)."""
        return self.body.decode("utf-8", "replace")


class OutcomeUnknownError(GatePayError):
    """A create was sent and its outcome cannot be known: a card may have been issued.

    The answer was lost, unreadable, a 5xx, or a SUCCESS without a usable card number
    and key. GatePay's create has no idempotency key and there is no endpoint to find a
    card whose answer was lost, so the SDK never resends such a create on its own.
    ``answer`` (also ``status_code`` and ``raw_body``) is GatePay's raw answer when one
    arrived: it may hold the card's number and key. It is never put in the text.
    """

    def __init__(
        self,
        *,
        title: str,
        template_id: str,
        currency: str,
        amount: Decimal,
        cause: BaseException,
        answer: RawAnswer | None = None,
    ) -> None:
        self.title = title
        self.template_id = template_id
        self.currency = currency
        self.amount = amount
        self.cause = cause
        self.answer = answer
        what = "its answer was lost" if answer is None else "its answer cannot be relied on"
        super().__init__(
            f"create {amount} {currency} (title {title!r}, template {template_id}): the request "
            f"was sent but {what} ({type(cause).__name__}: {cause}); a card may "
            "have been issued. It was NOT resent, because GatePay cannot deduplicate a create. "
            "Check your GatePay merchant records before issuing this card again."
            + (RAW_ANSWER_NOTE if answer else "")
        )

    @property
    def status_code(self) -> int | None:
        return None if self.answer is None else self.answer.status_code

    @property
    def raw_body(self) -> bytes | None:
        return None if self.answer is None else self.answer.body


def error_for_response(
    *,
    status_code: int,
    code: str | None,
    label: str | None,
    message: str,
    body: Any,
    method: str = "",
    path: str = "",
    retry_after: float | None = None,
) -> APIError:
    """Map an HTTP status and a GatePay error code to the matching exception class."""
    cls: type[APIError]
    if status_code == 429:
        cls = RateLimitError
    elif status_code >= 500:
        cls = ServerError
    elif status_code in (401, 403) or (code in AUTHENTICATION_CODES):
        cls = AuthenticationError
    elif status_code == 400 or (code in INVALID_REQUEST_CODES):
        cls = InvalidRequestError
    else:
        cls = APIError
    return cls(
        message,
        code=code,
        label=label,
        status_code=status_code,
        body=body,
        method=method,
        path=path,
        retry_after=retry_after,
    )


class WaitTimeoutError(GatePayError, TimeoutError):
    """``wait_for_status`` gave up: the card did not reach a wanted status in time.

    ``last_status`` (and ``last_raw_status``) is what the last poll saw; ``card`` is the
    last card read, or None if no poll completed.
    """

    def __init__(
        self,
        *,
        lookup: str,
        statuses: tuple[Any, ...],
        timeout: float,
        polls: int,
        card: Any = None,
    ) -> None:
        self.lookup = lookup
        self.statuses = statuses
        self.timeout = timeout
        self.polls = polls
        self.card = card
        self.last_status = getattr(card, "status", None)
        self.last_raw_status = getattr(card, "raw_status", None)
        wanted = ", ".join(getattr(s, "name", str(s)) for s in statuses)
        if card is None:
            seen = "no status was read"
        else:
            name = getattr(self.last_status, "name", str(self.last_status))
            seen = f"last status seen: {name} (raw {self.last_raw_status!r})"
        super().__init__(f"{lookup}: not in {wanted} after {timeout:g} s ({polls} polls); {seen}")
