"""Reading an answer with a size cap, counted after decompression.

httpx's own decoders inflate each network chunk whole, so one 64 KiB chunk of a gzip
bomb becomes some 64 MiB at once. Here gzip and deflate are inflated with zlib's
``max_length``: never more than the cap plus one byte is produced, whatever the ratio.
"""

from __future__ import annotations

import zlib

from gatepay_async._errors import ResponseValidationError

__all__ = ["CappedBody"]

# What the client asks for (per request), so that every answer can be read bounded.
ACCEPT_ENCODING = "gzip, deflate"


class _Inflater:
    """One gzip or deflate layer; deflate is zlib-wrapped or raw, as servers differ."""

    def __init__(self, encoding: str) -> None:
        self._gzip = encoding in ("gzip", "x-gzip")
        self._first = True
        self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16 if self._gzip else zlib.MAX_WBITS)

    def inflate(self, data: bytes, max_length: int) -> bytes:
        if not data:
            return b""
        try:
            out = self._zlib.decompress(data, max_length)
        except zlib.error:
            if self._gzip or not self._first:
                raise
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate
            out = self._zlib.decompress(data, max_length)
        self._first = False
        return out

    def flush(self) -> bytes:
        return self._zlib.flush()


class CappedBody:
    """Collects an answer's decoded bytes; refuses it once it passes ``limit`` bytes."""

    def __init__(self, content_encoding: str, limit: int, status_code: int) -> None:
        self._limit = limit
        self._status_code = status_code
        self._size = 0
        self._chunks: list[bytes] = []
        # Encodings are listed in the order they were applied: undo them in reverse.
        # Unknown ones are passed through, as httpx does.
        names = [part.strip().lower() for part in content_encoding.split(",")]
        self._layers = [
            _Inflater(name) for name in reversed(names) if name in ("gzip", "x-gzip", "deflate")
        ]

    def feed(self, raw: bytes) -> None:
        """Add one chunk as read from the network (still encoded)."""
        self._add(self._decode(raw, flush=False))

    def check_decoded(self, content: bytes) -> None:
        """Apply the cap to an answer that was already read and decoded."""
        self._add(content)

    def received(self) -> bytes:
        """The decoded bytes collected so far (what arrived before a failure; of an
        answer over the cap, its first ``limit`` bytes)."""
        return b"".join(self._chunks)

    def finish(self) -> bytes:
        """The whole decoded answer, once the network stream has ended."""
        self._add(self._decode(b"", flush=True))
        return b"".join(self._chunks)

    def _decode(self, data: bytes, *, flush: bool) -> bytes:
        room = self._limit - self._size + 1  # one byte more than allowed proves "too large"
        try:
            for layer in self._layers:
                data = layer.inflate(data, room)
                if flush:
                    data += layer.flush()
                if len(data) >= room:
                    break  # already too large: decoding further layers would not shrink it
        except zlib.error:
            raise ResponseValidationError(
                "the answer's compressed content is corrupt",
                status_code=self._status_code,
                body=b"".join(self._chunks),
            ) from None
        return data

    def _add(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self._limit:
            # What fits is kept: a create's card may be in it (see ``received``).
            self._chunks.append(data[: len(data) - (self._size - self._limit)])
            raise ResponseValidationError(
                f"the answer is larger than max_response_bytes ({self._limit} bytes after"
                " decompression); refused without reading the rest",
                status_code=self._status_code,
                body=b"".join(self._chunks)[:400],
            )
        if data:
            self._chunks.append(data)
