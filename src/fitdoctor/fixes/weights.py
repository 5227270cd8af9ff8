"""Fixes that re-initialise or resize the model's layers: He and Glorot init, one layer's init, wider layers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import torch.nn.functional as F
from torch import nn

from fitdoctor.evidence import Evidence
from fitdoctor.fixes import FixCandidate
from fitdoctor.fixes.names import assigned_name, model_name
from fitdoctor.patches.edits import SourceEdit
from fitdoctor.probes.activations import ActivationStats, pretty
from fitdoctor.training import Plan

_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)

#: Hidden layers this narrow get a "widen" counterfactual (FD301, FD401).
NARROW = 16
#: The width a narrow layer is widened towards.
WIDE_UNITS = 64


def widen_factor(units: int) -> int:
    """How many times wider :func:`widen` makes a layer of ``units`` units: to :data:`WIDE_UNITS`, at least twice."""
    return max(2, WIDE_UNITS // units)


def _gain_kind(kind: str) -> str:
    """The ``nn.init.calculate_gain`` name for an activation: its own where torch knows it, else linear."""
    return kind if kind in ("tanh", "sigmoid", "relu", "selu") else "linear"


def _init_layer(m: Any, how: str, gain_kind: str = "relu") -> None:
    if how == "he":
        nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    else:
        nn.init.xavier_uniform_(m.weight, gain=nn.init.calculate_gain(cast(Any, gain_kind)))
    if m.bias is not None:
        nn.init.zeros_(m.bias)


def _init_layers(model: nn.Module, how: str, gain_kind: str = "relu") -> None:
    for m in model.modules():
        if isinstance(m, _LAYERS):
            _init_layer(m, how, gain_kind)


_INIT_LOOP = (
    "for layer in {model}.modules():  # {what}\n"
    "    if isinstance(layer, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):\n"
    "        {init}\n"
    "        if layer.bias is not None:\n"
    "            nn.init.zeros_(layer.bias)"
)


def _before_optimizer(ev: Evidence, statement: Callable[[str], str]) -> tuple[SourceEdit, ...]:
    """Insert ``statement(model's name)`` right before the optimizer is built (after whatever the script did to
    the weights before); no edit when the model's or the optimizer's name can't be read."""
    model, opt = model_name(ev), ev.locate.optimizer
    if model is None or "." in model or opt is None or assigned_name(opt) is None:
        return ()
    return (SourceEdit("insert_before", opt.path, opt.line, value=statement(model)),)


def _init_edits(ev: Evidence, what: str, init: str) -> tuple[SourceEdit, ...]:
    """Initialise every Linear/Conv layer as ``_init_layers`` does, right before the optimizer is built."""
    return _before_optimizer(ev, lambda model: _INIT_LOOP.format(model=model, what=what, init=init))


def he_init(ev: Evidence) -> FixCandidate:
    """He (Kaiming) normal init of every Linear/Conv weight, zero biases."""
    snippet = (
        "for m in model.modules():\n"
        "    if isinstance(m, (nn.Linear, nn.Conv2d)):\n"
        '        nn.init.kaiming_normal_(m.weight, nonlinearity="relu")\n'
        "        nn.init.zeros_(m.bias)"
    )
    return FixCandidate(
        "he-init",
        "Initialise the layers with He (Kaiming) init and zero biases",
        snippet,
        Plan("he-init", model_edits=(lambda m: _init_layers(m, "he"),), draws_weights=True),
        ev.locate.model,
        edits=_init_edits(
            ev, "He (Kaiming) init, zero biases", 'nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")'
        ),
    )


def xavier_init(ev: Evidence, kind: str) -> FixCandidate:
    """Glorot (Xavier) uniform init with the activation's gain, zero biases."""
    gain_kind = _gain_kind(kind)
    snippet = (
        "for m in model.modules():\n"
        "    if isinstance(m, nn.Linear):\n"
        f'        nn.init.xavier_uniform_(m.weight, gain=nn.init.calculate_gain("{gain_kind}"))\n'
        "        nn.init.zeros_(m.bias)"
    )
    return FixCandidate(
        "xavier-init",
        "Initialise the layers with Glorot (Xavier) init for this activation",
        snippet,
        Plan("xavier-init", model_edits=(lambda m: _init_layers(m, "xavier", gain_kind),), draws_weights=True),
        ev.locate.model,
        edits=_init_edits(
            ev,
            f"Glorot (Xavier) init for {gain_kind}, zero biases",
            f'nn.init.xavier_uniform_(layer.weight, gain=nn.init.calculate_gain("{gain_kind}"))',
        ),
    )


