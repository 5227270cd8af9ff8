"""FD105 no-signal: the model learns its targets no better than the same targets shuffled across the inputs,
while it does learn targets that a simple feature of the inputs decides."""

from __future__ import annotations

import math

from fitdoctor.catalog import RuleDoc
from fitdoctor.evidence import Evidence
from fitdoctor.measured import Measured
from fitdoctor.rules.base import Suspect, pct, rule


def learned_share(final: float, constant: float) -> float:
    """The share of the best constant's loss a replay removed by its end (0: no better than the constant; a
    diverged or worse run counts as 0)."""
    if not math.isfinite(final):
        return 0.0
    return max(0.0, (constant - final) / constant)


@rule(
    "FD105",
    needs=("shuffled_targets",),
    settings={"shuffled_targets.gate": "gate_share", "shuffled_targets.margin": "margin"},
)
def check(ev: Evidence, doc: RuleDoc) -> list[Suspect]:
    """The real targets remove at most ``margin`` more of the constant's loss than the shuffled control, and the
    planted control removes more than ``margin`` beyond the real targets: the setup learns a signal when there is
    one, and finds none in the real targets."""
    controls, constant = ev.control, ev.constant_loss
    if controls is None or constant is None or not math.isfinite(constant) or constant <= 0:
        return []
    if controls.shuffled is None or controls.planted is None:
        return []
    real = learned_share(ev.baseline.final, constant)
    shuffled = learned_share(controls.shuffled.final, constant)
    planted = learned_share(controls.planted.final, constant)
    margin = doc.threshold("margin")
    if real - shuffled > margin or planted - real <= margin:
        return []
    steps = ev.baseline.steps
    message = (
        f"The model learns its targets no better than the same targets shuffled across the inputs: after {steps} "
        f"replay steps it removed {pct(real)} of the loss of always predicting the best constant, and "
        f"{pct(shuffled)} with every target moved to another sample. The same model, optimizer and steps removed "
        f"{pct(planted)} when the same targets were handed out by one feature of the inputs, so it can learn; "
        "nothing in the inputs tells it the real targets. The inputs and targets are likely misaligned: shuffled "
        "or sorted separately, read from files in different orders, or joined on the wrong key"
    )
    evidence = {
        "learned_real": real,
        "learned_shuffled": shuffled,
        "learned_planted": planted,
        "advantage": Measured(real - shuffled, margin, "share of the constant's loss"),
        "planted_advantage": Measured(planted - real, margin, "share of the constant's loss"),
        "replay_steps": steps,
        "constant_loss": constant,
    }
    return [Suspect("FD105", message, ev.locate.loss or ev.locate.model_call, None, evidence, proof=True)]
