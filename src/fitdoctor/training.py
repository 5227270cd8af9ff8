"""The captured training setup and the replay loop that every probe and counterfactual run uses.

A replay rebuilds the model from the initial snapshot (deep copy + ``load_state_dict``), creates a
fresh optimizer of the user's class and hyperparameters, and cycles the captured batches in their
captured order, under a fixed seed. A :class:`Plan` describes a counterfactual: edits to the model,
an input transform, an activation swap or a scaled learning rate.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from fitdoctor.capture.recorder import Batch

#: Elementwise activation functions as the TorchFunctionMode sees them, by kind.
ACTIVATION_FUNCS: dict[Any, str] = {
    F.relu: "relu",
    torch.relu: "relu",
    torch.Tensor.relu: "relu",
    F.relu_: "relu",
    torch.relu_: "relu",
    F.relu6: "relu6",
    F.hardtanh: "hardtanh",
    torch.tanh: "tanh",
    torch.Tensor.tanh: "tanh",
    F.tanh: "tanh",
    torch.sigmoid: "sigmoid",
    torch.Tensor.sigmoid: "sigmoid",
    F.sigmoid: "sigmoid",
    F.elu: "elu",
    F.selu: "selu",
    F.celu: "celu",
    F.gelu: "gelu",
    F.silu: "silu",
    F.mish: "mish",
    F.softplus: "softplus",
    F.leaky_relu: "leaky_relu",
    F.softmax: "softmax",
    torch.softmax: "softmax",
    torch.Tensor.softmax: "softmax",
    F.log_softmax: "log_softmax",
    torch.log_softmax: "log_softmax",
    torch.Tensor.log_softmax: "log_softmax",
    F.logsigmoid: "logsigmoid",
}

#: Kinds that are not elementwise over units (they normalise along a dimension).
NORMALISING = frozenset({"softmax", "log_softmax"})


@dataclass
class LossSpec:
    """The user's loss: a ``torch.nn.functional`` loss and its keyword arguments.

    Attributes:
        name: e.g. ``mse_loss``.
        kwargs: Everything but input and target (reduction, weight, ...).
        transform: How the loss input derives from the model output: identity, reshape or other.
    """

    name: str
    kwargs: dict[str, Any]
    transform: str = "identity"

    def __call__(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        fn = getattr(F, self.name)
        return fn(prediction, target, **self.kwargs)

    @property
    def is_regression(self) -> bool:
        """Whether the loss compares real-valued predictions with real-valued targets."""
        return self.name in ("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss")


@dataclass
class TrainingSetup:
    """What a script trains, captured or given through the API.

    Attributes:
        model: The model, holding its initial weights.
        initial_state: The model's state_dict before the first optimizer step.
        optimizer_cls: The optimizer's class.
        optimizer_groups: Hyperparameters per param group; ``params`` lists parameter names.
        loss: The loss function.
        batches: Training batches in the order the script used them.
        user_losses: The loss of each captured step of the user's own loop.
        seed: Seed for every replay.
        zero_grad: Whether the user's loop resets gradients before each optimizer step.
        accumulation: Backward calls per optimizer step (gradient accumulation).
        loss_scale: What the user multiplies the loss by before backward (e.g. 1/accumulation).
        train_mode: Whether the user's loop trains the model in train mode (not left in eval mode).
    """

    model: nn.Module
    initial_state: dict[str, torch.Tensor]
    optimizer_cls: type[torch.optim.Optimizer]
    optimizer_groups: list[dict[str, Any]]
    loss: LossSpec
    batches: list[Batch]
    user_losses: list[float] = field(default_factory=list)
    seed: int = 0
    zero_grad: bool = True
    accumulation: int = 1
    loss_scale: float = 1.0
    train_mode: bool = True

    @property
    def lr(self) -> float | None:
        """The first param group's learning rate."""
        value = self.optimizer_groups[0].get("lr") if self.optimizer_groups else None
        return float(value) if isinstance(value, (int, float, torch.Tensor)) else None


class ActivationEdit(TorchFunctionMode):
    """Rewrites activation calls during a forward pass: the counterfactual for activation fixes.

    Args:
        edit: Called as ``edit(index, kind, func, args, kwargs)`` for the index-th activation call of
            the forward pass; returns a tensor to use instead, or None to run the call unchanged.
    """

    def __init__(self, edit: Callable[[int, str, Any, tuple[Any, ...], dict[str, Any]], Any]) -> None:
        super().__init__()
        self.edit = edit
        self.index = 0

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        kind = ACTIVATION_FUNCS.get(func)
        if kind is not None:
            index = self.index
            self.index += 1
            out = self.edit(index, kind, func, args, kwargs)
            if out is not None:
                return out
        return func(*args, **kwargs)


