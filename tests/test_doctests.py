"""The Examples in the docstrings run, and stay right: every client-side module's doctests.

The server package is left to its own tests (its examples need engines and weights).
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import audiolab

MODULES = sorted(m.name for m in pkgutil.walk_packages(audiolab.__path__, "audiolab.")
                 if not m.name.startswith("audiolab.server"))
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _examples(module) -> list[doctest.DocTest]:
    return [t for t in doctest.DocTestFinder().find(module) if t.examples]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for test in _examples(module):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (see above)"


def test_the_package_documents_itself_with_at_least_100_running_examples():
    ran = 0
    for name in MODULES:
        for test in _examples(importlib.import_module(name)):
            ran += sum(1 for ex in test.examples if not ex.options.get(doctest.SKIP))
    assert ran >= 100, ran
