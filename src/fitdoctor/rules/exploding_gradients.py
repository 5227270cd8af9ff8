"""FD402 exploding-gradients: gradient norms that blow up, or NaN/Inf in losses and gradients."""

from __future__ import annotations

import math

from fitdoctor.catalog import RuleDoc
from fitdoctor.evidence import Evidence
from fitdoctor.fixes import FixCandidate
from fitdoctor.fixes.builders import clip_gradients, lower_lr
from fitdoctor.measured import Measured
from fitdoctor.rules.base import Suspect, g, rule


@rule("FD402", needs=("init.gradients",))
def check(ev: Evidence, doc: RuleDoc) -> list[Suspect]:
    """Total gradient norm growing more than ``grad_norm_growth``× during the replay, or non-finite values."""
    limit = doc.threshold("grad_norm_growth")
    norms = [n for n in ev.baseline.grad_norms if math.isfinite(n)]
    growth = max(norms) / norms[0] if norms and norms[0] > 0 else 1.0
    user_nonfinite = ev.loop.nonfinite_user_losses
    init_nonfinite = any(not x.finite for x in ev.init.gradients)
    diverged = ev.baseline.diverged
    if not (growth > limit or user_nonfinite or diverged or init_nonfinite):
        return []
    parts = []
    if user_nonfinite:
        parts.append(f"{user_nonfinite} of the losses in your loop were NaN/Inf")
    if diverged:
        parts.append(f"the replay's loss or gradient became NaN/Inf after {ev.baseline.steps} steps")
    if init_nonfinite:
        parts.append("the gradients at init are already NaN/Inf")
    if growth > limit:
        parts.append(f"the gradient norm grew {g(growth)}× (from {g(norms[0])} to {g(max(norms))})")
    message = "Gradients explode: " + "; ".join(parts)
    evidence = {
        "growth": Measured(growth, limit, threshold_key="threshold"),
        "first_norm": norms[0] if norms else None,
        "max_norm": max(norms) if norms else None,
        "user_nonfinite_losses": user_nonfinite,
        "replay_diverged": diverged,
    }
    candidates: list[FixCandidate] = [clip_gradients(ev)]
    low = lower_lr(ev, 0.1)
    if low:
        candidates.append(low)
    return [
        Suspect(
            "FD402",
            message,
            ev.locate.loss,
            None,
            evidence,
            candidates,
            symptom=True,
            proof=bool(user_nonfinite or diverged),
        )
    ]
