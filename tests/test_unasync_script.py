"""Tests of scripts/unasync.py, on sample text and on temporary trees (never the real one)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "unasync.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gatepay_unasync_script", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


unasync = _load()


# --------------------------------------------------------------------------------------
# One line at a time, with the default rules.
# --------------------------------------------------------------------------------------

# (async line, expected sync line or None for "deleted"); every default rule needs one.
SAMPLES: list[tuple[str, str | None]] = [
    # tests
    ("@pytest.mark.anyio", None),
    ("    @pytest.mark.anyio  ", None),
    ("from gatepay_async._aiohttp import DefaultAioHttpClient", None),
    ('    "DefaultAioHttpClient",', None),
    ("for name in sorted(ASYNC_HTTP_CLIENTS):", "for name in sorted(HTTP_CLIENTS):"),
    ("async def test_x(client: AsyncGatePay) -> None:", "def test_x(client: GatePay) -> None:"),
    # packages and modules
    (
        "from gatepay_async import AsyncGatePay, GiftCard",
        "from gatepay_sync import GatePay, GiftCard",
    ),
    (
        "    from gatepay_async import ValidationError",
        "    from gatepay_sync import ValidationError",
    ),
    ("import gatepay_async.sandbox", "import gatepay_async.sandbox"),
    ("from gatepay_async._errors import APIError", "from gatepay_async._errors import APIError"),
    (
        "from gatepay_async._client import AsyncGatePay",
        "from gatepay_sync._client import GatePay",
    ),
    (
        "from gatepay_async.resources.gift_cards import AsyncGiftCards",
        "from gatepay_sync.resources.gift_cards import GiftCards",
    ),
    ('patch("gatepay_async._client.logger")', 'patch("gatepay_sync._client.logger")'),
    ("from gatepay_async import GiftCard", "from gatepay_sync import GiftCard"),
    ("from tests._async.helpers import make", "from tests._sync.helpers import make"),
    ("from gatepay_async._client_x import y", "from gatepay_async._client_x import y"),
    # names
    ("class AsyncGatePay:", "class GatePay:"),
    ('__all__ = ["AsyncGatePay", "AsyncGiftCards"]', '__all__ = ["GatePay", "GiftCards"]'),
    ("self.gift_cards = AsyncGiftCards(self)", "self.gift_cards = GiftCards(self)"),
    ("self._sender = AsyncSender(client)", "self._sender = Sender(client)"),
    (
        "response = await transport.handle_async_request(request)",
        "response = transport.handle_request(request)",
    ),
    ("http_client: httpx.AsyncClient | None = None", "http_client: httpx.Client | None = None"),
    ("retrying = AsyncRetrying(stop=stop)", "retrying = Retrying(stop=stop)"),
    ("from collections.abc import AsyncIterator", "from collections.abc import Iterator"),
    ("def f(xs: AsyncIterable[int]) -> None:", "def f(xs: Iterable[int]) -> None:"),
    # the language
    ("    async def get(self) -> int:", "    def get(self) -> int:"),
    ("async with a as b, c as d:", "with a as b, c as d:"),
    ("    async with AsyncGatePay() as gp:", "    with GatePay() as gp:"),
    ("async for attempt in retrying:", "for attempt in retrying:"),
    ("ys = [y async for y in xs]", "ys = [y for y in xs]"),
    ("x = await f()", "x = f()"),
    ("    return await g(1, h=2)", "    return g(1, h=2)"),
    ("total = (await a()) + (await b())", "total = (a()) + (b())"),
    ("await self._http_client.aclose()", "self._http_client.close()"),
    ("async def __aenter__(self) -> AsyncGatePay:", "def __enter__(self) -> GatePay:"),
    (
        "async def __aexit__(self, *args: object) -> None:",
        "def __exit__(self, *args: object) -> None:",
    ),
    ("first = await anext(it)", "first = next(it)"),
    ("raise StopAsyncIteration", "raise StopIteration"),
    ("def __aiter__(self) -> AsyncBulkRun:", "def __iter__(self) -> BulkRun:"),
    (
        "async def __anext__(self) -> BulkResult:",
        "def __next__(self) -> BulkResult:",
    ),
    # the shared concurrency helpers (SYNC_NAMES)
    (
        "from gatepay_async._synchronization import AsyncLock, async_sleep",
        "from gatepay_async._synchronization import Lock, sleep",
    ),
    ("with AsyncCancelShield():", "with CancelShield():"),
    ("with AsyncAttemptDeadline(1.0) as deadline:", "with AttemptDeadline(1.0) as deadline:"),
    ("    async for chunk in response.aiter_raw():", "    for chunk in response.iter_raw():"),
    ("commit = AsyncGroupCommit(flush)", "commit = GroupCommit(flush)"),
    ("source = async_iterate(specs)", "source = iterate(specs)"),
    ("return AsyncBulkIssuer(self)", "return BulkIssuer(self)"),
    ("transport=AsyncShardedTransport(limits)", "transport=ShardedTransport(limits)"),
    ("pool = AsyncWorkerPool(4)", "pool = WorkerPool(4)"),
    ("results = AsyncChannel(4, 4)", "results = Channel(4, 4)"),
    ("limit = AsyncRateLimiter(10)", "limit = RateLimiter(10)"),
    ("    await async_sleep(0.5)", "    sleep(0.5)"),
    ("started = async_monotonic()", "started = monotonic()"),
]

# Lines that no rule may touch: word boundaries.
UNTOUCHED = [
    "x = MyAsyncGatePayX()",
    "class AsyncGatePayError(Exception): ...",
    "self.aclose_all()",
    "awaiting = True",
    "total = preawait + 1",
    "value = myanext(it) + iter_aiter(x)",
    "pool = SuperAsyncWorkerPool()",
    "async_sleeper = 1",
    "is_async_sleep = 2",
    "my_anyio_backend = 3",
    "def close(self) -> None:",
    "from gatepay_async.sandbox import create_app",
    "x = 'GatePay'",
]


@pytest.mark.parametrize(("line", "expected"), SAMPLES)
def test_rule_samples(line: str, expected: str | None) -> None:
    assert unasync.unasync_line(line) == expected


@pytest.mark.parametrize("line", UNTOUCHED)
def test_word_boundaries_leave_other_names_alone(line: str) -> None:
    assert unasync.unasync_line(line) == line


def test_every_default_rule_has_a_sample() -> None:
    used: set[int] = set()
    for line, _ in SAMPLES:
        unasync.unasync_line(line, used=used)
    missing = [rule.describe() for i, rule in enumerate(unasync.DEFAULT_RULES) if i not in used]
    assert missing == []


def test_no_untouched_line_uses_a_rule() -> None:
    used: set[int] = set()
    for line in UNTOUCHED:
        unasync.unasync_line(line, used=used)
    assert used == set()


def test_sync_names_become_rules() -> None:
    rules = unasync.compile_rules([], ["AsyncThing", "async_do"])
    assert [(r.pattern.pattern, r.replacement) for r in rules] == [
        (r"\bAsyncThing\b", "Thing"),
        (r"\basync_do\b", "do"),
    ]
    with pytest.raises(ValueError, match="neither Async nor async_"):
        unasync.compile_rules([], ["Lock"])


def test_a_deleting_rule_and_custom_rules() -> None:
    rules = unasync.compile_rules([(r"^drop me$", None), (r"\bfoo\b", "bar")])
    assert unasync.unasync_line("drop me", rules=rules, modules=[]) is None
    assert unasync.unasync_line("foo(food)", rules=rules, modules=[]) == "bar(food)"
    assert unasync.unasync_line("", rules=rules, modules=[]) == ""


# --------------------------------------------------------------------------------------
# Whole texts: header, relative imports, the anyio and leftover checks.
# --------------------------------------------------------------------------------------


def test_header_line() -> None:
    text = unasync.unasync_text("x = await f()\n", "gatepay_async/_client.py")
    assert text == (
        "# Generated by scripts/unasync.py from gatepay_async/_client.py. Do not edit.\nx = f()\n"
    )
    assert unasync.HEADER_RE.match(text.splitlines()[0]).group(1) == "gatepay_async/_client.py"


def test_empty_source_gives_just_the_header() -> None:
    text = unasync.unasync_text("", "tests/_async/__init__.py")
    assert text == "# Generated by scripts/unasync.py from tests/_async/__init__.py. Do not edit.\n"


def test_text_keeps_blank_lines_and_drops_deleted_ones() -> None:
    source = "import pytest\n\n\n@pytest.mark.anyio\nasync def test_a() -> None:\n    await g()\n"
    assert unasync.unasync_text(source, "tests/_async/test_a.py").splitlines()[1:] == [
        "import pytest",
        "",
        "",
        "def test_a() -> None:",
        "    g()",
    ]


def test_form_feed_and_crlf() -> None:
    text = unasync.unasync_text("a = 1\r\n\x0c\r\nb = 2", "p/a.py")
    assert text.split("\n")[1:] == ["a = 1", "\x0c", "b = 2", ""]
    assert text.endswith("b = 2\n")


def test_relative_imports_that_would_change_meaning_become_absolute() -> None:
    source = (
        "from .._errors import APIError\n"
        "from .._client import AsyncGatePay\n"
        "from . import other\n"
        "from .gift_cards import AsyncGiftCards\n"
    )
    text = unasync.unasync_text(
        source,
        "gatepay_async/resources/gift_cards.py",
        target="gatepay_sync/resources/gift_cards.py",
    )
    assert text.splitlines()[1:] == [
        "from gatepay_async._errors import APIError",
        "from .._client import GatePay",
        "from . import other",
        "from .gift_cards import GiftCards",
    ]


def test_relative_imports_from_a_renamed_file() -> None:
    source = "from ._client import AsyncGatePay\nfrom ._errors import APIError\n"
    text = unasync.unasync_text(
        source, "gatepay_async/__init__.py", target="gatepay_sync/__init__.py"
    )
    assert text.splitlines()[1:] == [
        "from ._client import GatePay",
        "from gatepay_async._errors import APIError",
    ]
    # without a target, relative imports are left alone
    plain = unasync.unasync_text(source, "gatepay_async/__init__.py")
    assert plain.splitlines()[2] == "from ._errors import APIError"


def test_anyio_in_sync_code_is_an_error_naming_file_and_line() -> None:
    source = "@pytest.mark.anyio\nasync def test_a() -> None:\n    await anyio.sleep(1)\n"
    with pytest.raises(unasync.UnasyncError) as info:
        unasync.unasync_text(source, "tests/_async/test_a.py")
    assert "tests/_async/test_a.py:3:" in str(info.value)
    assert "'anyio'" in str(info.value)


def test_import_anyio_is_an_error() -> None:
    with pytest.raises(unasync.UnasyncError, match=r"gatepay_async/x\.py:2: 'anyio'"):
        unasync.unasync_text("import time\nimport anyio\n", "gatepay_async/x.py")


def test_keep_marker_allows_anyio_and_still_transforms() -> None:
    source = "    await portal.call(anyio.sleep, 0)  # unasync: keep\n"
    text = unasync.unasync_text(source, "tests/_async/test_a.py")
    assert text.splitlines()[1] == "    portal.call(anyio.sleep, 0)  # unasync: keep"


def test_async_names_left_over_are_an_error() -> None:
    with pytest.raises(unasync.UnasyncError, match=r"p/a\.py:1: 'AsyncHTTPTransport'"):
        unasync.unasync_text("t = httpx.AsyncHTTPTransport()\n", "p/a.py")
    with pytest.raises(unasync.UnasyncError, match="'await'"):
        unasync.unasync_text("x = await f()\n", "p/a.py", rules=[], modules=[])
    with pytest.raises(unasync.UnasyncError, match="'async_retry'"):
        unasync.unasync_text("async_retry(f)\n", "p/a.py")
    kept = unasync.unasync_text("t = httpx.AsyncHTTPTransport()  # unasync: keep\n", "p/a.py")
    assert "AsyncHTTPTransport" in kept


def test_all_problems_of_a_file_are_reported() -> None:
    with pytest.raises(unasync.UnasyncError) as info:
        unasync.unasync_text("import anyio\nx = 1\ny = anyio.run\n", "p/a.py")
    assert "p/a.py:1:" in str(info.value)
    assert "p/a.py:3:" in str(info.value)


# --------------------------------------------------------------------------------------
# Runs over temporary trees.
# --------------------------------------------------------------------------------------

CLIENT = '''"""The client."""

from pkg_async.res.a import AsyncThing


class AsyncPkg:
    async def get(self) -> int:
        return await AsyncThing().get()
'''

THING = """class AsyncThing:
    async def get(self) -> int:
        return 1
