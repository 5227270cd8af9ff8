"""The concise report: one line per finding, like ruff's concise output, then a summary line.

The small formatting helpers here (numbers, a fix's verdict, a finding's position, the counts) are shared by the
machine formats (``sarif``, ``github``, ``markdown``) so that every format words a measurement the same way.
"""

from __future__ import annotations

import math

from fitdoctor.catalog import RuleDoc
from fitdoctor.findings import Finding, Fix, Report
from fitdoctor.summary import DataInfo

SEVERITIES = ("error", "warning", "info")


def stopped_at(fix: Fix) -> str:
    """``, stopped at step N`` for a fix whose replay stopped because it could no longer be verified, else ``""``."""
    return f", stopped at step {fix.steps}" if fix.stopped else ""


def number(value: float | None) -> str:
    """A measured value in three significant digits; ``diverged`` for a loss that did not stay finite.

    Args:
        value: The value, or None where the JSON report stores a non-finite loss.

    Returns:
        The value as text.
    """
    if value is None or not math.isfinite(value):
        return "diverged"
    return f"{value:.3g}"


def verdict(fix: Fix) -> str:
    """Whether a fix was verified and what the replays measured, e.g. ``verified: 0.1254 → 0.0004708``.

    Args:
        fix: The measured fix.

    Returns:
        ``verified: BEFORE → AFTER`` or ``not verified: BEFORE → AFTER``.
    """
    state = "verified" if fix.verified else "not verified"
    return f"{state}: {number(fix.before)} → {number(fix.after)}"


def position(report: Report, finding: Finding) -> tuple[str, int]:
    """The file and line a finding points at: its location, else the checked script's first line.

    Args:
        report: The report the finding belongs to.
        finding: The finding.

    Returns:
        ``(path, line)``, the path as the report gives it.
    """
    if finding.location is not None:
        return finding.location.path, max(1, finding.location.line)
    return report.script, 1


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines included) folded into one space."""
    return " ".join(text.split())


def data_line(data: DataInfo) -> str:
    """The report's data summary in one line: input and target shapes and dtype, distinct batches."""
    shape = "×".join(str(d) for d in data.input_shape or ()) or "?"
    tshape = "×".join(str(d) for d in data.target_shape or ()) or "?"
    plural = "es" if data.distinct_batches != 1 else ""
    return f"x {shape} {data.input_dtype or ''} → y {tshape} · {data.distinct_batches} distinct batch{plural}"


#: At most this many paths are named per sentence of :func:`files_sentences`.
FILES_NAMED = 8


def files_sentences(report: Report) -> list[tuple[bool, str]]:
    """What the script wrote during the check, in at most two sentences: changes that reached the user's
    files (``--in-place``, or paths outside the scratch copy), then those discarded with the scratch copy.

    Returns:
        (whether the changes reached the user's files, the sentence) pairs.
    """
    out = []
    for reached in (True, False):
        writes = [w for w in report.files_written if w.reached is reached]
        if not writes:
            continue
        named = ", ".join(f"{w.path} ({w.change})" for w in writes[:FILES_NAMED])
        more = f" and {len(writes) - FILES_NAMED} more" if len(writes) > FILES_NAMED else ""
        where = (
            "these changes reached your files"
            if reached
            else "they went to a scratch copy of its folder and were discarded"
        )
        out.append((reached, f"the script wrote {len(writes)} path{'s' * (len(writes) != 1)}, {where}: {named}{more}"))
    return out


def counts(report: Report) -> dict[str, int]:
    """How many findings the report holds per severity, in the order error, warning, info."""
    return {s: sum(1 for f in report.findings if f.severity == s) for s in SEVERITIES}


def summary(report: Report) -> str:
    """``N errors, N warnings, N info`` (as the full report says it), or ``No problems found.`` for a report
    without findings."""
    if not report.findings:
        return "No problems found."
    n = counts(report)
    return ", ".join(f"{n[s]} {s}{'s' * (n[s] != 1 and s != 'info')}" for s in SEVERITIES)


def failure_reason(report: Report) -> str:
    """Why a check that could not run did not: its error message, else its first finding's, else its status."""
    error = report.error or {}
    return str(error.get("message") or (report.findings[0].message if report.findings else report.status))


def clean_sentence_tail(report: Report) -> str:
    """`` in N captured training steps`` for a report without findings (empty when no step was counted)."""
    steps = report.training.loop.steps_captured if report.training is not None else 0
    return f" in {steps} captured training steps" if steps else ""


def confirmation_tail(report: Report) -> str:
    """``N confirmed, M with a fix verified by replay`` for a report's findings."""
    confirmed = sum(1 for f in report.findings if f.confidence == "confirmed")
    verified = sum(1 for f in report.findings if f.fix is not None and f.fix.verified)
    return f"{confirmed} confirmed" + (f", {verified} with a fix verified by replay" if verified else "")


def finding_line(report: Report, finding: Finding) -> str:
    """One finding as ``path:line: CODE [severity/confidence] message (fix: title; verified: a → b)``.

    Args:
        report: The report the finding belongs to (its script stands in for a missing location).
        finding: The finding.

    Returns:
        The line, without a line break.
    """
    path, line = position(report, finding)
    text = f"{path}:{line}: {finding.code} [{finding.severity}/{finding.confidence}] {one_line(finding.message)}"
    if finding.fix is not None:
        text += f" (fix: {one_line(finding.fix.title)}; {verdict(finding.fix)})"
    return text


def render(report: Report, catalog: dict[str, RuleDoc], explain: bool = False) -> str:
    """The concise report.

    A report whose check ran (status ``ok``) gives one line per finding and a summary line. A report whose check
    could not run gives its meta finding's line and then the script's traceback, when there is one.

    Args:
        report: The report to render.
        catalog: The rule catalog by code (unused: every line carries the code and the slug's message).

    Returns:
        The text, without a final line break.
    """
    del catalog
    lines = [finding_line(report, f) for f in report.findings]
    if report.status != "ok":
        error = report.error or {}
        if not lines:
            lines.append(
                f"{report.script}:1: {report.status}: {one_line(str(error.get('message', 'the check could not run')))}"
            )
        traceback = error.get("traceback")
        if traceback:
            lines.append(str(traceback).rstrip())
        return "\n".join(lines)
    lines.append(summary(report))
    return "\n".join(lines)
