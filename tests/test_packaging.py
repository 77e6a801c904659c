"""The install story: pins in one place, conda route in sync, a light `import audiolab`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _pyproject_requirements() -> list[str]:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from environment import requirements
    finally:
        sys.path.pop(0)
    return requirements()


def test_environment_yml_matches_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert "python=3.11" in env["dependencies"]
    assert sorted(pip_section) == sorted(_pyproject_requirements()), (
        "environment.yml drifted from pyproject.toml: run `python scripts/environment.py`"
    )


def test_every_requirement_is_pinned_exactly():
    loose = [r for r in _pyproject_requirements() if "==" not in r]
    assert loose == []


def test_import_audiolab_is_light_and_fast():
    code = (
        "import sys, time, json; t=time.perf_counter(); import audiolab; dt=time.perf_counter()-t;"
        "heavy=[m for m in ('faster_whisper','piper','llama_cpp','librosa','matplotlib','fastapi',"
        "'openai','pandas','anywidget','ctranslate2','torch') if m in sys.modules];"
        "print(json.dumps({'dt': dt, 'heavy': heavy}))"
    )
    out = json.loads(subprocess.check_output([sys.executable, "-c", code], text=True))
    assert out["heavy"] == []
    assert out["dt"] < 1.0


def test_public_surface_is_declared_and_resolves():
    import audiolab

    for name in audiolab.__all__:
        assert getattr(audiolab, name) is not None, name


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make lab" in readme and "make test" in readme


def test_readme_documents_every_alias_and_voice():
    from audiolab.server.registry import ALIASES, VOICES

    readme = (ROOT / "README.md").read_text()
    missing = [a for a in [*ALIASES, *VOICES] if f"`{a}`" not in readme]
    assert missing == [], f"README misses {missing}: paste `python -m audiolab.server.registry`"
