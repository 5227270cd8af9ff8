"""FD504 params-not-updated: trainable parameters the optimizer never changes."""

from __future__ import annotations

from fitdoctor.catalog import RuleDoc
from fitdoctor.evidence import Evidence
from fitdoctor.fixes import FixCandidate
from fitdoctor.fixes.builders import all_parameters, keep_graph
from fitdoctor.rules.base import Suspect, rule


def _names(names: list[str], limit: int = 4) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


@rule("FD504")
def check(ev: Evidence, doc: RuleDoc) -> list[Suspect]:
    """Trainable parameters outside the optimizer, without gradient, or unchanged by the captured steps."""
    outside = list(ev.loop.params_outside_optimizer)
    no_grad = list(ev.loop.params_without_grad)
    # Weights that a vanishing gradient leaves bit-identical are FD401's business; lr 0 is this rule's.
    frozen = [n for g in ev.setup.optimizer_groups if float(g.get("lr", 1.0) or 0.0) == 0.0 for n in g["params"]]
    unchanged = [n for n in frozen if n not in no_grad]
    total = len(ev.setup.initial_state)
    if (len(outside) + len(no_grad) + len(unchanged)) / max(total, 1) <= doc.threshold("stale_param_share"):
        return []
    parts = []
    candidates: list[FixCandidate] = []
    if outside:
        parts.append(f"{len(outside)} trainable parameter tensors are not in the optimizer ({_names(outside)})")
        candidates.append(all_parameters(ev))
    if no_grad:
        parts.append(
            f"{len(no_grad)} never receive a gradient ({_names(no_grad)}): the graph is cut before them "
            "(.detach(), .data, a numpy round-trip) or they are unused in forward"
        )
        candidates.append(keep_graph(ev))
    if unchanged:
        parts.append(f"{len(unchanged)} sit in a param group with learning rate 0 ({_names(unchanged)})")
    message = "Parts of the model are not trained: " + "; ".join(parts)
    evidence = {
        "outside_optimizer": outside,
        "without_grad": no_grad,
        "unchanged": unchanged,
        "stale_param_share": doc.threshold("stale_param_share"),
    }
    location = ev.locate.optimizer if outside else ev.locate.model
    return [Suspect("FD504", message, location, None, evidence, candidates, symptom=True)]