@dataclass(frozen=True)
class Plan:
    """A counterfactual replay: what to change in the captured setup.

    Attributes:
        name: Identifier (``baseline`` or a fix id).
        model_edits: Functions applied to a fresh copy of the model before training.
        input_transform: Applied to the model's first positional input.
        output_transform: Applied to the model's output (e.g. de-standardising targets).
        target_transform: Applied to each batch's target before the loss.
        activation_edit: Passed to :class:`ActivationEdit` around every forward.
        lr_scale: Multiplies every param group's learning rate.
        zero_grad: Overrides the loop's gradient reset (None keeps the user's).
        all_params: Train every trainable parameter, also those the user's optimizer leaves out.
        clip_grad_norm: Clip the total gradient norm to this before each step.
        drop_nonfinite: Skip the rows of a batch that hold NaN or Inf.
        keep_graph: Make ``Tensor.detach`` inside forward a no-op (the counterfactual for a cut graph).
        train_mode: Train in train mode (True) or eval mode (False); None keeps the user's.
    """

    name: str = "baseline"
    model_edits: tuple[Callable[[nn.Module], None], ...] = ()
    input_transform: Callable[[torch.Tensor], torch.Tensor] | None = None
    output_transform: Callable[[torch.Tensor], torch.Tensor] | None = None
    target_transform: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None
    activation_edit: Callable[..., Any] | None = None
    lr_scale: float = 1.0
    zero_grad: bool | None = None
    all_params: bool = False
    clip_grad_norm: float | None = None
    drop_nonfinite: bool = False
    keep_graph: bool = False
    train_mode: bool | None = None


class KeepGraph(TorchFunctionMode):
    """Turns ``x.detach()`` into ``x`` during a forward pass, so gradients reach the layers before it."""

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        if func is torch.Tensor.detach and args:
            return args[0]
        return func(*args, **(kwargs or {}))


class PlannedModel(nn.Module):
    """The model under a plan: input transform and activation edit around the user's forward."""

    def __init__(self, inner: nn.Module, plan: Plan) -> None:
        super().__init__()
        self.inner = inner
        self.plan = plan

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self.plan.input_transform is not None and args and isinstance(args[0], torch.Tensor):
            args = (self.plan.input_transform(args[0]), *args[1:])
        with contextlib.ExitStack() as stack:
            if self.plan.keep_graph:
                stack.enter_context(KeepGraph())
            if self.plan.activation_edit is not None:
                stack.enter_context(ActivationEdit(self.plan.activation_edit))
            out = self.inner(*args, **kwargs)
        if self.plan.output_transform is not None and isinstance(out, torch.Tensor):
            out = self.plan.output_transform(out)
        return out


def unwrap(model: nn.Module) -> nn.Module:
    """The user's model inside a :class:`PlannedModel`."""
    return model.inner if isinstance(model, PlannedModel) else model


def fresh_model(setup: TrainingSetup, plan: Plan | None = None) -> nn.Module:
    """A copy of the model at its initial weights, with the plan's model edits applied."""
    model = copy.deepcopy(setup.model)
    model.load_state_dict(setup.initial_state)
    model.train()
    for edit in plan.model_edits if plan else ():
        edit(model)
    return model


def select_output(output: Any, path: Sequence[Any]) -> torch.Tensor:
    """The tensor at ``path`` inside a model output (tuple index or dict key)."""
    for key in path:
        output = output[key]
    if not isinstance(output, torch.Tensor):
        raise TypeError(f"model output at {list(path)} is {type(output).__name__}, not a tensor")
    return output


def predict(model: nn.Module, batch: Batch) -> torch.Tensor:
    """The loss input for one batch: the model output, reshaped as the user's loss call saw it."""
    out = select_output(model(*batch.args, **batch.kwargs), batch.output_path)
    if tuple(out.shape) != batch.pred_shape and out.numel() == math.prod(batch.pred_shape):
        out = out.reshape(batch.pred_shape)
    return out


def batch_loss(model: nn.Module, setup: TrainingSetup, batch: Batch, plan: Plan | None = None) -> torch.Tensor:
    """The user's loss on one batch (with the plan's target transform and row filter)."""
    assert batch.target is not None
    if plan is not None and plan.drop_nonfinite:
        batch = finite_rows(batch)
    prediction = predict(model, batch)
    target = batch.target
    assert target is not None
    if plan is not None and plan.target_transform is not None:
        target = plan.target_transform(target, prediction)
    return setup.loss(prediction, target)


