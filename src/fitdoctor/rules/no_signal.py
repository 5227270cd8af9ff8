"""FD105 no-signal: the model learns its targets no better than the same targets shuffled across the inputs,
while it does learn targets that a simple feature of the inputs (or another draw of the same model) decides."""

from __future__ import annotations

import math

from fitdoctor.catalog import RuleDoc
from fitdoctor.evidence import Evidence
from fitdoctor.measured import Measured
from fitdoctor.probes.control import learned_share
from fitdoctor.rules.base import Suspect, pct, rule

#: How each positive control handed out the targets, by its key in the finding's evidence (``planted_by``).
PLANTED_BY = {
    "input-feature": "one feature of the inputs",
    "model-teacher": "another random initialisation of the same model",
}


@rule(
    "FD105",
    needs=("shuffled_targets",),
    settings={"shuffled_targets.gate": "gate_share", "shuffled_targets.margin": "margin"},
)
def check(ev: Evidence, doc: RuleDoc) -> list[Suspect]:
    """The real targets remove at most ``margin`` more of the constant's loss than the shuffled control, and a
    positive control (planted by a feature of the inputs, or by a teacher: another draw of the same model) removes
    more than ``margin`` beyond the real targets: the setup learns a signal when there is one, and finds none in
    the real targets."""
    controls, constant = ev.control, ev.constant_loss
    if controls is None or constant is None or not math.isfinite(constant) or constant <= 0:
        return []
    positive = [
        (learned_share(run.final, constant), by)
        for run, by in ((controls.planted, "input-feature"), (controls.teacher, "model-teacher"))
        if run is not None
    ]
    if controls.shuffled is None or not positive:
        return []
    real = learned_share(ev.baseline.final, constant)
    shuffled = learned_share(controls.shuffled.final, constant)
    planted, by = max(positive, key=lambda share_by: share_by[0])
    margin = doc.threshold("margin")
    if real - shuffled > margin or planted - real <= margin:
        return []
    steps = ev.baseline.steps
    message = (
        f"The model learns its targets no better than the same targets shuffled across the inputs: after {steps} "
        f"replay steps it removed {pct(real)} of the loss of always predicting the best constant, and "
        f"{pct(shuffled)} with every target moved to another sample. The same model, optimizer and steps removed "
        f"{pct(planted)} when the same targets were handed out by {PLANTED_BY[by]}, so it can learn; "
        "nothing in the inputs tells it the real targets. The inputs and targets are likely misaligned: shuffled "
        "or sorted separately, read from files in different orders, or joined on the wrong key"
    )
    evidence = {
        "learned_real": real,
        "learned_shuffled": shuffled,
        "learned_planted": planted,
        "planted_by": by,
        "advantage": Measured(real - shuffled, margin, "share of the constant's loss"),
        "planted_advantage": Measured(planted - real, margin, "share of the constant's loss"),
        "replay_steps": steps,
        "constant_loss": constant,
    }
    return [Suspect("FD105", message, ev.locate.loss or ev.locate.model_call, None, evidence, proof=True)]
