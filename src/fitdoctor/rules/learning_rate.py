"""FD501 learning-rate-too-high and FD502 learning-rate-too-low, backed by a learning-rate range test."""

from __future__ import annotations

from fitdoctor.catalog import RuleDoc
from fitdoctor.evidence import Evidence
from fitdoctor.fixes.builders import learning_rate
from fitdoctor.rules import Suspect, g, rule


def _range_note(ev: Evidence) -> str:
    rt = ev.lr_range
    assert rt is not None
    note = f"range test: the loss fell fastest towards lr {g(rt.best_lr)}"
    if rt.diverged_at is not None:
        note += f" and diverged at {g(rt.diverged_at)}"
    return note


@rule("FD501")
def too_high(ev: Evidence, doc: RuleDoc) -> list[Suspect]:
    """The user's learning rate exceeds the range test's suggestion by more than ``lr_ratio``×."""
    rt, lr = ev.lr_range, ev.setup.lr
    if rt is None or lr is None or lr <= doc.threshold("lr_ratio") * rt.suggested_lr:
        return []
    message = (
        f"The learning rate {g(lr)} is {g(lr / rt.suggested_lr)}× the {g(rt.suggested_lr)} a learning-rate range "
        f"test suggests ({_range_note(ev)})"
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
    fix = learning_rate(ev, rt.suggested_lr, _range_note(ev))
    # Only a verified lower rate or a divergence confirms it: a flat loss has many other causes.
    return [
        Suspect(
            "FD501", message, ev.locate.optimizer, None, evidence, [fix] if fix else [], symptom=ev.baseline.diverged
        )
    ]


@rule("FD502")
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
        f"range test suggests ({_range_note(ev)}); each step moves the weights by a median {g(update)} of their "
        "size, so the loss crawls"
    )
    evidence = {
        "lr": lr,
        "suggested_lr": rt.suggested_lr,
        "best_lr": rt.best_lr,
        "update_ratio": update,
        "update_ratio_threshold": doc.threshold("update_ratio"),
        "lr_ratio": doc.threshold("lr_ratio"),
    }
    fix = learning_rate(ev, rt.suggested_lr, _range_note(ev))
    return [Suspect("FD502", message, ev.locate.optimizer, None, evidence, [fix] if fix else [], symptom=False)]
