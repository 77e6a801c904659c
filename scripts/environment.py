"""Write environment.yml from pyproject.toml, so that the conda route installs the same pins.

Run ``python scripts/environment.py``; ``tests/test_packaging.py`` fails if the two drift apart.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for group in ("local", "dev"):
        reqs += project["optional-dependencies"][group]
    return reqs


def render() -> str:
    lines = [
        "# Generated from pyproject.toml by scripts/environment.py: edit pyproject.toml, then rerun.",
        "# conda env create -f environment.yml && conda activate audiolab && pip install -e . --no-deps",
        "name: audiolab",
        "channels:",
        "  - conda-forge",
        "dependencies:",
        "  - python=3.11",
        "  - pip",
        "  - pip:",
    ]
    lines += [f"      - {r}" for r in requirements()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    (ROOT / "environment.yml").write_text(render())
    sys.stdout.write("environment.yml written\n")
