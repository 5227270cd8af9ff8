"""FD501 learning-rate-too-high, backed by a learning-rate range test."""

from __future__ import annotations

from fitdoctor.catalog import RuleDoc
from fitdoctor.evidence import Evidence
from fitdoctor.fixes.builders import learning_rate
from fitdoctor.rules._lr_range import range_note
from fitdoctor.rules.base import Suspect, g, rule


@rule("FD501", needs=("lr_range",), settings={"lr_range.divergence_factor": "divergence_factor"})
def too_high(ev: Evidence, doc: RuleDoc) -> list[Suspect]:
    """The user's learning rate exceeds the range test's suggestion by more than ``lr_ratio``×."""
    rt, lr = ev.lr_range, ev.setup.lr
    if rt is None or lr is None or lr <= doc.threshold("lr_ratio") * rt.suggested_lr:
        return []
    message = (
        f"The learning rate {g(lr)} is {g(lr / rt.suggested_lr)}× the {g(rt.suggested_lr)} a learning-rate range "
        f"test suggests ({range_note(ev)})"
    )
    if ev.baseline.diverged:
        message += "; the replay diverged"
    evidence = {
        "lr": lr,
        "suggested_lr": rt.suggested_lr,
        "best_lr": rt.best_lr,
        "diverged_at": rt.diverged_at,
        "lr_ratio": doc.threshold("lr_ratio"),
        "divergence_factor": doc.threshold("divergence_factor"),
    }
    fix = learning_rate(ev, rt.suggested_lr, range_note(ev))
    # Only a verified lower rate or a divergence confirms it: a flat loss has many other causes.
    return [
        Suspect(
            "FD501", message, ev.locate.optimizer, None, evidence, [fix] if fix else [], symptom=ev.baseline.diverged
        )
    ]
