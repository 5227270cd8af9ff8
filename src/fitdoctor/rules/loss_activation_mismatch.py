"""FD203 loss-activation-mismatch: the output layer and the loss disagree about what the output is."""

from __future__ import annotations

import math

import torch

from fitdoctor.catalog import RuleDoc
from fitdoctor.evidence import Evidence
from fitdoctor.fixes.builders import add_log_softmax, remove_final_activation
from fitdoctor.probes.activations import DYING, ActivationStats, FinalActivation
from fitdoctor.rules.base import Suspect, rule
from fitdoctor.training import fresh_model, predict

_TWICE_SOFTMAX = (
    "The model ends in {kind} and the loss is cross_entropy, which applies log_softmax itself: the probabilities "
    "are squashed twice, so the loss can't approach 0 and its gradients shrink as the model becomes confident"
)
#: A final activation the loss applies again itself: (loss, final activation) -> the message.
DOUBLE_ACTIVATION: dict[tuple[str, str], str] = {
    ("cross_entropy", "softmax"): _TWICE_SOFTMAX,
    ("cross_entropy", "log_softmax"): _TWICE_SOFTMAX,
    ("binary_cross_entropy_with_logits", "sigmoid"): (
        "The model ends in sigmoid and the loss is binary_cross_entropy_with_logits, which applies sigmoid "
        "itself: the predicted probability can't leave (0.5, 0.73), so the loss can't fall far"
    ),
}


#: Losses that take raw scores (logits), which may need any real value.
LOGIT_LOSSES = ("cross_entropy", "binary_cross_entropy_with_logits")
#: One-sided final activations that clip the logits at 0 (the smooth lower tails of GELU, SiLU or ELU are not
#: judged: they bound a wrong class's score only softly).
CLIPPING_AT_ZERO = DYING | {"softplus"}


def _clipped_logits(ev: Evidence, final: FinalActivation) -> str | None:
    """Why a final activation that bounds the scores hurts a loss that takes logits (None when it doesn't)."""
    name, low, high = ev.setup.loss.name, final.low, final.high
    if name not in LOGIT_LOSSES or (low == -math.inf and high == math.inf) or final.kind in ("softmax", "log_softmax"):
        return None
    if name == "binary_cross_entropy_with_logits":
        if low < 0 and high > 0 and high - low > 8:  # sigmoid(±4) covers 2%..98%: not a real bound
            return None
        p_low, p_high = 1 / (1 + math.exp(-low)), (1 / (1 + math.exp(-high)) if high < math.inf else 1.0)
        return (
            f"The model ends in {final.kind}, so the logits binary_cross_entropy_with_logits receives lie in "
            f"[{low:.3g}, {high:.3g}]: the predicted probability can't leave [{p_low:.3g}, {p_high:.3g}]"
            + (", so no input is ever predicted negative" if p_low >= 0.5 else "")
        )
    first = ev.setup.batches[0] if ev.setup.batches else None
    classes = first.pred_shape[1] if first is not None and len(first.pred_shape) >= 2 else None
    if high < math.inf and classes and classes > 1:
        floor = math.log1p((classes - 1) * math.exp(-(high - low)))
        return (
            f"The model ends in {final.kind}, so the logits cross_entropy receives lie in [{low:.3g}, {high:.3g}]: "
            f"over {classes} classes the true class's probability can't exceed {math.exp(-floor):.3g}, a loss "
            f"floor of {floor:.3g}, and the gradient fades where {final.kind} saturates"
        )
    if final.kind in CLIPPING_AT_ZERO:
        return (
            f"The model ends in {final.kind}, which clips every logit cross_entropy receives at {low:.3g}: a class "
            f"score below it gets no gradient{' at all' if final.kind in DYING else ''}, so the model can't push "
            "wrong classes down and stops learning wherever its logits are clipped"
        )
    return None


def _final_stats(ev: Evidence) -> ActivationStats | None:
    if ev.final is None:
        return None
    return next((a for a in ev.init.activations if a.index == ev.final.index), None)


@rule("FD203", per_term=True)
def check(ev: Evidence, doc: RuleDoc) -> list[Suspect]:
    """Softmax before cross-entropy, sigmoid before BCE-with-logits, any other final activation that bounds
    the logits of a loss that takes logits (ReLU or tanh before cross-entropy), NLL on non-log-probabilities,
    cross-entropy over a single output unit."""
    name = ev.setup.loss.name
    final, stats = ev.final, _final_stats(ev)
    evidence: dict[str, object] = {"loss": name, "final_activation": final.kind if final else None}
    double = DOUBLE_ACTIVATION.get((name, final.kind)) if final is not None else None
    if double is not None and final is not None and stats is not None:
        return [
            Suspect(
                "FD203",
                double.format(kind=final.kind),
                ev.activation_location(stats),
                stats.name,
                evidence,
                [remove_final_activation(ev, final, stats)],
                symptom=True,
            )
        ]
    clipped = _clipped_logits(ev, final) if final is not None else None
    if clipped is not None and final is not None and stats is not None:
        evidence.update({"logit_low": final.low, "logit_high": final.high})
        return [
            Suspect(
                "FD203",
                clipped,
                ev.activation_location(stats),
                stats.name,
                evidence,
                [remove_final_activation(ev, final, stats)],
                symptom=True,
            )
        ]
    first = ev.setup.batches[0] if ev.setup.batches else None
    if (
        name in ("cross_entropy", "nll_loss")
        and first is not None
        and len(first.pred_shape) >= 2
        and first.pred_shape[1] == 1
    ):
        message = (
            f"{name} over a single output unit: with one class the softmax is always 1, the loss is exactly 0 for "
            "every input and nothing is learned. Use one output unit per class, or BCEWithLogitsLoss for a binary task"
        )
        evidence["output_units"] = 1
        return [Suspect("FD203", message, ev.locate.loss, None, evidence, [], symptom=True, proof=True)]
    if name == "nll_loss" and first is not None and (final is None or final.kind != "log_softmax"):
        tolerance = doc.threshold("log_prob_tolerance")
        model = fresh_model(ev.setup)
        with torch.no_grad():
            out = predict(model, first).detach().double()
        if out.ndim >= 2:
            gap = float(torch.logsumexp(out, dim=1).abs().max())
            if gap > tolerance:
                evidence.update({"max_abs_logsumexp": gap, "log_prob_tolerance": tolerance})
                message = (
                    "nll_loss expects log-probabilities, but the model's outputs are not (the log-sum-exp over "
                    f"classes is off 0 by up to {gap:.3g}): the loss just rewards making the true class's output "
                    "large, without bound"
                )
                # Raw outputs make NLL unbounded below, so no replay loss can be compared with it: the
                # log-sum-exp gap is the proof.
                return [
                    Suspect(
                        "FD203",
                        message,
                        ev.locate.loss,
                        None,
                        evidence,
                        [add_log_softmax(ev)],
                        symptom=True,
                        proof=True,
                    )
                ]
    return []
