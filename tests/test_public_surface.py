"""The sync facade has the async facade's surface, and shares its classes."""

from __future__ import annotations

import inspect

import pytest

import gatepay_async
import gatepay_sync
from gatepay_async import AsyncGatePay
from gatepay_sync import GatePay

#: Async-only: the fast asyncio transport has no sync twin.
ASYNC_ONLY = {"DefaultAioHttpClient"}
#: Names each facade has its own class of (openai-python's names for the httpx clients).
TWINS = {"AsyncGatePay": "GatePay", "DefaultAsyncHttpxClient": "DefaultHttpxClient"}
SHARED = [name for name in gatepay_async.__all__ if name not in {*TWINS, *ASYNC_ONLY}]


def test_both_packages_export_the_same_names() -> None:
    assert sorted(gatepay_sync.__all__) == sorted(
        TWINS.get(n, n) for n in gatepay_async.__all__ if n not in ASYNC_ONLY
    )
    assert not hasattr(gatepay_sync, "DefaultAioHttpClient")


@pytest.mark.parametrize("name", SHARED)
def test_shared_names_are_the_same_objects(name: str) -> None:
    assert getattr(gatepay_sync, name) is getattr(gatepay_async, name)


def _parameters(function: object) -> list[tuple[str, object, object]]:
    signature = inspect.signature(function)  # type: ignore[arg-type]
    return [(p.name, p.kind, p.default) for p in signature.parameters.values()]


def test_constructors_take_the_same_parameters_in_the_same_order() -> None:
    assert _parameters(GatePay.__init__) == _parameters(AsyncGatePay.__init__)
    assert list(inspect.signature(GatePay.__init__).parameters)[1:] == [
        "client_id",
        "secret_key",
        "base_url",
        "on_behalf_of",
        "api_key",
        "timeout",
        "max_retries",
        "http_client",
        "paths",
        "max_response_bytes",
        "ledger",
    ]


def _public_methods(cls: type) -> dict[str, object]:
    return {
        name: member
        for name, member in vars(cls).items()
        if not name.startswith("_") and callable(member)
    }


def test_gift_cards_methods_match() -> None:
    sync_client = GatePay(client_id="c", secret_key="s")
    async_client = AsyncGatePay(client_id="c", secret_key="s")
    sync_methods = _public_methods(type(sync_client.gift_cards))
    async_methods = _public_methods(type(async_client.gift_cards))
    assert sorted(sync_methods) == sorted(async_methods)
    assert {"create", "query", "balance", "list_templates", "merchant_balance"} <= set(sync_methods)
    for name, method in sync_methods.items():
        assert _parameters(method) == _parameters(async_methods[name]), name
        assert not inspect.iscoroutinefunction(method), name
        if name != "create_many":  # returns an async iterable rather than a coroutine
            assert inspect.iscoroutinefunction(async_methods[name]), name
    assert hasattr(async_client.gift_cards.create_many([]), "__aiter__")
    assert hasattr(sync_client.gift_cards.create_many([]), "__iter__")
    sync_client.close()


def test_sync_client_closes_and_async_client_acloses() -> None:
    assert callable(GatePay.close)
    assert inspect.iscoroutinefunction(AsyncGatePay.aclose)
    for name in ("__enter__", "__exit__"):
        assert hasattr(GatePay, name)
    for name in ("__aenter__", "__aexit__"):
        assert hasattr(AsyncGatePay, name)


@pytest.mark.parametrize("name", ["MerchantBalance", "PathSet"])
def test_balance_and_path_names_are_public_in_both_packages(name: str) -> None:
    assert name in gatepay_async.__all__
    assert name in gatepay_sync.__all__
    assert getattr(gatepay_sync, name) is getattr(gatepay_async, name)


def test_each_facade_has_its_default_httpx_client_of_its_kind() -> None:
    import httpx

    assert issubclass(gatepay_async.DefaultAsyncHttpxClient, httpx.AsyncClient)
    assert issubclass(gatepay_sync.DefaultHttpxClient, httpx.Client)
    assert not hasattr(gatepay_sync, "DefaultAsyncHttpxClient")


def test_with_options_and_raw_twins_exist_in_both_facades() -> None:
    for client in (
        GatePay(client_id="c", secret_key="s"),
        AsyncGatePay(client_id="c", secret_key="s"),
    ):
        copy = client.with_options(timeout=5.0, max_retries=0)
        assert type(copy) is type(client)
        raw = client.gift_cards.with_raw_response
        for name in (
            "list_templates",
            "create",
            "query",
            "balance",
            "merchant_balance",
            "wait_for_status",
        ):
            assert callable(getattr(raw, name)), name
