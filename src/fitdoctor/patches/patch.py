"""The patch of a report: the verified fixes that are source edits, applied to the user's files in memory, as a
unified diff; and what re-checking the patched script measured (``fitdoctor check --diff`` / ``--fix``)."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable

from fitdoctor.findings import Finding, Report
from fitdoctor.patches.apply import EditError, apply_edits
from fitdoctor.patches.edits import SourceEdit
from fitdoctor.patches.model import Patch, PatchedFix, Replacement


def plan_patch(report: Report, root: str | None = None) -> Patch:
    """The patch of the report's alarms: each one's verified best fix that carries source edits, in report
    order (root causes first), applied to the files they name. A fix whose edit can't be applied is left out
    and said so; the others still go in.

    Args:
        report: The check's report.
        root: The folder the report's relative paths are relative to (default: the current folder).
    """
    root = root or os.getcwd()
    originals: dict[str, str] = {}
    current: dict[str, str] = {}
    accepted: dict[str, list[SourceEdit]] = {}  # per file, the edits of the fixes taken so far
    fixes: list[PatchedFix] = []
    left_out: list[str] = []
    seen: set[SourceEdit] = set()
    for finding in _alarms(report.findings):
        fix = finding.fix
        assert fix is not None
        if not fix.edits:
            left_out.append(f"{finding.code} {fix.id}: no source edit (the fix is a recipe to follow by hand)")
            continue
        edits = [e for e in fix.edits if e not in seen]
        trial = dict(current)
        try:
            for path, group in _by_path(edits):
                real = path if os.path.isabs(path) else os.path.join(root, path)
                if path not in originals:
                    with open(real, encoding="utf-8", newline="") as fh:  # CRLF files stay CRLF
                        originals[path] = fh.read()
                # all edits at once on the original: each names its line as the original numbers it
                trial[path] = apply_edits(originals[path], [*accepted.get(path, []), *group])
        except (EditError, OSError, UnicodeDecodeError) as exc:
            left_out.append(f"{finding.code} {fix.id}: {exc}")
            continue
        if all(trial[p] == current.get(p, originals[p]) for p, _ in _by_path(edits)):
            left_out.append(
                f"{finding.code} {fix.id}: its source edit changes nothing in the file (the fix is a recipe here)"
            )
            continue
        current = trial
        seen.update(edits)
        for path, group in _by_path(edits):
            accepted.setdefault(path, []).extend(group)
        try:  # the fix on its own, for SARIF: its changes of the original files
            alone = {p: apply_edits(originals[p], group) for p, group in _by_path(edits)}
        except EditError:
            alone = {}
        changes = tuple(r for p in sorted(alone) for r in _replacements(p, originals[p], alone[p]))
        fixes.append(PatchedFix(finding.code, fix.id, fix.title, fix.measure, changes))
    changed = {p: s for p, s in current.items() if s != originals[p]}
    diff = "".join(_diff(originals[p], changed[p], _relative(p, root)) for p in sorted(changed))
    return Patch(diff, tuple(sorted(changed)), tuple(fixes), tuple(left_out), sources=changed)


def _replacements(path: str, old: str, new: str) -> list[Replacement]:
    """The changes from ``old`` to ``new`` as whole-line replacements at character offsets."""
    a, b = _lines(old), _lines(new)
    starts = [0]
    for line in a:
        starts.append(starts[-1] + len(line))
    out = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag != "equal":
            out.append(Replacement(path, i1 + 1, starts[i1], starts[i2] - starts[i1], "".join(b[j1:j2]), i2 - i1))
    return out


def _alarms(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity != "info" and f.fix is not None and f.fix.verified]


def _by_path(edits: list[SourceEdit]) -> list[tuple[str, list[SourceEdit]]]:
    out: dict[str, list[SourceEdit]] = {}
    for edit in edits:
        out.setdefault(edit.path, []).append(edit)
    return list(out.items())


def _relative(path: str, root: str) -> str:
    real = path if os.path.isabs(path) else os.path.join(root, path)
    relative = os.path.relpath(real, os.getcwd())
    return relative.replace(os.sep, "/")


def _diff(old: str, new: str, name: str) -> str:
    """A unified diff ``patch -p1`` and ``git apply`` take, with the no-newline marker where one is due."""
    lines = list(difflib.unified_diff(_lines(old), _lines(new), f"a/{name}", f"b/{name}"))
    out = []
    for line in lines:
        if not line.endswith("\n"):
            line += "\n\\ No newline at end of file\n"
        out.append(line)
    return "".join(out)


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)
