"""A Markdown summary for pull-request comments and job summaries (GitHub-flavoured Markdown).

A heading with the script, a one-line verdict, a table with one row per finding, then one collapsible
``<details>`` block per finding with the full message, the evidence, the fix and its verification.
"""

from __future__ import annotations

import html
import math
import re
from typing import Any

from fitdoctor.catalog import RuleDoc
from fitdoctor.findings import Finding, Fix, Report
from fitdoctor.measured import evidence_to_json
from fitdoctor.report.concise import (
    clean_sentence_tail,
    confirmation_tail,
    counts,
    failure_reason,
    files_sentences,
    number,
    one_line,
    position,
    stopped_at,
    summary,
)
from fitdoctor.report.patch import patch_line

ICON = {"error": "🔴", "warning": "🟡", "info": "🔵"}
TABLE_HEADER = "| | Code | Rule | Location | Confidence | Message |\n|---|---|---|---|---|---|"
#: Table cells keep the message to this many characters; the details block has it in full.
CELL_LIMIT = 160
#: At most this many evidence values are listed per finding.
EVIDENCE_LIMIT = 12


def text(value: str) -> str:
    """Plain text made safe for Markdown inside HTML blocks: ``&``, ``<`` and ``>`` escaped."""
    return html.escape(value, quote=False)


def cell(value: str, limit: int | None = None, html_escape: bool = True) -> str:
    """A table cell: one line, ``|`` escaped as ``\\|``, shortened to ``limit`` characters with an ellipsis.

    Args:
        value: The cell's text.
        limit: The most characters to keep, or None for all.
        html_escape: Whether to escape ``&``, ``<`` and ``>`` (not inside a code span, which shows them as is).

    Returns:
        The cell's Markdown.
    """
    value = one_line(value)
    if limit is not None and len(value) > limit:
        value = value[: limit - 1].rstrip() + "…"
    return (text(value) if html_escape else value).replace("|", "\\|")


