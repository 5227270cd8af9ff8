"""FD503 missing-zero-grad: gradients accumulate across steps without intent."""

from __future__ import annotations

from fitdoctor.catalog import RuleDoc
from fitdoctor.evidence import Evidence
from fitdoctor.fixes.builders import zero_grad_each_step
from fitdoctor.rules.base import Suspect, rule


@rule("FD503")
def check(ev: Evidence, doc: RuleDoc) -> list[Suspect]:
    """More than ``stale_step_share`` of the single-backward steps found last step's gradient still there."""
    stale = ev.loop.stale_gradient_steps
    single = ev.loop.single_backward_steps
    if not single or stale / single <= doc.threshold("stale_step_share"):
        return []
    message = (
        f"In {stale} of {single} steps the gradient of the previous step was still in .grad when backward() added "
        "the new one: the gradients are never reset, so every step applies the sum of all gradients so far. With "
        "one backward per step this is not gradient accumulation"
    )
    evidence = {
        "stale_steps": stale,
        "single_backward_steps": single,
        "stale_step_share": doc.threshold("stale_step_share"),
    }
    return [
        Suspect("FD503", message, ev.locate.loss, None, evidence, [zero_grad_each_step(ev)], symptom=True, proof=True)
    ]
