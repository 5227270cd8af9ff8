"""FD505 eval-mode-training: the model trains in eval mode while it has mode-dependent layers."""

from __future__ import annotations

from fitdoctor.catalog import RuleDoc
from fitdoctor.evidence import Evidence
from fitdoctor.fixes.builders import train_mode
from fitdoctor.probes.activations import pretty
from fitdoctor.rules.base import Suspect, pct, rule


@rule("FD505")
def check(ev: Evidence, doc: RuleDoc) -> list[Suspect]:
    """More than ``eval_step_share`` of the captured steps ran in eval mode, with Dropout/BatchNorm layers."""
    steps = ev.loop.steps_captured
    eval_steps = ev.loop.eval_mode_steps
    layers = list(ev.loop.mode_dependent_layers)
    if not steps or not layers or eval_steps / steps <= doc.threshold("eval_step_share"):
        return []
    shown = ", ".join(pretty(n) for n in layers[:4]) + (f" and {len(layers) - 4} more" if len(layers) > 4 else "")
    message = (
        f"{eval_steps} of the {steps} captured steps ({pct(eval_steps / steps)}) trained the model in eval mode: "
        f"a model.eval() (e.g. for a validation pass) is never undone with model.train(). Its {shown} then "
        "behave as at inference: dropout is off and batch norm uses its running statistics, which never update"
    )
    evidence = {
        "eval_mode_steps": eval_steps,
        "steps": steps,
        "mode_dependent_layers": layers,
        "eval_step_share": doc.threshold("eval_step_share"),
    }
    return [Suspect("FD505", message, ev.locate.loss, None, evidence, [train_mode(ev)], symptom=True, proof=True)]