def code_span(value: str) -> str:
    """``value`` as inline code, with enough backticks around it to hold the backticks inside."""
    ticks = "`" * (max((len(m) for m in re.findall(r"`+", value)), default=0) + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{ticks}{pad}{value}{pad}{ticks}"


def fenced(body: str, language: str = "") -> str:
    """``body`` as a fenced code block whose fence is longer than any backtick run inside it."""
    fence = "`" * max(3, max((len(m) for m in re.findall(r"`+", body)), default=0) + 1)
    return f"{fence}{language}\n{body.rstrip()}\n{fence}"


def _first_sentence(message: str) -> str:
    """The message up to its first ``.``, ``:`` or ``;`` outside brackets, when that leaves 40 characters or more."""
    one = one_line(message)
    depth = 0
    for i, ch in enumerate(one):
        depth += (ch in "([{") - (ch in ")]}")
        if depth == 0 and ch in ".:;" and i >= 40 and (i + 1 == len(one) or one[i + 1] == " "):
            return one[:i]
    return one


def _verdict_line(report: Report) -> str:
    if report.status != "ok":
        return f"**The check could not run ({cell(report.status)}):** {text(one_line(failure_reason(report)))}"
    if not report.findings:
        return f"✅ **No problems found**{clean_sentence_tail(report)}."
    n = counts(report)
    icon = ICON["error"] if n["error"] else ICON["warning"] if n["warning"] else ICON["info"]
    return f"{icon} **{summary(report)}** · {confirmation_tail(report)}."


def _row(report: Report, f: Finding, catalog: dict[str, RuleDoc]) -> str:
    path, line = position(report, f)
    doc = catalog.get(f.code)
    rule = f"{f.rule}" if doc is None else f"{f.rule}: {doc.title}"
    cells = [
        f"{ICON.get(f.severity, '')} {f.severity}",
        f.code,
        cell(rule),
        cell(code_span(f"{path}:{line}"), html_escape=False),
        f.confidence,
        cell(_first_sentence(f.message), CELL_LIMIT),
    ]
    return "| " + " | ".join(cells) + " |"


def _evidence(evidence: dict[str, Any]) -> list[str]:
    items = []
    for key, value in evidence.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        shown = str(value) if isinstance(value, int) else number(value) if math.isfinite(value) else str(value)
        items.append(f"- {text(str(key))}: {shown}")
    if len(items) > EVIDENCE_LIMIT:
        items = [*items[:EVIDENCE_LIMIT], f"- … {len(items) - EVIDENCE_LIMIT} more in the JSON report"]
    return items


def _fix(fix: Fix, heading: str) -> list[str]:
    out = [f"**{heading}:** {text(fix.title)}"]
    if fix.location is not None and fix.location.path:
        out[0] += f" ({code_span(f'{fix.location.path}:{fix.location.line}')})"
    out += ["", fenced(fix.snippet, "python"), ""]
    state = "✅ **Verified**" if fix.verified else "⚠️ **Not verified**"
    ratio = ""
    if fix.before and fix.after is not None and fix.before > 0 and math.isfinite(fix.before):
        ratio = f" ({fix.after / fix.before:.2g}× the baseline)"
    metric = re.sub(r"\s+after \d+ replay steps$", "", fix.metric.strip())
    measured = f", measured as {text(metric)}" if metric else ""
    out.append(
        f"{state} over {fix.steps} replay steps: baseline {number(fix.before)} → with the fix "
        f"{number(fix.after)}{ratio}{measured}."
    )
    if fix.note:
        out += ["", f"_Note: {text(fix.note)}_"]
    return out


def _details(report: Report, f: Finding, catalog: dict[str, RuleDoc]) -> str:
    path, line = position(report, f)
    doc = catalog.get(f.code)
    title = f" · {text(doc.title)}" if doc else ""
    out = [
        "<details>",
        f"<summary>{ICON.get(f.severity, '')} <b>{f.code} {text(f.rule)}</b>{title} · "
        f"<code>{text(path)}:{line}</code></summary>",
        "",
        text(one_line(f.message).rstrip(".") + "."),
    ]
    if f.location is not None and f.location.source:
        out += ["", fenced(f"{f.location.line:>4} | {f.location.source}")]
    if f.module:
        out += ["", f"Module: {code_span(f.module)}"]
    if f.caused_by:
        out += ["", f"Caused by: {', '.join(f.caused_by)}"]
    evidence = _evidence(evidence_to_json(f.evidence))
    if evidence:
        out += ["", "**Evidence**", "", *evidence]
    if f.fix is not None:
        out += ["", *_fix(f.fix, "Fix")]
    for alt in f.alternatives:
        state = "verified" if alt.verified else "not verified"
        out += [
            "",
            f"Also tried: {text(alt.title)} ({state}: {number(alt.before)} → {number(alt.after)}{stopped_at(alt)})",
        ]
    if report.status != "ok" and report.findings and f is report.findings[0]:
        traceback = (report.error or {}).get("traceback")
        if traceback:
            out += ["", "**Traceback**", "", fenced(str(traceback), "text")]
    out += ["", "</details>"]
    return "\n".join(out)


def _suggestions(report: Report) -> list[str]:
    """Each fix of the patch as GitHub suggestion blocks: in a review comment on those lines, one click applies
    it (the replaced lines are named above each block)."""
    assert report.patch is not None
    out: list[str] = []
    for fix in report.patch.fixes:
        for r in fix.replacements:
            if r.lines == 0:
                continue  # an insertion: a suggestion replaces lines, so the diff above shows it
            where = f"line {r.line}" if r.lines == 1 else f"lines {r.line}-{r.line + r.lines - 1}"
            out += ["", f"{text(fix.code)} · {text(fix.title)}: suggested change of {code_span(r.path)} {where}"]
            out += ["", fenced(r.text.rstrip("\n"), "suggestion")]
    return out


def render(report: Report, catalog: dict[str, RuleDoc], explain: bool = False) -> str:
    """The report as a Markdown summary.

    Args:
        report: The report to render.
        catalog: The rule catalog by code, for the rules' titles.

    Returns:
        Markdown, without a final line break.
    """
    parts = [f"## fitdoctor: {code_span(report.script)}", "", _verdict_line(report)]
    if report.findings:
        parts += ["", TABLE_HEADER, *(_row(report, f, catalog) for f in report.findings)]
        parts += ["", *(_details(report, f, catalog) + "\n" for f in report.findings)]
    if report.patch is not None:
        parts += ["", f"**{text(patch_line(report.patch))}**"]
        if report.patch.diff:
            parts += ["", fenced(report.patch.diff.rstrip("\n"), "diff"), *_suggestions(report)]
    notes = report.training.notes if report.training is not None else ()
    if notes:
        parts += ["", *(f"> Note: {text(one_line(n))}" for n in notes)]
    files = files_sentences(report)
    if files:
        parts += ["", *(f"> Files: {text(one_line(s))}" for _, s in files)]
    parts += ["", f"<sub>fitdoctor {text(report.version)} · seed {report.seed}</sub>"]
    return "\n".join(parts).rstrip("\n")
