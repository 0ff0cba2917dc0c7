"""AsyncGatePay: configuration, the HTTP client, the retry loop and envelope decoding."""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import attrs
import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from gatepay_async._decision.outcome import CreateCall, CreateOutcome
from gatepay_async._errors import (
    AnswerHeaders,
    APIConnectionError,
    APITimeoutError,
    GatePayError,
    RateLimitError,
    RawAnswer,
    ResponseValidationError,
    ValidationError,
)
from gatepay_async._http.auth import HEADER_TIMESTAMP, GatePayAuth, refused_for_timestamp
from gatepay_async._http.clock import ServerClock
from gatepay_async._http.config import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    ClientConfig,
)
from gatepay_async._http.connection_reuse import refuse_reuse_if_overrun
from gatepay_async._http.response_cap import ACCEPT_ENCODING, CappedBody
from gatepay_async._http.retry import (
    RetryPolicy,
    connection_error,
    retry_wait,
    should_retry,
    stop_after_sends,
    wait_after_attempt,
)
from gatepay_async._primitives.synchronization import AsyncDeadline, async_sleep
from gatepay_async._secrets.log_redaction import install_log_redaction
from gatepay_async._secrets.redact import redact_text, redact_url, redact_value, scrub_known
from gatepay_async._secrets.secret import Secret, hide
from gatepay_async._storage.ledger import Ledger, ledger_account
from gatepay_async._wire.envelope import decode_envelope
from gatepay_async._wire.paths import PathSet
from gatepay_async._wire.request_options import (
    NO_OPTIONS,
    RequestOptions,
    note_answer,
    request_options,
)

from ._http.sending import AsyncSender
from ._http.transport import default_async_http_client
from .resources.gift_cards import AsyncGiftCards

__all__ = ["AsyncGatePay"]

logger = logging.getLogger("gatepay")


