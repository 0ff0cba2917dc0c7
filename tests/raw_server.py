"""A tiny HTTP/1.1 server on 127.0.0.1 that answers however a test tells it to.

For what a well-behaved server (the sandbox) never does: redirect, drip an answer one
byte at a time, send a gzip bomb or an endless body, echo a key back. Plain sockets and
threads, so the async tests and their generated sync twins use it alike.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

__all__ = ["RawServer", "Request"]


class Request:
    """What the server read: request line, headers and body."""

    def __init__(self, head: bytes, body: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        self.method, self.target, _ = lines[0].split(" ", 2)
        self.headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines[1:] if line)
        }
        self.body = body

    @property
    def query(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.target).query).items()}


Respond = Callable[[socket.socket, Request, "RawServer"], None]


class RawServer:
    """``with RawServer(respond) as server:`` serves on ``server.url``; one thread per
    connection; ``hits`` counts requests, ``sent`` is free for a responder's counting."""

    def __init__(self, respond: Respond) -> None:
        self.respond = respond
        self.hits = 0
        self.sent = 0
        self.finished = threading.Event()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def __enter__(self) -> RawServer:
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()
        self._threads.append(accept)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        # Wakes the accept at once on Linux (elsewhere, it sees the stop within its 50 ms).
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        for thread in list(self._threads):
            thread.join(timeout=15)
        self._listener.close()

    def stopping(self) -> bool:
        return self._stop.is_set()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        with conn:
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                request = Request(head, b"")
                length = int(request.headers.get("content-length", "0"))
                while len(body) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    body += chunk
                request.body = body
                with self._lock:
                    self.hits += 1
                self.respond(conn, request, self)
            except OSError:
                pass  # the client went away: what several tests expect
            finally:
                self.finished.set()


def answer(
    conn: socket.socket, status: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> None:
    """Send one whole answer and close."""
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
