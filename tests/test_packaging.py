"""What the project declares about itself agrees: the version in pyproject.toml and
``__version__``, the supported Pythons in the classifiers, requires-python and the nox
sessions, the licence file, the changelog's heading, the development tools kept out of
the published extras, and the README's test command with what CI runs."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import gatepay_async
import gatepay_sync

ROOT = Path(__file__).resolve().parents[1]
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the dev group's tomli, which became tomllib
    import tomli as tomllib


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_one_version_everywhere() -> None:
    version = pyproject()["project"]["version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+((a|b|rc)\d+)?", version)
    assert gatepay_async.__version__ == version
    assert gatepay_sync.__version__ == version
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert re.search(rf"^## \[{re.escape(version)}\] - \d{{4}}-\d\d-\d\d$", changelog, re.M)
    assert "## [Unreleased]" in changelog


def test_every_supported_python_is_declared_and_tested() -> None:
    project = pyproject()["project"]
    assert project["requires-python"] == f">={PYTHONS[0]}"
    for version in PYTHONS:
        assert f"Programming Language :: Python :: {version}" in project["classifiers"]
    noxfile = (ROOT / "noxfile.py").read_text(encoding="utf-8")
    assert f"PYTHONS = {PYTHONS!r}".replace("'", '"') in noxfile
    assert "@nox.session(python=PYTHONS)\ndef tests(" in noxfile


def test_the_licence_is_mit_and_shipped() -> None:
    project = pyproject()["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    licence = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert licence.startswith("MIT License\n")
    assert "Copyright (c) 2026 the gatepay authors" in licence
    sdist = pyproject()["tool"]["hatch"]["build"]["targets"]["sdist"]["include"]
    for needed in ("LICENSE", "CHANGELOG.md", "conftest.py", "noxfile.py", "docs", "tests",
                   "examples", "mkdocs.yml", "benchmarks"):  # fmt: skip
        assert needed in sdist


def test_development_tools_are_groups_not_published_extras() -> None:
    config = pyproject()
    assert set(config["project"]["optional-dependencies"]) == {
        "cli",
        "sandbox",
        "http2",
        "aiohttp",
        "postgres",
    }
    groups = config["dependency-groups"]
    names = {req.split(">")[0].split("[")[0] for req in groups["dev"] if isinstance(req, str)}
    assert {"pytest", "pytest-xdist", "ruff", "mypy", "nox", "sybil"} <= names
    assert {"include-group": "docs"} in groups["dev"]
    assert any(req.startswith("mkdocs-material") for req in groups["docs"])
    assert {"build", "twine"} <= {req.split(">")[0] for req in groups["package"]}


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = re.search(r"^python3 -m venv \.venv-ci && (.*)$", readme, re.M)
    assert command is not None
    assert "nox -s ci" in command.group(1)
    assert ".venv-ci/bin/nox -s ci" in ci
    noxfile = (ROOT / "noxfile.py").read_text(encoding="utf-8")
    ci_session = noxfile.split("def ci(", 1)[1]
    for notified in ('f"tests-{OLDEST}"', 'f"tests-{NEWEST}"', '"docs"', '"package"'):
        assert f"session.notify({notified}" in ci_session
