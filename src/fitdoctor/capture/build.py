"""From a finished :class:`Recorder` to a :class:`TrainingSetup`, or to the reason there is none.

Shared by the script runner (child process) and the in-process Python API.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from fitdoctor.capture.recorder import Recorder, unwrap_model
from fitdoctor.evidence import Locator
from fitdoctor.training import LossSpec, TrainingSetup


@dataclass
class Captured:
    """A setup ready for analysis.

    Attributes:
        setup: What was trained.
        locate: Maps captured sites to the user's lines.
        training: What the capture saw of the user's loop.
        notes: What was sampled or left out.
    """

    setup: TrainingSetup
    locate: Locator
    training: dict[str, Any]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Problem:
    """Why a capture can't be analysed: a meta finding (FD902/FD903)."""

    code: str
    status: str
    message: str
    extra: dict[str, Any]


def problem(recorder: Recorder, what: str, budget: float | None = None, exit_code: Any = None) -> Problem | None:
    """The reason ``recorder``'s capture can't be analysed, or None when it can.

    Args:
        recorder: The finished recorder.
        what: How to name the checked code in messages (the script's path, or "the training code").
        budget: The time budget, mentioned when no step was reached.
        exit_code: The script's ``sys.exit`` code, if it called it.
    """
    if recorder.optimizer is None and recorder.backward_total:
        return Problem(
            "FD903",
            "unsupported",
            (
                f"{what} computes gradients ({recorder.backward_total} backward calls) but never calls step() on a "
                "torch.optim optimizer: it updates the weights by hand (e.g. `p.data -= lr * p.grad`). fitdoctor "
                "needs a torch.optim optimizer to replay the training; `torch.optim.SGD(model.parameters(), lr=lr)` "
                "with zero_grad()/step() does the same update"
            ),
            {"backward_calls": recorder.backward_total},
        )
    if recorder.optimizer is None or recorder.steps == 0:
        why = (
            "it never called optimizer.step() on a torch.optim optimizer"
            if recorder.optimizer is None
            else "no optimizer step completed"
        )
        if exit_code not in (None, 0):
            why += f" (the script exited with sys.exit({exit_code!r}))"
        message = (
            f"{what} finished without a training step that fitdoctor could watch: {why}. fitdoctor needs a loop "
            "that calls the model, a loss, backward() and optimizer.step()"
        )
        if budget is not None:
            message += f" within the time budget ({budget:g} s)"
        return Problem("FD902", "no-step", message, {"steps": recorder.steps})
    unsupported = _unsupported(recorder)
    if unsupported:
        return Problem("FD903", "unsupported", f"{what}: {unsupported}", {"steps": recorder.steps})
    return None


def _unsupported(recorder: Recorder) -> str | None:
    if recorder.loss is None and recorder.loss_in_model is not None:
        site = recorder.loss_in_model
        return (
            f"the loss is computed inside the model's forward ({os.path.basename(site.path)}:{site.line}), so "
            "fitdoctor can't separate the prediction from the loss to replay them; return the prediction "
            "from forward() and compute the loss in the training loop"
        )
    if recorder.model is None:
        return (
            "the optimizer's parameters belong to no module that was called during training, so the "
            "model could not be identified"
        )
    if recorder.loss is None:
        if recorder.hand_written_loss or recorder.user_losses:
            return (
                "the loss is computed by hand (not with a torch.nn.functional / torch.nn loss), so its "
                "targets can't be recovered for a replay; use a torch.nn loss such as nn.MSELoss"
            )
        return "no loss call could be tied to the model's output"
    if recorder.loss.transform == "other":
        ops = ", ".join(recorder.loss.transform_ops[:4])
        return (
            f"the loss is computed on a transformation of the model output ({ops}) that fitdoctor can't "
            "replay yet; pass the model output (or a reshape of it) to the loss directly"
        )
    if not recorder.batches:
        return "no (input, target) batch could be captured"
    return None


def build(recorder: Recorder, seed: int, display_root: str | None) -> Captured:
    """The captured setup (call only when :func:`problem` returned None)."""
    assert recorder.model is not None and recorder.loss is not None and recorder.initial_state is not None
    assert recorder.optimizer is not None
    model = unwrap_model(recorder.model)
    names = {m: n for n, m in model.named_modules()}
    module_sites = {names[m]: s for m, s in list(recorder.module_sites.items()) if m in names}
    model_sites = recorder.module_sites.get(model) or []
    model_site = next((s for s in model_sites if s.function != "__init__"), model_sites[0] if model_sites else None)
    locate = Locator(
        display_root=display_root,
        module_sites=module_sites,
        model=model_site,
        optimizer=recorder.optimizer_site,
        loss=recorder.loss.site,
        model_call=recorder.model_call_site,
        init_sites=recorder.init_sites,
    )
    setup = TrainingSetup(
        model=model,
        initial_state=recorder.initial_state,
        optimizer_cls=type(recorder.optimizer),
        optimizer_groups=recorder.optimizer_groups,
        loss=LossSpec(recorder.loss.name, recorder.loss.kwargs, recorder.loss.transform),
        batches=recorder.batches,
        user_losses=recorder.user_losses,
        seed=seed,
        zero_grad=recorder.stale_steps <= 0.5 * recorder.single_backward_steps,
        accumulation=_accumulation(recorder.backward_calls),
        loss_scale=_median(recorder.loss_scales, 1.0),
        train_mode=recorder.eval_mode_steps <= 0.5 * max(recorder.steps, 1),
    )
    notes = []
    if recorder.compile_calls:
        notes.append(
            "torch.compile: the check ran the model eagerly (the capture's hooks need eager mode; compiled or not, "
            "the model computes the same function)"
        )
    if recorder.other_optimizers:
        params = sum(p.numel() for p in model.parameters())
        where = f", created at line {model_site.line}" if model_site else ""
        notes.append(
            f"several optimizers: checked the model the first one trains ({type(model).__name__}, {params:,} "
            f"parameters{where}); the model(s) of the other {len(recorder.other_optimizers)} "
            f"({', '.join(recorder.other_optimizers)}) were not checked"
        )
    if recorder.batches_dropped:
        notes.append(f"kept the first {len(recorder.batches)} batches; {recorder.batches_dropped} more were not stored")
    return Captured(setup, locate, recorder.training_summary(), notes)


def _median(values: list[float], default: float) -> float:
    finite = sorted(v for v in values if v == v and abs(v) != float("inf"))
    return finite[len(finite) // 2] if finite else default


def _accumulation(backward_calls: list[int]) -> int:
    """Backward calls per optimizer step in the user's loop (1 without gradient accumulation)."""
    counts = sorted(c for c in backward_calls if c > 0)
    return max(1, counts[len(counts) // 2]) if counts else 1
