"""The sharded transports build one TLS context for all their pools: loading the CA
bundle once per pool made every client (and so every `gatepay` command) seconds slower."""

from __future__ import annotations

import httpx
import pytest

from gatepay_async._transport import AsyncShardedTransport, ShardedTransport

LIMITS = httpx.Limits(max_connections=256, max_keepalive_connections=256)


@pytest.mark.parametrize("transport_class", [AsyncShardedTransport, ShardedTransport])
def test_every_pool_shares_one_tls_context(transport_class: type) -> None:
    transport = transport_class(LIMITS)
    pools = transport._pools
    assert len(pools) > 1
    contexts = {id(pool._pool._ssl_context) for pool in pools}
    assert len(contexts) == 1
