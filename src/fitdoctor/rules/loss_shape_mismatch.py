"""FD202 loss-shape-mismatch: prediction and target shapes broadcast instead of matching."""

from __future__ import annotations

import math

import torch

from fitdoctor.catalog import RuleDoc
from fitdoctor.evidence import Evidence
from fitdoctor.fixes.builders import reshape_target
from fitdoctor.rules.base import Suspect, rule

ELEMENTWISE = (
    "mse_loss",
    "l1_loss",
    "smooth_l1_loss",
    "huber_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "soft_margin_loss",
)


@rule("FD202", per_term=True)
def check(ev: Evidence, doc: RuleDoc) -> list[Suspect]:
    """An elementwise loss whose prediction and target shapes differ and broadcast to a larger shape."""
    if ev.setup.loss.name not in ELEMENTWISE:
        return []
    for batch in ev.setup.batches:
        if batch.target is None:
            continue
        pred, target = tuple(batch.pred_shape), tuple(batch.target.shape)
        if pred == target:
            continue
        try:
            broadcast = tuple(torch.broadcast_shapes(pred, target))
        except RuntimeError:
            continue
        if math.prod(broadcast) <= math.prod(pred):
            continue
        message = (
            f"The loss compares a prediction of shape {pred} with a target of shape {target}: they broadcast "
            f"to {broadcast}, so every prediction is scored against every target in the batch and the best the "
            "model can do is predict their mean"
        )
        evidence = {"prediction_shape": list(pred), "target_shape": list(target), "broadcast_shape": list(broadcast)}
        return [
            Suspect(
                "FD202",
                message,
                ev.locate.loss,
                None,
                evidence,
                [reshape_target(ev, pred, target)],
                symptom=True,
                proof=True,
            )
        ]
    return []
