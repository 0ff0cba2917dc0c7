"""Shared pieces of the benchmark scripts: servers in child processes, the raw baseline's
signing, CPU accounting, statistics and the machine description.

Every server a benchmark talks to runs in a separate process, so that it does not share
the measured client's GIL (or, for the memory benchmark, its RSS).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from gatepay_async import CardSpec
from gatepay_async._http.signing import sign

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent

CLIENT_ID = "sandbox-client"
SECRET_KEY = "sandbox-secret"
TEMPLATE_ID = "255267012439183360"

#: The libraries whose versions go into the results.
LIBRARIES = (
    "gatepay",
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "attrs",
    "cattrs",
    "tenacity",
    "uvicorn",
    "starlette",
    "psutil",
    "pyinstrument",
)

_URL_LINE = re.compile(r"(http://127\.0\.0\.1:\d+)")


# --------------------------------------------------------------------------- arguments


def base_parser(description: str) -> argparse.ArgumentParser:
    """``--json PATH`` (write the results there) and ``--quick`` (a tiny run)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes: checks that the script runs"
    )
    return parser


def add_concurrency_option(parser: argparse.ArgumentParser, default: list[int]) -> None:
    """``--concurrency 64,256``: the levels a benchmark runs, comma-separated."""
    parser.add_argument(
        "--concurrency",
        type=lambda text: [int(x) for x in text.split(",")],
        default=default,
        help=f"comma-separated concurrency levels ({','.join(map(str, default))})",
    )


def emit(results: dict[str, Any], path: Path | None) -> None:
    """Print the results, and write them to ``path`` when given."""
    text = json.dumps(results, indent=2, default=str)
    if path is not None:
        path.write_text(text + "\n", encoding="utf-8")
    print(text)


# --------------------------------------------------------------------------- servers


def child_env() -> dict[str, str]:
    """The environment for child interpreters: this one's, with the repo importable last."""
    env = dict(os.environ)
    paths = [*filter(None, env.get("PYTHONPATH", "").split(os.pathsep)), str(REPO_ROOT)]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


class ServerProcess:
    """A server in a child process that prints ``http://127.0.0.1:PORT`` once listening.

    ``with ServerProcess([...]) as server: server.url``. Stopped with SIGTERM (then
    SIGKILL) on exit; only the process started here is ever signalled.
    """

    def __init__(self, args: Sequence[str], *, startup_timeout: float = 20.0) -> None:
        self.args = [sys.executable, *args]
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> ServerProcess:
        # The child's output goes to a file, not a pipe: nothing has to keep reading it.
        self._output = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            self.args,
            stdout=self._output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=child_env(),
            cwd=BENCH_DIR,
        )
        self.process = process
        deadline = time.monotonic() + self.startup_timeout
        while True:
            output = self.output()
            match = _URL_LINE.search(output)
            if match:
                self.url = match.group(1)
                break
            if time.monotonic() > deadline or process.poll() is not None:
                self.stop()
                raise RuntimeError(
                    f"server did not start: {' '.join(self.args[1:])}\n{output[-2000:]}"
                )
            time.sleep(0.02)
        self._wait_accepting(deadline)
        return self

    def output(self) -> str:
        """What the server has printed so far."""
        return os.pread(self._output.fileno(), 1 << 20, 0).decode("utf-8", "replace")

    def _wait_accepting(self, deadline: float) -> None:
        """The URL may be printed before the server listens: wait until it accepts."""
        host, port = self.url.rsplit("/", 1)[1].split(":")
        while True:
            try:
                socket.create_connection((host, int(port)), timeout=1.0).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"server never accepted: {self.url}") from None
                time.sleep(0.02)

    def stop(self) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self._output.close()
        self.process = None

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def sandbox_process(latency: float) -> ServerProcess:
    """The real sandbox (in-memory store) in a child process."""
    return ServerProcess(
        [
            "-m",
            "gatepay_async.sandbox",
            "--port",
            "0",
            "--latency",
            repr(latency),
            "--client-id",
            CLIENT_ID,
            "--secret-key",
            SECRET_KEY,
        ]
    )


def responder_process(*, latency: float | None = None) -> ServerProcess:
    """The minimal fixed-answer responder (``benchmarks/_responder.py``): uvicorn, or with
    ``latency`` its bare asyncio engine answering every request after that many seconds."""
    args = [str(BENCH_DIR / "_responder.py"), "--port", "0"]
    if latency is not None:
        args += ["--engine", "asyncio", "--latency", repr(latency)]
    return ServerProcess(args)


