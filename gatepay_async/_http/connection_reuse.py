"""No HTTP/1.1 connection is reused after an answer the server overran.

A server (or a proxy in front of it) that sends more bytes than its answer declares
leaves them in the connection: httpcore parses them as the answer to the *next* request
sent on that connection. For a create that is money: another row's card, or a forged
refusal whose row a rerun then sends again, while the real answer is lost. When the
extra bytes arrived with the answer (so the idle connection's socket is not readable and
httpcore's own check before reuse sees nothing), they sit in h11's buffer as its
``trailing_data``: the answer is kept, and the connection is marked failed, so httpcore
closes it instead of returning it to the pool.

httpx gives no public handle on its connection, so the h11 state is found by walking the
response's stream wrappers (httpx's, httpcore's pool's, the SDK's own); a stream that is
not httpcore's HTTP/1.1 (HTTP/2, a caller's transport, a test double) is left alone.
Bytes that arrive later than the answer make the idle socket readable, and httpcore then
drops the connection itself.
"""

from __future__ import annotations

from typing import Any

__all__ = ["refuse_reuse_if_overrun"]

#: The attributes that lead from a response's stream to httpcore's HTTP/1.1 connection.
_WRAPPED = ("_stream", "_httpcore_stream", "_connection")
_MAX_DEPTH = 8


def refuse_reuse_if_overrun(stream: Any) -> bool:
    """Mark the connection behind ``stream`` (a response read to its end, not yet
    closed) failed if the server sent bytes past its answer; True if it did."""
    try:
        import h11  # httpcore's HTTP/1.1 parser: there whenever httpcore is
    except ImportError:  # pragma: no cover - httpx without httpcore
        return False
    for _ in range(_MAX_DEPTH):
        state = getattr(stream, "_h11_state", None)
        if isinstance(state, h11.Connection):
            return _refuse(state, h11.DONE)
        for name in _WRAPPED:
            inner = getattr(stream, name, None)
            if inner is not None:
                stream = inner
                break
        else:
            return False
    return False


def _refuse(state: Any, done: object) -> bool:
    if state.their_state is not done:
        return False  # not read to its end: httpcore closes such a connection itself
    extra, _ = state.trailing_data
    if not extra:
        return False
    # Our side in ERROR: on the response's close httpcore then closes the connection
    # instead of starting its next cycle with the overrun bytes in its buffer.
    state.send_failed()
    return True
