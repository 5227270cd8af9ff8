"""Helpers for test suites: ``assert_trainable`` fails a test when fitdoctor finds a problem."""

from __future__ import annotations

from typing import Any

from fitdoctor.api import check

SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def assert_trainable(model: Any, data: Any, *, fail_on: str = "warning", **kwargs: Any) -> None:
    """Assert that fitdoctor finds nothing at or above ``fail_on`` in this training setup.

    Args:
        model: The network.
        data: As for :func:`fitdoctor.check`.
        fail_on: The lowest severity that fails: ``"error"``, ``"warning"`` (default) or ``"info"``.
        **kwargs: Passed to :func:`fitdoctor.check` (loss, optimizer, steps, select, ignore...).

    Raises:
        AssertionError: With one line per finding, the fix and its measured effect.
    """
    if fail_on not in SEVERITY_ORDER:
        raise ValueError(f"fail_on must be error, warning or info, not {fail_on!r}")
    report = check(model, data, **kwargs)
    bad = [f for f in report.findings if SEVERITY_ORDER[f.severity] <= SEVERITY_ORDER[fail_on]]
    if not bad:
        return
    lines = [f"fitdoctor found {len(bad)} problem{'s' if len(bad) != 1 else ''} in this training setup:"]
    for f in bad:
        line = f"  {f.code} {f.rule} [{f.severity}/{f.confidence}]: {f.message}"
        if f.fix is not None:
            verified = (
                f"verified {f.fix.before:.3g} -> {f.fix.after:.3g}"
                if f.fix.verified and f.fix.before is not None and f.fix.after is not None
                else "not verified"
            )
            line += f"\n    fix: {f.fix.title} ({verified})"
        lines.append(line)
    raise AssertionError("\n".join(lines))
