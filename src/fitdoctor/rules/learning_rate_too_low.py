"""FD502 learning-rate-too-low, backed by a learning-rate range test."""

from __future__ import annotations

from fitdoctor.catalog import RuleDoc
from fitdoctor.evidence import Evidence
from fitdoctor.fixes.builders import learning_rate
from fitdoctor.measured import Measured
from fitdoctor.rules._lr_range import range_note
from fitdoctor.rules.base import Suspect, g, rule


@rule("FD502", needs=("lr_range",))
def too_low(ev: Evidence, doc: RuleDoc) -> list[Suspect]:
    """The suggestion exceeds the user's rate by more than ``lr_ratio``× and updates are below
    ``update_ratio`` of the weights."""
    rt, lr = ev.lr_range, ev.setup.lr
    if rt is None or lr is None or lr <= 0 or rt.suggested_lr <= doc.threshold("lr_ratio") * lr:
        return []
    ratios = sorted(ev.baseline.update_ratios)
    update = ratios[len(ratios) // 2] if ratios else None
    if update is None or update >= doc.threshold("update_ratio"):
        return []
    message = (
        f"The learning rate {g(lr)} is {g(rt.suggested_lr / lr)}× below the {g(rt.suggested_lr)} a learning-rate "
        f"range test suggests ({range_note(ev)}); each step moves the weights by a median {g(update)} of their "
        "size, so the loss crawls"
    )
    evidence = {
        "lr": lr,
        "suggested_lr": rt.suggested_lr,
        "best_lr": rt.best_lr,
        "update_ratio": Measured(update, doc.threshold("update_ratio")),
        "lr_ratio": doc.threshold("lr_ratio"),
    }
    fix = learning_rate(ev, rt.suggested_lr, range_note(ev))
    return [Suspect("FD502", message, ev.locate.optimizer, None, evidence, [fix] if fix else [], symptom=False)]