def rescale_layer(ev: Evidence, stats: ActivationStats) -> FixCandidate | None:
    """Glorot (Xavier) uniform init with the activation's gain for the one layer that feeds ``stats``, zero bias.

    Every other layer keeps its initialisation (a deliberately small output layer, for instance, which a
    re-initialisation of the whole model would undo). None when no Linear or convolution feeds the activation.
    """
    name = stats.producer
    layer = ev.module(name) if name else None
    if name is None or not isinstance(layer, _LAYERS):
        return None
    gain_kind = _gain_kind(stats.kind)
    has_bias = layer.bias is not None

    def lines(var: str) -> str:
        target = var + pretty(name)[len("model") :]
        out = f'nn.init.xavier_uniform_({target}.weight, gain=nn.init.calculate_gain("{gain_kind}"))'
        return out + (f"\nnn.init.zeros_({target}.bias)" if has_bias else "")

    comment = f"# Glorot (Xavier) init for {gain_kind}, zero bias, for the layer feeding the saturated units\n"
    return FixCandidate(
        f"xavier-layer-{name}",
        f"Initialise {pretty(name)} with Glorot (Xavier) init for {gain_kind}",
        lines("model"),
        Plan(
            f"xavier-layer-{name}",
            model_edits=(lambda m: _init_layer(m.get_submodule(name), "xavier", gain_kind),),
            draws_weights=True,
        ),
        ev.locate.init(f"{name}.weight") or ev.locate.module(name),
        note="only this layer: the others keep their initialisation",
        edits=_before_optimizer(ev, lambda var: comment + lines(var)),
    )


def relu_he(ev: Evidence, kinds: frozenset[str]) -> FixCandidate:
    """Swap hidden sigmoid/tanh activations for ReLU, with He init."""
    final_index = ev.final.index if ev.final else None

    def edit(i: int, kind: str, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return F.relu(args[0]) if kind in kinds and i != final_index else None

    snippet = (
        "nn.ReLU()  # instead of nn.Sigmoid() / nn.Tanh() between hidden layers\n"
        "for m in model.modules():\n"
        "    if isinstance(m, nn.Linear):\n"
        '        nn.init.kaiming_normal_(m.weight, nonlinearity="relu")\n'
        "        nn.init.zeros_(m.bias)"
    )
    plan = Plan(
        "relu-he-init", model_edits=(lambda m: _init_layers(m, "he"),), activation_edit=edit, draws_weights=True
    )
    return FixCandidate("relu-he-init", "Use ReLU with He init between hidden layers", snippet, plan, ev.locate.model)


def _set_module(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, attr = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, attr, new)


def widen(ev: Evidence, layers: list[ActivationStats], factor: int) -> FixCandidate | None:
    """Widen narrow hidden Linear layers ``factor`` times (and the Linears that read them), with He init.

    Each of ``layers`` must sit between two Linear layers (its producer and its consumer) whose widths match its
    units; the others are left as they are. In a stack of narrow layers a Linear is the consumer of one and the
    producer of the next, so both of its sides grow. None when no layer qualifies.
    """
    sizes: dict[str, tuple[int, int]] = {}  # module name -> (in_features, out_features) after widening
    bias: dict[str, bool] = {}
    widened: list[ActivationStats] = []
    for stats in layers:
        producer = ev.module(stats.producer) if stats.producer else None
        consumer = ev.module(stats.consumer) if stats.consumer else None
        if not (isinstance(producer, nn.Linear) and isinstance(consumer, nn.Linear)):
            continue
        if producer.out_features != stats.units or consumer.in_features != stats.units:
            continue
        assert stats.producer is not None and stats.consumer is not None
        width = stats.units * factor
        for name, module in ((stats.producer, producer), (stats.consumer, consumer)):
            sizes.setdefault(name, (module.in_features, module.out_features))
            bias[name] = module.bias is not None
        sizes[stats.producer] = (sizes[stats.producer][0], width)
        sizes[stats.consumer] = (width, sizes[stats.consumer][1])
        widened.append(stats)
    if not widened:
        return None

    def edit(model: nn.Module) -> None:
        _init_layers(model, "he")
        for name, (n_in, n_out) in sizes.items():
            _set_module(model, name, nn.Linear(n_in, n_out, bias=bias[name]))
        _init_layers(model, "he")

    first = widened[0]
    assert first.producer is not None
    location = ev.locate.module(first.producer)
    units = sorted({s.units for s in widened})
    was = " or ".join(str(u) for u in units)
    if len(widened) == 1:
        n_in, width = sizes[first.producer]
        n_out = sizes[first.consumer or ""][1]
        snippet = f"nn.Linear({n_in}, {width})  # was nn.Linear({n_in}, {first.units}); and nn.Linear({width}, {n_out}) after it\n"
        title = f"Use a wider layer ({width} units instead of {first.units}) with He init"
    else:
        snippet = f"# each of the {len(widened)} hidden layers {factor} times wider (was {was} units), e.g.\n"
        snippet += f"nn.Linear({sizes[first.producer][0]}, {sizes[first.producer][1]})  # was {first.units} units\n"
        title = f"Use wider layers ({factor}× the {was} units of {len(widened)} layers) with He init"
    snippet += '# with He init: nn.init.kaiming_normal_(layer.weight, nonlinearity="relu"), zero biases'
    return FixCandidate(
        "widen-he-init",
        title,
        snippet,
        Plan("widen-he-init", model_edits=(edit,), draws_weights=True),
        location,
        note=f"{was} units leave little room when some die",
    )
