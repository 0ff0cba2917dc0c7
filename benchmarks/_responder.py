"""A minimal GatePay responder for the benchmarks: fixed answers, no checks.

Meant to run in its own process on 127.0.0.1::

    python benchmarks/_responder.py --port 0                     # uvicorn (ASGI)
    python benchmarks/_responder.py --engine asyncio --latency 0.05

``--engine uvicorn`` (the per-call benchmark) serves a raw ASGI callable. ``--engine
asyncio`` is an HTTP/1.1 keep-alive server written on ``asyncio.Protocol`` (no parser
library, no framework), so cheap that at thousands of requests per second it is never
what limits a client: the latency-bound bulk benchmark uses it, with ``--latency``
seconds added before every answer (a timer, not a task per request).

``POST /v1/pay/gift/create`` and ``POST /v1/pay/gift/query`` answer the sandbox's
envelope for one card (byte for byte the shape the sandbox sends); anything else is a
404 envelope. Nothing is verified and nothing is stored, so the server's share of a
round trip is as small as uvicorn allows and both clients measured get the same answer.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_CARD = (
    b'"card_num":"1781747288859688","amount":"0.99","currency":"USDT","status":1,'
    b'"card_temp_id":"255267012439183360","creator":10002,"creator_name":"GateUser-sandbox",'
    b'"exchange_uid":0,"owner":10002,"give_count":0,"last_give_time":0,'
    b'"create_time":1795311629670,"title":"Holiday"'
)
_KEY = b'"aYWSUSx8WVsUM0GV74x7RJJKSMkpfoDlEveyTwWupyc="'
_ENVELOPE = b'{"status":"SUCCESS","code":"000000","label":"","errorMessage":"","data":{%s}}'

CREATE_ANSWER = _ENVELOPE % (b'"card_key":' + _KEY + b"," + _CARD)
QUERY_ANSWER = _ENVELOPE % (b'"key":' + _KEY + b"," + _CARD + b',"exchange_time":0')
NOT_FOUND = b'{"status":"FAIL","code":"404000","label":"Not Found","errorMessage":"","data":null}'

ANSWERS = {
    "/v1/pay/gift/create": CREATE_ANSWER,
    "/v1/pay/gift/query": QUERY_ANSWER,
}


def _head(status: int, body: bytes) -> Message:
    return {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode("ascii")),
        ],
    }


_HEADS = {path: _head(200, body) for path, body in ANSWERS.items()}
_NOT_FOUND_HEAD = _head(404, NOT_FOUND)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Read the request body, answer the fixed envelope for its path."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = bool(message.get("more_body", False))
    path = scope["path"]
    body = ANSWERS.get(path)
    if body is None:
        await send(_NOT_FOUND_HEAD)
        await send({"type": "http.response.body", "body": NOT_FOUND})
        return
    await send(_HEADS[path])
    await send({"type": "http.response.body", "body": body})


def _raw(status: bytes, body: bytes) -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\n"
        b"content-length: " + str(len(body)).encode("ascii") + b"\r\n\r\n" + body
    )


_RAW_ANSWERS = {path.encode("ascii"): _raw(b"200 OK", body) for path, body in ANSWERS.items()}
_RAW_NOT_FOUND = _raw(b"404 Not Found", NOT_FOUND)


class _Protocol(asyncio.Protocol):
    """One keep-alive connection: parse each request's head and length, answer it."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buffer[:end].lower()
            length = 0
            at = head.find(b"\r\ncontent-length:")
            if at >= 0:
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + 17 : stop if stop >= 0 else len(head)])
            total = end + 4 + length
            if len(buffer) < total:
                break
            path = head.split(b" ", 2)[1].split(b"?", 1)[0]
            buffer = buffer[total:]
            answer = _RAW_ANSWERS.get(path, _RAW_NOT_FOUND)
            if self.latency > 0:
                asyncio.get_running_loop().call_later(self.latency, self._write, answer)
            else:
                self._write(answer)
        self.buffer = buffer

    def _write(self, answer: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(answer)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def _serve_asyncio(sock: socket.socket, latency: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Protocol(latency), sock=sock, backlog=2048)
    print(f"responder on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def bind(port: int) -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets created that way,
    # and without it an answer written in two parts waits for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(2048)  # accepting before the URL is printed
    sock.set_inheritable(True)
    return sock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1; 0 picks one")
    parser.add_argument("--engine", choices=("uvicorn", "asyncio"), default="uvicorn")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds before each answer (asyncio only)"
    )
    args = parser.parse_args()
    sock = bind(args.port)
    if args.engine == "asyncio":
        try:  # uvloop where installed: the responder must never be the bottleneck
            runner: Any = importlib.import_module("uvloop").run
        except ImportError:
            runner = asyncio.run
        runner(_serve_asyncio(sock, args.latency))
        return
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    print(f"responder on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
