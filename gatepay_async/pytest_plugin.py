"""The ``gatepay_sandbox`` pytest fixture (registered under the ``pytest11`` entry point).

Installed with every ``gatepay``, so this module imports nothing beyond pytest until a
test asks for the fixture: pytest keeps working without the ``sandbox`` extra, and a
test that uses the fixture then fails with a message saying what to install.

Usage::

    def test_redeemed_card(gatepay_sandbox):
        gp = gatepay_sandbox.client()
        card = gp.gift_cards.create(title="t", template_id="255267012439183360",
                                    currency="USDT", amount="5")
        gatepay_sandbox.redeem(card.card_number)
        assert gp.gift_cards.balance(card_number=card.card_number).amount == 0

Configure a test's sandbox with the marker ``@pytest.mark.gatepay_sandbox(**fields)``
(``SandboxConfig`` fields, e.g. ``pending_seconds=2``), or for a whole module or
directory by overriding the fixture ``gatepay_sandbox_config`` (a dict of those fields).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from gatepay_async.sandbox._fixture import GatePaySandbox

__all__ = ["gatepay_sandbox", "gatepay_sandbox_config", "pytest_configure"]

_MISSING_EXTRA = (
    "the gatepay_sandbox fixture needs the 'sandbox' extra: "
    "pip install 'gatepay[sandbox]' ({name} is missing)"
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "gatepay_sandbox(**fields): SandboxConfig fields for this test's gatepay_sandbox",
    )


@pytest.fixture
def gatepay_sandbox_config() -> dict[str, Any]:
    """SandboxConfig fields for ``gatepay_sandbox``; override it to change every test's."""
    return {}


@pytest.fixture
def gatepay_sandbox(
    request: pytest.FixtureRequest, gatepay_sandbox_config: dict[str, Any]
) -> Iterator[GatePaySandbox]:
    """A GatePay sandbox served on 127.0.0.1 for this test only (its own cards, faults,
    credentials and port); stopped, with the clients it made, when the test ends."""
    missing = None
    try:
        from gatepay_async.sandbox._fixture import GatePaySandbox, fixture_config
    except ImportError as exc:
        missing = (exc.name or "a dependency").split(".")[0]
    if missing is not None:  # outside the except: no chained traceback in the report
        pytest.fail(_MISSING_EXTRA.format(name=missing), pytrace=False)
    fields = dict(gatepay_sandbox_config)
    for marker in reversed(list(request.node.iter_markers("gatepay_sandbox"))):
        fields.update(marker.kwargs)
    with GatePaySandbox(fixture_config(**fields)) as sandbox:
        yield sandbox
