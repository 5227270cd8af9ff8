"""The fixes fitdoctor knows how to replay (those that re-initialise or resize layers are in ``fixes.weights``)."""

from __future__ import annotations

import re
from typing import Any

import torch
import torch.nn.functional as F

from fitdoctor.evidence import Evidence
from fitdoctor.fixes import FixCandidate
from fitdoctor.fixes.names import assigned_name
from fitdoctor.location import Location
from fitdoctor.patches.edits import SourceEdit
from fitdoctor.probes.activations import ActivationStats, FinalActivation
from fitdoctor.snippets import strip_activation
from fitdoctor.training import Plan


def _fmt_lr(lr: float) -> str:
    """A learning rate as people write one: ``7e-3`` below 0.01, else 3 significant digits (``0.156``)."""
    return f"{lr:.0e}".replace("e-0", "e-").replace("e+0", "e") if lr < 0.01 else f"{lr:.3g}"


def _activation_edits(ev: Evidence, stats: ActivationStats, location: Location | None) -> tuple[SourceEdit, ...]:
    """Drop the activation on its line: a module by its class name, a functional call by its kind."""
    if location is None:
        return ()
    if stats.activation_module:
        module = dict(ev.setup.model.named_modules()).get(stats.module or "")
        name = type(module).__name__ if module is not None else ""
    else:
        name = stats.kind
    return (SourceEdit("drop_activation", location.path, location.line, name=name),) if name else ()


def _before_loss(ev: Evidence, owner: Location | None, call: str) -> tuple[SourceEdit, ...]:
    """Call ``<name>.<call>`` right before the statement that computes the loss, ``name`` being what the
    ``owner`` line assigns (the model's or the optimizer's variable)."""
    name, loss = assigned_name(owner), ev.locate.loss
    if name is None or loss is None:
        return ()
    return (SourceEdit("insert_before", loss.path, loss.line, value=f"{name}.{call}"),)


def _assigns_rate(source: str, lr: float | None) -> bool:
    """Whether ``source`` is ``name = <number>`` with the number the learning rate the check measured (±1 %)."""
    match = re.fullmatch(r"\s*[A-Za-z_]\w*\s*=\s*([0-9.eE+-]+)\s*(#.*)?", source)
    if match is None or not lr:
        return False
    try:
        value = float(match.group(1))
    except ValueError:
        return False
    return abs(value - lr) <= 0.01 * abs(lr)


def lr_edits(ev: Evidence, new: float) -> tuple[SourceEdit, ...]:
    """Set the optimizer's learning rate where it is built (its second positional parameter in torch.optim)."""
    where = ev.locate.optimizer
    if where is None or not ev.setup.optimizer_cls.__module__.startswith("torch.optim"):
        return ()
    name = ev.setup.optimizer_cls.__name__
    if f"{name}(" not in where.source.replace(" ", "") and _assigns_rate(where.source, ev.setup.lr):
        # a rate of its own line (`learning_rate = 1e-6`), as a hand-written update reads it
        return (SourceEdit("set_value", where.path, where.line, value=_fmt_lr(new)),)
    if f"{name}(" not in where.source.replace(" ", ""):
        # built by a framework (transformers.Trainer): its TrainingArguments' learning_rate, if the file has one
        framework = SourceEdit(
            "set_argument_anywhere", where.path, where.line, "TrainingArguments", "learning_rate", _fmt_lr(new)
        )
        return (framework,)
    # the lr argument, or the number it comes from (a variable, a parameter's or an argparse option's default)
    return (SourceEdit("set_rate", where.path, where.line, name=name, keyword="lr", value=_fmt_lr(new), position=1),)


