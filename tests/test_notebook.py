"""The Python API in a real Jupyter kernel: a report displays as the --html report (nbclient runs the notebook)."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import ROOT

NOTEBOOK = ROOT / "tests" / "data" / "api_check.ipynb"


@pytest.mark.slow
def test_a_report_displays_in_a_notebook_as_the_html_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the kernel's profile, connection files and the notebook's folder all live in tmp_path
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    copy = tmp_path / NOTEBOOK.name
    shutil.copy(NOTEBOOK, copy)
    notebook = nbformat.read(copy, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": tmp_path}}).execute()
    outputs = notebook.cells[-1].outputs
    (shown,) = outputs  # the report, and nothing printed on the way
    assert shown.output_type == "execute_result"
    assert "FD201 output-range-mismatch" in shown.data["text/plain"]  # repr: the terminal report
    frame = re.fullmatch(r'<iframe [^>]*srcdoc="([^"]*)"></iframe>', shown.data["text/html"])
    assert frame is not None, shown.data["text/html"][:300]
    page = html.unescape(frame.group(1))
    assert page.startswith("<!DOCTYPE html>") and "</html>" in page
    assert "FD201" in page and "output-range-mismatch" in page
    assert "<svg" in page  # the HTML report's pictures, not a terminal export
    assert "fitdoctor.check(" not in page  # locations name the model, never the check() call
