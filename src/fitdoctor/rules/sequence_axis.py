"""FD206 sequence-axis: a recurrent or attention layer reads the batch as its sequence (``batch_first=False``
fed ``(batch, time, feature)`` data)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from torch import nn

from fitdoctor.catalog import RuleDoc
from fitdoctor.evidence import Evidence
from fitdoctor.fixes import FixCandidate
from fitdoctor.patches.edits import SourceEdit
from fitdoctor.probes.sequence import SequenceInput
from fitdoctor.rules.base import Suspect, rule
from fitdoctor.snippets import without_comment
from fitdoctor.training import Plan


def batch_axis(call: SequenceInput) -> int | None:
    """The axis of the layer's input that holds the samples, as the loss target tells: 0 or 1, or None where
    the shapes can't tell (the two leading axes equal, no target, or a per-step target whose own layout is as
    ambiguous as the input's)."""
    shape, target = call.shape, call.target_shape
    if not target or shape[0] == shape[1]:
        return None
    samples = target[0]
    per_step = len(target) >= 2 and target[1] in (shape[0], shape[1]) and target[1] != 1
    if per_step:
        return None
    if samples == shape[0]:
        return 0
    if samples == shape[1]:
        return 1
    return None


def _time_first_layers(calls: Sequence[SequenceInput]) -> dict[str, list[SequenceInput]]:
    """The calls of each layer with ``batch_first=False``, by layer."""
    by_layer: dict[str, list[SequenceInput]] = defaultdict(list)
    for call in calls:
        if not call.batch_first:
            by_layer[call.module].append(call)
    return by_layer


def misread_layers(calls: Sequence[SequenceInput]) -> dict[str, list[SequenceInput]]:
    """Layers with ``batch_first=False`` whose every judgeable call had the samples on axis 0 (at least one)."""
    out = {}
    for name, layer_calls in _time_first_layers(calls).items():
        axes = {batch_axis(c) for c in layer_calls} - {None}
        if axes == {0}:
            out[name] = layer_calls
    return out


def undecided_layers(calls: Sequence[SequenceInput]) -> dict[str, list[SequenceInput]]:
    """Layers with ``batch_first=False`` whose every call has as many samples as time steps: the target's sample
    count on both leading axes (a per-step target excluded), so that only a replay can tell the layouts apart."""
    return {name: cs for name, cs in _time_first_layers(calls).items() if all(_square(c) for c in cs)}


def _square(call: SequenceInput) -> bool:
    shape, target = call.shape, call.target_shape
    if not target or len(shape) < 3 or shape[0] != shape[1] or target[0] != shape[0]:
        return False
    return len(target) == 1 or target[1] == 1 or target[1] != shape[0]  # not a per-step target


def batch_first(ev: Evidence, names: Sequence[str], kind: str) -> FixCandidate:
    """The fix: create the layers with ``batch_first=True``, replayed by setting the flag on a fresh copy."""

    def edit(model: nn.Module) -> None:
        modules = dict(model.named_modules())
        for name in names:
            if name in modules:
                modules[name].batch_first = True

    location = ev.locate.module(names[0])
    code = without_comment(location.source if location else "")
    if code.endswith(")") and "batch_first" not in code:
        fixed = code[:-1].rstrip()
        fixed = f"{fixed}{'' if fixed.endswith('(') else ', '}batch_first=True)"
        snippet = f"{fixed}  # was: {code}"
    else:
        snippet = f"nn.{kind}(..., batch_first=True)  # the data is (batch, time, feature)"
    return FixCandidate(
        "batch-first",
        "Create the layer with batch_first=True" if len(names) == 1 else "Create the layers with batch_first=True",
        snippet,
        Plan("batch-first", model_edits=(edit,)),
        location,
        edits=(
            SourceEdit("set_argument", location.path, location.line, name=kind, keyword="batch_first", value="True"),
        )
        if location is not None
        else (),
    )


@rule("FD206", needs=("sequence_inputs",))
def check(ev: Evidence, doc: RuleDoc) -> list[Suspect]:
    """A ``batch_first=False`` layer whose input has the loss target's sample count on axis 0, not axis 1; or,
    where every batch has as many samples as time steps, one whose ``batch_first=True`` replay decides."""
    misread = misread_layers(ev.sequence_inputs)
    undecided = {} if misread else undecided_layers(ev.sequence_inputs)
    if not misread and not undecided:
        return []
    names = list(misread or undecided)
    call = (misread or undecided)[names[0]][0]
    samples, steps = call.shape[0], call.shape[1]
    if misread:
        message = (
            f"{names[0]} ({call.kind}, batch_first=False) reads its input as (time, batch, feature), but it receives "
            f"{list(call.shape)} with the batch's {samples} samples on the first axis (the target is "
            f"{list(call.target_shape or ())}): it runs across the {samples} samples of a batch as if they were one "
            f"sequence, {steps} such sequences side by side, so every prediction mixes the samples before it in the "
            "batch and sees one step of its own sequence"
        )
    else:
        message = (
            f"{names[0]} ({call.kind}, batch_first=False) reads its input as (time, batch, feature) and receives "
            f"{list(call.shape)} against a target of {list(call.target_shape or ())}: with as many samples as time "
            "steps in every batch the shapes can't tell which axis holds the samples, so the replay with "
            "batch_first=True decides. If the data is (batch, time, feature), the layer runs across the samples of "
            "a batch as if they were one sequence"
        )
    if len(names) > 1:
        message += f" ({len(names)} layers read it so: {', '.join(names)})"
    evidence = {
        "layers": names,
        "kind": call.kind,
        "input_shape": list(call.shape),
        "target_shape": list(call.target_shape or ()),
        "decided_by": "shapes" if misread else "replay",
    }
    return [
        Suspect("FD206", message, ev.locate.module(names[0]), names[0], evidence, [batch_first(ev, names, call.kind)])
    ]
