"""FD303 poor-initialization: weights far from what fan-in and activation call for; signal drifting through depth."""

from __future__ import annotations

import math

from torch import nn

from fitdoctor.catalog import RuleDoc
from fitdoctor.evidence import Evidence
from fitdoctor.fixes import FixCandidate
from fitdoctor.fixes.weights import he_init, xavier_init
from fitdoctor.probes.activations import pretty
from fitdoctor.rules.base import Suspect, g, rule
from fitdoctor.training import fresh_model

RELU_FAMILY = frozenset({"relu", "relu6", "leaky_relu", "elu", "selu", "celu", "gelu", "silu", "mish", "softplus"})
LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


@rule("FD303", needs=("init.gradients", "init.output"))
def check(ev: Evidence, doc: RuleDoc) -> list[Suspect]:
    """Weight std off by more than ``weight_std_ratio`` from He/LeCun; activation scale drifting more than
    ``depth_scale_ratio`` from the first to the last hidden layer; classification loss at init above
    ``init_loss_ratio`` × log(C); regression predictions at init spread over more than ``init_output_ratio``
    times the larger of the targets' standard deviation and 1."""
    w_limit = doc.threshold("weight_std_ratio")
    d_limit = doc.threshold("depth_scale_ratio")
    following = {a.producer: a.kind for a in ev.init.activations if a.producer}
    model = fresh_model(ev.setup)
    problems: list[str] = []
    evidence: dict[str, object] = {"weight_std_ratio": w_limit, "depth_scale_ratio": d_limit}
    layers: dict[str, dict[str, float]] = {}
    worst_name, worst_ratio = None, 1.0
    for name, module in model.named_modules():
        if not isinstance(module, LAYERS) or module.weight.numel() < 2:
            continue
        fan_in = module.weight[0].numel()
        kind = following.get(name)
        gain = math.sqrt(2.0) if kind in RELU_FAMILY else 1.0
        expected = gain / math.sqrt(fan_in)
        actual = float(module.weight.detach().double().std())
        ratio = actual / expected
        layers[name] = {"std": actual, "expected": expected, "ratio": ratio}
        if (ratio < 1 / w_limit or ratio > w_limit) and abs(math.log(max(ratio, 1e-12))) > abs(
            math.log(max(worst_ratio, 1e-12))
        ):
            worst_name, worst_ratio = name, ratio
    evidence["layers"] = layers
    kinds = sorted({a.kind for a in ev.init.activations if a.units})
    if worst_name is not None:
        info = layers[worst_name]
        scheme = "He" if following.get(worst_name) in RELU_FAMILY else "LeCun"
        problems.append(
            f"the weights of {pretty(worst_name)} have std {g(info['std'])}, {g(worst_ratio)}× the {g(info['expected'])} "
            f"its fan-in calls for ({scheme} init)"
        )
        evidence.update({"worst_layer": worst_name, "worst_ratio": worst_ratio})
    hidden = [a for a in ev.init.activations if a.units and (ev.final is None or a.index != ev.final.index)]
    if len(hidden) >= 3 and hidden[0].preact_std > 0:
        drift = hidden[-1].preact_std / hidden[0].preact_std
        evidence["depth_drift"] = drift
        if drift < 1 / d_limit or drift > d_limit:
            problems.append(
                f"the pre-activation scale goes from {g(hidden[0].preact_std)} at the first hidden layer to "
                f"{g(hidden[-1].preact_std)} at the last ({g(drift)}×): the signal {'vanishes' if drift < 1 else 'explodes'} "
                "through depth"
            )
    first = ev.setup.batches[0] if ev.setup.batches else None
    if (
        ev.setup.loss.name == "cross_entropy"
        and ev.setup.single_loss
        and first is not None
        and len(first.pred_shape) >= 2
        and first.pred_shape[1] > 1
    ):
        classes = first.pred_shape[1]
        expected_loss = math.log(classes)
        evidence["init_loss"] = ev.init.loss
        if ev.init.loss > doc.threshold("init_loss_ratio") * expected_loss:
            problems.append(
                f"the loss at init is {g(ev.init.loss)}, {g(ev.init.loss / expected_loss)}× the log({classes}) = "
                f"{g(expected_loss)} of a uniform guess: the initial outputs are confidently wrong"
            )
    spread = _output_spread(ev)
    if spread is not None:
        out_std, target_std = spread
        evidence.update({"init_output_std": out_std, "target_std": target_std})
        unit = max(target_std, 1.0)  # outputs of order 1 are what a fresh network gives (as FD102)
        if out_std > doc.threshold("init_output_ratio") * unit:
            than = f"{g(out_std / target_std)}× the targets' {g(target_std)}"
            if unit > target_std:
                than += " (and above 1)"
            problems.append(
                f"the predictions at init spread with std {g(out_std)}, {than}: the model starts far from every "
                "target, and its first steps go to shrinking the output"
            )
    if not problems:
        return []
    message = "Initialization: " + "; ".join(problems)
    location = (ev.locate.init(f"{worst_name}.weight") or ev.locate.module(worst_name)) if worst_name else None
    candidates: list[FixCandidate] = []
    if any(k in RELU_FAMILY for k in kinds) or not kinds:
        candidates.append(he_init(ev))
    squashing = [k for k in kinds if k in ("tanh", "sigmoid")]
    candidates.append(xavier_init(ev, squashing[0] if squashing else "linear"))
    return [
        Suspect(
            "FD303",
            message,
            location or ev.locate.model,
            pretty(worst_name) if worst_name else None,
            evidence,
            candidates,
            symptom=True,
        )
    ]


def _output_spread(ev: Evidence) -> tuple[float, float] | None:
    """(std of the regression prediction at init, std of the targets per output column), when both are known."""
    t, output = ev.targets, ev.init.output
    if t is None or output is None or not ev.setup.loss.is_regression or not ev.setup.single_loss:
        return None
    target_std = math.sqrt(t.column_variance) if t.column_variance > 0 else t.std
    if not target_std > 0 or not math.isfinite(output[1]):
        return None
    return output[1], target_std
