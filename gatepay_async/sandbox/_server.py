"""Serving a Sandbox over real HTTP with uvicorn: in a background thread, or in the foreground."""

from __future__ import annotations

import logging
import socket
import threading
import time

import uvicorn

from gatepay_async.sandbox._config import SandboxConfig
from gatepay_async.sandbox._responses import SandboxDroppedConnection
from gatepay_async.sandbox._sandbox import Sandbox

__all__ = ["SandboxServer", "bind_socket", "quiet_dropped_connections", "uvicorn_server"]

_LOOPBACK = "127.0.0.1"
#: uvicorn's own default backlog.
_BACKLOG = 2048


class _DroppedConnectionFilter(logging.Filter):
    """Keep uvicorn from logging a traceback for every connection a fault drops on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, SandboxDroppedConnection)


def quiet_dropped_connections() -> None:
    """Install the filter on uvicorn's error logger (once)."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DroppedConnectionFilter) for f in logger.filters):
        logger.addFilter(_DroppedConnectionFilter())


def bind_socket(host: str = _LOOPBACK, port: int = 0) -> socket.socket:
    """A listening TCP socket bound to ``host:port`` (port 0: a free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and
    # without it every answer (head and body written separately) waits ~40 ms for an ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        # Listening now, not when uvicorn gets to it: whoever learns the URL (the command
        # prints it first thing) may connect at once, and a bound socket that does not
        # listen yet refuses them. The kernel queues them until the server accepts.
        sock.listen(_BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def uvicorn_server(sandbox: Sandbox, log_level: str = "warning") -> uvicorn.Server:
    """A uvicorn server for the sandbox's app: no access log, the app's own Date header."""
    config = uvicorn.Config(
        sandbox.app,
        log_level=log_level,
        access_log=False,
        date_header=False,
        server_header=False,
        lifespan="off",
        # Longer than httpx's 5 s keep-alive expiry, so the client always retires an idle
        # connection first: with both at 5 s, a request sent on a connection the server
        # is closing at that instant fails with a read error.
        timeout_keep_alive=30,
    )
    quiet_dropped_connections()
    return uvicorn.Server(config)


class SandboxServer:
    """A Sandbox served by uvicorn on 127.0.0.1 in a background thread.

    ``with SandboxServer(config_or_sandbox) as server: server.url``; or ``start()`` and
    ``stop()``. Given a config (or nothing), the server creates the Sandbox and closes
    it on stop; given a Sandbox, it leaves closing to the caller.
    """

    def __init__(
        self,
        sandbox: Sandbox | SandboxConfig | None = None,
        *,
        host: str = _LOOPBACK,
        port: int = 0,
        startup_timeout: float = 10.0,
    ) -> None:
        self._owns_sandbox = not isinstance(sandbox, Sandbox)
        self.sandbox: Sandbox = sandbox if isinstance(sandbox, Sandbox) else Sandbox(sandbox)
        self.host = host
        self._requested_port = port
        self._startup_timeout = startup_timeout
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (only while started)."""
        if self.port is None:
            raise RuntimeError("the sandbox server is not running")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> SandboxServer:
        if self._thread is not None:
            raise RuntimeError("the sandbox server is already running")
        sock = bind_socket(self.host, self._requested_port)
        server = uvicorn_server(self.sandbox)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="gatepay-sandbox", daemon=True
        )
        self._socket, self._server, self._thread = sock, server, thread
        thread.start()
        deadline = time.monotonic() + self._startup_timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self._shutdown()
                raise RuntimeError("the sandbox server did not start")
            time.sleep(0.005)
        self.port = int(sock.getsockname()[1])
        return self

    def stop(self) -> None:
        """Stop serving and wait for the server thread; idempotent."""
        self._shutdown()
        if self._owns_sandbox:
            self.sandbox.close()

    def _shutdown(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None
        self.port = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
