"""The seconds each phase of a check took, as one line (``fitdoctor check --verbose``)."""

from __future__ import annotations

from collections.abc import Mapping

#: The report's ``timings`` keys, in the order the check runs them, with their labels: start-up (importing
#: torch and fitdoctor in the child), the script's run under the capture, building the setup from what was
#: captured, planning the effort, the probes, the replays and checks. ``probe_s`` (all of the probing,
#: baseline replay included) and ``analysis_s`` (probing and confirmation) are totals of these.
PHASES = (
    ("start_s", "start-up"),
    ("capture_s", "your script"),
    ("build_s", "setup"),
    ("plan_s", "plan"),
    ("probes_s", "probes"),
    ("baseline_s", "baseline replay"),
    ("lr_range_s", "range test"),
    ("overfit_s", "overfit check"),
    ("control_s", "target controls"),
    ("confirm_s", "fix replays"),
)


def timing_line(timings: Mapping[str, float]) -> str:
    """``"timings: capture 2.1 s · plan 0.1 s · … · total 4.6 s"`` for the phases that ran."""
    parts = [f"{label} {_seconds(timings[key])}" for key, label in PHASES if timings.get(key)]
    if timings.get("total_s"):
        parts.append(f"total {_seconds(timings['total_s'])}")
    return "timings: " + " · ".join(parts) if parts else "timings: none measured"


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value >= 0.1 else f"{value * 1000:.0f} ms"
