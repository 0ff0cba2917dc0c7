"""The TLS context the pools share still verifies certificates: sharing one context (one
CA load per client instead of one per pool) must not weaken it. That the pools share it,
and make it on first use, is in test_transport_construction.py."""

from __future__ import annotations

import ssl

import httpx
import pytest

from gatepay_async._http.transport import AsyncShardedTransport
from gatepay_sync._http.transport import ShardedTransport


@pytest.mark.parametrize("transport_class", [ShardedTransport, AsyncShardedTransport])
def test_the_shared_context_still_verifies_certificates(transport_class: type) -> None:
    transport = transport_class(httpx.Limits(max_connections=16))
    transport._pools.get(0)  # the context is made with the first pool
    context = transport._pools.ssl_context
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
