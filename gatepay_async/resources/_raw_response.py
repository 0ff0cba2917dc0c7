# unasync: shared
"""``with_raw_response``: a call's answer as it arrived (status, headers), and its result.

A raw call runs the plain call itself, unchanged (same retries, same outcome decision,
for a create the same journaling), and notes the answers it receives. It returns the
last one, whose ``parse()`` gives the plain call's result or raises its error. When the
call ends without an answer to show (the connection was never made or broke, or timed
out), the raw call raises that error as the plain call does: there is no status or
header to give.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Generic, ParamSpec, TypeVar

import httpx

from gatepay_async._errors import GatePayError
from gatepay_async._wire.request_options import collecting_answers

__all__ = ["RawResponse", "async_raw", "raw"]

T = TypeVar("T")
P = ParamSpec("P")


class RawResponse(Generic[T]):
    """GatePay's answer to one call: ``status_code``, ``headers`` (``httpx.Headers``),
    ``http_response``; ``parse()`` is the plain call's result, or raises its error."""

    def __init__(
        self,
        http_response: httpx.Response,
        *,
        result: T | None = None,
        error: GatePayError | None = None,
    ) -> None:
        self.http_response = http_response
        self._result = result
        self._error = error

    @property
    def status_code(self) -> int:
        return self.http_response.status_code

    @property
    def headers(self) -> httpx.Headers:
        return self.http_response.headers

    def parse(self) -> T:
        """The plain call's result; or its error, raised (the same exception object)."""
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]

    def __repr__(self) -> str:
        # Never the body: a create's answer holds the card key.
        return f"<RawResponse [{self.status_code}]>"


def _answered(error: GatePayError, answers: list[httpx.Response]) -> bool:
    """Whether ``error`` was raised on an answer: errors raised after one carry its headers.
    The error that ends a call is its last attempt's, whose answer is the last one noted."""
    return bool(answers) and error.headers is not None


def async_raw(method: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[RawResponse[T]]]:
    """The raw twin of an async operation."""

    @functools.wraps(method)
    async def call(*args: P.args, **kwargs: P.kwargs) -> RawResponse[T]:
        with collecting_answers() as answers:
            try:
                result = await method(*args, **kwargs)
            except GatePayError as exc:
                if not _answered(exc, answers):
                    raise
                return RawResponse(answers[-1], error=exc)
        return RawResponse(answers[-1], result=result)

    return call


def raw(method: Callable[P, T]) -> Callable[P, RawResponse[T]]:
    """The raw twin of a sync operation."""

    @functools.wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> RawResponse[T]:
        with collecting_answers() as answers:
            try:
                result = method(*args, **kwargs)
            except GatePayError as exc:
                if not _answered(exc, answers):
                    raise
                return RawResponse(answers[-1], error=exc)
        return RawResponse(answers[-1], result=result)

    return call