def tensors_in(value: Any) -> list[torch.Tensor]:
    """The tensors inside a batch element, also inside (nested) tuples, lists and dicts."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in tensors_in(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in tensors_in(v)]
    return []


def take_rows(value: Any, index: torch.Tensor, n: int) -> Any:
    """``value`` with every tensor of first dimension ``n`` (also nested in tuples, lists, dicts) indexed by
    ``index`` along that dimension; everything else unchanged."""
    if isinstance(value, torch.Tensor):
        return value[index] if value.ndim and value.shape[0] == n else value
    if isinstance(value, tuple):
        return tuple(take_rows(v, index, n) for v in value)
    if isinstance(value, list):
        return [take_rows(v, index, n) for v in value]
    if isinstance(value, dict):
        return {k: take_rows(v, index, n) for k, v in value.items()}
    return value


def batch_tensors(batch: Batch) -> list[torch.Tensor]:
    """Every tensor of a batch: inputs (positional, keyword, nested) and the target."""
    return tensors_in(batch.args) + tensors_in(batch.kwargs) + tensors_in(batch.target)


def finite_rows(batch: Batch) -> Batch:
    """The batch without the rows (first dimension) that hold NaN or Inf in an input or the target."""
    tensors = batch_tensors(batch)
    if not tensors or any(t.ndim == 0 for t in tensors) or len({t.shape[0] for t in tensors}) != 1:
        return batch
    n = tensors[0].shape[0]
    keep = torch.ones(n, dtype=torch.bool)
    for t in tensors:
        if t.is_floating_point():
            keep &= torch.isfinite(t.reshape(t.shape[0], -1)).all(1)
    if bool(keep.all()):
        return batch
    target = take_rows(batch.target, keep, n)
    shape = (int(keep.sum()), *batch.pred_shape[1:]) if batch.pred_shape else batch.pred_shape
    return Batch(
        take_rows(batch.args, keep, n),
        take_rows(batch.kwargs, keep, n),
        target,
        shape,
        batch.output_path,
        batch.source,
    )


def make_optimizer(
    setup: TrainingSetup, model: nn.Module, plan: Plan | None = None, lr: float | None = None
) -> torch.optim.Optimizer:
    """A fresh optimizer of the user's class and hyperparameters for ``model``'s parameters.

    Args:
        setup: The captured setup (optimizer class and param groups by parameter name).
        model: The model whose parameters to optimise (names as in the user's model).
        plan: Scales the learning rate, or adds the parameters the user's optimizer left out.
        lr: Overrides every group's learning rate (the range test).
    """
    named = dict(model.named_parameters())
    groups: list[dict[str, Any]] = []
    for group in setup.optimizer_groups:
        hyper = {k: v for k, v in group.items() if k not in ("params", "initial_lr")}
        if "lr" in hyper:
            hyper["lr"] = float(hyper["lr"]) * (plan.lr_scale if plan else 1.0) if lr is None else lr
        groups.append({"params": [named[n] for n in group["params"] if n in named], **hyper})
    if plan is not None and plan.all_params and groups:
        known = {id(p) for g in groups for p in g["params"]}
        extra = [p for p in model.parameters() if id(p) not in known and p.requires_grad]
        groups[0]["params"] = groups[0]["params"] + extra
    groups = [g for g in groups if g["params"]]
    return cast(Any, setup.optimizer_cls)(groups)


@dataclass
class ReplayResult:
    """The outcome of one replay.

    Attributes:
        plan: Which plan ran.
        steps: Steps trained.
        curve: (step, evaluation loss) pairs, in the user's loss units.
        train_losses: The training loss of each step.
        final: Evaluation loss after the last step (inf when it diverged).
        diverged: Whether the loss became NaN/Inf.
        model: The trained model (with the plan applied).
        seconds: Wall time.
        grad_norms: Total gradient norm before each step.
        update_ratios: Median over parameters of ||step|| / ||weight||, every tenth step.
        error_rate: For classifiers, the share of misclassified samples after the last step.
    """

    plan: Plan
    steps: int
    curve: list[tuple[int, float]]
    train_losses: list[float]
    final: float
    diverged: bool
    model: nn.Module
    seconds: float
    grad_norms: list[float] = field(default_factory=list)
    update_ratios: list[float] = field(default_factory=list)
    error_rate: float | None = None


def cycle(batches: Sequence[Batch], steps: int) -> Iterator[Batch]:
    """The captured batches in order, repeated, for ``steps`` steps."""
    for i in range(steps):
        yield batches[i % len(batches)]


@contextlib.contextmanager
def in_mode(model: nn.Module, training: bool) -> Iterator[nn.Module]:
    """``model`` in train (or eval) mode for the block; its mode is restored afterwards, also on errors."""
    was_training = model.training
    model.train(training)
    try:
        yield model
    finally:
        model.train(was_training)


@contextlib.contextmanager
def inference(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` in eval mode and without gradients for the block; its mode is restored afterwards."""
    with in_mode(model, False), torch.no_grad():
        yield model


def evaluate(model: nn.Module, setup: TrainingSetup, batches: Sequence[Batch], plan: Plan | None = None) -> float:
    """Mean loss over ``batches`` with the model in eval mode, without gradients."""
    with inference(model):
        total = sum(float(batch_loss(model, setup, batch, plan)) for batch in batches)
    value = total / max(len(batches), 1)
    return value if math.isfinite(value) else math.inf


def replay(
    setup: TrainingSetup,
    plan: Plan,
    steps: int,
    eval_batches: Sequence[Batch],
    points: int = 24,
) -> ReplayResult:
    """Train a fresh copy of the model under ``plan`` for ``steps`` optimizer steps and measure it.

    The loop reproduces the user's: gradient accumulation, loss scaling, and a missing ``zero_grad``
    stay as they were unless the plan overrides them.

    Args:
        setup: The captured setup.
        plan: The counterfactual (``Plan()`` for the baseline).
        steps: Optimizer steps.
        eval_batches: Batches the evaluation loss is measured on.
        points: How many evaluation points the curve holds.
    """
    started = time.perf_counter()
    torch.manual_seed(setup.seed)
    model = PlannedModel(fresh_model(setup, plan), plan)
    model.train(setup.train_mode if plan.train_mode is None else plan.train_mode)
    optimizer = make_optimizer(setup, model.inner, plan)
    params = [p for g in optimizer.param_groups for p in g["params"]]
    zero_grad = setup.zero_grad if plan.zero_grad is None else plan.zero_grad
    every = max(1, steps // points)
    curve = [(0, evaluate(model, setup, eval_batches, plan))]
    train_losses: list[float] = []
    grad_norms: list[float] = []
    update_ratios: list[float] = []
    diverged = False
    batches = cycle(setup.batches, steps * setup.accumulation)
    for step in range(1, steps + 1):
        if zero_grad or step == 1:
            optimizer.zero_grad(set_to_none=True)
        value = 0.0
        for _ in range(setup.accumulation):
            loss = batch_loss(model, setup, next(batches), plan)
            value += float(loss.detach()) / setup.accumulation
            if not math.isfinite(float(loss.detach())):
                diverged = True
                break
            (loss * setup.loss_scale).backward()
        train_losses.append(value)
        if diverged:
            break
        norm = _total_norm(params)
        grad_norms.append(norm)
        if not math.isfinite(norm):
            diverged = True
            break
        if plan.clip_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(params, plan.clip_grad_norm)
        before = [p.detach().clone() for p in params] if step % 10 == 1 else None
        optimizer.step()
        if before is not None:
            update_ratios.append(_update_ratio(params, before))
        if step % every == 0 or step == steps:
            curve.append((step, evaluate(model, setup, eval_batches, plan)))
    final = math.inf if diverged else curve[-1][1]
    if diverged:
        curve.append((len(train_losses), math.inf))
    errors = None if diverged else error_rate(model, setup, eval_batches, plan)
    return ReplayResult(
        plan,
        len(train_losses),
        curve,
        train_losses,
        final,
        diverged,
        model,
        time.perf_counter() - started,
        grad_norms,
        update_ratios,
        errors,
    )


def error_rate(
    model: nn.Module, setup: TrainingSetup, batches: Sequence[Batch], plan: Plan | None = None
) -> float | None:
    """Share of misclassified samples, for classification losses with class-index or binary targets."""
    name = setup.loss.name
    if name not in ("cross_entropy", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits"):
        return None
    wrong = total = 0
    with inference(model):
        for batch in batches:
            if batch.target is None:
                return None
            out = predict(model, batch)
            target = batch.target
            if name in ("cross_entropy", "nll_loss"):
                if target.is_floating_point() or out.ndim < 2:
                    return None
                guess = out.argmax(1)
            else:
                threshold = 0.0 if name.endswith("logits") else 0.5
                guess = (out > threshold).to(target.dtype)
                target = (target > 0.5).to(target.dtype)
            if guess.shape != target.shape:
                return None
            wrong += int((guess != target).sum())
            total += target.numel()
    return wrong / total if total else None


def _total_norm(params: Sequence[torch.Tensor]) -> float:
    grads = [p.grad.detach().double().norm() for p in params if p.grad is not None]
    return float(torch.stack(grads).norm()) if grads else 0.0


def _update_ratio(params: Sequence[torch.Tensor], before: Sequence[torch.Tensor]) -> float:
    ratios = []
    for p, b in zip(params, before, strict=True):
        weight = float(b.double().norm())
        if weight > 0:
            ratios.append(float((p.detach() - b).double().norm()) / weight)
    return float(sorted(ratios)[len(ratios) // 2]) if ratios else 0.0
