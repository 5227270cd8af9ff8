"""FD205 softmax-dim: the model's final softmax (or log_softmax) normalises over the wrong axis, typically the batch."""

from __future__ import annotations

import re
from typing import Any

from fitdoctor.catalog import RuleDoc
from fitdoctor.evidence import Evidence
from fitdoctor.fixes import FixCandidate
from fitdoctor.location import Location
from fitdoctor.patches.edits import SourceEdit
from fitdoctor.probes.activations import ActivationStats, FinalActivation
from fitdoctor.rules.base import Suspect, rule
from fitdoctor.training import Plan

#: Losses whose class axis is dimension 1 of the prediction whatever its rank (``(N, C, d1, ...)``).
CLASS_AXIS_ONE = ("nll_loss", "cross_entropy")


def class_axis(shape: tuple[int, ...], loss: str) -> int | None:
    """The axis that holds the classes of a prediction of this shape: 1 for ``(N, C)``, and for higher ranks
    under NLL or cross-entropy; None where the shape alone can't tell (e.g. ``(N, T, C)`` under MSE)."""
    if len(shape) == 2 or (len(shape) > 2 and loss in CLASS_AXIS_ONE):
        return 1
    return None


def normalise_over(ev: Evidence, final: FinalActivation, stats: ActivationStats, axis: int) -> FixCandidate:
    """The fix: the same softmax over the class axis, replayed by rewriting the call's ``dim``."""
    index = final.index

    def edit(i: int, kind: str, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if i != index:
            return None
        rest = {k: v for k, v in kwargs.items() if k != "dim"}
        return func(args[0], axis, *args[2:], **rest)

    location = ev.activation_location(stats)
    source = location.source if location else ""
    fixed = re.sub(r"dim\s*=\s*-?\d+", f"dim={axis}", source)
    snippet = f"{fixed}  # was: {source}" if fixed != source else f"# pass dim={axis} to {final.kind}"
    return FixCandidate(
        f"{final.kind}-over-classes",
        f"Normalise over the classes: {final.kind}(..., dim={axis})",
        snippet,
        Plan(f"{final.kind}-over-classes", activation_edit=edit),
        location,
        edits=_dim_edit(ev, stats, location, axis),
    )


def _dim_edit(ev: Evidence, stats: ActivationStats, location: Location | None, axis: int) -> tuple[SourceEdit, ...]:
    """Set ``dim`` where the softmax is built or called: ``nn.Softmax(dim)`` (first parameter) or
    ``F.softmax(x, dim)`` / ``torch.log_softmax(x, dim)`` (second)."""
    if location is None:
        return ()
    if stats.activation_module:
        module = dict(ev.setup.model.named_modules()).get(stats.module or "")
        if module is None:
            return ()
        name, position = type(module).__name__, 0
    else:
        name, position = stats.kind, 1
    return (
        SourceEdit(
            "set_argument", location.path, location.line, name=name, keyword="dim", value=str(axis), position=position
        ),
    )


@rule("FD205")
def check(ev: Evidence, doc: RuleDoc) -> list[Suspect]:
    """The final softmax's dimension is not the prediction's class axis (the batch axis, most often)."""
    final = ev.final
    if final is None or final.index is None or final.kind not in ("softmax", "log_softmax") or final.dim is None:
        return []
    if not ev.probe_batches:
        return []
    shape = tuple(ev.probe_batches[0].pred_shape)
    axis = class_axis(shape, ev.setup.loss.name)
    if axis is None or shape[0] < 2 or shape[axis] < 2:
        return []
    dim = final.dim % len(shape)
    if dim == axis:
        return []
    stats = next(a for a in ev.init.activations if a.index == final.index)
    across = "the batch" if dim == 0 else f"axis {dim}"
    message = (
        f"The model's output goes through {final.kind}(dim={final.dim}), over {across} of its {shape} "
        f"prediction, not over its {shape[axis]} classes (axis {axis}): each score is normalised against the "
        f"other {shape[dim] - 1} entries along {across}, so a sample's prediction depends on the rest of its batch "
        "and the loss can't reach its floor"
    )
    evidence = {"activation": final.kind, "dim": final.dim, "class_axis": axis, "prediction_shape": list(shape)}
    return [
        Suspect(
            "FD205",
            message,
            ev.activation_location(stats),
            stats.name,
            evidence,
            [normalise_over(ev, final, stats, axis)],
        )
    ]
