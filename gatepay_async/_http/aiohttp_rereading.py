# unasync: async-only
"""Re-reading, with h11, an answer that aiohttp's parser refused (the aiohttp transport).

The default transport reads answers with h11 (through httpcore); aiohttp has a parser of
its own, stricter in places: an answer carrying both ``Content-Length`` and
``Transfer-Encoding: chunked``, a ``Content-Length`` repeated with the same value, bytes
after the body, or a body on a 204 make it refuse an answer that h11 reads, card and all.
A create answer refused so is a card paid for and lost, on one transport and not the other.

So the aiohttp transport keeps a reference to every chunk of the current answer as it
arrives (no copy; bounded by :data:`KEPT_BYTES`). If aiohttp's parser raises, the
connection is not closed: the bytes so far, and those that follow, go to h11, as httpcore
would feed them, until h11 has the whole answer, refuses it, or the peer closes. The
answer is handed on as soon as h11 has its head, and its body follows as h11 reads it: a
body that stalls or is cut keeps what arrived, as on the default transport. An answer
whose head h11 cannot read either has no status on both transports.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    import h11

__all__ = [
    "KEPT_BYTES",
    "MAX_HEAD_BYTES",
    "AnswerHead",
    "Rereading",
    "RereadingParser",
    "rereading_parser",
]

#: httpcore's own bound on an answer's head (h11's ``max_incomplete_event_size``, as
#: httpcore sets it): no line or header block under it is refused by the default transport.
MAX_HEAD_BYTES = 100 * 1024
#: How much of one answer is kept for a re-read. Past it, aiohttp's verdict stands (the
#: SDK refuses answers over ``max_response_bytes``, 1 MiB by default, anyway).
KEPT_BYTES = MAX_HEAD_BYTES + 2 * 1024 * 1024


@attrs.frozen
class AnswerHead:
    """An answer's head as h11 read it."""

    status: int
    reason: bytes
    http_version: bytes
    headers: tuple[tuple[bytes, bytes], ...]


class Rereading:
    """One answer being re-read by h11, from its first byte."""

    def __init__(self, method: str, received: list[bytes]) -> None:
        import h11

        self._h11 = h11
        self._connection = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)
        # h11 reads an answer against the request it answers (HEAD, 1xx, 204...).
        self._connection.send(h11.Request(method=method, target="/", headers=[("Host", "gatepay")]))
        self._connection.send(h11.EndOfMessage())
        self._response: h11.Response | None = None
        self._body: list[bytes] = []
        self._size = 0
        self._complete = False
        self._waiter: asyncio.Future[None] | None = None
        #: Called once h11 is done: closes the connection (set by the parser).
        self.on_done: Callable[[], None] | None = None
        self.done = False
        for data in received:
            self.feed(data)

    @property
    def complete(self) -> bool:
        """h11 read the whole answer, as framed."""
        return self._complete

    @property
    def size(self) -> int:
        return self._size

    @property
    def has_head(self) -> bool:
        return self._response is not None

    def body_from(self, offset: int) -> bytes:
        """The body bytes h11 read past ``offset``."""
        return b"".join(self._body)[offset:] if self._size > offset else b""

    async def more(self, timeout: float | None) -> None:
        """Wait until h11 reads more or is done (``TimeoutError`` after ``timeout``)."""
        if self.done:
            return
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(waiter, timeout)
        except asyncio.TimeoutError:  # before Python 3.11 not the builtin TimeoutError
            raise TimeoutError(f"h11 read nothing more within {timeout} s") from None

    def abort(self) -> None:
        """The reader gave up (deadline, closed): the rest of the answer is not wanted."""
        self._finish()

    def _finish(self) -> None:
        self.done = True
        on_done, self.on_done = self.on_done, None
        if on_done is not None:
            on_done()
        self._wake()

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def feed(self, data: bytes) -> None:
        """More bytes from the connection."""
        if data:  # aiohttp also calls with none, to resume reading
            self._receive(data)

    def peer_closed(self) -> None:
        """The peer closed the connection: a body framed by the close ends here."""
        self._receive(b"")

    def _receive(self, data: bytes) -> None:
        if self.done:
            return
        if self._read(data):
            self._finish()
        else:
            self._wake()

    def _read(self, data: bytes) -> bool:
        """Feed h11 and take its events; True once it is done with the answer."""
        h11 = self._h11
        try:
            self._connection.receive_data(data)
            while True:
                event = self._connection.next_event()
                if event is h11.NEED_DATA:
                    return data == b""  # h11 saw the close and still wants bytes: cut
                if isinstance(event, h11.Response):
                    self._response = event
                elif isinstance(event, h11.Data):
                    self._body.append(bytes(event.data))
                    self._size += len(event.data)
                elif isinstance(event, h11.EndOfMessage):
                    self._complete = True
                    return True
                elif event is h11.PAUSED or isinstance(event, h11.ConnectionClosed):
                    return True
        except h11.RemoteProtocolError:
            return True

    def head(self) -> AnswerHead:
        """The answer's head (only once :attr:`has_head`)."""
        response = self._response
        assert response is not None
        return AnswerHead(
            status=response.status_code,
            reason=bytes(response.reason),
            http_version=b"HTTP/" + bytes(response.http_version),
            headers=tuple((bytes(k), bytes(v)) for k, v in response.headers.raw_items()),
        )


