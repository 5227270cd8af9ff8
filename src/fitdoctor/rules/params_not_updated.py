"""FD504 params-not-updated: trainable parameters the optimizer never changes."""

from __future__ import annotations

from torch import nn

from fitdoctor.capture.userframes import Site
from fitdoctor.catalog import RuleDoc
from fitdoctor.evidence import Evidence
from fitdoctor.fixes import FixCandidate
from fitdoctor.fixes.builders import all_parameters, keep_graph
from fitdoctor.location import Location
from fitdoctor.patches.edits import SourceEdit
from fitdoctor.rules.base import Suspect, rule
from fitdoctor.training import Plan
from fitdoctor.unregistered import Unregistered, assignment_line, describe, find_unregistered, fixed_code, register


def _names(names: list[str], limit: int = 4) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _register(hidden: list[Unregistered], location: Location | None, model_location: Location | None) -> FixCandidate:
    """Register the attributes (``nn.ModuleList``, ``nn.ModuleDict``, ``nn.Parameter``) and train them too. The
    snippet rewrites the assigning line where it is known (``location``), else it points at the model."""
    labels = frozenset(f.label for f in hidden)
    wrapper = {"tensor": "nn.Parameter", "dict": "nn.ModuleDict"}.get(hidden[0].container, "nn.ModuleList")

    def edit(model: nn.Module) -> None:
        register(model, labels)

    return FixCandidate(
        "register-layers",
        "Register the layers with the model (nn.ModuleList / nn.ModuleDict / nn.Parameter)",
        fixed_code(hidden[0], location.source if location else ""),
        Plan("register-layers", model_edits=(edit,), all_params=True),
        location or model_location,
        edits=(SourceEdit("wrap_value", location.path, location.line, value=wrapper),) if location else (),
    )


def _assignment(ev: Evidence, found: Unregistered) -> Location | None:
    """The line of the owner's ``__init__`` that assigns the attribute (None where it can't be found)."""
    where = assignment_line(ev.setup.model, found)
    return ev.locate.site(Site(where[0], where[1], "__init__")) if where else None


@rule("FD504")
def check(ev: Evidence, doc: RuleDoc) -> list[Suspect]:
    """Layers the model holds unregistered (a plain list of modules), trainable parameters outside the
    optimizer, without gradient, or unchanged by the captured steps."""
    outside = list(ev.loop.params_outside_optimizer)
    no_grad = list(ev.loop.params_without_grad)
    hidden = [f for f, _ in find_unregistered(ev.setup.model) if f.label in ev.loop.unregistered]
    # Weights that a vanishing gradient leaves bit-identical are FD401's business; lr 0 is this rule's.
    # A group is frozen when its rate is 0 at every captured step (a warm-up from 0 starts there too).
    peaks = ev.setup.peak_lrs()
    rates = [
        peaks[i] if peaks and i < len(peaks) else g.get("lr", 1.0) for i, g in enumerate(ev.setup.optimizer_groups)
    ]
    frozen = [
        n
        for g, lr in zip(ev.setup.optimizer_groups, rates, strict=True)
        if float(lr or 0.0) == 0.0
        for n in g["params"]
    ]
    unchanged = [n for n in frozen if n not in no_grad]
    total = len(ev.setup.initial_state)
    if not hidden and (len(outside) + len(no_grad) + len(unchanged)) / max(total, 1) <= doc.threshold(
        "stale_param_share"
    ):
        return []
    parts = []
    candidates: list[FixCandidate] = []
    assigned = _assignment(ev, hidden[0]) if hidden else None
    if hidden:
        what = "; ".join(describe(f) for f in hidden)
        parts.append(
            f"{what}: nn.Module registers only modules, parameters and ModuleList/ModuleDict containers, so "
            "model.parameters() and the optimizer never see these layers; they get gradients in every backward "
            "pass and never change"
        )
        candidates.append(_register(hidden, assigned, ev.locate.model))
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
        "unregistered": [f.label for f in hidden],
        "outside_optimizer": outside,
        "without_grad": no_grad,
        "unchanged": unchanged,
        "stale_param_share": doc.threshold("stale_param_share"),
    }
    location = (assigned or ev.locate.model) if hidden else ev.locate.optimizer if outside else ev.locate.model
    return [Suspect("FD504", message, location, None, evidence, candidates, symptom=True)]
