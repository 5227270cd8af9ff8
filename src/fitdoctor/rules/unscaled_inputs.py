"""FD101 unscaled-inputs: input features far from unit scale."""

from __future__ import annotations

from fitdoctor.catalog import RuleDoc
from fitdoctor.evidence import Evidence
from fitdoctor.fixes.builders import standardize_inputs
from fitdoctor.measured import Measured
from fitdoctor.rules.base import Suspect, g, pct, rule


@rule("FD101")
def check(ev: Evidence, doc: RuleDoc) -> list[Suspect]:
    """Flag float inputs whose max(|mean|, std) exceeds ``feature_scale``."""
    limit = doc.threshold("feature_scale")
    if not ev.inputs:
        return []
    bad = [f for f in ev.inputs if f.scale > limit]
    if not bad:
        return []
    worst = max(bad, key=lambda f: f.scale)
    which = (
        "The input" if len(ev.inputs) == 1 else f"{len(bad)} of {len(ev.inputs)} input features; feature {worst.index}"
    )
    message = (
        f"{which} spans [{g(worst.low)}, {g(worst.high)}] (mean {g(worst.mean)}, std {g(worst.std)}), far "
        f"from the unit scale a network expects (max(|mean|, std) = {g(worst.scale)} > {g(limit)}): the first "
        "layer's pre-activations are huge, so its units saturate or die at once"
    )
    first = next((a for a in ev.init.activations if a.units and a.kind != "softmax"), None)
    symptom = False
    evidence: dict[str, object] = {
        "feature": worst.index,
        "mean": worst.mean,
        "std": worst.std,
        "min": worst.low,
        "max": worst.high,
        "scale": Measured(worst.scale, limit, threshold_key="threshold"),
        "features_unscaled": len(bad),
        "features": len(ev.inputs),
    }
    if first is not None:
        stuck = max(_share(first.saturated_share, 0.99), _share(first.active_share, 0.01, below=True))
        evidence["first_activation"] = first.name
        evidence["first_activation_stuck_share"] = stuck
        if stuck > 0.5:
            symptom = True
            message += f" (at init {pct(stuck)} of the units of {first.name} are stuck)"
    fix = standardize_inputs(ev)
    return [
        Suspect(
            "FD101",
            message,
            ev.locate.model_call or ev.locate.model,
            None,
            evidence,
            [fix] if fix else [],
            symptom=symptom,
        )
    ]


def _share(per_unit: list[float], limit: float, below: bool = False) -> float:
    if not per_unit:
        return 0.0
    hits = [v for v in per_unit if (v < limit if below else v >= limit)]
    return len(hits) / len(per_unit)
