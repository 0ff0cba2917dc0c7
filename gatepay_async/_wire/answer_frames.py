"""Errors raised while reading GatePay's answers leave without the frames that read them.

Every function that decodes an answer holds it as a local (the bytes, the parsed JSON,
the ``data`` string), and so do the ``json`` and cattrs frames below it. An answer may
hold a card key, and error tools show every frame's locals: rich tracebacks, structlog's
``dict_tracebacks``, Sentry's frame variables, Django's technical 500 page. So a decoder
wrapped in :func:`reads_answers` raises its ``GatePayError`` from the wrapper, with the
traceback gathered below it cut, the implicit context (a ``JSONDecodeError`` raised
while parsing) dropped, and the tracebacks of its explicit causes cut as well. The
message still says what was wrong; the frames that held the answer are gone.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from gatepay_async._errors import GatePayError

__all__ = ["cut_frames", "reads_answers"]

P = ParamSpec("P")
T = TypeVar("T")
E = TypeVar("E", bound=BaseException)


def cut_frames(error: E) -> E:
    """``error`` without its traceback or implicit context, and its causes (and an
    exception group's members) without theirs: their frames held the raw answer."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [error]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        current.__traceback__ = None
        current.__context__ = None
        todo.append(current.__cause__)
        todo.extend(getattr(current, "exceptions", ()) or ())
    return error


def reads_answers(function: Callable[P, T]) -> Callable[P, T]:
    """``function`` (handed an answer, or data decoded from one) raising its
    GatePayError with the frames below this call cut (see the module's text)."""

    @functools.wraps(function)
    def reader(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return function(*args, **kwargs)
        except GatePayError as exc:
            error = exc
        # Raised outside the except block (no implicit context), from a frame whose
        # arguments, which held the answer, are gone.
        del args, kwargs
        raise cut_frames(error)

    return reader