"""

TINY_RULES = [
    (r"\basync\s+def\b", "def"),
    (r"\bawait\s+", ""),
    (r"\bAsyncThing\b", "Thing"),
    (r"\bAsyncPkg\b", "Pkg"),
]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "pkg_async" / "res").mkdir(parents=True)
    (tmp_path / "pkg_async" / "_client.py").write_text(CLIENT)
    (tmp_path / "pkg_async" / "res" / "__init__.py").write_text("")
    (tmp_path / "pkg_async" / "res" / "a.py").write_text(THING)
    return tmp_path


def make_config(root: Path, **overrides: object) -> object:
    settings: dict[str, object] = {
        "files": [("pkg_async/_client.py", "pkg_sync/_client.py")],
        "dirs": [("pkg_async/res", "pkg_sync/res", "*.py")],
        "optional": [],
        "rules": unasync.compile_rules(TINY_RULES),
        "sort_imports": False,
    }
    settings.update(overrides)
    return unasync.Config(root=root, **settings)


TARGETS = ["pkg_sync/_client.py", "pkg_sync/res/__init__.py", "pkg_sync/res/a.py"]


def snapshot(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_write_then_check_is_clean(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = make_config(tree)
    assert unasync.run(config, check_only=True) == 1  # nothing generated yet
    assert unasync.run(config, check_only=False) == 0
    out = capsys.readouterr().out
    for target in TARGETS:
        assert f"created {target}" in out
    client = (tree / "pkg_sync" / "_client.py").read_text()
    assert client.startswith(
        "# Generated by scripts/unasync.py from pkg_async/_client.py. Do not edit.\n"
    )
    assert "from pkg_sync.res.a import Thing" in client
    assert "        return Thing().get()" in client
    assert (tree / "pkg_sync" / "res" / "__init__.py").read_text() == (
        "# Generated by scripts/unasync.py from pkg_async/res/__init__.py. Do not edit.\n"
    )
    assert unasync.run(config, check_only=True) == 0
    assert unasync.run(config, check_only=False) == 0
    assert "0 changed" in capsys.readouterr().out


def test_check_detects_drift_and_writes_nothing(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(tree)
    unasync.run(config, check_only=False)
    target = tree / "pkg_sync" / "res" / "a.py"
    target.write_text(target.read_text().replace("return 1", "return 2"))
    capsys.readouterr()
    before = snapshot(tree)
    assert unasync.run(config, check_only=True) == 1
    out = capsys.readouterr().out
    assert "--- a/pkg_sync/res/a.py" in out
    assert "-        return 2" in out
    assert "+        return 1" in out
    assert snapshot(tree) == before
    assert unasync.run(config, check_only=False) == 0
    assert "updated pkg_sync/res/a.py" in capsys.readouterr().out
    assert unasync.run(config, check_only=True) == 0


def test_check_detects_a_missing_target(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = make_config(tree)
    unasync.run(config, check_only=False)
    (tree / "pkg_sync" / "_client.py").unlink()
    capsys.readouterr()
    assert unasync.run(config, check_only=True) == 1
    out = capsys.readouterr().out
    assert "missing: pkg_sync/_client.py (from pkg_async/_client.py)" in out
    assert "+class Pkg:" in out


def test_stale_files_are_reported_and_deleted(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(tree)
    unasync.run(config, check_only=False)
    hand_written = tree / "pkg_sync" / "res" / "extra.py"
    hand_written.write_text("x = 1\n")
    (tree / "pkg_async" / "res" / "a.py").unlink()
    # keep every rule in use without a.py
    (tree / "pkg_async" / "res" / "b.py").write_text(THING)
    capsys.readouterr()
    assert unasync.run(config, check_only=True) == 1
    out = capsys.readouterr().out
    assert "stale: pkg_sync/res/a.py" in out
    assert "pkg_sync/res/extra.py" not in out
    assert (tree / "pkg_sync" / "res" / "a.py").exists()
    assert unasync.run(config, check_only=False) == 0
    assert "deleted pkg_sync/res/a.py (stale)" in capsys.readouterr().out
    assert not (tree / "pkg_sync" / "res" / "a.py").exists()
    assert hand_written.exists()
    assert unasync.run(config, check_only=True) == 0


def test_an_unused_rule_fails_the_run(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = unasync.compile_rules([*TINY_RULES, (r"\bAsyncNobody\b", "Nobody")])
    config = make_config(tree, rules=rules)
    before = snapshot(tree)
    assert unasync.run(config, check_only=False) == 2
    err = capsys.readouterr().err
    assert r"rule '\bAsyncNobody\b' -> 'Nobody' was used by no generated file" in err
    assert "AsyncThing" not in err
    assert "nothing was written" in err
    assert snapshot(tree) == before
    assert unasync.run(config, check_only=True) == 2


def test_unused_rules_are_found_by_generate(tree: Path) -> None:
    rules = unasync.compile_rules([*TINY_RULES], ["AsyncLock", "async_sleep"])
    result = unasync.generate(make_config(tree, rules=rules))
    assert [e.split(" was ")[0] for e in result.errors] == [
        r"rule '\bAsyncLock\b' -> 'Lock'",
        r"rule '\basync_sleep\b' -> 'sleep'",
    ]


def test_missing_required_source_is_an_error(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = [("pkg_async/_client.py", "pkg_sync/_client.py"), ("pkg_async/_x.py", "pkg_sync/x.py")]
    assert unasync.run(make_config(tree, files=files), check_only=False) == 2
    assert "pkg_async/_x.py: required source is missing" in capsys.readouterr().err
    assert not (tree / "pkg_sync").exists()
    dirs = [("pkg_async/res", "pkg_sync/res", "*.py"), ("pkg_async/gone", "pkg_sync/gone", "*.py")]
    assert unasync.run(make_config(tree, dirs=dirs), check_only=False) == 2
    assert "pkg_async/gone: required source directory is missing" in capsys.readouterr().err


def test_missing_optional_source_is_skipped(tree: Path) -> None:
    files = [("pkg_async/_client.py", "pkg_sync/_client.py"), ("pkg_async/_x.py", "pkg_sync/x.py")]
    dirs = [("pkg_async/res", "pkg_sync/res", "*.py"), ("pkg_async/gone", "pkg_sync/gone", "*.py")]
    config = make_config(
        tree, files=files, dirs=dirs, optional=["pkg_async/_x.py", "pkg_async/gone"]
    )
    assert unasync.run(config, check_only=False) == 0
    assert sorted(snapshot(tree / "pkg_sync")) == ["_client.py", "res/__init__.py", "res/a.py"]
    # a target left from an optional source that went away is stale
    (tree / "pkg_sync" / "x.py").write_text(
        "# Generated by scripts/unasync.py from pkg_async/_x.py. Do not edit.\n"
    )
    assert unasync.run(config, check_only=True) == 1
    assert unasync.run(config, check_only=False) == 0
    assert not (tree / "pkg_sync" / "x.py").exists()


def test_anyio_leak_fails_the_run(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tree / "pkg_async" / "res" / "a.py").write_text("import anyio\n\n" + THING)
    assert unasync.run(make_config(tree), check_only=False) == 2
    err = capsys.readouterr().err
    assert "pkg_async/res/a.py:1: 'anyio' would be in the sync code" in err
    assert not (tree / "pkg_sync").exists()


def test_long_diffs_are_truncated(
    tree: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(unasync, "MAX_DIFF_LINES", 5)
    assert unasync.run(make_config(tree), check_only=True) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[5].startswith("... ")
    assert out[5].endswith(" more lines of diff")
    assert len(out) == 7


def test_imports_are_resorted_with_ruff(tree: Path) -> None:
    (tree / "pyproject.toml").write_text(
        '[tool.ruff.lint.isort]\nknown-first-party = ["pkg_async", "pkg_sync"]\n'
    )
    (tree / "pkg_async" / "_shared.py").write_text("X = 1\n")
    (tree / "pkg_async" / "res" / "a.py").write_text(
        "from pkg_async._client import AsyncPkg\nfrom pkg_async._shared import X\n\n"
        "__all__ = ['AsyncPkg', 'X']\n\n" + THING
    )
    result = unasync.generate(make_config(tree, sort_imports=True))
    assert result.errors == []
    lines = result.outputs["pkg_sync/res/a.py"].splitlines()
    assert lines[1:3] == ["from pkg_async._shared import X", "from pkg_sync._client import Pkg"]


def test_main_uses_the_repo_root_not_the_cwd(
    tree: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config(tree)
    for name in ("files", "dirs", "optional"):
        monkeypatch.setattr(unasync, name.upper(), getattr(config, name))
    monkeypatch.setattr(unasync, "DEFAULT_RULES", config.rules)
    monkeypatch.setattr(unasync, "REPO_ROOT", tree)
    real_config = unasync.Config
    monkeypatch.setattr(unasync, "Config", lambda root: real_config(root=root, sort_imports=False))
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    assert unasync.main(["--check"]) == 1
    assert unasync.main([]) == 0
    assert unasync.main(["--check"]) == 0
    assert (tree / "pkg_sync" / "_client.py").exists()


def test_script_runs_from_another_directory(tmp_path: Path) -> None:
    done = subprocess.run(  # noqa: S603 - this interpreter, our script
        [sys.executable, str(SCRIPT), "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0
    assert "--check" in done.stdout
