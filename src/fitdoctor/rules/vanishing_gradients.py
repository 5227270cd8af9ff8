"""FD401 vanishing-gradients: the first layers get almost no gradient."""

from __future__ import annotations

from fitdoctor.catalog import RuleDoc
from fitdoctor.evidence import Evidence, StateEvidence
from fitdoctor.fixes import FixCandidate
from fitdoctor.fixes.weights import NARROW, he_init, relu_he, widen, widen_factor, xavier_init
from fitdoctor.measured import Measured
from fitdoctor.probes.activations import DYING, pretty
from fitdoctor.rules.base import Suspect, g, rule

SQUASHING = frozenset({"sigmoid", "tanh"})


def _ratio(state: StateEvidence) -> tuple[float, float, str, str] | None:
    grads = [x for x in state.gradients if x.finite]
    if len(grads) < 3 or grads[-1].grad_norm <= 0:
        return None
    first, last = grads[0], grads[-1]
    return first.grad_norm / last.grad_norm, first.grad_norm, first.name, last.name


@rule("FD401", needs=("init.gradients", "trained.gradients"))
def check(ev: Evidence, doc: RuleDoc) -> list[Suspect]:
    """First-to-last weight-gradient norm ratio below ``first_to_last_ratio`` and first norm below
    ``first_layer_norm`` (both), at init or after the short training."""
    ratio_limit = doc.threshold("first_to_last_ratio")
    norm_limit = doc.threshold("first_layer_norm")
    found = []
    for label, state in (("At init", ev.init), (f"After {ev.baseline.steps} training steps", ev.trained)):
        r = _ratio(state)
        if r and r[0] < ratio_limit and r[1] < norm_limit:
            found.append((label, r))
    if not found:
        return []
    label, (ratio, first_norm, first, last) = found[0]
    first_name, last_name = pretty(first), pretty(last)
    kinds = sorted({a.kind for a in ev.init.activations if a.units})
    depth = len(ev.init.gradients)
    message = (
        f"{label}, the first layer's weight gradient ({first_name}: {g(first_norm)}) is {g(ratio)} of the "
        f"last layer's ({last_name}): through {depth} layers"
        + (f" of {'/'.join(kinds)}" if kinds else "")
        + " the gradient fades, so the early layers barely learn"
    )
    evidence = {
        "first_layer": first,
        "last_layer": last,
        "first_layer_norm": Measured(first_norm, norm_limit),
        "ratio": ratio,
        "when": "init" if label == "At init" else "after",
        "first_to_last_ratio": ratio_limit,
        "layers": {x.name: x.grad_norm for x in ev.init.gradients},
    }
    squashing = SQUASHING.intersection(kinds)
    candidates: list[FixCandidate] = []
    if squashing:
        candidates.append(relu_he(ev, frozenset(squashing)))
        candidates.append(xavier_init(ev, sorted(squashing)[0]))
    elif DYING.intersection(kinds):
        # He init is derived to keep a ReLU stack's gradient scale through depth; a narrow stack needs width too:
        # the gradient's fluctuation from layer to layer grows exponentially in the sum of the reciprocal widths,
        # whatever the init (Hanin 2018)
        candidates.append(he_init(ev))
        final_index = ev.final.index if ev.final else None
        narrow = [
            a for a in ev.init.activations if a.kind in DYING and 0 < a.units <= NARROW and a.index != final_index
        ]
        wide = widen(ev, narrow, widen_factor(min(a.units for a in narrow))) if narrow else None
        if wide:
            candidates.append(wide)
    location = ev.locate.module(first) or ev.locate.model
    return [Suspect("FD401", message, location, first, evidence, candidates, symptom=len(found) == 2)]
