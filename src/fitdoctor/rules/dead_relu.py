"""FD301 dead-relu: ReLU units that never activate."""

from __future__ import annotations

from fitdoctor.catalog import RuleDoc
from fitdoctor.evidence import Evidence
from fitdoctor.fixes import FixCandidate
from fitdoctor.fixes.builders import he_init, leaky_relu, lower_lr, widen
from fitdoctor.probes.activations import DYING
from fitdoctor.rules import Suspect, pct, rule
from fitdoctor.rules._layers import layer_verdicts

NARROW = 16  # layers this narrow get a "widen" counterfactual


@rule("FD301")
def check(ev: Evidence, doc: RuleDoc) -> list[Suspect]:
    """Layers where more than ``layer_dead_share`` of ReLU units are active on < ``unit_active_share``."""
    unit_limit = doc.threshold("unit_active_share")
    layer_limit = doc.threshold("layer_dead_share")
    verdicts = layer_verdicts(ev, DYING, unit_limit, below=True, field_name="active_share")
    bad = [v for v in verdicts if max(v.at_init, v.after) > layer_limit]
    if not bad:
        return []
    worst = max(bad, key=lambda v: (v.after, v.at_init))
    a = worst.stats
    steps = ev.baseline.steps
    during = worst.after > layer_limit and worst.at_init <= layer_limit
    if during:
        when = f"After {steps} training steps, {worst.stuck_units} of {a.units} units of {a.name} ({pct(worst.after)})"
        tail = f" — at init only {pct(worst.at_init)} were. The updates pushed them off"
    else:
        share = worst.at_init
        when = f"At init, {round(share * a.units)} of {a.units} units of {a.name} ({pct(share)})"
        tail = f"; after {steps} steps {pct(worst.after)}"
    message = (
        f"{when} never activate on any training input{tail}. A dead unit passes no gradient, so it "
        "never recovers, and the layer's output shrinks to the few live units"
    )
    if len(bad) > 1:
        message += f" ({len(bad)} layers affected)"
    evidence = {
        "layer": a.name,
        "units": a.units,
        "dead_share_init": worst.at_init,
        "dead_share_after": worst.after,
        "after_steps": steps,
        "unit_active_share": unit_limit,
        "layer_dead_share": layer_limit,
        "layers": {v.stats.name: {"init": v.at_init, "after": v.after} for v in verdicts},
    }
    candidates: list[FixCandidate] = []
    if during:
        candidates += [c for c in (lower_lr(ev, 0.1), lower_lr(ev, 0.01)) if c]
    candidates += [he_init(ev), leaky_relu(ev, a)]
    if a.units <= NARROW:
        wide = widen(ev, a, max(2, 64 // a.units))
        if wide:
            candidates.append(wide)
    return [
        Suspect(
            "FD301",
            message,
            ev.activation_location(a),
            a.name,
            evidence,
            candidates,
            symptom=worst.after > layer_limit,
        )
    ]