class AsyncGatePay:
    """The GatePay client. Share one instance across tasks; close it when done.

    Arguments not given fall back to the environment (``GATEPAY_CLIENT_ID``,
    ``GATEPAY_SECRET_KEY``, ``GATEPAY_BASE_URL``, ``GATEPAY_API_KEY``). With
    ``on_behalf_of`` the client uses the institution paths and sends
    ``X-GatePay-On-Behalf-Of``. ``api_key`` is sent as ``X-GatePay-Certificate-SN`` on
    POST. ``http_client`` is used as it is (its transport, proxies and headers kept) and
    is not closed by this client. ``paths`` (a :class:`PathSet`) replaces the path set,
    for an account whose paths differ from the documented (or, for institution templates
    and balance, assumed) ones.

    ``ledger`` (a ``sqlite:///`` or ``postgresql://`` URL, or a :class:`Ledger`) makes
    ``gift_cards.create(..., idempotency_key=...)`` exactly-once across processes and
    hosts. A URL is opened here and closed with the client; a Ledger is the caller's.
    """

    def __init__(
        self,
        client_id: str | None = None,
        secret_key: str | None = None,
        base_url: str | None = None,
        on_behalf_of: str | None = None,
        api_key: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        http_client: httpx.AsyncClient | None = None,
        paths: PathSet | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        ledger: str | Ledger | None = None,
    ) -> None:
        # Masked before anything can raise: error tools show this frame's locals.
        masked_secret_key, masked_api_key = hide(secret_key), hide(api_key)
        del secret_key, api_key
        if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
            # A client of the other kind would fail on the first call, far from here.
            raise TypeError(
                f"http_client must be an httpx.AsyncClient, got {type(http_client).__name__}"
                " (DefaultAsyncHttpxClient(...) keeps the SDK's pools and limits)"
            )
        self._config = ClientConfig.resolve(
            client_id=client_id,
            secret_key=masked_secret_key,
            base_url=base_url,
            on_behalf_of=on_behalf_of,
            api_key=masked_api_key,
            timeout=timeout,
            max_retries=max_retries,
            paths=paths,
            max_response_bytes=max_response_bytes,
        )
        # Opened before the HTTP client: a bad ledger then leaves nothing to close.
        self._owns_ledger = isinstance(ledger, str)
        self._ledger = _ledger_of(ledger)
        install_log_redaction()  # httpx logs each URL, and balance(key=) has the key in it
        self._clock = ServerClock()
        self._auth = GatePayAuth(
            self._config.client_id,
            self._config.secret_key,
            api_key=self._config.api_key,
            on_behalf_of=self._config.on_behalf_of,
            clock=self._clock,
        )
        self._owns_http_client = http_client is None
        if http_client is None:
            http_client = default_async_http_client(timeout=self._config.timeout)
        self._http_client = http_client
        self._closed = False
        self._paths = paths
        self._sender = AsyncSender(
            http_client, self._auth, self._config.base_url, self._config.timeout
        )
        self.gift_cards = AsyncGiftCards(self, paths=paths)

    def with_options(
        self,
        *,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int | None = None,
        max_response_bytes: int | None = None,
    ) -> AsyncGatePay:
        """A client of the same class with other defaults, sharing this one's HTTP pools,
        clock and ledger. Closing the copy closes nothing shared (only the copy refuses
        calls after); closing this client closes them for both."""
        config = self._config
        changes: dict[str, Any] = {}
        if timeout is not None:
            checked = request_options(timeout, None)
            changes.update(timeout=checked.timeout, attempt_timeout=checked.attempt_timeout)
        if max_retries is not None:
            if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
                raise ValidationError("max_retries", "must be an integer >= 0")
            changes["max_retries"] = max_retries
        if max_response_bytes is not None:
            if (
                isinstance(max_response_bytes, bool)
                or not isinstance(max_response_bytes, int)
                or max_response_bytes < 1
            ):
                raise ValidationError("max_response_bytes", "must be an integer >= 1 (bytes)")
            changes["max_response_bytes"] = max_response_bytes
        copy = object.__new__(type(self))
        copy.__dict__.update(vars(self))
        copy._config = attrs.evolve(config, **changes)
        copy._owns_http_client = False  # the pools stay this client's
        copy._owns_ledger = False
        copy._closed = False
        copy._sender = AsyncSender(
            self._http_client, self._auth, config.base_url, copy._config.timeout
        )
        copy.gift_cards = AsyncGiftCards(copy, paths=self._paths)
        return copy

    @property
    def base_url(self) -> str:
        return self._config.base_url

    @property
    def max_retries(self) -> int:
        return self._config.max_retries

    @property
    def on_behalf_of(self) -> str | None:
        return self._config.on_behalf_of

    @property
    def clock(self) -> ServerClock:
        """The server-aligned clock this client signs with."""
        return self._clock

    def __repr__(self) -> str:
        if "_config" not in vars(self):  # refused mid-construction: error tools show it
            return f"{type(self).__name__}(<not configured>)"
        return (
            f"{type(self).__name__}(client_id={self._config.client_id!r}, "
            f"base_url={self._config.base_url!r}, on_behalf_of={self._config.on_behalf_of!r})"
        )

    async def __aenter__(self) -> AsyncGatePay:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client and the ledger, unless they were the caller's."""
        self._closed = True
        try:
            if self._owns_http_client:
                await self._http_client.aclose()
        finally:
            if self._owns_ledger and self._ledger is not None:
                self._ledger.close()

    @property
    def _idempotency_ledger(self) -> Ledger | None:
        """The ledger of ``create(..., idempotency_key=...)``, if the client has one."""
        return self._ledger

    @property
    def _ledger_account(self) -> str:
        """The GatePay account this client creates cards in, as the ledger keeps it."""
        config = self._config
        return ledger_account(config.base_url, config.client_id, config.on_behalf_of)

    # ------------------------------------------------------------ for the resources

    async def _send(
        self,
        method: str,
        path: str,
        *,
        body: bytes | Secret = b"",
        params: Mapping[str, str | Secret] | None = None,
        options: RequestOptions = NO_OPTIONS,
    ) -> Any:
        """Send a signed read and return the envelope's data, or raise the mapped error.

        Reads are safe to repeat: retried on connection errors, timeouts, 429 and 5xx.
        """
        self._check_open()
        request = self._sender.build(method, path, content=body, params=params, options=options)
        return await self._retrying(
            RetryPolicy.READ, functools.partial(self._read_attempt, request, path, options)
        )

    def _check_open(self) -> None:
        """Refuse a call on a closed client (nothing is sent)."""
        if self._closed or self._http_client.is_closed:
            raise GatePayError(
                f"{type(self).__name__} is closed: make a new client (or use the one in a"
                " with block); nothing was sent"
            )

    async def _send_create(self, path: str, call: CreateCall) -> CreateOutcome:
        """Send ``call``'s create; return GatePay's last raw answer and its outcome.

        The outcome is ``_decision.outcome``'s decision on that answer (or on its absence); the
        create is resent only when the retry loop may resend that outcome (never sent,
        or refused with 429). Raises only what ``call``'s hooks raise.
        """
        self._check_open()
        options = call.options  # the call's own timeout and headers, if any
        request = self._sender.build(
            "POST", path, content=call.request.body, params=None, options=options
        )
        decided: list[CreateOutcome] = []
        try:
            outcome: CreateOutcome = await self._retrying(
                RetryPolicy.CREATE,
                functools.partial(self._create_attempt, request, path, options, call, decided),
                pause=call.pause,
                rate_limited_sends=call.rate_limited_sends,
            )
        except GatePayError as exc:
            if not decided or exc is not decided[-1].error:
                raise  # from a hook (a failed journal write)
            return decided[-1]  # not issued, and not (or no more) to be resent
        return outcome

    # ------------------------------------------------------------------ internals

    async def _retrying(
        self,
        policy: RetryPolicy,
        attempt: Callable[[int], Any],
        *,
        pause: Callable[[BaseException, float], Any] | None = None,
        rate_limited_sends: int | None = None,
    ) -> Any:
        """The one retry loop of a request: ``attempt(n)`` is the ``n``-th send, repeated
        while it raises what ``policy`` retries. ``pause(exc, seconds)`` replaces the loop's
        own waits (a bulk run's, shared by its workers); ``rate_limited_sends`` caps the
        sends refused with 429 every time (else ``max_retries`` does).

        The error that ends the loop carries ``attempts`` (how many sends were made); after
        more than one its text says so. Each retry is logged at INFO with its reason and
        its wait."""
        max_sends = self._config.max_retries + 1
        # The first attempt goes out directly: most calls succeed, and building the
        # retry machinery costs more than the rest of the SDK's work on a call.
        try:
            return await attempt(1)
        except GatePayError as exc:
            limit = max_sends
            if rate_limited_sends is not None and isinstance(exc, RateLimitError):
                limit = rate_limited_sends
            if limit <= 1 or not should_retry(policy, exc):
                _count_attempts(exc, 1)
                raise
            first_wait = retry_wait(exc, attempt=1)
            first_error: BaseException = exc
        _log_retry(first_error, 1, limit, first_wait)
        if pause is not None:
            await pause(first_error, first_wait)
        else:
            await async_sleep(first_wait)
        base_wait = wait_after_attempt(first_attempt=2)

        stop = stop_after_sends(max_sends, rate_limited_sends=rate_limited_sends, first_attempt=2)

        def logged_wait(retry_state: RetryCallState) -> float:
            seconds = base_wait(retry_state)
            outcome = retry_state.outcome
            error = outcome.exception() if outcome is not None else None
            # tenacity asks for the wait before it checks the stop: log real retries only.
            if error is not None and should_retry(policy, error) and not stop(retry_state):
                _log_retry(error, retry_state.attempt_number + 1, max_sends, seconds)
            return seconds

        wait: Any = logged_wait
        if pause is not None:

            async def paused_wait(retry_state: RetryCallState) -> float:
                # The bulk run's pause does the waiting (shared by its workers on a 429).
                outcome = retry_state.outcome
                error = outcome.exception() if outcome is not None else None
                assert pause is not None
                assert error is not None
                await pause(error, logged_wait(retry_state))
                return 0.0

            wait = paused_wait

        retrying = AsyncRetrying(
            stop=stop,
            wait=wait,
            retry=retry_if_exception(lambda exc: should_retry(policy, exc)),
            sleep=async_sleep,
            reraise=True,
        )
        sends = 1
        try:
            async for attempt_state in retrying:
                with attempt_state:
                    sends = attempt_state.retry_state.attempt_number + 1
                    return await attempt(sends)
        except GatePayError as exc:
            _count_attempts(exc, sends)
            raise
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover

    async def _read_attempt(
        self, request: httpx.Request, path: str, options: RequestOptions, attempt: int
    ) -> Any:
        """One send of a read: the envelope's data, or the mapped exception (which
        carries the answer's ``headers``)."""
        response = await self._send_once(request, path, attempt=attempt, options=options)
        try:
            return decode_envelope(response, method=request.method, path=path)
        except GatePayError as exc:
            _scrub_exception(exc, request)
            exc.headers = AnswerHeaders(response.headers)
            raise

    async def _create_attempt(
        self,
        request: httpx.Request,
        path: str,
        options: RequestOptions,
        call: CreateCall,
        decided: list[CreateOutcome],
        attempt: int,
    ) -> CreateOutcome:
        """One send of a create and its outcome, appended to ``decided``. An outcome that
        is not issued is raised into the retry loop, which resends only what may be."""
        outcome: CreateOutcome | None = None
        with call.guard():
            try:
                response = await self._send_once(
                    request, path, attempt=attempt, create=call, options=options
                )
            except APIConnectionError as exc:
                outcome = call.lost(exc)
            except ResponseValidationError as exc:  # over the size cap: not read whole
                outcome = call.unreadable(exc)
            else:
                if call.on_answer is not None:
                    await call.on_answer(response)  # durable before anything interprets it
                outcome = call.interpret(response, method=request.method, path=path)
                if isinstance(outcome.error, GatePayError):
                    outcome.error.headers = AnswerHeaders(response.headers)
        if outcome is None:
            # The guard swallowed its own cancellation: a bulk run abandoned this attempt
            # while it was in flight. It may have reached GatePay.
            outcome = call.abandoned()
        decided.append(outcome)
        if outcome.error is not None:
            raise outcome.error
        return outcome

    async def _send_once(
        self,
        request: httpx.Request,
        path: str,
        *,
        attempt: int,
        create: CreateCall | None = None,
        options: RequestOptions = NO_OPTIONS,
    ) -> httpx.Response:
        """One attempt: send and read the answer, bounded in time and size.

        A request refused while the answer's Date shows its timestamp outside GatePay's
        window was not processed: it is re-signed with the corrected clock and sent once
        more within the attempt (never twice). A create is re-sent so only when the one
        outcome decision calls its answer a refusal, and only after that answer was made
        durable (``create.on_answer``): a 409, a FAIL holding a card or any other answer
        that may come with a card is left to the decision, never re-sent.
        """
        response = await self._exchange(request, path, attempt, options)
        # The auth flow signed this request object during the send: its timestamp is set.
        if refused_for_timestamp(response, request.headers.get(HEADER_TIMESTAMP)):
            if create is not None:
                if not create.refused(response):
                    return response
                if create.on_answer is not None:
                    await create.on_answer(response)
            self._clock.observe(response.headers.get("date"), force=True)
            response = await self._exchange(request, path, attempt, options)
        return response

    async def _exchange(
        self, request: httpx.Request, path: str, attempt: int, options: RequestOptions
    ) -> httpx.Response:
        """Send once (signed afresh) and read the whole answer, or raise the mapped error."""
        method = request.method
        config = self._config
        attempt_timeout = config.attempt_timeout
        if options.timeout is not None:  # the call's own timeout replaces the client's
            attempt_timeout = options.attempt_timeout
        started = time.perf_counter()
        # Only encodings that can be inflated with a bound are asked for (see _http.response_cap).
        request.headers["Accept-Encoding"] = ACCEPT_ENCODING
        failure: httpx.TransportError | None = None
        timed_out = False
        status_code: int | None = None
        reading: list[CappedBody] = []  # the answer's body as it arrives
        try:
            with AsyncDeadline(_with_grace(attempt_timeout)) as deadline:
                # Redirects are never followed (the sender's promise). The body is read
                # here, under the size cap.
                response = await self._sender.send(request)
                status_code = response.status_code
                try:
                    deadline.check()
                    await _read_answer(response, config.max_response_bytes, deadline, reading)
                finally:
                    await response.aclose()
        except httpx.TransportError as exc:
            # Only the redacted copy is kept: httpx's error holds the request (its URL).
            failure = _detached(exc)
        except ResponseValidationError as exc:  # over the size cap: what was read is kept
            exc.partial_answer = _received(status_code, reading)
            raise
        except TimeoutError:
            timed_out = True
        if timed_out:
            # A cut attempt may have been written: sent, so a create is in doubt.
            self._log_attempt(method, path, "deadline", attempt, started)
            cut = APITimeoutError(
                f"{method} {path}: no complete answer within the {attempt_timeout:g} s"
                " timeout (connect to last byte)",
                method=method,
                path=path,
            )
            cut.partial_answer = _received(status_code, reading)
            raise cut
        if failure is not None:
            # Raised outside the except block, from a copy without the request: the
            # httpx error's request holds the URL, and balance(key=) has the key in it.
            self._log_attempt(method, path, type(failure).__name__, attempt, started)
            lost = connection_error(failure, method=method, path=path)
            lost.partial_answer = _received(status_code, reading)
            raise lost from failure
        self._log_attempt(method, path, str(response.status_code), attempt, started)
        note_answer(response)  # a with_raw_response call reads its answer there
        return response

    @staticmethod
    def _log_attempt(method: str, path: str, result: str, attempt: int, started: float) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s -> %s (attempt %d, %.1f ms)",
                method,
                path,
                result,
                attempt,
                (time.perf_counter() - started) * 1000,
            )