def standardize_inputs(ev: Evidence) -> FixCandidate | None:
    """Standardise the model's first input with the training data's per-feature mean and std."""
    if not ev.inputs:
        return None
    mean = torch.tensor([f.mean for f in ev.inputs])
    std = torch.tensor([f.std if f.std > 1e-12 else 1.0 for f in ev.inputs])

    def transform(x: torch.Tensor) -> torch.Tensor:
        if x.ndim >= 4:
            shape = [-1] + [1] * (x.ndim - 2)
            return (x - mean.to(x).reshape(shape)) / std.to(x).reshape(shape)
        return (x - mean.to(x)) / std.to(x)

    positive_decades = [f for f in ev.inputs if f.low > 0 and f.high / f.low > 100]
    note = (
        "a positive feature spanning several decades may do better as log(x), standardised" if positive_decades else ""
    )
    snippet = (
        "mean, std = x_train.mean(dim=0), x_train.std(dim=0)\n"
        "x_train = (x_train - mean) / std  # reuse this mean and std for validation, test and inference"
    )
    return FixCandidate(
        "standardize-inputs",
        "Standardise the inputs to zero mean and unit variance",
        snippet,
        Plan("standardize-inputs", input_transform=transform),
        ev.locate.model_call,
        note,
        edits=_standardize_edits(ev, constant=any(f.std <= 1e-12 for f in ev.inputs)),
    )


def _standardize_edits(ev: Evidence, constant: bool) -> tuple[SourceEdit, ...]:
    """Standardise the model's input where the script builds it, over the axes the replay standardises."""
    name, call = assigned_name(ev.locate.model), ev.locate.model_call
    first = ev.setup.batches[0].args[0] if ev.setup.batches and ev.setup.batches[0].args else None
    if name is None or "." in name or call is None or not isinstance(first, torch.Tensor) or first.ndim < 2:
        return ()
    if first.ndim >= 4:  # images: per channel
        axes = ", ".join(str(d) for d in (0, *range(2, first.ndim)))
        over = f"dim=({axes}), keepdim=True"
    elif first.ndim == 3:  # sequences: per feature, over samples and steps
        over = "dim=(0, 1)"
    else:
        over = "dim=0"
    std = f"{{0}}.std({over})" + (".clamp(min=1e-12)" if constant else "")
    statement = f"{{0}} = ({{0}} - {{0}}.mean({over})) / {std}  # standardised per feature"
    return (SourceEdit("insert_after_binding", call.path, call.line, name=name, value=statement, position=0),)


