"""Drive a notebook in JupyterLab 4 or Notebook 7 the way a person does, through the app itself.

Cells run through the app's own command (``notebook:run-cell`` on ``window.jupyterapp``, which
``--LabApp.expose_app_in_browser`` / ``--JupyterNotebookApp.expose_app_in_browser`` expose),
widgets are awaited in the cell's output (re-running the cell when a freshly started kernel
dropped the first render), and what a cell prints is read back from its outputs.

Python results come back as one printed line ``E2E-RESULT {json}``, see :func:`result_cell`.
"""

from __future__ import annotations

import json
import re
import textwrap
import time
from pathlib import Path

import nbformat

RESULT_MARK = "E2E-RESULT"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def write_notebook(folder: Path, name: str, cells: list[str]) -> str:
    """Write a notebook of code cells (python3 kernel) and return its name, for the URLs."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(textwrap.dedent(src).strip()) for src in cells]
    nbformat.write(nb, folder / name)
    return name


def result_cell(expr: str, *, setup: str = "") -> str:
    """A cell that runs ``setup``, then prints ``E2E-RESULT <json of expr>`` (expr: a dict)."""
    return (textwrap.dedent(setup).strip() + "\nimport json as _json\n"
            f"print({RESULT_MARK!r}, _json.dumps({expr}, default=str))").strip()


class NotebookPage:
    """One open notebook (JupyterLab 4 or Notebook 7) in a Playwright page."""

    def __init__(self, page):
        self.page = page
        self.panel_id: str | None = None

    # ---- opening ------------------------------------------------------------------------

    def open(self, url: str, *, timeout_s: float = 90) -> NotebookPage:
        """Load ``url`` and wait until the notebook is the current widget and its kernel idles."""
        self.page.goto(url)
        self.page.wait_for_function(
            """() => { const app = window.jupyterapp; const w = app && app.shell.currentWidget;
                       return !!(w && w.content && w.context && w.context.isReady && w.sessionContext
                                 && typeof w.content.activeCellIndex === 'number'); }""",
            timeout=timeout_s * 1000)
        self.panel_id = self.page.evaluate("() => window.jupyterapp.shell.currentWidget.id")
        self.wait_kernel_idle(timeout_s=timeout_s)
        return self

    def app_name(self) -> str:
        """``"JupyterLab"`` or ``"Jupyter Notebook"`` (Notebook 7)."""
        return self.page.evaluate("() => window.jupyterapp.name")

    def wait_kernel_idle(self, *, timeout_s: float = 90) -> None:
        self.page.wait_for_function(
            """() => { const w = window.jupyterapp.shell.currentWidget;
                       const k = w.sessionContext.session && w.sessionContext.session.kernel;
                       return !!k && k.status === 'idle' && k.connectionStatus === 'connected'; }""",
            timeout=timeout_s * 1000)

    # ---- running ------------------------------------------------------------------------

    def run_cell(self, index: int) -> None:
        """Select cell ``index`` and run it with the app's ``notebook:run-cell`` command."""
        self.page.evaluate(
            """(i) => { const app = window.jupyterapp; const panel = app.shell.currentWidget;
                        panel.content.activeCellIndex = i; panel.content.deselectAll();
                        void app.commands.execute('notebook:run-cell'); }""", index)

    def outputs(self, index: int) -> list[dict]:
        """Cell ``index``'s outputs, as the front end holds them (nbformat dicts)."""
        return self.page.evaluate(
            "(i) => window.jupyterapp.shell.currentWidget.content.widgets[i].model.outputs.toJSON()", index)

    def cell(self, index: int):
        """A locator for cell ``index`` (its input and output areas)."""
        return self.page.locator(f'[id="{self.panel_id}"] .jp-Notebook .jp-Cell').nth(index)

    def wait_widget(self, index: int, selector: str, *, timeout_s: float = 25, attempts: int = 3):
        """Wait for ``selector`` in cell ``index``'s output; re-run the cell if it does not come.

        A kernel that has just started can lose the first widget render (the front end asks for
        the model before the comm is open). A person would run the cell again: so do we.
        """
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        found = self.cell(index).locator(selector).first
        for attempt in range(1, attempts + 1):
            try:
                found.wait_for(state="visible", timeout=timeout_s * 1000)
                return found
            except PlaywrightTimeout:
                if attempt == attempts:
                    raise AssertionError(f"no {selector} in cell {index} after {attempts} runs; outputs: "
                                         f"{_describe(self.outputs(index))}") from None
                print(f"[e2e] no {selector} in cell {index} after {timeout_s:.0f} s: running it again")
                self.wait_kernel_idle()
                self.run_cell(index)
        raise AssertionError("unreachable")

    def execution_count(self, index: int):
        return self.page.evaluate(
            "(i) => window.jupyterapp.shell.currentWidget.content.widgets[i].model.executionCount", index)

    def run_and_read(self, index: int, *, timeout_s: float = 120) -> dict:
        """Run cell ``index`` once the kernel is idle; return the ``E2E-RESULT`` it printed.

        Raises:
            AssertionError: the cell raised (with its traceback), or printed no result.
        """
        self.wait_kernel_idle()
        before = self.execution_count(index)
        self.run_cell(index)
        deadline = time.monotonic() + timeout_s
        while True:  # done when the execute reply has given the cell a new execution count
            count = self.execution_count(index)
            if isinstance(count, int) and count != before:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"cell {index} did not finish in {timeout_s:.0f} s: "
                                     f"{_describe(self.outputs(index))}")
            self.page.wait_for_timeout(200)
        outs = self.outputs(index)
        for out in outs:
            if out.get("output_type") == "error":
                tb = _ANSI.sub("", "\n".join(out.get("traceback", [])))
                raise AssertionError(f"cell {index} raised {out.get('ename')}: {out.get('evalue')}\n{tb}")
        for out in outs:
            if out.get("output_type") == "stream":
                for line in "".join(out.get("text", "")).splitlines():
                    if line.startswith(RESULT_MARK + " "):
                        return json.loads(line[len(RESULT_MARK) + 1:])
        raise AssertionError(f"cell {index} printed no {RESULT_MARK} line: {_describe(outs)}")


def _describe(outputs: list[dict]) -> str:
    parts = []
    for out in outputs:
        kind = out.get("output_type")
        if kind == "stream":
            parts.append(f"stream: {''.join(out.get('text', ''))[-500:]!r}")
        elif kind == "error":
            parts.append(f"error: {out.get('ename')}: {out.get('evalue')}")
        else:
            parts.append(f"{kind}: {sorted((out.get('data') or {}).keys())}")
    return "; ".join(parts) or "(none)"