def _count_attempts(exc: GatePayError, sends: int) -> None:
    """Put on the error that ends a retry loop how many sends were made; after more than
    one, its text says so too."""
    if getattr(exc, "attempts", None) is not None:
        return  # counted already (an error raised again by an outer loop)
    exc.attempts = sends
    if sends > 1 and exc.args and isinstance(exc.args[0], str):
        exc.args = (f"{exc.args[0]} (after {sends} attempts)", *exc.args[1:])


def _log_retry(exc: BaseException, failed: int, limit: int, seconds: float) -> None:
    """One INFO line per retry: which attempt failed, why, and the wait before the next.
    The reason is the error's text, which never holds a key."""
    logger.info(
        "retrying in %.2f s: attempt %d of %d failed: %s: %s",
        seconds,
        failed,
        limit,
        type(exc).__name__,
        exc,
    )


def _ledger_of(ledger: object) -> Ledger | None:
    """The client's ledger: opened from a URL, the caller's own, or none."""
    if ledger is None or isinstance(ledger, Ledger):
        return ledger
    if isinstance(ledger, str):
        return Ledger(ledger)
    raise ValidationError(
        "ledger",
        f"must be a sqlite:/// or postgresql:// URL or a Ledger, got {type(ledger).__name__}",
    )


#: Added to an attempt's deadline: a connect that times out on its own (proof that
#: nothing was sent) is then reported as such, rather than as an attempt cut at its end.
ATTEMPT_GRACE = 0.05


