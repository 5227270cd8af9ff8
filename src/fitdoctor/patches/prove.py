"""Proof by running: re-check the patched script in a scratch copy and compare with the check of the script as
it is. A patch counts as verified only when the findings it fixes are gone and the baseline replay's loss went
down by at least the share a replayed fix must win by."""

from __future__ import annotations

import math
from dataclasses import replace

from fitdoctor.capture.runner import CheckOptions, run_check
from fitdoctor.findings import Report
from fitdoctor.patches.model import Patch

#: The share the patched script's loss must fall by: ``fitdoctor.confirm.MIN_IMPROVEMENT``, the bar every
#: replayed fix clears (repeated here so that the CLI parent needn't import torch; a test keeps them equal).
IMPROVEMENT = 0.25


def prove(patch: Patch, script: str | None, options: CheckOptions, report: Report, every_rule: bool = True) -> Patch:
    """The patch with what re-checking the patched script measured (``verified``, ``before``, ``after``,
    ``remaining``, ``findings_after``). The re-check uses the same options, seed and replay length as the
    report's check; unless ``every_rule``, it runs only the rules the patch fixes (the proof needs their
    verdicts and the baseline replay, which every check runs: what the other rules probe is not measured)."""
    if not patch.sources or report.training is None or report.training.replay is None:
        return patch
    replay = report.training.replay
    rules = options.rules
    if not every_rule:
        rules = replace(rules, select=tuple(sorted({f.code for f in patch.fixes})), ignore=())
    patched = run_check(
        script,
        replace(
            options, sources=dict(patch.sources), quiet=True, replay_steps=replay.steps, in_place=False, rules=rules
        ),
    )
    before = replay.baseline.final
    if patched.status != "ok" or patched.training is None or patched.training.replay is None:
        return replace(patch, verified=False, before=before, remaining=tuple(f.code for f in patch.fixes))
    fixed = {f.code for f in patch.fixes}
    remaining = tuple(sorted({f.code for f in patched.findings if f.code in fixed and f.severity != "info"}))
    after = patched.training.replay.baseline.final
    # a baseline that diverged has no final loss (None): any finite loss of the patched script is down from it
    down = (
        after is not None
        and math.isfinite(after)
        and (before is None or not math.isfinite(before) or after <= (1.0 - IMPROVEMENT) * before)
    )
    by_finding = all(f.measure != "loss" for f in patch.fixes) or report.training.loop.adversarial
    if by_finding:
        # fixes measured by the error rate (NLL on raw outputs runs to -inf), and adversarial objectives (a GAN's
        # losses are not meant to fall): the loss can't tell, the finding can
        down = after is not None and math.isfinite(after)
    return replace(
        patch,
        verified=bool(down and not remaining),
        before=before,
        after=after,
        remaining=remaining,
        findings_after=tuple((f.code, f.severity) for f in patched.findings),
        proved_by="finding" if by_finding else "loss",
    )