class RereadingParser:
    """aiohttp's response parser, with a way out: the bytes it is fed are kept, and when
    it raises, h11 re-reads them and all that follows (see the module's text)."""

    def __init__(self, parser: Any, handler: Any, method: str) -> None:
        self._parser = parser
        self._handler = handler
        self._method = method
        self._received: list[bytes] | None = []
        self._kept = 0
        self._settled = False
        self.rereading: Rereading | None = None

    def feed_data(self, data: bytes) -> Any:
        rereading = self.rereading
        if rereading is not None:
            rereading.feed(bytes(data))
            self._settle()
            return (), False, b""
        received = self._received
        if received is not None:
            self._kept += len(data)
            if self._kept > KEPT_BYTES:
                self._received = received = None  # too large to re-read: aiohttp decides
            elif data:
                received.append(bytes(data))
        try:
            return self._parser.feed_data(data)
        except Exception:
            if received is None:
                raise
            self._received = None
            self.rereading = Rereading(self._method, received)
            self._settle()
            return (), False, b""

    def feed_eof(self) -> Any:
        rereading = self.rereading
        if rereading is not None:
            rereading.peer_closed()
            self._settle()
            return None
        return self._parser.feed_eof()

    def _settle(self) -> None:
        """Once h11 has the head (or is done), end aiohttp's wait: its request (or body
        read) fails, and the transport follows h11's reading instead. The connection
        stays open until h11 is done."""
        rereading = self.rereading
        if rereading is None:
            return
        if rereading.on_done is None and not rereading.done:
            rereading.on_done = self._close
        if self._settled or not (rereading.has_head or rereading.done):
            if rereading.done:
                self._close()
            return
        self._settled = True
        from aiohttp import ClientPayloadError
        from aiohttp.http_exceptions import HttpProcessingError

        handler = self._handler
        payload = getattr(handler, "_payload", None)
        if payload is not None:
            payload.set_exception(ClientPayloadError("re-read by h11"))
        handler.set_exception(HttpProcessingError(message="re-read by h11"))
        if rereading.done:
            self._close()

    def _close(self) -> None:
        transport = self._handler.transport
        if transport is not None:
            transport.close()

    @property
    def holding(self) -> bool:
        """h11 is still reading this connection: it must not be closed under it."""
        return self.rereading is not None and not self.rereading.done

    def __getattr__(self, name: str) -> Any:
        return getattr(self._parser, name)


def rereading_parser(handler: Any, method: str) -> RereadingParser:
    """Wrap the parser ``set_response_params`` just gave ``handler``."""
    wrapped = RereadingParser(handler._parser, handler, method)
    handler._parser = wrapped
    return wrapped