def _with_grace(attempt_timeout: float | None) -> float | None:
    return None if attempt_timeout is None else attempt_timeout + ATTEMPT_GRACE


async def _read_answer(
    response: httpx.Response,
    limit: int,
    deadline: AsyncDeadline,
    reading: list[CappedBody],
) -> None:
    """Read the answer into ``response.content``, refusing it past ``limit`` decoded bytes.

    The body being collected is put in ``reading``, so that what arrived is still known
    if the connection breaks or the deadline passes mid-answer.
    """
    body = CappedBody(response.headers.get("Content-Encoding", ""), limit, response.status_code)
    reading.append(body)
    if response.is_stream_consumed:  # a response object handed out again (test doubles)
        body.check_decoded(response.content)
        return
    if isinstance(response.stream, httpx.AsyncByteStream):
        response.stream = _OverrunCheck(response.stream, response.status_code)
    async for chunk in response.aiter_raw():
        body.feed(chunk)
        deadline.check()
    response._content = body.finish()  # what httpx's own read() fills


class _OverrunCheck(httpx.AsyncByteStream):
    """An answer's body that, once read to its end and before its connection goes back
    to the pool, has that connection closed if the server sent bytes past the answer
    (see ``_connection_reuse``)."""

    def __init__(self, stream: httpx.AsyncByteStream, status_code: int) -> None:
        self._stream = stream
        self._status_code = status_code

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk
        if refuse_reuse_if_overrun(self._stream):
            logger.warning(
                "the server sent more than its answer (status %d): its connection is"
                " closed, never reused",
                self._status_code,
            )

    async def aclose(self) -> None:
        await self._stream.aclose()


