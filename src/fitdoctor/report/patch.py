"""How a patch reads: one line on what it holds and whether running the patched script proved it."""

from __future__ import annotations

from fitdoctor.patches.model import Patch
from fitdoctor.report.concise import number


def patch_line(patch: Patch | None) -> str:
    """E.g. ``patch: 1 fix (FD201 remove-final-activation), verified by running your patched script: loss
    17.7 → 0.0108``."""
    if patch is None:
        return "patch: none asked for"
    if not patch.diff:
        why = "; ".join(patch.left_out) if patch.left_out else "no alarm has a verified fix"
        return f"patch: none ({why})"
    fixes = ", ".join(f"{f.code} {f.fix}" for f in patch.fixes)
    head = f"patch: {len(patch.fixes)} fix{'es' if len(patch.fixes) != 1 else ''} ({fixes})"
    if patch.verified is None:
        proof = "not re-checked"
    elif patch.verified and patch.proved_by == "finding":
        codes = ", ".join(dict.fromkeys(f.code for f in patch.fixes))
        loss = f"loss {number(patch.before)} → {number(patch.after)}"
        proof = f"verified by running your patched script: {codes} gone (the loss is not the measure here: {loss})"
    elif patch.verified:
        proof = f"verified by running your patched script: loss {number(patch.before)} → {number(patch.after)}"
    else:
        reasons = []
        if patch.remaining:
            reasons.append(f"{', '.join(patch.remaining)} still raised")
        if patch.after is not None and patch.before is not None:
            reasons.append(f"loss {number(patch.before)} → {number(patch.after)}")
        proof = "NOT verified by running your patched script" + (f" ({'; '.join(reasons)})" if reasons else "")
    left = f"; left out: {'; '.join(patch.left_out)}" if patch.left_out else ""
    return f"{head}, {proof}{left}"
