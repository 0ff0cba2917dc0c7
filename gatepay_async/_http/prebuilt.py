"""Requests and header edits without httpx's per-call work, with httpx's exact result.

Building an ``httpx.Request`` from a client's headers (``_merge_headers``, then
``Request.__init__`` normalising every header, probing for a content type and
``setdefault``-ing the content length) took about a sixth of a bulk run's CPU per card;
setting a header (``headers[name] = value``) scans and re-encodes the whole list each
time, and every attempt sets five of them. What changes from one create to the next is
the body and its length: the rest of the header list is made once per client headers and
copied.

Both functions give exactly what httpx's own code gives (same ``Headers`` entries in the
same order, same body, stream type and extensions): ``tests/test_prebuilt_requests.py``
builds each request both ways and compares them field by field.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

__all__ = ["RequestHead", "set_headers"]

#: One entry of ``httpx.Headers._list``: (key as given, key lowered, value), all bytes.
_Entry = tuple[bytes, bytes, bytes]


class RequestHead:
    """What every request of one client to one URL shares: its headers before the body's.

    ``build(request_class, method, content, extensions)`` makes the instance that
    ``request_class(method, url, content=content, headers=<client headers merged with
    headers>, extensions=extensions)`` makes (``extensions``: a dict of the caller's, now the
    request's). ``matches(client_headers)`` says whether
    the client's headers are still those it was made from (a caller may change them).
    """

    __slots__ = (
        "_client_list",
        "_content_length_given",
        "_entries",
        "_host_added",
        "_length_given",
        "_url",
    )

    def __init__(self, url: httpx.URL, client_headers: httpx.Headers, headers: Any) -> None:
        merged = httpx.Headers(client_headers)
        merged.update(headers)  # what ``_merge_headers`` does
        entries: list[_Entry] = [(raw, raw.lower(), value) for raw, value in merged.raw]
        lowered = {entry[1] for entry in entries}
        # ``_prepare``: Host first (unless given), Content-Length last (unless given).
        self._host_added = b"host" not in lowered and bool(url.host)
        if self._host_added:
            entries.insert(0, (b"Host", b"host", url.netloc))
        # A body: ``setdefault("Content-Length", ...)`` at the end, unless given. No body:
        # httpx's own ``Content-Length: 0`` after Host, unless either length header is given.
        self._content_length_given = b"content-length" in lowered
        self._length_given = self._content_length_given or b"transfer-encoding" in lowered
        self._entries = tuple(entries)
        self._client_list = list(client_headers._list)
        self._url = url

    def matches(self, client_headers: httpx.Headers) -> bool:
        return client_headers._list == self._client_list

    def build(
        self,
        request_class: type[httpx.Request],
        method: str,
        content: bytes,
        extensions: dict[str, Any],
    ) -> httpx.Request:
        entries = list(self._entries)
        method = method.upper()
        if content:
            if not self._content_length_given:
                entries.append((b"Content-Length", b"content-length", str(len(content)).encode()))
        elif not self._length_given and method in ("POST", "PUT", "PATCH"):
            entries.insert(int(self._host_added), (b"Content-Length", b"content-length", b"0"))
        headers = httpx.Headers()
        headers._list = entries
        request = request_class.__new__(request_class)
        request.method = method
        request.url = self._url
        request.headers = headers
        request.extensions = extensions
        request.stream = httpx.ByteStream(content)
        request._content = content
        return request


def set_headers(headers: httpx.Headers, items: Sequence[tuple[str, str]]) -> None:
    """``headers[name] = value`` for each item in turn, in one pass over the list.

    As httpx's ``__setitem__``: a name already there keeps the place of its first entry
    (later duplicates removed), a new one goes at the end; names and values encoded with
    the headers' encoding if one was set, else UTF-8.
    """
    encoding = headers._encoding or "utf-8"
    entries: list[_Entry] = headers._list
    wanted: dict[bytes, _Entry] = {}
    for name, value in items:
        raw = name.encode(encoding)
        lowered = raw.lower()
        # A name given twice keeps the place of its first setting, with its last value.
        wanted[lowered] = (raw, lowered, value.encode(encoding))
    if not wanted.keys().isdisjoint({entry[1] for entry in entries}):
        kept: list[_Entry] = []
        placed: set[bytes] = set()
        for entry in entries:
            lowered = entry[1]
            new = wanted.get(lowered)
            if new is None:
                kept.append(entry)
            elif lowered not in placed:
                placed.add(lowered)
                kept.append(new)
        kept.extend(new for lowered, new in wanted.items() if lowered not in placed)
        entries[:] = kept
    else:
        entries.extend(wanted.values())