def _received(status_code: int | None, reading: list[CappedBody]) -> RawAnswer | None:
    """What had arrived of an answer cut short: its status and the bytes read, if any."""
    if status_code is None:
        return None
    return RawAnswer(status_code, reading[0].received() if reading else b"")


def _detached(exc: httpx.TransportError) -> httpx.TransportError:
    """The same httpx error with its text redacted and no request attached."""
    message = redact_text(redact_url(str(exc)))
    try:
        return type(exc)(message)
    except TypeError:  # a subclass with another signature
        return httpx.TransportError(f"{type(exc).__name__}: {message}")


def _request_secrets(request: httpx.Request) -> list[str]:
    """Card keys this request carries (balance's query string, query's body)."""
    secrets = [value for name, value in request.url.params.multi_items() if name.lower() == "key"]
    if b'"key"' in request.content:
        try:
            body = json.loads(request.content)
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("key"), str):
            secrets.append(body["key"])
    return secrets


def _scrub_exception(exc: BaseException, request: httpx.Request) -> None:
    """Mask in ``exc``'s text, and in the attributes that quote the answer, any key the
    request carried (a server may echo it back)."""
    secrets = _request_secrets(request)
    if secrets:
        exc.args = tuple(
            scrub_known(arg, secrets) if isinstance(arg, str) else arg for arg in exc.args
        )
        for name in _ANSWER_QUOTES:
            if name in vars(exc):
                setattr(exc, name, redact_value(getattr(exc, name), secrets))


#: The attributes of a read's error that quote GatePay's answer (APIError's and
#: ResponseValidationError's).
_ANSWER_QUOTES = ("message", "label", "body", "snippet", "reason")