def remove_final_activation(ev: Evidence, final: FinalActivation, stats: ActivationStats) -> FixCandidate:
    """Drop the activation after the last layer: the output becomes the last layer's affine output."""
    index = final.index

    def edit(i: int, kind: str, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return args[0] if i == index else None

    location = ev.activation_location(stats)
    if stats.activation_module:
        module = dict(ev.setup.model.named_modules()).get(stats.module or "")
        layer = stats.kind if module is None else f"{type(module).__name__}()  # module '{stats.module}' of the model"
        snippet = f"# delete this layer from the model:\n{location.source if location else layer}"
    else:
        stripped = strip_activation(location.source if location else "", final.kind)
        snippet = stripped or f"# return the last layer's output without {final.kind}"
        if stripped and location:
            snippet = f"{stripped}  # was: {location.source}"
    return FixCandidate(
        "remove-final-activation",
        f"Remove the {final.kind} after the last layer: let the output be unbounded",
        snippet,
        Plan("remove-final-activation", activation_edit=edit),
        location,
        edits=_activation_edits(ev, stats, location),
    )


def leaky_relu(ev: Evidence, stats: ActivationStats) -> FixCandidate:
    """Replace ReLU by LeakyReLU(0.01) everywhere (keeps a gradient for negative inputs)."""

    def edit(i: int, kind: str, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return F.leaky_relu(args[0], 0.01) if kind == "relu" else None

    location = ev.activation_location(stats)
    snippet = "nn.LeakyReLU(0.01)  # instead of nn.ReLU()   |   F.leaky_relu(x, 0.01) instead of F.relu(x)"
    return FixCandidate(
        "leaky-relu",
        "Use LeakyReLU instead of ReLU",
        snippet,
        Plan("leaky-relu", activation_edit=edit),
        location,
    )


def lower_lr(ev: Evidence, factor: float) -> FixCandidate | None:
    """Divide the learning rate by ``1 / factor``."""
    lr = ev.setup.lr
    if lr is None or lr <= 0:
        return None
    new = lr * factor
    location = ev.locate.optimizer
    opt = ev.setup.optimizer_cls.__name__
    snippet = f"optimizer = torch.optim.{opt}(model.parameters(), lr={_fmt_lr(new)})  # was lr={_fmt_lr(lr)}"
    return FixCandidate(
        f"lr-x{factor:g}",
        f"Lower the learning rate from {_fmt_lr(lr)} to {_fmt_lr(new)}",
        snippet,
        Plan(f"lr-x{factor:g}", lr_scale=factor),
        location,
        edits=lr_edits(ev, new),
    )


def train_mode(ev: Evidence) -> FixCandidate:
    """Train in train mode: call model.train() before the training steps."""
    snippet = "model.train()  # before the training loop, and again after every model.eval() validation pass"
    return FixCandidate(
        "train-mode",
        "Put the model back in train mode before training",
        snippet,
        Plan("train-mode", train_mode=True),
        ev.locate.loss,
        edits=_before_loss(ev, ev.locate.model, "train()"),
    )


def standardize_targets(ev: Evidence) -> FixCandidate | None:
    """Train on standardised targets: equivalently, map the model's output through ·σ + μ."""
    t = ev.targets
    if t is None:
        return None
    first = ev.setup.batches[0].target if ev.setup.batches else None
    columns = first.shape[-1] if first is not None and first.ndim >= 2 else 1
    if columns > 1:
        table = torch.cat([b.target.reshape(-1, columns) for b in ev.setup.batches if b.target is not None]).double()
        mean, std = table.mean(0).float(), table.std(0).clamp(min=1e-12).float()
    else:
        mean, std = torch.tensor(t.mean), torch.tensor(max(t.std, 1e-12))

    def transform(out: torch.Tensor) -> torch.Tensor:
        return out * std.to(out) + mean.to(out)

    snippet = (
        "y_mean, y_std = y_train.mean(dim=0), y_train.std(dim=0)\n"
        "y_train = (y_train - y_mean) / y_std  # train on standardised targets\n"
        "prediction = model(x) * y_std + y_mean  # and map predictions back to the original units"
    )
    return FixCandidate(
        "standardize-targets",
        "Standardise the targets (and map predictions back)",
        snippet,
        Plan("standardize-targets", output_transform=transform),
        ev.locate.loss,
        edits=_target_scaling_edits(ev, first),
    )


#: The model learns standardised targets and a forward hook maps its output back: the replay's ``·σ + μ``,
#: with the statistics computed in the script and kept with the model (its state_dict) as buffers.
_TARGET_SCALING = (
    "# fitdoctor FD102: the network learns the targets standardised, (y - mean) / std; this hook maps its output\n"
    "# back to the targets' units, so the loss and every prediction keep their units (mean and std are buffers)\n"
    '{model}.register_buffer("target_mean", {target}.mean({dims}))\n'
    '{model}.register_buffer("target_std", {target}.std({dims}))\n'
    "{gap}"
    "def output_in_target_units(module, args, output):\n"
    "    return output * module.target_std + module.target_mean\n"
    "{gap}"
    "{model}.register_forward_hook(output_in_target_units)"
)


def _target_scaling_edits(ev: Evidence, first: torch.Tensor | None) -> tuple[SourceEdit, ...]:
    """The ``·σ + μ`` of the replay as a forward hook on the model, with the statistics of the target variable
    the loss reads, over the axes the replay took them (the last one is the column). Only where the loss sees
    the model's whole output (not one head's, nor a recorded objective's)."""
    model, loss = assigned_name(ev.locate.model), ev.locate.loss
    batch = ev.setup.batches[0] if ev.setup.batches else None
    if model is None or "." in model or loss is None or batch is None or first is None:
        return ()
    if batch.program is not None or batch.output_path or first.ndim > 3:
        return ()
    dims = {1: "", 2: "dim=0", 3: "dim=(0, 1)"}[max(first.ndim, 1)]
    call = ev.locate.model_call
    prediction = assigned_name(call) if call is not None and call.line != loss.line else None
    value = _TARGET_SCALING.replace("{dims}", dims)
    return (SourceEdit("insert_after_target", loss.path, loss.line, name=model, keyword=prediction or "", value=value),)


def drop_nonfinite_rows(ev: Evidence) -> FixCandidate:
    """Skip rows holding NaN/Inf (the user should impute or drop them in the data pipeline)."""
    snippet = (
        "mask = torch.isfinite(x).all(dim=1) & torch.isfinite(y).view(len(y), -1).all(dim=1)\n"
        "x, y = x[mask], y[mask]  # or impute: x = torch.where(torch.isnan(x), x.nanmean(dim=0), x)"
    )
    return FixCandidate(
        "drop-nonfinite",
        "Drop (or impute) the rows with NaN/Inf before training",
        snippet,
        Plan("drop-nonfinite", drop_nonfinite=True),
        ev.locate.model_call,
    )


def reshape_target(ev: Evidence, pred_shape: tuple[int, ...], target_shape: tuple[int, ...]) -> FixCandidate:
    """Give the target the prediction's shape instead of broadcasting."""

    def transform(target: torch.Tensor, prediction: torch.Tensor) -> torch.Tensor:
        return target.reshape(prediction.shape) if target.numel() == prediction.numel() else target

    location = ev.locate.loss
    snippet = "loss = criterion(pred, y.view_as(pred))  # or build y with shape (N, 1): y = y.unsqueeze(1)"
    prediction = assigned_name(ev.locate.model_call)
    edits: tuple[SourceEdit, ...] = ()
    if location is not None and prediction is not None and prediction.isidentifier():
        # the expression paired with the prediction in the loss (an argument, or an operand of `pred - y`)
        reshaped = f"{{}}.reshape_as({prediction})"  # reshape: a column sliced out of a table is not contiguous
        edits = (SourceEdit("wrap_partner", location.path, location.line, name=prediction, value=reshaped),)
    return FixCandidate(
        "reshape-target",
        f"Give the target the prediction's shape {pred_shape} (it is {target_shape})",
        snippet,
        Plan("reshape-target", target_transform=transform),
        location,
        edits=edits,
    )


def add_log_softmax(ev: Evidence) -> FixCandidate:
    """Feed NLLLoss log-probabilities: log_softmax over the class dimension."""
    snippet = "return F.log_softmax(logits, dim=1)  # NLLLoss expects log-probabilities\n# or: use nn.CrossEntropyLoss on the raw logits"
    loss = ev.locate.loss
    edits: tuple[SourceEdit, ...] = ()
    if loss is not None and ev.setup.loss.name == "nll_loss":
        # cross_entropy is nll_loss of log_softmax over dim 1, with the same weight/ignore_index/reduction
        edits = (SourceEdit("replace_loss", loss.path, loss.line, name="nll_loss", value="cross_entropy"),)
    return FixCandidate(
        "add-log-softmax",
        "Apply log_softmax before NLLLoss (or use CrossEntropyLoss)",
        snippet,
        Plan("add-log-softmax", output_transform=lambda out: F.log_softmax(out, dim=1)),
        loss,
        edits=edits,
    )


def zero_grad_each_step(ev: Evidence) -> FixCandidate:
    """Reset gradients before each backward."""
    snippet = "optimizer.zero_grad()  # at the start of every step, before loss.backward()"
    return FixCandidate(
        "zero-grad",
        "Call optimizer.zero_grad() before each backward",
        snippet,
        Plan("zero-grad", zero_grad=True),
        ev.locate.loss,
        edits=_before_loss(ev, ev.locate.optimizer, "zero_grad()"),
    )


def all_parameters(ev: Evidence) -> FixCandidate:
    """Give the optimizer every trainable parameter."""
    opt = ev.setup.optimizer_cls.__name__
    lr = ev.setup.lr
    snippet = f"optimizer = torch.optim.{opt}(model.parameters(){f', lr={lr:g}' if lr is not None else ''})"
    return FixCandidate(
        "all-params",
        "Pass all of the model's parameters to the optimizer",
        snippet,
        Plan("all-params", all_params=True),
        ev.locate.optimizer,
        edits=_all_params_edits(ev),
    )


def _all_params_edits(ev: Evidence) -> tuple[SourceEdit, ...]:
    """The optimizer's first argument, where it is built, becomes the model's ``parameters()``: of the one
    model whose parameters no optimizer holds, when the script trains several (a GAN's discriminator)."""
    where, model = ev.locate.optimizer, assigned_name(ev.locate.model)
    roots = {n.split(".", 1)[0] for n in ev.loop.params_outside_optimizer}
    if ev.loop.models and len(roots) == 1 and roots <= set(ev.loop.models):
        model = roots.pop()  # the script's own name for it
    name = ev.setup.optimizer_cls.__name__
    if (
        where is None
        or model is None
        or "." in model
        or not ev.setup.optimizer_cls.__module__.startswith("torch.optim")
    ):
        return ()
    if f"{name}(" not in where.source.replace(" ", ""):
        return ()
    value = f"{model}.parameters()"
    return (
        SourceEdit("set_argument", where.path, where.line, name=name, keyword="params", value=value, position=0),
        # built before a layer of the model is replaced, it would still hold the old layer's parameters
        SourceEdit("after_model_changes", where.path, where.line, name=model),
    )


def keep_graph(ev: Evidence) -> FixCandidate:
    """Remove the .detach() calls inside forward."""
    snippet = "h = self.encoder(x)  # instead of self.encoder(x).detach(): keep the graph so the encoder learns"
    return FixCandidate(
        "no-detach",
        "Don't detach inside forward: let gradients reach the earlier layers",
        snippet,
        Plan("no-detach", keep_graph=True),
        ev.locate.model,
    )


def clip_gradients(ev: Evidence, max_norm: float = 1.0) -> FixCandidate:
    """Clip the total gradient norm before each step."""
    snippet = (
        f"loss.backward()\ntorch.nn.utils.clip_grad_norm_(model.parameters(), max_norm={max_norm:g})\noptimizer.step()"
    )
    return FixCandidate(
        "clip-grad",
        f"Clip the gradient norm to {max_norm:g}",
        snippet,
        Plan("clip-grad", clip_grad_norm=max_norm),
        ev.locate.loss,
    )


def learning_rate(ev: Evidence, new: float, why: str) -> FixCandidate | None:
    """Use the learning rate a range test suggests."""
    lr = ev.setup.lr
    if lr is None or lr <= 0 or new <= 0:
        return None
    opt = ev.setup.optimizer_cls.__name__
    snippet = f"optimizer = torch.optim.{opt}(model.parameters(), lr={_fmt_lr(new)})  # was lr={_fmt_lr(lr)}"
    verb = "Lower" if new < lr else "Raise"
    return FixCandidate(
        "lr-suggested",
        f"{verb} the learning rate from {_fmt_lr(lr)} to {_fmt_lr(new)}",
        snippet,
        Plan("lr-suggested", lr_scale=new / lr),
        ev.locate.optimizer,
        note=why,
        edits=lr_edits(ev, new),
    )


def hold_peak_lr(ev: Evidence, per_batch: bool) -> FixCandidate:
    """Keep the learning rate at its peak over the captured steps (the schedule stepped once per epoch)."""
    where = ev.locate.scheduler or ev.locate.optimizer
    if per_batch:
        title = "Step the scheduler once per epoch, after the batch loop"
        snippet = (
            "for epoch in range(epochs):\n"
            "    for xb, yb in loader:\n"
            "        ...\n"
            "        optimizer.step()\n"
            "    scheduler.step()    # once per epoch"
        )
    else:
        title = "Slow the schedule's decay down"
        snippet = (
            "# count the schedule in the calls of scheduler.step() the loop makes: e.g. StepLR's step_size,\n"
            "# CosineAnnealingLR's T_max or ExponentialLR's gamma set for the whole run"
        )
    return FixCandidate(
        "constant-lr",
        title,
        snippet,
        Plan("constant-lr", constant_lr=True),
        where,
        note="replayed with the learning rate held at its peak over the captured steps",
    )
