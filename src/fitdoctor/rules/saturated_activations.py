"""FD302 saturated-activations: tanh/sigmoid/ELU units stuck on their flat tails."""

from __future__ import annotations

from fitdoctor.catalog import RuleDoc
from fitdoctor.evidence import Evidence
from fitdoctor.fixes import FixCandidate
from fitdoctor.fixes.builders import lower_lr, standardize_inputs, xavier_init
from fitdoctor.probes.activations import SATURATING
from fitdoctor.rules._layers import layer_verdicts
from fitdoctor.rules.base import Suspect, pct, rule


@rule(
    "FD302",
    needs=("trained.activations",),
    settings={
        "activations.derivative_ratio": "derivative_ratio",
        "layers.unit_saturated_share": "unit_saturated_share",
    },
    layer_share="saturated",
)
def check(ev: Evidence, doc: RuleDoc) -> list[Suspect]:
    """Layers where more than ``layer_saturated_share`` of units are saturated on ≥ ``unit_saturated_share``."""
    unit_limit = doc.threshold("unit_saturated_share")
    layer_limit = doc.threshold("layer_saturated_share")
    verdicts = layer_verdicts(ev, SATURATING, unit_limit, below=False, field_name="saturated_share")
    bad = [v for v in verdicts if max(v.at_init, v.after) > layer_limit]
    if not bad:
        return []
    worst = max(bad, key=lambda v: (v.at_init > layer_limit, v.after))
    a = worst.stats
    steps = ev.baseline.steps
    at_init = worst.at_init > layer_limit
    ratio = doc.threshold("derivative_ratio")
    if at_init:
        when = (
            f"At init, {round(worst.at_init * a.units)} of {a.units} {a.kind} units of {a.name} ({pct(worst.at_init)})"
        )
        tail = f"; after {steps} steps {pct(worst.after)}"
    else:
        when = f"After {steps} training steps, {worst.stuck_units} of {a.units} {a.kind} units of {a.name} ({pct(worst.after)})"
        tail = f" — at init {pct(worst.at_init)}. The updates drove them there"
    message = (
        f"{when} sit on a flat tail (derivative below {pct(ratio)} of its maximum) for almost every "
        f"input{tail}. Saturated units pass almost no gradient and give the same output for every input"
    )
    if len(bad) > 1:
        message += f" ({len(bad)} layers affected)"
    evidence = {
        "layer": a.name,
        "kind": a.kind,
        "units": a.units,
        "saturated_share_init": worst.at_init,
        "saturated_share_after": worst.after,
        "after_steps": steps,
        "preact_std": a.preact_std,
        "derivative_ratio": ratio,
        "unit_saturated_share": unit_limit,
        "layer_saturated_share": layer_limit,
        "layers": {v.stats.name: {"init": v.at_init, "after": v.after} for v in verdicts},
    }
    candidates: list[FixCandidate] = []
    if at_init:
        unscaled = ev.inputs and any(f.scale > 1.0 for f in ev.inputs) and a.index == _first(ev)
        fix = standardize_inputs(ev) if unscaled else None
        if fix:
            candidates.append(fix)
        candidates.append(xavier_init(ev, a.kind))
    else:
        candidates += [c for c in (lower_lr(ev, 0.1), lower_lr(ev, 0.01)) if c]
    return [
        Suspect(
            "FD302",
            message,
            ev.activation_location(a),
            a.name,
            evidence,
            candidates,
            symptom=worst.after > layer_limit,
        )
    ]


def _first(ev: Evidence) -> int | None:
    first = next((a for a in ev.init.activations if a.units), None)
    return first.index if first else None
