"""The requests the SDK builds without httpx's per-call work are httpx's own, field by field.

``_http.prebuilt`` makes each create's ``httpx.Request`` from a header list made once per
client, and sets the signing headers in one pass. What goes on the wire (headers in their
order, body) and what the transport reads (stream, extensions) must be exactly what
``httpx.Request(...)`` and ``headers[name] = value`` give, for every client headers a
caller can set.
"""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatepay_async import AsyncGatePay
from gatepay_async._http.prebuilt import RequestHead, set_headers
from gatepay_async._http.sending import _JSON_HEADERS, MaskedRequest

BASE = "https://gatepay.example"
PATH = "/v1/pay/gift/create"

CLIENT_HEADERS = [
    None,
    {"User-Agent": "merchant/1.0"},
    {"Content-Type": "text/plain", "X-Trace": "a"},
    [("X-Dup", "1"), ("x-dup", "2"), ("Accept", "*/*")],
    {"Host": "proxy.example:8443"},
    {"Content-Length": "999"},
    {"Transfer-Encoding": "chunked"},
    [("X-Latin", "caf\xe9".encode("latin-1")), ("X-Utf8", "caf\xe9".encode())],
]


def _fields(request: httpx.Request) -> dict[str, object]:
    return {
        "class": type(request),
        "method": request.method,
        "url": str(request.url),
        "headers": request.headers._list,
        "encoding": request.headers._encoding,
        "content": request.content,
        "stream": (type(request.stream), b"".join(request.stream)),  # type: ignore[arg-type]
        "extensions": request.extensions,
        "attributes": sorted(vars(request)),
    }


@pytest.mark.parametrize("client_headers", CLIENT_HEADERS)
@pytest.mark.parametrize("content", [b"", b'{"title":"Holiday"}', "caf\xe9".encode()])
def test_a_prebuilt_request_is_the_request_httpx_builds(
    client_headers: object, content: bytes
) -> None:
    client = httpx.AsyncClient(headers=client_headers)  # type: ignore[arg-type]
    url = httpx.URL(BASE + PATH)
    extensions = {"timeout": {"connect": 5.0, "read": 5.0, "write": 5.0, "pool": 5.0}}
    head = RequestHead(url, client.headers, _JSON_HEADERS)
    prebuilt = head.build(MaskedRequest, "post", content, dict(extensions))
    expected = MaskedRequest(
        "post",
        url,
        content=content,
        headers=client._merge_headers(_JSON_HEADERS),
        extensions=extensions,
    )
    assert _fields(prebuilt) == _fields(expected)
    # Two requests of one head share nothing that a send changes.
    other = head.build(MaskedRequest, "POST", b"{}", dict(extensions))
    other.headers["X-GatePay-Nonce"] = "n"
    assert _fields(head.build(MaskedRequest, "post", content, dict(extensions))) == _fields(
        expected
    )


def test_the_sdk_builds_again_when_the_client_headers_change() -> None:
    client = httpx.AsyncClient()
    gp = AsyncGatePay(client_id="c", secret_key="s", base_url=BASE, http_client=client)
    sender = gp._sender
    first = sender.build("POST", PATH, content=b"{}", params=None)
    client.headers["X-Tenant"] = "one"
    second = sender.build("POST", PATH, content=b"{}", params=None)
    client.headers = httpx.Headers({"X-Tenant": "two"})
    third = sender.build("POST", PATH, content=b"{}", params=None)
    assert "x-tenant" not in first.headers
    assert second.headers["x-tenant"] == "one"
    assert third.headers["x-tenant"] == "two"
    expected = MaskedRequest(
        "POST", BASE + PATH, content=b"{}", headers=client._merge_headers(_JSON_HEADERS)
    )
    assert third.headers._list == expected.headers._list


_NAMES = st.sampled_from(["X-A", "x-a", "X-B", "Accept-Encoding", "x-gatepay-nonce", "Host"])
_VALUES = st.text(alphabet="abc\xe9 ,", max_size=6)


@settings(max_examples=300, deadline=None)
@given(
    existing=st.lists(st.tuples(_NAMES, _VALUES), max_size=6),
    items=st.lists(st.tuples(_NAMES, _VALUES), max_size=6),
    encoding=st.sampled_from([None, "utf-8", "latin-1"]),
)
def test_set_headers_is_httpx_setting_each_header_in_turn(
    existing: list[tuple[str, str]], items: list[tuple[str, str]], encoding: str | None
) -> None:
    raw = [(name.encode(), value.encode()) for name, value in existing]
    ours, theirs = httpx.Headers(raw), httpx.Headers(raw)
    ours._encoding = theirs._encoding = encoding
    set_headers(ours, items)
    for name, value in items:
        theirs[name] = value
    assert ours._list == theirs._list
