"""FD301 dead-relu: ReLU units that never activate (or, after training, only duplicate another)."""

from __future__ import annotations

from dataclasses import dataclass

from fitdoctor.catalog import RuleDoc
from fitdoctor.evidence import Evidence
from fitdoctor.fixes import FixCandidate
from fitdoctor.fixes.builders import leaky_relu, lower_lr
from fitdoctor.fixes.weights import NARROW, he_init, widen, widen_factor
from fitdoctor.probes.activations import DYING, ActivationStats, duplicate_units
from fitdoctor.rules.base import Suspect, pct, rule


@dataclass(frozen=True)
class _Layer:
    init: ActivationStats
    after: ActivationStats | None
    dead_init: int
    dead_after: int
    duplicates_after: int

    @property
    def units(self) -> int:
        return self.init.units

    @property
    def lost_init(self) -> float:
        return self.dead_init / self.units

    @property
    def lost_after(self) -> float:
        return (self.dead_after + self.duplicates_after) / self.units


def _layers(ev: Evidence, unit_limit: float, correlation: float, count_duplicates: bool) -> list[_Layer]:
    final_index = ev.final.index if ev.final else None
    after = {a.index: a for a in ev.trained.activations}
    out = []
    for a in ev.init.activations:
        if a.kind not in DYING or not a.units or a.index == final_index:
            continue
        b = after.get(a.index)
        dead_init = sum(1 for v in a.active_share if v < unit_limit)
        dead_after = duplicates = 0
        if b is not None and b.units == a.units:
            live = [u for u, v in enumerate(b.active_share) if v >= unit_limit]
            dead_after = a.units - len(live)
            # Units active on every input have no kink in the data (for a 1-D input they are all
            # collinear by nature); condensation is units sharing a kink.
            kinked = [u for u in live if b.active_share[u] < 1 - unit_limit]
            duplicates = len(duplicate_units(b, kinked, correlation)) if count_duplicates else 0
        out.append(_Layer(a, b, dead_init, dead_after, duplicates))
    return out


@rule(
    "FD301",
    needs=("trained.activations",),
    settings={"layers.unit_active_share": "unit_active_share"},
    layer_share="dead",
)
def check(ev: Evidence, doc: RuleDoc) -> list[Suspect]:
    """Layers where more than ``layer_dead_share`` of ReLU units are lost: active on less than
    ``unit_active_share`` of inputs, or (after training) correlated ≥ ``duplicate_correlation`` with
    another live unit while the model underfits (final loss above ``underfit_share`` of the
    input-independent baseline)."""
    unit_limit = doc.threshold("unit_active_share")
    layer_limit = doc.threshold("layer_dead_share")
    constant = ev.constant_loss
    underfit = constant is not None and constant > 0 and ev.baseline.final > doc.threshold("underfit_share") * constant
    layers = _layers(ev, unit_limit, doc.threshold("duplicate_correlation"), underfit)
    bad = [v for v in layers if max(v.lost_init, v.lost_after) > layer_limit]
    if not bad:
        return []
    worst = max(bad, key=lambda v: (v.lost_after, v.lost_init))
    a = worst.after or worst.init
    steps = ev.baseline.steps
    during = worst.lost_after > layer_limit and worst.lost_init <= layer_limit
    effective = worst.units - worst.dead_after - worst.duplicates_after
    if during:
        verb = "activates" if worst.dead_after == 1 else "activate"
        lost = f"{worst.dead_after} of {a.units} units of {a.name} never {verb} on any training input"
        if worst.duplicates_after:
            lost += (
                f" and {worst.duplicates_after} more only duplicate another unit (same response to every "
                f"input), so the layer works like {effective} unit{'s' if effective != 1 else ''}"
            )
        message = (
            f"After {steps} training steps, {lost} ({pct(worst.lost_after)} lost; at init {pct(worst.lost_init)} "
            "were dead). A dead unit passes no gradient and never recovers"
        )
    else:
        message = (
            f"At init, {worst.dead_init} of {a.units} units of {a.name} ({pct(worst.lost_init)}) never activate on "
            f"any training input; after {steps} steps {pct(worst.lost_after)} are lost. A dead unit passes no "
            "gradient, so it never recovers"
        )
    if len(bad) > 1:
        message += f" ({len(bad)} layers affected)"
    evidence = {
        "layer": a.name,
        "units": a.units,
        "dead_share_init": worst.lost_init,
        "dead_share_after": worst.dead_after / a.units,
        "duplicate_share_after": worst.duplicates_after / a.units,
        "effective_units_after": effective,
        "after_steps": steps,
        "unit_active_share": unit_limit,
        "layer_dead_share": layer_limit,
        "duplicate_correlation": doc.threshold("duplicate_correlation"),
        "layers": {v.init.name: {"init": v.lost_init, "after": v.lost_after} for v in layers},
    }
    candidates: list[FixCandidate] = []
    if during:
        candidates += [c for c in (lower_lr(ev, 0.1), lower_lr(ev, 0.01)) if c]
    candidates += [he_init(ev), leaky_relu(ev, a)]
    if a.units <= NARROW:
        # every narrow ReLU layer, not only the worst: in a deep narrow stack widening one leaves the others to die
        narrow = [v.after or v.init for v in layers if v.units <= NARROW]
        wide = widen(ev, narrow, widen_factor(a.units))
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
            symptom=worst.lost_after > layer_limit,
        )
    ]
