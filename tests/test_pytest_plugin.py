"""The gatepay_sandbox pytest plugin, run the way a merchant's suite runs it (pytester).

Each test runs pytest in a subprocess with plugin autoloading off and the plugin named
explicitly, so the result is the same whether or not this checkout is installed with its
``pytest11`` entry point (``test_the_entry_point_is_declared`` checks that part).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from tests.secret_leaks import leaked_pieces

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = "gatepay_async.pytest_plugin"


@pytest.fixture(autouse=True)
def _no_plugin_autoload(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


def run(pytester: pytest.Pytester, *args: str, inprocess: bool = False) -> pytest.RunResult:
    """pytest on pytester's directory; in a subprocess unless ``inprocess`` (which lets
    coverage see the plugin run)."""
    pytester.syspathinsert(ROOT)
    plugins = ("-p", PLUGIN, "-p", "anyio.pytest_plugin", "-p", "no:cacheprovider")
    if inprocess:
        return pytester.runpytest_inprocess(*plugins, "-q", *args)
    return pytester.runpytest_subprocess(*plugins, "-q", *args, timeout=240)


def readme_example() -> str:
    """The python block of the README's "Testing your integration" section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Testing your integration", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, "the README section has no python block"
    return match.group(1)


def test_the_readme_example_passes_as_pasted(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_gift_cards=readme_example())
    result = run(pytester)
    outcomes = result.parseoutcomes()
    # 10 tests; the async one runs once per anyio backend the environment offers.
    assert outcomes.get("passed", 0) >= 10, outcomes
    assert set(outcomes) <= {"passed", "warnings"}, outcomes


def test_each_test_gets_its_own_sandbox(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        seen = []

        def test_first(gatepay_sandbox):
            gp = gatepay_sandbox.client()
            gp.gift_cards.create(title="a", template_id="255267012439183360",
                                 currency="USDT", amount="1")
            seen.append((gatepay_sandbox.base_url, gatepay_sandbox.secret_key))
            assert gatepay_sandbox.sandbox.store.count() == 1

        def test_second(gatepay_sandbox):
            assert gatepay_sandbox.sandbox.store.count() == 0
            assert gatepay_sandbox.attempts() == 0
            assert (gatepay_sandbox.base_url, gatepay_sandbox.secret_key) != seen[0]
            assert gatepay_sandbox.base_url.startswith("http://127.0.0.1:")
        """
    )
    run(pytester, inprocess=True).assert_outcomes(passed=2)


def test_the_marker_and_the_config_fixture_configure_the_sandbox(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest
        from gatepay_async.sandbox import TransitionRefused

        @pytest.fixture
        def gatepay_sandbox_config():
            return {"client_id": "merchant-42"}

        @pytest.mark.gatepay_sandbox(pending_seconds=60)
        def test_pending(gatepay_sandbox):
            assert gatepay_sandbox.client_id == "merchant-42"
            gp = gatepay_sandbox.client()
            card = gp.gift_cards.create(title="a", template_id="255267012439183360",
                                        currency="USDT", amount="1")
            assert gp.gift_cards.query(key=card.key).status.name == "PENDING_PAYMENT"
            with pytest.raises(TransitionRefused):
                gatepay_sandbox.redeem(card.card_number)
        """
    )
    run(pytester, "--strict-markers", inprocess=True).assert_outcomes(passed=1)


def test_without_the_sandbox_extra_pytest_still_runs(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import sys
        sys.modules["starlette"] = None  # as if the sandbox extra were not installed
        """
    )
    pytester.makepyfile(
        """
        def test_plain():
            assert True

        def test_wants_the_sandbox(gatepay_sandbox):
            pass
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*gatepay_sandbox fixture needs the 'sandbox' extra*(starlette is missing)"]
    )
    result.stdout.no_fnmatch_line("*During handling*")


def test_the_plugin_module_imports_nothing_of_the_sandbox() -> None:
    """Loaded by every pytest run where gatepay is installed: it must stay cheap and safe."""
    import subprocess

    code = (
        "import sys, gatepay_async.pytest_plugin;"
        "print(any(m.startswith(('starlette', 'uvicorn', 'gatepay_async.sandbox'))"
        " for m in sys.modules))"
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "False"


def test_the_entry_point_is_declared() -> None:
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["entry-points"]["pytest11"] == {"gatepay": PLUGIN}


def test_the_handle_offers_env_repr_and_faults() -> None:
    from gatepay_async.sandbox import GatePaySandbox

    with GatePaySandbox() as handle:
        assert handle.env == {
            "GATEPAY_BASE_URL": handle.base_url,
            "GATEPAY_CLIENT_ID": handle.client_id,
            "GATEPAY_SECRET_KEY": handle.secret_key,
        }
        assert handle.base_url in repr(handle)
        assert not leaked_pieces(handle.secret_key, repr(handle))
        fault = handle.inject("templates:status=503,times=1")
        assert handle.sandbox.faults == [fault]
        handle.clear_faults()
        assert handle.sandbox.faults == []
        gp = handle.client(max_retries=0)
        assert gp.gift_cards.list_templates()
        assert handle.attempts("templates") == 1
    assert "not running" in repr(handle)
