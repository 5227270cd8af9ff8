"""FD602 cannot-overfit-batch: the setup can't memorise one small batch (Karpathy's check)."""

from __future__ import annotations

from fitdoctor.catalog import RuleDoc
from fitdoctor.evidence import Evidence
from fitdoctor.probes.yardstick import constant_words
from fitdoctor.rules.base import Suspect, g, rule


@rule(
    "FD602",
    needs=("overfit", "lr_range"),
    settings={
        "overfit.batch_size": "batch_size",
        "overfit.steps": "overfit_steps",
        "overfit.memorised": "overfit_share",
    },
)
def check(ev: Evidence, doc: RuleDoc) -> list[Suspect]:
    """The best overfit run stays above ``overfit_share`` of the input-independent baseline on that batch."""
    if ev.setup.adversarial:
        return []  # a generator's and a discriminator's losses are meant to stay up (see the capture note)
    o = ev.overfit
    if o is None or o.baseline <= 0 or o.best <= doc.threshold("overfit_share") * o.baseline:
        return []
    if o.tail_decrease >= doc.threshold("still_falling"):
        return []  # still converging when the run ended: slow, not unable
    message = (
        f"Trained on one batch of {o.samples} samples for {o.steps} steps (best run: {o.optimizer} at lr {g(o.lr)}), "
        "the loss only went "
        f"from {g(o.start)} to {g(o.best)}, {g(o.best / o.baseline)}× the {g(o.baseline)} of predicting "
        f"{constant_words(ev.setup.loss.name)}: "
        "a network that can't memorise a handful of examples has a bug in the model or the data pipeline (an "
        "output that ignores the input, a bounded or normalised output, a broken loss...)"
    )
    evidence = {
        "samples": o.samples,
        "steps": o.steps,
        "lr": o.lr,
        "start": o.start,
        "best": o.best,
        "baseline": o.baseline,
        "overfit_share": doc.threshold("overfit_share"),
    }
    return [Suspect("FD602", message, ev.locate.model, None, evidence, [], symptom=True)]
