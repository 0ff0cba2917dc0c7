"""A client's pools share one TLS context: the CA bundle is loaded once per client, not once
per pool (32 loads made a new client cost seconds on a busy machine)."""

from __future__ import annotations

import httpx
import pytest

from gatepay_async._client import DEFAULT_LIMITS
from gatepay_async._transport import AsyncShardedTransport, ShardedTransport


@pytest.mark.parametrize("transport_class", [ShardedTransport, AsyncShardedTransport])
def test_every_pool_shares_one_ssl_context(transport_class: type) -> None:
    transport = transport_class(DEFAULT_LIMITS)
    pools = transport._pools
    assert len(pools) > 1
    contexts = {id(pool._pool._ssl_context) for pool in pools}
    assert len(contexts) == 1


def test_the_shared_context_still_verifies_certificates() -> None:
    transport = ShardedTransport(httpx.Limits(max_connections=16))
    context = transport._pools[0]._pool._ssl_context
    assert context.verify_mode.name == "CERT_REQUIRED"
    assert context.check_hostname
