"""Unpack an sdist and run tests from it, as someone with only the sdist would.

``python scripts/check_sdist_tests.py SDIST WORKDIR`` unpacks SDIST into WORKDIR, makes a
virtual environment there, installs the unpacked project with the extras its tests use
and its ``dev`` dependency group (with uv), then runs pytest
on a part of the suite that touches the packages, the README, the docs and the
examples. Exits with pytest's status.
"""

from __future__ import annotations

import shutil
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
    # uv (the package group's) rather than pip: the same install in seconds, not a minute.
    uv = shutil.which("uv")
    if uv is None:
        raise SystemExit("check_sdist_tests: uv is not installed (pyproject's package group)")
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)  # noqa: S603
    python = str(venv / "bin" / "python")
    subprocess.run(  # noqa: S603 - our own sdist, unpacked
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            python,
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