# --------------------------------------------------------------------------- CPU time

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` (Linux /proc, else psutil), or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS
    except (OSError, IndexError, ValueError):
        pass
    try:
        import psutil
    except ImportError:
        return None
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return None
    return float(times.user + times.system)


class CpuMeter:
    """CPU seconds used by this process and by one server process over a block."""

    def __init__(self, server_pid: int | None = None) -> None:
        self.server_pid = server_pid
        self.wall = self.client_cpu = 0.0
        self.server_cpu: float | None = None

    def __enter__(self) -> CpuMeter:
        self._server0 = process_cpu_seconds(self.server_pid) if self.server_pid else None
        self._cpu0 = time.process_time()
        self._wall0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall0
        self.client_cpu = time.process_time() - self._cpu0
        if self.server_pid and self._server0 is not None:
            after = process_cpu_seconds(self.server_pid)
            self.server_cpu = None if after is None else after - self._server0


# --------------------------------------------------------------------------- raw baseline


def raw_signed_headers(body: bytes) -> dict[str, str]:
    """What a hand-written client sends: the same header set the SDK sends, freshly signed."""
    timestamp = str(int(time.time() * 1000))
    nonce = secrets.token_hex(16)
    return {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-GatePay-Certificate-ClientId": CLIENT_ID,
        "X-GatePay-Timestamp": timestamp,
        "X-GatePay-Nonce": nonce,
        "X-GatePay-Signature": sign(SECRET_KEY, timestamp, nonce, body),
    }


def compact_json(payload: object) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def raw_data(status_code: int, content: bytes) -> Any:
    """Decode an answer the way a hand-written client would: json.loads, check, take data."""
    payload = json.loads(content)
    if status_code != 200 or payload.get("status") != "SUCCESS":
        raise RuntimeError(f"request failed: HTTP {status_code}: {content[:200]!r}")
    return payload["data"]


def create_payload(index: int = 0) -> dict[str, str]:
    return {
        "title": f"Bench {index}",
        "templateId": TEMPLATE_ID,
        "currency": "USDT",
        "amount": "0.99",
    }


# --------------------------------------------------------------------------- text

_PATH_PREFIXES = (
    re.compile(r"(?:/[\w.+-]+)+/(?:site-packages|lib/python3\.\d+)/"),
    re.compile(r"(?:/[\w.+-]+)+/(?=(?:gatepay_async|gatepay_sync|benchmarks|tests)/)"),
)


def without_machine_paths(text: str) -> str:
    """Paths made relative to the repository or to the library directory: results and
    profiles name files the way pyinstrument's frames already do, never by absolute path."""
    for pattern in _PATH_PREFIXES:
        text = pattern.sub("", text)
    return text


# --------------------------------------------------------------------------- numbers


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median, min, max and the inter-quartile range of a sample."""
    if not values:
        return {"median": float("nan"), "min": float("nan"), "max": float("nan")}
    ordered = sorted(values)
    result = {"median": median(ordered), "min": ordered[0], "max": ordered[-1]}
    if len(ordered) >= 4:
        q1, _, q3 = statistics.quantiles(ordered, n=4)
        result["q1"], result["q3"] = q1, q3
    return result


# --------------------------------------------------------------------------- machine


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024 / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def source_revision() -> str:
    """The commit of the gatepay_async being measured (``+ local changes`` if modified)."""
    import gatepay_async

    root = Path(gatepay_async.__file__).resolve().parent.parent

    def git(*args: str) -> str:
        return subprocess.run(  # noqa: S603 - git, with fixed arguments
            ["git", "-C", str(root), *args],  # noqa: S607 - git from PATH
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        changed = git("status", "--porcelain", "--untracked-files=no", "--", "gatepay_async")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + (" + local changes" if changed else "")


def _release() -> str:
    """The kernel's version number, without the build's local suffix."""
    match = re.match(r"\d+(?:\.\d+)*", platform.release())
    return match.group(0) if match else platform.release()


def machine_info() -> dict[str, Any]:
    """Cores, CPU model, memory, OS, Python and library versions (no host names, no paths)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count() or 0
    memory = _memory_gib()
    return {
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "cpu_model": _cpu_model(),
        "memory_gib": None if memory is None else round(memory, 1),
        "os": f"{platform.system()} {_release()} ({platform.machine()})",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "libraries": {name: _version(name) for name in LIBRARIES},
    }


class Rows:
    """Row numbers and specs, unique across every run of one benchmark (the SDK refuses
    a ref given twice in a run)."""

    def __init__(self) -> None:
        self.batch = 0

    def numbers(self, *, count: int | None = None, seconds: float | None = None) -> Iterator[int]:
        """0, 1, 2... until ``count`` rows were given or ``seconds`` have passed."""
        deadline = None if seconds is None else time.monotonic() + seconds
        index = 0
        while (count is None or index < count) and (
            deadline is None or time.monotonic() < deadline
        ):
            yield index
            index += 1

    def specs(
        self, *, count: int | None = None, seconds: float | None = None
    ) -> Iterator[CardSpec]:
        self.batch += 1
        prefix = f"b{self.batch}"
        for index in self.numbers(count=count, seconds=seconds):
            yield CardSpec(
                ref=f"{prefix}-{index}",
                title=f"Bench {index}",
                template_id=TEMPLATE_ID,
                currency="USDT",
                amount="0.99",
            )
