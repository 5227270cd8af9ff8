"""The captured training setup and the replay loop that every probe and counterfactual run uses.

A replay rebuilds the model from the initial snapshot (deep copy + ``load_state_dict``), creates a
fresh optimizer of the user's class and hyperparameters, and cycles the captured batches in their
captured order, under a fixed seed. A :class:`Plan` describes a counterfactual: edits to the model,
an input transform, an activation swap or a scaled learning rate.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from fitdoctor.batches import Batch, finite_rows, program_batch
from fitdoctor.capture.functional import FunctionalObjective
from fitdoctor.capture.tape import rebuild, run, select, walk

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
#: Marks each param group of a replay's optimizer with the index of the user's group it copies.
GROUP_KEY = "fitdoctor_group"
#: Losses whose targets are class labels (indices, or 0/1 for the binary ones): an error rate, a class prior and
#: per-batch label counts mean something for them.
CLASS_LABEL_LOSSES = ("cross_entropy", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits")


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
    def reduction(self) -> str:
        """``mean``, ``sum`` or ``none``: how the user's loss reduces over samples."""
        value = self.kwargs.get("reduction", "mean")
        return value if isinstance(value, str) else "mean"

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
        optimizers: Every optimizer of the checked stage as (class, param groups), the first being
            ``optimizer_cls``/``optimizer_groups``; batches say which one their step feeds.
        closure: Per optimizer, whether the user steps it with a closure (LBFGS, Lightning).
        adversarial: Whether one optimizer's objective runs through another optimizer's model (a GAN):
            its losses are not meant to fall.
        lr_schedule: The first optimizer's learning rate per param group at each captured step, when a scheduler
            (or the script) changed it; replays follow it, holding its last value past its end. Empty: the
            groups' ``lr`` held throughout.
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
    optimizers: list[tuple[type[torch.optim.Optimizer], list[dict[str, Any]]]] = field(default_factory=list)
    closure: list[bool] = field(default_factory=list)
    adversarial: bool = False
    lr_schedule: list[tuple[float, ...]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.optimizers:
            self.optimizers = [(self.optimizer_cls, self.optimizer_groups)]
        if not self.closure:
            self.closure = [False] * len(self.optimizers)

    @property
    def programmed(self) -> bool:
        """Whether the steps replay the user's recorded objective (rather than one loss call)."""
        return any(b.program is not None for b in self.batches[:1])

    @property
    def single_loss(self) -> bool:
        """Whether the value backpropagated is the loss call itself (not a sum of terms, a penalty or a
        scaled loss): then the loss at init can be compared with the loss call's own expected value."""
        for batch in self.batches[:8]:
            if batch.program is None:
                continue
            if len(batch.terms) != 1:
                return False
            term = batch.terms[0]
            if term.op is not None and batch.program.result.index != term.op:
                return False
        return True

    @property
    def lr(self) -> float | None:
        """The first param group's learning rate: its peak over the captured steps when a schedule changed it."""
        peaks = self.peak_lrs()
        if peaks:
            return peaks[0]
        value = self.optimizer_groups[0].get("lr") if self.optimizer_groups else None
        return float(value) if isinstance(value, (int, float, torch.Tensor)) else None

    def scheduled_lrs(self, step: int) -> tuple[float, ...] | None:
        """The first optimizer's learning rate per param group at replay step ``step`` (1-based), following the
        captured schedule and holding its last value past its end; None without a schedule."""
        if not self.lr_schedule:
            return None
        return self.lr_schedule[min(step, len(self.lr_schedule)) - 1]

    def peak_lrs(self) -> tuple[float, ...] | None:
        """Each param group's highest learning rate over the captured schedule; None without a schedule."""
        if not self.lr_schedule:
            return None
        return tuple(max(lrs[g] for lrs in self.lr_schedule) for g in range(len(self.lr_schedule[0])))


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
        rebatch: Turns the captured batches into the ones the replay trains on (e.g. shuffled across batches).
        constant_lr: Hold every param group at its peak learning rate instead of following the captured
            schedule (the counterfactual for a schedule that collapses the learning rate).
        draws_weights: The model edits draw new random weights (a re-initialisation, a wider layer): one replay
            judges one draw, so ``fitdoctor.confirm`` may replay the plan with other draws.
        draw: Which draw: 0 trains from the replay seed like the baseline; draw k from another seed (the new
            weights and the training's own randomness, such as dropout, both change).
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
    rebatch: Callable[[Sequence[Batch]], list[Batch]] | None = None
    constant_lr: bool = False
    draws_weights: bool = False
    draw: int = 0


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
        return self.member("", args, kwargs, primary=True)

    def functional(self, objective: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """A torch.func objective under the plan (the input transform on the model's input argument)."""
        i = objective.input_index
        if self.plan.input_transform is not None and 0 <= i < len(args) and isinstance(args[i], torch.Tensor):
            args = (*args[:i], self.plan.input_transform(args[i]), *args[i + 1 :])
        with contextlib.ExitStack() as stack:
            if self.plan.keep_graph:
                stack.enter_context(KeepGraph())
            if self.plan.activation_edit is not None:
                stack.enter_context(ActivationEdit(self.plan.activation_edit))
            return objective(*args, **kwargs)

    def member(
        self, key: str, args: tuple[Any, ...], kwargs: dict[str, Any], primary: bool, transform_output: bool = True
    ) -> Any:
        """Call the model (``key`` "") or one of its members under the plan; the input and output
        transforms apply to the primary call (the one whose output the probes read)."""
        if primary and self.plan.input_transform is not None and args and isinstance(args[0], torch.Tensor):
            args = (self.plan.input_transform(args[0]), *args[1:])
        module = self.inner if not key else self.inner.get_submodule(key)
        with contextlib.ExitStack() as stack:
            if self.plan.keep_graph:
                stack.enter_context(KeepGraph())
            if self.plan.activation_edit is not None:
                stack.enter_context(ActivationEdit(self.plan.activation_edit))
            out = module(*args, **kwargs)
        if transform_output and primary and self.plan.output_transform is not None and isinstance(out, torch.Tensor):
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


def predict(model: nn.Module, batch: Batch) -> torch.Tensor:
    """The loss input for one batch: the model output, reshaped as the user's loss call saw it."""
    if batch.program is not None and batch.primary >= 0:
        out = select_output(run_program(model, batch, upto=batch.primary), batch.output_path)
    else:
        out = select_output(model(*batch.args, **batch.kwargs), batch.output_path)
    if tuple(out.shape) != batch.pred_shape and out.numel() == math.prod(batch.pred_shape):
        out = out.reshape(batch.pred_shape)
    return out


def select_output(output: Any, path: Sequence[Any]) -> torch.Tensor:
    """The tensor at ``path`` inside a model output: tuple indexes and dict keys, or the tape's
    (kind, key) steps for recorded objectives."""
    if path and all(isinstance(step, tuple) and len(step) == 2 for step in path):
        output = select(output, tuple(path))
    else:
        for key in path:
            output = output[key]
    if not isinstance(output, torch.Tensor):
        raise TypeError(f"model output at {list(path)} is {type(output).__name__}, not a tensor")
    return output


def run_program(model: nn.Module, batch: Batch, plan: Plan | None = None, upto: int | None = None) -> Any:
    """Run a batch's recorded objective on ``model`` (a :class:`PlannedModel` or the bare model): the
    user's own loss, as the script computed it. With ``upto``, the output of that operation."""
    program = batch.program
    assert program is not None and batch.consts is not None
    inner = unwrap(model)
    params = dict(inner.named_parameters())

    def call(key: str, index: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if key in program.fixed:
            return program.fixed[key](*args, **kwargs)
        if not isinstance(model, PlannedModel):
            return (inner if not key else inner.get_submodule(key))(*args, **kwargs)
        out = model.member(key, args, kwargs, primary=index == batch.primary, transform_output=False)
        if index == batch.primary and model.plan.output_transform is not None:
            # The plan's output transform acts on the prediction, wherever it sits in the output.
            fn = model.plan.output_transform
            out = rebuild(out, {tuple(p): fn(t) for p, t in walk(out) if tuple(p) == tuple(batch.output_path)})
        return out

    transform = plan.target_transform if plan is not None else None

    def replace(index: int, op: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if isinstance(op.func, FunctionalObjective) and isinstance(model, PlannedModel):
            return model.functional(op.func, args, kwargs)
        if transform is None or index != batch.target_op or len(args) < 2:
            return NotImplemented
        prediction, target = args[0], args[1]
        return op.func(prediction, transform(target, prediction), *args[2:], **kwargs)

    return run(program, batch.consts, call, params.__getitem__, replace, upto)


def batch_loss(model: nn.Module, setup: TrainingSetup, batch: Batch, plan: Plan | None = None) -> torch.Tensor:
    """The user's loss on one batch (with the plan's target transform and row filter)."""
    if plan is not None and plan.drop_nonfinite:
        batch = finite_rows(batch)
    if batch.program is not None:
        value = run_program(model, batch, plan)
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"the recorded objective returned {type(value).__name__}, not a tensor")
        return value
    assert batch.target is not None
    prediction = predict(model, batch)
    target = batch.target
    assert target is not None
    if plan is not None and plan.target_transform is not None:
        target = plan.target_transform(target, prediction)
    return setup.loss(prediction, target)


def make_optimizer(
    setup: TrainingSetup, model: nn.Module, plan: Plan | None = None, lr: float | None = None, index: int = 0
) -> torch.optim.Optimizer:
    """A fresh optimizer of the user's class and hyperparameters for ``model``'s parameters.

    Args:
        setup: The captured setup (optimizer class and param groups by parameter name).
        model: The model whose parameters to optimise (names as in the user's model).
        plan: Scales the learning rate, or adds the parameters the user's optimizer left out.
        lr: Overrides every group's learning rate (the range test).
        index: Which of the setup's optimizers.
    """
    cls, spec = setup.optimizers[index]
    named = dict(model.named_parameters())
    groups: list[dict[str, Any]] = []
    for g, group in enumerate(spec):
        hyper = {k: v for k, v in group.items() if k not in ("params", "initial_lr")}
        hyper[GROUP_KEY] = g  # follow_schedule sets this group's rate from the captured schedule
        if "lr" in hyper:
            hyper["lr"] = float(hyper["lr"]) * (plan.lr_scale if plan else 1.0) if lr is None else lr
        groups.append({"params": [named[n] for n in group["params"] if n in named], **hyper})
    if plan is not None and plan.all_params and groups and index == 0:
        known = {
            id(p) for cls_groups in setup.optimizers for g in cls_groups[1] for n in g["params"] for p in [named.get(n)]
        }
        known |= {id(p) for g in groups for p in g["params"]}
        extra = [p for p in model.parameters() if id(p) not in known and p.requires_grad]
        groups[0]["params"] = groups[0]["params"] + extra
    kept = [g for g in groups if g["params"]]
    if not kept and groups:
        # The user's optimizer holds no parameter of the model (e.g. stale ones of a replaced layer): it
        # updates nothing, and neither does this one.
        kept = [{**groups[0], "params": [torch.zeros(0, requires_grad=True)]}]
    return cast(Any, cls)(kept)


def follow_schedule(optimizer: torch.optim.Optimizer, setup: TrainingSetup, plan: Plan | None, step: int) -> None:
    """Set the first optimizer's learning rates for replay step ``step`` (1-based) from the captured schedule, or
    at each group's peak under a plan that holds the learning rate, scaled by the plan; nothing without a
    schedule."""
    lrs = setup.peak_lrs() if plan is not None and plan.constant_lr else setup.scheduled_lrs(step)
    if lrs is None:
        return
    scale = plan.lr_scale if plan else 1.0
    for group in optimizer.param_groups:
        g = group.get(GROUP_KEY)
        if isinstance(g, int) and g < len(lrs):
            group["lr"] = lrs[g] * scale


def make_optimizers(
    setup: TrainingSetup, model: nn.Module, plan: Plan | None = None, lr: float | None = None
) -> list[torch.optim.Optimizer]:
    """Fresh copies of every optimizer of the setup (see :func:`make_optimizer`)."""
    return [make_optimizer(setup, model, plan, lr, i) for i in range(len(setup.optimizers))]


def train_step(
    model: nn.Module,
    setup: TrainingSetup,
    optimizers: Sequence[torch.optim.Optimizer],
    group: Sequence[Batch],
    plan: Plan | None = None,
    zero_grad: bool = True,
    before_step: Callable[[], bool] | None = None,
) -> tuple[float, bool]:
    """One optimizer step as the user's loop takes it: gradient reset, the batches of one step (gradient
    accumulation), loss scaling, and a closure where the user steps with one.

    Returns:
        The step's mean loss, and whether it was finite (and ``before_step``, called between the
        gradients and the update, let the step proceed).
    """
    index = group[0].optimizer
    optimizer = optimizers[index]
    if setup.closure[index]:
        values: list[float] = []

        def closure() -> torch.Tensor:
            if zero_grad:
                optimizer.zero_grad(set_to_none=True)
            loss = batch_loss(model, setup, group[0], plan)
            values.append(float(loss.detach()))
            if math.isfinite(values[-1]):
                (loss * setup.loss_scale).backward()
            return loss

        closure()
        if not math.isfinite(values[0]) or (before_step is not None and not before_step()):
            return values[0], False
        optimizer.step(cast(Any, closure))
        return values[0], True
    if zero_grad:
        optimizer.zero_grad(set_to_none=True)
    value = 0.0
    for batch in group:
        loss = batch_loss(model, setup, batch, plan)
        current = float(loss.detach())
        value += current / len(group)
        if not math.isfinite(current):
            return current, False
        (loss * setup.loss_scale).backward()
    if before_step is not None and not before_step():
        return value, False
    optimizer.step()
    return value, True


def term_view(setup: TrainingSetup, k: int) -> tuple[TrainingSetup, dict[int, Batch]] | None:
    """The setup seen through its ``k``-th loss term beyond the primary one (a second head's target): the same
    training, with that term's prediction and target as the ones the probes and target-side rules read.

    Returns the view and, by id of each original batch holding the term, its re-pointed batch; None when no
    batch has such a term with an identified target.
    """
    mapping: dict[int, Batch] = {}
    spec = None
    for batch in setup.batches:
        if id(batch) in mapping or batch.program is None:
            continue
        others = [
            t
            for t in batch.terms
            if not (
                t.call == batch.primary and tuple(t.path) == tuple(batch.output_path) and t.target == batch.target_const
            )
        ]
        if k >= len(others) or others[k].target is None or others[k].call < 0:
            continue
        term = others[k]
        spec = spec or term
        view = program_batch(
            batch.program,
            batch.consts or [],
            primary=term.call,
            output_path=tuple(term.path),
            pred_shape=tuple(term.pred_shape),
            target_const=term.target,
            target_op=term.op,
            optimizer=batch.optimizer,
        )
        view.terms = batch.terms
        mapping[id(batch)] = view
    if spec is None:
        return None
    batches = [mapping.get(id(b), b) for b in setup.batches]
    loss = LossSpec(spec.name, dict(spec.kwargs), spec.transform)
    return dataclasses.replace(setup, loss=loss, batches=batches), mapping
