"""Unpack an sdist and run tests from it, as someone with only the sdist would.

``python scripts/check_sdist_tests.py SDIST WORKDIR`` unpacks SDIST into WORKDIR, makes a
virtual environment there, installs the unpacked project with the extras its tests use
and its ``dev`` dependency group (pip 25.1 or newer reads the group), then runs pytest
on a part of the suite that touches the packages, the README, the docs and the
examples. Exits with pytest's status.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

TESTS = [
    "tests/test_models.py",
    "tests/test_public_surface.py",
    "tests/test_packaging.py",
    "tests/test_docs.py",
    "README.md",
    "docs",
]


def main(argv: list[str]) -> int:
    sdist, workdir = Path(argv[0]), Path(argv[1]) / "unpacked-sdist"
    workdir.mkdir(parents=True)
    with tarfile.open(sdist) as archive:
        archive.extractall(workdir, filter="data")
    (project,) = [path for path in workdir.iterdir() if path.is_dir()]
    venv = workdir / "sdist-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # noqa: S603
    python = str(venv / "bin" / "python")
    pip = [python, "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "pip>=25.1"], check=True)  # noqa: S603
    subprocess.run(  # noqa: S603 - our own sdist, unpacked
        [
            *pip,
            f"{project}[cli,sandbox,aiohttp,postgres]",
            "--group",
            f"{project}/pyproject.toml:dev",
        ],
        check=True,
    )
    ran = subprocess.run(  # noqa: S603
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS], cwd=project, check=False
    )
    return ran.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
