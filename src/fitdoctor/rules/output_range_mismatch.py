"""FD201 output-range-mismatch: the final activation can't produce the targets."""

from __future__ import annotations

import math

from fitdoctor.catalog import RuleDoc
from fitdoctor.evidence import Evidence
from fitdoctor.fixes.builders import remove_final_activation
from fitdoctor.measured import Measured
from fitdoctor.probes.yardstick import constant_words
from fitdoctor.rules.base import Suspect, g, pct, rule

BOUNDED_LOSSES = ("binary_cross_entropy",)


@rule("FD201", per_term=True)
def check(ev: Evidence, doc: RuleDoc) -> list[Suspect]:
    """Compare the targets with the closed range of the final activation."""
    final, targets = ev.final, ev.targets
    loss = ev.setup.loss
    if final is None or targets is None or final.index is None:
        return []
    if not (loss.is_regression or loss.name in BOUNDED_LOSSES):
        return []
    t = targets.values
    if final.kind == "softmax" and final.units == 1:
        outside = (t - 1.0).abs() > 1e-6
        what = "a softmax over a single unit, which outputs exactly 1.0 for every input"
        low = high = 1.0
    else:
        low, high = final.low, final.high
        span = max(1.0, float(t.abs().max()))
        tol = 1e-6 * span
        outside = (t < low - tol) | (t > high + tol)
        bounds = []
        if math.isfinite(low):
            bounds.append(f"below {g(low)}")
        if math.isfinite(high):
            bounds.append(f"above {g(high)}")
        what = f"{final.kind}, which can't output values {' or '.join(bounds)}"
    share = float(outside.double().mean())
    limit = doc.threshold("outside_share")
    if share <= limit:
        return []
    clamped = t.clamp(min=low if math.isfinite(low) else None, max=high if math.isfinite(high) else None)
    if loss.name == "l1_loss":
        floor = float((t - clamped).abs().mean())
    else:
        floor = float(((t - clamped) ** 2).mean())
    stats = next(a for a in ev.init.activations if a.index == final.index)
    message = (
        f"The model's output passes through {what}, but {pct(share)} of the targets lie outside that "
        f"range (targets span [{g(targets.low)}, {g(targets.high)}]). No weights can fit them: the loss "
        f"can't go below {g(floor)}"
    )
    if ev.constant_loss:
        relation = "worse than" if floor >= ev.constant_loss else "against"
        message += f" ({relation} {g(ev.constant_loss)} for always predicting {constant_words(ev.setup.loss.name)})"
    evidence = {
        "final_activation": final.kind,
        "range": [low, high],
        "target_min": targets.low,
        "target_max": targets.high,
        "outside_share": Measured(share, limit, threshold_key="threshold"),
        "loss_floor": floor,
        "baseline_final_loss": ev.baseline.final,
    }
    return [
        Suspect(
            "FD201",
            message,
            ev.activation_location(stats),
            stats.name,
            evidence,
            [remove_final_activation(ev, final, stats)],
            symptom=ev.baseline.final >= 0.5 * floor,
            proof=floor > 0.01 * (ev.constant_loss or floor),
        )
    ]
