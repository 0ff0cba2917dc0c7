"""Check a built wheel and sdist: what each carries and what the wheel's metadata says.

``python scripts/check_dist.py WHEEL SDIST`` exits non-zero, naming every problem, when
the licence file is missing from either, the wheel publishes the project's development
tools as an extra, a supported Python has no classifier, or the sdist lacks a file its
tests need to run after unpacking.
"""

from __future__ import annotations

import re
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

#: The source's version, read as text: this runs where the package is not installed.
_VERSION_FILE = Path(__file__).resolve().parents[1] / "gatepay_async" / "_primitives" / "version.py"
__version__ = re.findall(r'^__version__ = "([^"]+)"$', _VERSION_FILE.read_text(), re.M)[0]

PYTHONS = ("3.10", "3.11", "3.12", "3.13")
#: Runtime extras only: the development tools are dependency groups, never published.
EXTRAS = {"cli", "sandbox", "http2", "aiohttp", "postgres"}
#: What the sdist's tests need beside the packages (conftest.py and tests/ run them).
SDIST_NEEDS = (
    "LICENSE",
    "CHANGELOG.md",
    "README.md",
    "pyproject.toml",
    "conftest.py",
    "noxfile.py",
    "mkdocs.yml",
    "docs/index.md",
    "docs/reliability.md",
    "examples/sync_script.py",
    "tests/conftest.py",
    "tests/test_readme.py",
    "benchmarks/run_all.py",
    "gatepay_async/__init__.py",
    "gatepay_sync/__init__.py",
    "scripts/unasync.py",
)


def wheel_problems(path: str) -> list[str]:
    problems = []
    with zipfile.ZipFile(path) as wheel:
        names = wheel.namelist()
        metadata_name = next(name for name in names if name.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(wheel.read(metadata_name).decode("utf-8"))
    if not any(name.endswith(".dist-info/licenses/LICENSE") for name in names):
        problems.append("wheel: no LICENSE under .dist-info/licenses")
    if metadata["Version"] != __version__:
        problems.append(f"wheel: version {metadata['Version']} is not __version__ {__version__}")
    if metadata["License-Expression"] != "MIT":
        problems.append(f"wheel: License-Expression is {metadata['License-Expression']!r}")
    extras = set(metadata.get_all("Provides-Extra") or [])
    if extras != EXTRAS:
        problems.append(f"wheel: extras {sorted(extras)}, expected {sorted(EXTRAS)}")
    classifiers = set(metadata.get_all("Classifier") or [])
    for version in PYTHONS:
        if f"Programming Language :: Python :: {version}" not in classifiers:
            problems.append(f"wheel: no classifier for Python {version}")
    if not any(name.startswith(("gatepay_async/", "gatepay_sync/")) for name in names):
        problems.append("wheel: no packages")
    if any(name.startswith(("tests/", "docs/", "examples/")) for name in names):
        problems.append("wheel: carries tests, docs or examples")
    return problems


def sdist_problems(path: str) -> list[str]:
    with tarfile.open(path) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    return [f"sdist: no {need}" for need in SDIST_NEEDS if need not in names]


def main(argv: list[str]) -> int:
    wheel, sdist = argv
    problems = wheel_problems(wheel) + sdist_problems(sdist)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"wheel and sdist of gatepay {__version__}: licence, metadata and files as expected")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
