"""FD302 saturated-activations: tanh/sigmoid/ELU units stuck on their flat tails."""

from __future__ import annotations

from fitdoctor.catalog import RuleDoc
from fitdoctor.evidence import Evidence
from fitdoctor.fixes import FixCandidate
from fitdoctor.fixes.builders import lower_lr, standardize_inputs
from fitdoctor.fixes.weights import rescale_layer, xavier_init
from fitdoctor.probes.activations import SATURATING
from fitdoctor.rules._layers import LayerVerdict, layer_verdicts
from fitdoctor.rules.base import Suspect, g, pct, rule


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
    """Layers where more than ``layer_saturated_share`` of units are saturated on ≥ ``unit_saturated_share`` of
    the probe inputs, or more than ``activation_saturated_share`` of all unit-input pairs are saturated."""
    unit_limit = doc.threshold("unit_saturated_share")
    layer_limit = doc.threshold("layer_saturated_share")
    pair_limit = doc.threshold("activation_saturated_share")
    verdicts = layer_verdicts(ev, SATURATING, unit_limit, below=False, field_name="saturated_share")

    def units_bad(v: LayerVerdict, init: bool) -> bool:
        return (v.at_init if init else v.after) > layer_limit

    def bad_at(v: LayerVerdict, init: bool) -> bool:
        return units_bad(v, init) or (v.mean_init if init else v.mean_after) > pair_limit

    bad = [v for v in verdicts if bad_at(v, True) or bad_at(v, False)]
    if not bad:
        return []
    worst = max(bad, key=lambda v: (bad_at(v, True), units_bad(v, True) or units_bad(v, False), v.after, v.mean_after))
    a = worst.stats
    steps = ev.baseline.steps
    at_init = bad_at(worst, True)
    by_units = units_bad(worst, at_init)
    ratio = doc.threshold("derivative_ratio")
    flat = f"sit on a flat tail (derivative below {pct(ratio)} of its maximum)"
    if by_units:
        if at_init:
            when = f"At init, {round(worst.at_init * a.units)} of {a.units} {a.kind} units of {a.name} ({pct(worst.at_init)})"
            tail = f"; after {steps} steps {pct(worst.after)}"
        else:
            when = f"After {steps} training steps, {worst.stuck_units} of {a.units} {a.kind} units of {a.name} ({pct(worst.after)})"
            tail = f" — at init {pct(worst.at_init)}. The updates drove them there"
        message = (
            f"{when} {flat} for almost every input{tail}. Saturated units pass almost no gradient and give the "
            "same output for every input"
        )
    else:
        share, other = (worst.mean_init, worst.mean_after) if at_init else (worst.mean_after, worst.mean_init)
        when = "At init" if at_init else f"After {steps} training steps"
        then = f"after {steps} steps {pct(other)}" if at_init else f"at init {pct(other)}; the updates drove them there"
        message = (
            f"{when}, {pct(share)} of the pre-activations of the {a.units} {a.kind} units of {a.name} {flat} "
            f"({then}; pre-activation std {g(a.preact_std)}). Those units pass almost no gradient for most inputs "
            "and answer them with nearly the same value"
        )
    if len(bad) > 1:
        message += f" ({len(bad)} layers affected)"
    evidence = {
        "layer": a.name,
        "producer": a.producer,
        "kind": a.kind,
        "units": a.units,
        "measure": "units" if by_units else "activations",
        "saturated_share_init": worst.at_init,
        "saturated_share_after": worst.after,
        "saturated_activations_init": worst.mean_init,
        "saturated_activations_after": worst.mean_after,
        "after_steps": steps,
        "preact_std": a.preact_std,
        "derivative_ratio": ratio,
        "unit_saturated_share": unit_limit,
        "layer_saturated_share": layer_limit,
        "activation_saturated_share": pair_limit,
        "layers": {
            v.stats.name: {"init": v.at_init, "after": v.after}
            if by_units
            else {"init": v.mean_init, "after": v.mean_after}
            for v in verdicts
        },
    }
    candidates: list[FixCandidate] = []
    if at_init:
        unscaled = ev.inputs and any(f.scale > 1.0 for f in ev.inputs) and a.index == _first(ev)
        fix = standardize_inputs(ev) if unscaled else None
        if fix:
            candidates.append(fix)
        layer = rescale_layer(ev, a)
        if layer:
            candidates.append(layer)
        candidates.append(xavier_init(ev, a.kind))
    else:
        candidates += [c for c in (lower_lr(ev, 0.1), lower_lr(ev, 0.01)) if c]
    return [
        Suspect(
            "FD302",
            message,
            (ev.locate.init(f"{a.producer}.weight") if at_init and a.producer else None) or ev.activation_location(a),
            a.name,
            evidence,
            candidates,
            # units stuck for good are the training's symptom; a share of flat pairs must show its cost by a fix
            symptom=units_bad(worst, False),
        )
    ]


def _first(ev: Evidence) -> int | None:
    first = next((a for a in ev.init.activations if a.units), None)
    return first.index if first else None
