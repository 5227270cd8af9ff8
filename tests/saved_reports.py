"""The reports the renderer, chart and HTML tests read: ``fitdoctor check SOURCE --format json`` outputs saved in
``tests/reports/``, and checked against what the check writes today (``test_saved_reports.py``). After a change
in behaviour, rewrite them with ``FITDOCTOR_UPDATE_SNAPSHOTS=1 pytest tests/test_saved_reports.py`` and the
picture snapshots with the same variable on ``tests/test_charts.py``, each checked by eye."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from fitdoctor.findings import Report

REPORTS = Path(__file__).resolve().parent / "reports"

#: Saved report -> the script it is the report of (from the repository root, default options).
SOURCES = {
    "sine_tiny_relu": "examples/sine_tiny_relu/broken.py",
    "gelu_final_activation": "examples/gelu_final_activation/broken.py",
    "gelu_healthy": "examples/gelu_final_activation/healthy.py",
    "interpolation_unscaled": "examples/interpolation_unscaled/broken.py",
    "crash": "tests/scripts/crash_in_training.py",
}

#: Fields that measure this machine's speed, not the check's result.
TIMING_KEYS = frozenset({"timings", "seconds"})
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def load(name: str) -> Report:
    """A saved report, as the renderers receive it."""
    with (REPORTS / f"{name}.json").open(encoding="utf-8") as fh:
        return Report.from_dict(json.load(fh))


def differences(live: Any, saved: Any, path: str = "", abs_tol: float = 1e-9) -> list[str]:
    """Where a report written today differs from the saved one: timings left out, numbers equal to a relative
    1e-3 and the numbers inside text masked (the values themselves are compared in the evidence and curves), so
    that the same check on a machine whose floating-point kernels differ in the last bits still matches. A number
    in a list (a curve) is also equal within 1e-3 of the list's largest value: a loss that ends near zero carries
    the rounding of the values it was computed from (measured: 1.49e-6 against 1.34e-6 on an AMD EPYC, in a
    curve that starts at 0.55)."""
    if isinstance(live, dict) and isinstance(saved, dict):
        keys = (set(live) | set(saved)) - TIMING_KEYS
        return [d for k in sorted(keys) for d in differences(live.get(k), saved.get(k), f"{path}.{k}")]
    if isinstance(live, list) and isinstance(saved, list):
        if len(live) != len(saved):
            return [f"{path}: {len(live)} items, saved {len(saved)}"]
        sizes = [abs(v) for v in saved if _number(v) and math.isfinite(v)]
        tol = max(abs_tol, 1e-3 * max(sizes)) if sizes else abs_tol
        pairs = enumerate(zip(live, saved, strict=True))
        return [d for i, (a, b) in pairs for d in differences(a, b, f"{path}[{i}]", tol)]
    if _number(live) and _number(saved):
        same = live == saved or math.isclose(live, saved, rel_tol=1e-3, abs_tol=abs_tol)
        return [] if same else [f"{path}: {live!r}, saved {saved!r}"]
    if isinstance(live, str) and isinstance(saved, str):
        return [] if _NUMBER.sub("#", live) == _NUMBER.sub("#", saved) else [f"{path}: {live!r}, saved {saved!r}"]
    return [] if live == saved else [f"{path}: {live!r}, saved {saved!r}"]


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
