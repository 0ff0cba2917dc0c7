"""Tests of scripts/unasync.py: its rules on sample lines, and runs over temporary trees."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "unasync.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gatepay_unasync_script", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


unasync = _load()

# (async line, sync line or None for "dropped"): every rule needs at least one.
SAMPLES: list[tuple[str, str | None]] = [
    ("    @pytest.mark.anyio", None),
    (
        "from gatepay_async._http.aiohttp_transport import DefaultAioHttpClient"
        "  # unasync: async-only",
        None,
    ),
    ('    "DefaultAioHttpClient",  # unasync: async-only', None),
    ("from gatepay_async import AsyncGatePay", "from gatepay_sync import GatePay"),
    ("from tests._async.test_bulk import spec", "from tests._sync.test_bulk import spec"),
    ("class AsyncBulkRun(AsyncIterator[BulkResult]):", "class BulkRun(Iterator[BulkResult]):"),
    ("http: httpx.AsyncClient | None = None", "http: httpx.Client | None = None"),
    ("specs: AsyncSpecs,", "specs: Specs,"),
    ("now = async_monotonic()", "now = monotonic()"),
    ("for name in sorted(ASYNC_HTTP_CLIENTS):", "for name in sorted(HTTP_CLIENTS):"),
    ("    async def get(self) -> int:", "    def get(self) -> int:"),
    ("    async with lock:", "    with lock:"),
    ("    async for row in rows:", "    for row in rows:"),
    ("return [x async for x in rows]", "return [x for x in rows]"),
    ("    return await self._send(await build())", "    return self._send(build())"),
    ("async def __aenter__(self) -> AsyncGatePay:", "def __enter__(self) -> GatePay:"),
    ("async def __aexit__(self, *e: object) -> None:", "def __exit__(self, *e: object) -> None:"),
    ("def __aiter__(self) -> AsyncBulkRun:", "def __iter__(self) -> BulkRun:"),
    ("async def __anext__(self) -> BulkResult:", "def __next__(self) -> BulkResult:"),
    ("await self._http.aclose()", "self._http.close()"),
    ("return await anext(self._results)", "return next(self._results)"),
    ("async for chunk in response.aiter_raw():", "for chunk in response.iter_raw():"),
    ("await transport.handle_async_request(req)", "transport.handle_request(req)"),
    ("class _Stream(httpx.AsyncByteStream):", "class _Stream(httpx.SyncByteStream):"),
    (
        "from ._transport import DefaultAsyncHttpxClient",
        "from ._transport import DefaultHttpxClient",
    ),
    ("except StopAsyncIteration:", "except StopIteration:"),
]

# Lines no rule may touch: the rules are word-bounded.
UNTOUCHED = [
    "import asyncio",
    "def test_async_names() -> None:",
    'request.getfixturevalue("anyio_backend")',
    "from tests.http_clients import ASYNCIO_ONLY",
    "awaited = aclosed = anextra = 1",
    "from gatepay_async._errors import GatePayError",
    "from gatepay_async.sandbox import SandboxServer",
    "class NotAsyncable: ...",
    "async_",
]


@pytest.mark.parametrize(("line", "expected"), SAMPLES)
def test_rule_samples(line: str, expected: str | None) -> None:
    assert unasync.unasync_line(line) == expected


@pytest.mark.parametrize("line", UNTOUCHED)
def test_rules_are_word_bounded(line: str) -> None:
    assert unasync.unasync_line(line) == line


# The first rules name the generated modules (one per entry but __init__.py): tested below.
MODULE_RULES = sum(not source.endswith("__init__.py") for source, _ in unasync.GENERATED)


def test_every_rule_has_a_sample() -> None:
    for pattern, _ in unasync.SUBS[MODULE_RULES:]:
        assert any(pattern.search(line) for line, _ in SAMPLES), pattern.pattern


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "from gatepay_async._bulk.worker_pool import AsyncWorkerPool",
            "from gatepay_sync._bulk.worker_pool import WorkerPool",
        ),
        ("from tests._async.test_bulk import rows", "from tests._sync.test_bulk import rows"),
        ("import gatepay_async.resources.bulk", "import gatepay_sync.resources.bulk"),
        # shared modules stay where they are; so does a name that only starts alike
        ("from gatepay_async._errors import GatePayError", None),
        ("from gatepay_async._client_names import X", None),
        ("from gatepay_async import AsyncGatePay", "from gatepay_sync import GatePay"),
    ],
)
def test_a_generated_module_named_in_full_becomes_its_twin(line: str, expected: str | None) -> None:
    assert unasync.unasync_line(line) == (line if expected is None else expected)


def test_a_file_gets_a_header_and_loses_its_dropped_lines() -> None:
    source = '"""Doc."""\n\nimport pytest\n\n\n@pytest.mark.anyio\nasync def test_a() -> None:\n'
    assert unasync.unasync_text(source + "    await go()\n", "tests/_async/test_a.py") == (
        "# Generated by scripts/unasync.py from tests/_async/test_a.py. Do not edit.\n"
        '"""Doc."""\n\nimport pytest\n\n\ndef test_a() -> None:\n    go()\n'
    )


@pytest.mark.parametrize(
    "line",
    ["await(go())", "async  def f(): ...", "x = _AsyncHelper()", "import anyio", "anyio.run(f)"],
)
def test_a_line_left_async_names_its_source_line(line: str) -> None:
    with pytest.raises(ValueError, match=r"^src/a\.py:2: still async after the rules"):
        unasync.unasync_text(f"x = 1\n{line}\n", "src/a.py")


def test_every_leftover_of_a_file_is_reported() -> None:
    with pytest.raises(ValueError, match=r"(?s)src/a\.py:1: .*\nsrc/a\.py:3: "):
        unasync.unasync_text("import anyio\nok = 1\nawait(x)\n", "src/a.py")


# Runs over a temporary tree: one generated file and one generated folder.
GENERATED = [("pkg_async/_client.py", "pkg_sync/_client.py"), ("pkg_async/res", "pkg_sync/res")]
CLIENT = '"""The AsyncPkg client."""\n\nfrom .res.a import AsyncThing\n\n\nclass AsyncPkg:\n'
CLIENT += "    async def get(self) -> int:\n        return await AsyncThing().get()\n"
THING = "class AsyncThing:\n    async def get(self) -> int:\n        return 1\n"
HEADER = "# Generated by scripts/unasync.py from {}. Do not edit.\n"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "pkg_async" / "res").mkdir(parents=True)
    (tmp_path / "pkg_async" / "_client.py").write_text(CLIENT)
    (tmp_path / "pkg_async" / "res" / "__init__.py").write_text("")
    (tmp_path / "pkg_async" / "res" / "a.py").write_text(THING)
    return tmp_path


def snapshot(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text() for p in root.rglob("*") if p.is_file()}


def test_write_then_check_is_clean(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert unasync.run(tree, GENERATED, check=False) == 0
    assert (tree / "pkg_sync" / "_client.py").read_text() == (
        HEADER.format("pkg_async/_client.py")
        + '"""The Pkg client."""\n\nfrom .res.a import Thing\n'
        "\n\nclass Pkg:\n    def get(self) -> int:\n        return Thing().get()\n"
    )
    assert (tree / "pkg_sync" / "res" / "__init__.py").read_text() == HEADER.format(
        "pkg_async/res/__init__.py"
    )
    assert "wrote pkg_sync/res/a.py" in capsys.readouterr().out
    before = snapshot(tree)
    assert unasync.run(tree, GENERATED, check=True) == 0
    assert unasync.run(tree, GENERATED, check=False) == 0
    assert "wrote" not in capsys.readouterr().out
    assert snapshot(tree) == before


def test_check_shows_drift_and_writes_nothing(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert unasync.run(tree, GENERATED, check=False) == 0
    (tree / "pkg_async" / "res" / "a.py").write_text(THING.replace("return 1", "return 2"))
    (tree / "pkg_sync" / "_client.py").unlink()
    before = snapshot(tree)
    capsys.readouterr()
    assert unasync.run(tree, GENERATED, check=True) == 1
    out = capsys.readouterr().out
    assert "-        return 1\n+        return 2\n" in out
    assert "+++ b/pkg_sync/_client.py" in out
    assert "out of date" in out
    assert snapshot(tree) == before


def test_a_long_diff_is_cut_short(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tree / "pkg_async" / "res" / "a.py").write_text("x = 1\n" * 100)
    assert unasync.run(tree, GENERATED, check=True) == 1
    out = capsys.readouterr().out
    assert out.count("+x = 1") < 50
    assert "more lines of diff for pkg_sync/res/a.py" in out


def test_a_generated_file_whose_source_is_gone_is_stale(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert unasync.run(tree, GENERATED, check=False) == 0
    (tree / "pkg_async" / "res" / "a.py").unlink()
    (tree / "pkg_sync" / "res" / "handwritten.py").write_text("x = 1\n")  # no header: kept
    capsys.readouterr()
    before = snapshot(tree)
    assert unasync.run(tree, GENERATED, check=True) == 1
    assert "stale pkg_sync/res/a.py" in capsys.readouterr().out
    assert snapshot(tree) == before
    assert unasync.run(tree, GENERATED, check=False) == 0
    assert "removed pkg_sync/res/a.py" in capsys.readouterr().out
    assert not (tree / "pkg_sync" / "res" / "a.py").exists()
    assert (tree / "pkg_sync" / "res" / "handwritten.py").exists()
    assert unasync.run(tree, GENERATED, check=True) == 0


@pytest.mark.parametrize("check", [True, False])
def test_a_leftover_fails_the_run_and_writes_nothing(
    tree: Path, capsys: pytest.CaptureFixture[str], check: bool
) -> None:
    (tree / "pkg_async" / "res" / "a.py").write_text(THING + "import anyio\n")
    assert unasync.run(tree, GENERATED, check=check) == 2
    assert "pkg_async/res/a.py:4: still async" in capsys.readouterr().err
    assert not (tree / "pkg_sync").exists()


@pytest.mark.parametrize("missing", ["pkg_async/_client.py", "pkg_async/res"])
def test_a_missing_source_fails_the_run(
    tree: Path, capsys: pytest.CaptureFixture[str], missing: str
) -> None:
    assert unasync.run(tree, GENERATED, check=False) == 0
    before = snapshot(tree)
    if missing.endswith(".py"):
        (tree / missing).unlink()
    else:
        for path in (tree / missing).iterdir():
            path.unlink()
        (tree / missing).rmdir()
    assert unasync.run(tree, GENERATED, check=False) == 2
    assert missing in capsys.readouterr().err
    assert snapshot(tree) == {k: v for k, v in before.items() if not k.startswith(missing)}


def test_the_committed_tree_is_up_to_date_with_the_standard_library_only() -> None:
    # -I -S: no site-packages and no PYTHONPATH (nox runs it in an empty environment);
    # from another directory, so the script finds the repository itself.
    done = subprocess.run(  # noqa: S603 - this interpreter, our script
        [sys.executable, "-I", "-S", str(SCRIPT), "--check"],
        cwd=SCRIPT.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "up to date" in done.stdout


def test_generated_docstrings_describe_the_sync_code() -> None:
    import gatepay_sync

    assert gatepay_sync.__doc__ is not None
    assert "async" not in gatepay_sync.__doc__.splitlines()[0].lower()
    for _, target in unasync.GENERATED:
        for path in [ROOT / target] if target.endswith(".py") else (ROOT / target).rglob("*.py"):
            assert "source of" not in path.read_text(), path


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "from collections.abc import AsyncIterator, Callable, Iterator\n",
            "from collections.abc import Iterator, Callable\n",
        ),
        (
            "from x import (\n    AsyncLock,\n    Lock,\n    async_sleep,\n)\n",
            "from x import (\n    Lock,\n    sleep,\n)\n",
        ),
        ("from x import AsyncLock as L, Lock\n", "from x import Lock as L, Lock\n"),
    ],
)
def test_an_import_names_each_name_once(source: str, expected: str) -> None:
    generated = unasync.unasync_text(source, "gatepay_async/x.py")
    assert generated.split("\n", 1)[1] == expected


def test_what_is_generated_follows_from_the_code(tmp_path: Path) -> None:
    files = {
        "__init__.py": '"""The face."""\n',
        "_client.py": "async def get() -> int:\n    return 1\n",
        "_errors.py": "class Error(Exception):\n    pass\n",  # no async code: shared
        # "await" in a docstring or a comment is no async code
        "_wire/__init__.py": "",
        "_wire/text.py": '"""Never await this."""\n# await\n',
        # async code two folders down: the __init__.py on the way are generated too
        "_http/__init__.py": '"""HTTP."""\n',
        "_http/inner/__init__.py": "",
        "_http/inner/send.py": "async def send() -> None:\n    async with x:\n        pass\n",
        "_http/fast.py": "# unasync: async-only\nasync def fast() -> None:\n    pass\n",
        "_primitives/__init__.py": "",
        "_primitives/sync.py": "# unasync: shared\nasync def sleep() -> None:\n    pass\n",
        "app/__init__.py": "# unasync: async-only\n",
        "app/serve.py": "async def serve() -> None:\n    await x\n",
    }
    for name, text in files.items():
        path = tmp_path / "gatepay_async" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert unasync.generated_modules(tmp_path) == [
        ("gatepay_async/__init__.py", "gatepay_sync/__init__.py"),
        ("gatepay_async/_client.py", "gatepay_sync/_client.py"),
        ("gatepay_async/_http/__init__.py", "gatepay_sync/_http/__init__.py"),
        ("gatepay_async/_http/inner/__init__.py", "gatepay_sync/_http/inner/__init__.py"),
        ("gatepay_async/_http/inner/send.py", "gatepay_sync/_http/inner/send.py"),
    ]


def test_the_generated_modules_are_the_ones_gatepay_sync_has() -> None:
    sources = {source for source, _ in unasync.GENERATED}
    assert "gatepay_async/_http/transport.py" in sources
    assert "gatepay_async/_http/aiohttp_transport.py" not in sources  # async-only
    assert "gatepay_async/_primitives/synchronization.py" not in sources  # shared
    targets = {target for _, target in unasync.GENERATED if target.startswith("gatepay_sync/")}
    assert targets == {
        path.relative_to(ROOT).as_posix() for path in (ROOT / "gatepay_sync").rglob("*.py")
    }
