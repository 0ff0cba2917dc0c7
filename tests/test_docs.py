"""The documentation site's pages: every ``python`` block is collected and run (the root
conftest.py), every example a page shows is run by tests/test_examples.py, and the API
reference has a page for every public class and function of both packages."""

from __future__ import annotations

import importlib.util
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import yaml

import gatepay_async
import gatepay_sync

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted([*DOCS.glob("*.md"), *DOCS.glob("guides/*.md")])
SNIPPET = re.compile(r'^--8<-- "([^"]+)"$', flags=re.MULTILINE)


def load_hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("reference_hook", DOCS / "hooks" / "reference.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pytest_collects_every_python_block_of_the_docs() -> None:
    blocks = 0
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        blocks += len(re.findall(r"^```python$", text, flags=re.MULTILINE))
    assert blocks >= 10
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "-p", "no:xdist", "docs"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ},
    )  # fmt: skip
    assert collected.returncode == 0, collected.stdout + collected.stderr
    items = [line for line in collected.stdout.splitlines() if line.startswith("docs/")]
    assert len(items) == blocks


def test_an_included_example_is_one_its_test_runs() -> None:
    """A page shows a file of examples/ by including the file itself (so the page cannot
    drift from it) in a block that Sybil does not run, and that example has its test."""
    tests = (ROOT / "tests" / "test_examples.py").read_text(encoding="utf-8")
    shown = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        assert "<!-- skip: next" not in text, f"{page.name}: every block of a page runs"
        for title, included in re.findall(
            r'^``` \{ \.python title="([^"]+)" \}\n--8<-- "([^"]+)"\n```$', text, flags=re.M
        ):
            assert title == included, page.name
            assert included.startswith("examples/"), page.name
            assert (ROOT / included).is_file(), included
            assert f'"{Path(included).name}"' in tests, f"no test runs {included}"
            shown.append(included)
        examples = [path for path in SNIPPET.findall(text) if path.startswith("examples/")]
        assert len(examples) == text.count("``` { .python title="), page.name
    assert len(shown) >= 5


def test_every_page_is_in_the_navigation() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    listed: list[str] = []

    def walk(entries: list[object]) -> None:
        for entry in entries:
            if isinstance(entry, dict):
                for value in entry.values():
                    walk(value) if isinstance(value, list) else listed.append(value)

    walk(config["nav"])
    assert sorted(listed) == sorted(str(page.relative_to(DOCS)) for page in PAGES)
    assert config["strict"] is True


def test_the_reference_has_a_page_for_every_public_class_and_function() -> None:
    hook = load_hook()
    pages = {path: markdown for _, entries in hook._pages() for _, path, markdown in entries}
    for package in (gatepay_async, gatepay_sync):
        for name in package.__all__:
            value = getattr(package, name)
            if not (inspect.isclass(value) or inspect.isfunction(value)):
                continue
            markdown = pages[f"reference/{package.__name__}/{name}.md"]
            shared = package is gatepay_sync and getattr(gatepay_async, name, None) is value
            if shared:  # the same class: a page that points to gatepay_async's
                assert f"[`gatepay_async.{name}`]" in markdown
            else:
                assert f"::: {package.__name__}.{name}\n" in markdown
    # The facades' own classes are documented on their own pages.
    assert "::: gatepay_sync.GatePay\n" in pages["reference/gatepay_sync/GatePay.md"]
    assert "::: gatepay_async.AsyncGatePay\n" in pages["reference/gatepay_async/AsyncGatePay.md"]
    assert "reference/gatepay_async.sandbox/SandboxServer.md" in pages


def test_the_command_reference_finds_the_click_group() -> None:
    from gatepay_async.cli._app import cli

    module = load_hook()._cli_module()
    assert importlib.import_module(module).cli is cli


def test_the_command_reference_includes_the_lazily_loaded_commands() -> None:
    """``sandbox`` is loaded only when asked for, and mkdocs-click lists only loaded ones:
    the hook adds it (and any other such command) to the page."""
    directives = load_hook()._lazy_commands()
    assert ":prog_name: gatepay sandbox\n" in directives
