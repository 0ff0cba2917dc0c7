"""Runs every ``python`` block of README.md and of the documentation site's pages
(docs/*.md, docs/guides/*.md), in order, as a reader would paste them.

Sybil collects README.md and docs/ (pytest's ``testpaths`` names them): each block is one
test, all blocks of a file share one namespace, and a block preceded by ``<!-- skip: next -->``
is skipped. Each block runs against a sandbox served on 127.0.0.1, with the
``GATEPAY_*`` variables the README tells the reader to export, in an empty directory
(the bulk example writes a journal there). Each block must print something.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sybil import Sybil
from sybil.parsers.markdown import PythonCodeBlockParser, SkipParser

from gatepay_async.sandbox import SandboxConfig, SandboxServer

#: What README.md's "Try it against the sandbox" has the reader export (the sandbox's
#: default credentials; the port is whatever is free).
README_CREDENTIALS = {"GATEPAY_CLIENT_ID": "sandbox-client", "GATEPAY_SECRET_KEY": "sandbox-secret"}


@pytest.fixture(scope="session")
def readme_sandbox() -> Iterator[SandboxServer]:
    """The sandbox as `gatepay sandbox` starts it (default settings), on a free port."""
    with SandboxServer(SandboxConfig()) as server:
        yield server


_CALL_REPORT = pytest.StashKey[pytest.TestReport]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each test's call report, so the README fixture knows whether a block ran."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call":
        item.stash[_CALL_REPORT] = report


@pytest.fixture
def readme_environment(
    readme_sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> Iterator[None]:
    """The reader's shell; afterwards, the block must have printed something (a block
    that defines ``main()`` and never calls it prints nothing)."""
    monkeypatch.setenv("GATEPAY_BASE_URL", readme_sandbox.url)
    for name, value in README_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("GATEPAY_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    yield
    printed = capsys.readouterr().out
    report = request.node.stash.get(_CALL_REPORT, None)
    ran_python = type(request.node.example.region.evaluator).__name__ == "PythonEvaluator"
    if ran_python and report is not None and report.passed:  # not a skip, nor its directive
        assert printed.strip(), "this README block printed nothing: does it run what it defines?"


def pytest_configure(config: pytest.Config) -> None:
    """Register the SDK's pytest plugin here when its entry point is blocked.

    ``nox -s tests`` measures coverage with ``-p no:gatepay``: pytest imports entry-point
    plugins before pytest-cov starts measuring, so the plugin's import of gatepay_async
    (every module's top level) would go unmeasured. Registered from here, it is imported
    once measuring has begun."""
    if not config.pluginmanager.has_plugin("gatepay"):
        config.pluginmanager.import_plugin("gatepay_async.pytest_plugin")


pytest_collect_file = Sybil(
    parsers=[PythonCodeBlockParser(), SkipParser()],
    patterns=["README.md", "docs/*.md", "docs/guides/*.md"],
    fixtures=["readme_environment"],
).pytest()
