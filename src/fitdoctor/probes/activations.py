"""Per-unit statistics of every activation call in a forward pass, and the final activation.

A :class:`torch.overrides.TorchFunctionMode` sees each activation call, module (``nn.ReLU``) or
functional (``F.relu``, ``x.tanh()``) alike, with its pre-activation input. Units are the feature
dimension (last for Linear layers, channels for convolutions).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from fitdoctor.batches import Batch
from fitdoctor.capture.records import VIEW_NODES
from fitdoctor.capture.userframes import Site, real_path
from fitdoctor.replay import in_mode
from fitdoctor.training import ACTIVATION_FUNCS, NORMALISING, predict

#: Attainable output range of each final activation, (low, high).
RANGES: dict[str, tuple[float, float]] = {
    "relu": (0.0, math.inf),
    "relu6": (0.0, 6.0),
    "tanh": (-1.0, 1.0),
    "sigmoid": (0.0, 1.0),
    "gelu": (-0.16997, math.inf),
    "silu": (-0.27846, math.inf),
    "mish": (-0.30884, math.inf),
    "selu": (-1.7581, math.inf),
    "softplus": (0.0, math.inf),
    "logsigmoid": (-math.inf, 0.0),
    "softmax": (0.0, 1.0),
    "log_softmax": (-math.inf, 0.0),
}

#: Kinds whose derivative vanishes on a whole half-line: dead (FD301) rather than saturated (FD302).
DYING = frozenset({"relu", "relu6"})
#: Kinds with flat tails (FD302).
SATURATING = frozenset(
    {"tanh", "sigmoid", "elu", "selu", "celu", "gelu", "silu", "mish", "softplus", "hardtanh", "logsigmoid"}
)

_GELU_MAX = 1.1289  # max of d/dz z*Phi(z), at z ~ 1.414
_SILU_MAX = 1.0998  # max of d/dz z*sigmoid(z), at z ~ 2.40


def pretty(qualname: str | None) -> str:
    """A module's qualified name as the user would index it: ``net.1`` -> ``model.net[1]``."""
    if not qualname:
        return "model"
    out = "model"
    for part in qualname.split("."):
        out += f"[{part}]" if part.isdigit() else f".{part}"
    return out


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], position: int, name: str, default: Any) -> Any:
    if name in kwargs:
        return kwargs[name]
    return args[position] if len(args) > position else default


def derivative_ratio(kind: str, z: torch.Tensor, args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor:
    """The activation's derivative at ``z`` divided by its maximum derivative (1 = fully live)."""
    z = z.double()
    if kind in ("relu",):
        return (z > 0).double()
    if kind == "relu6":
        return ((z > 0) & (z < 6)).double()
    if kind == "hardtanh":
        lo = float(_arg(args, kwargs, 1, "min_val", -1.0))
        hi = float(_arg(args, kwargs, 2, "max_val", 1.0))
        return ((z > lo) & (z < hi)).double()
    if kind == "tanh":
        return 1 - torch.tanh(z) ** 2
    if kind == "sigmoid":
        s = torch.sigmoid(z)
        return s * (1 - s) / 0.25
    if kind == "elu":
        alpha = float(_arg(args, kwargs, 1, "alpha", 1.0))
        top = max(1.0, alpha)
        return torch.where(z > 0, torch.full_like(z, 1.0 / top), alpha * torch.exp(z.clamp(max=0)) / top)
    if kind == "celu":
        alpha = float(_arg(args, kwargs, 1, "alpha", 1.0))
        return torch.where(z > 0, torch.ones_like(z), torch.exp(z.clamp(max=0) / alpha))
    if kind == "selu":
        alpha = 1.6732632423543772
        return torch.where(z > 0, torch.full_like(z, 1 / alpha), torch.exp(z.clamp(max=0)))
    if kind == "gelu":
        phi = torch.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)
        cdf = 0.5 * (1 + torch.erf(z / math.sqrt(2)))
        return (cdf + z * phi).abs() / _GELU_MAX
    if kind == "silu":
        s = torch.sigmoid(z)
        return (s * (1 + z * (1 - s))).abs() / _SILU_MAX
    if kind == "softplus":
        beta = float(_arg(args, kwargs, 1, "beta", 1.0))
        return torch.sigmoid(beta * z)
    if kind == "logsigmoid":
        return torch.sigmoid(-z)
    if kind == "mish":
        with torch.enable_grad():
            zz = z.detach().clone().requires_grad_(True)
            torch.nn.functional.mish(zz).sum().backward()
        assert zz.grad is not None
        return zz.grad.abs() / 1.0886
    return torch.ones_like(z)


@dataclass
class ActivationStats:
    """Statistics of one activation call site over the probe batches.

    Attributes:
        index: Order of the call in the forward pass.
        kind: relu, tanh, sigmoid, elu, gelu, ...
        name: A readable name, e.g. ``net.1 (ReLU)`` or ``relu after fc1``.
        module: Qualified name of the activation module, or of the layer that feeds it.
        producer: The parametrised layer whose output the activation takes.
        consumer: The parametrised layer that takes the activation's output.
        units: Number of units (features or channels).
        observations: Rows seen per unit.
        active_share: Per unit, the share of observations with pre-activation > 0.
        saturated_share: Per unit, the share of observations where the derivative ratio is below the
            probe's threshold.
        preact_mean: Mean pre-activation.
        preact_std: Standard deviation of the pre-activation.
        site: Where the activation is applied in the user's code (functional calls).
        call_kwargs: Numeric parameters of the call (alpha, negative_slope, dim...).
        activation_module: Whether an activation module (``nn.ReLU``) made the call.
        correlation: Pearson correlation between units' outputs over the probe inputs (layers of at
            most ``MAX_CORRELATION_UNITS`` units; NaN where a unit's output is constant).
    """

    index: int
    kind: str
    name: str
    module: str | None
    producer: str | None
    consumer: str | None = None
    units: int = 0
    observations: int = 0
    active_share: list[float] = field(default_factory=list)
    saturated_share: list[float] = field(default_factory=list)
    preact_mean: float = 0.0
    preact_std: float = 0.0
    site: Site | None = None
    call_kwargs: dict[str, Any] = field(default_factory=dict)
    activation_module: bool = False
    correlation: list[list[float]] | None = None


MAX_CORRELATION_UNITS = 256


@dataclass
class _Accumulator:
    stats: ActivationStats
    active: torch.Tensor | None = None
    saturated: torch.Tensor | None = None
    total: float = 0.0
    total_sq: float = 0.0
    count: int = 0
    out_sum: torch.Tensor | None = None
    out_gram: torch.Tensor | None = None


def units_view(z: torch.Tensor, last_dim_units: bool) -> torch.Tensor:
    """``z`` as (observations, units)."""
    if z.ndim == 0:
        return z.reshape(1, 1)
    if z.ndim == 1:
        return z.reshape(1, -1)
    if z.ndim == 2 or last_dim_units:
        return z.reshape(-1, z.shape[-1])
    return z.movedim(1, -1).reshape(-1, z.shape[1])


class _ModuleTracker:
    """Keeps track, through local hooks, of which module runs and which layer ran last."""

    def __init__(self, model: nn.Module) -> None:
        self.names = {m: n for n, m in model.named_modules()}
        self.stack: list[nn.Module] = []
        self.last_param: nn.Module | None = None
        self.param_order: list[str] = []
        self.waiting: list[ActivationStats] = []
        self.handles = []
        for module in model.modules():
            self.handles.append(module.register_forward_pre_hook(self._pre))
            self.handles.append(module.register_forward_hook(self._post))

    def _is_param_leaf(self, module: nn.Module) -> bool:
        return any(True for _ in module.parameters(recurse=False)) and not isinstance(module, nn.PReLU)

    def _pre(self, module: nn.Module, args: Any) -> None:
        self.stack.append(module)
        if self._is_param_leaf(module):
            name = self.names.get(module, "?")
            for stats in self.waiting:
                stats.consumer = name
            self.waiting.clear()

    def _post(self, module: nn.Module, args: Any, output: Any) -> None:
        if self.stack and self.stack[-1] is module:
            self.stack.pop()
        if self._is_param_leaf(module):
            self.last_param = module
            name = self.names.get(module, "?")
            if name not in self.param_order:
                self.param_order.append(name)

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


class ActivationProbe(TorchFunctionMode):
    """Records every activation call of the forward passes run under it.

    Args:
        model: The model whose forward passes are probed (its modules name the calls).
        ratio_threshold: A unit is saturated on an observation when its derivative ratio is below this.
        site_of: Returns the user's line for the current call (None outside a script).
    """

    def __init__(
        self,
        model: nn.Module,
        ratio_threshold: float,
        site_of: Callable[[], Site | None] | None = None,
    ) -> None:
        super().__init__()
        self.tracker = _ModuleTracker(model)
        self.ratio_threshold = ratio_threshold
        self.site_of = site_of
        self.calls: list[_Accumulator] = []
        self.index = 0
        self.grad_fns: dict[int, int] = {}

    def start_forward(self) -> None:
        """Call before each forward pass: activation calls are numbered per pass."""
        self.index = 0

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        kind = ACTIVATION_FUNCS.get(func)
        if kind is None:
            return func(*args, **kwargs)
        z = args[0] if args else kwargs.get("input")
        index = self.index
        self.index += 1
        if not isinstance(z, torch.Tensor) or not z.is_floating_point():
            return func(*args, **kwargs)
        acc = self._accumulator(index, kind, args, kwargs)
        if kind not in NORMALISING:
            self._observe(acc, kind, z.detach(), args, kwargs)
        out = func(*args, **kwargs)
        if kind not in NORMALISING and isinstance(out, torch.Tensor) and not torch.is_grad_enabled():
            self._observe_output(acc, out.detach())
        if isinstance(out, torch.Tensor) and out.grad_fn is not None:
            self.grad_fns[id(out.grad_fn)] = index
        return out

    def _accumulator(self, index: int, kind: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Accumulator:
        if index < len(self.calls):
            return self.calls[index]
        tracker = self.tracker
        current = tracker.stack[-1] if tracker.stack else None
        producer = tracker.names.get(tracker.last_param) if tracker.last_param is not None else None
        is_module = (
            current is not None and not any(True for _ in current.children()) and not tracker._is_param_leaf(current)
        )
        if is_module and current is not None:
            module = tracker.names.get(current)
            name = f"{pretty(module)} ({type(current).__name__})"
        else:
            module = producer
            name = f"{kind} after {pretty(producer)}" if producer else kind
        params = {k: v for k, v in kwargs.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        for position, key in ((1, "alpha" if kind in ("elu", "celu") else "arg1"),):
            if len(args) > position and isinstance(args[position], (int, float)):
                params.setdefault(key, args[position])
        if kind in NORMALISING:
            dim = _arg(args, kwargs, 1, "dim", None)
            params["dim"] = dim if isinstance(dim, int) else -1
        site = None
        if self.site_of is not None and not is_module:
            site = self.site_of()
        stats = ActivationStats(
            index, kind, name, module, producer, site=site, call_kwargs=params, activation_module=is_module
        )
        tracker.waiting.append(stats)
        acc = _Accumulator(stats)
        while len(self.calls) < index:
            self.calls.append(_Accumulator(ActivationStats(len(self.calls), "unknown", "?", None, None)))
        self.calls.append(acc)
        return acc

    def _observe(
        self, acc: _Accumulator, kind: str, z: torch.Tensor, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        last_is_linear = isinstance(self.tracker.last_param, nn.Linear)
        zz = units_view(z, last_is_linear).double()
        if zz.numel() == 0:
            return
        ratio = derivative_ratio(kind, zz, args, kwargs)
        active = (zz > 0).double().sum(0)
        saturated = (ratio < self.ratio_threshold).double().sum(0)
        if acc.active is None or acc.active.shape != active.shape:
            acc.active, acc.saturated, acc.count = active, saturated, 0
        else:
            acc.active += active
            assert acc.saturated is not None
            acc.saturated += saturated
        acc.count += zz.shape[0]
        acc.total += float(zz.sum())
        acc.total_sq += float((zz**2).sum())

    def _observe_output(self, acc: _Accumulator, out: torch.Tensor) -> None:
        yy = units_view(out, isinstance(self.tracker.last_param, nn.Linear)).double()
        if yy.shape[1] > MAX_CORRELATION_UNITS or yy.numel() == 0:
            return
        if acc.out_sum is None or acc.out_sum.shape[0] != yy.shape[1]:
            acc.out_sum = torch.zeros(yy.shape[1], dtype=torch.float64)
            acc.out_gram = torch.zeros(yy.shape[1], yy.shape[1], dtype=torch.float64)
        acc.out_sum += yy.sum(0)
        assert acc.out_gram is not None
        acc.out_gram += yy.T @ yy

    def results(self) -> list[ActivationStats]:
        """The statistics of each activation call site, in forward order."""
        out = []
        for acc in self.calls:
            stats = acc.stats
            if acc.active is not None and acc.count:
                assert acc.saturated is not None
                stats.units = int(acc.active.numel())
                stats.observations = acc.count
                stats.active_share = (acc.active / acc.count).tolist()
                stats.saturated_share = (acc.saturated / acc.count).tolist()
                n = acc.count * stats.units
                stats.preact_mean = acc.total / n
                stats.preact_std = math.sqrt(max(acc.total_sq / n - stats.preact_mean**2, 0.0))
            if acc.out_sum is not None and acc.out_gram is not None and acc.count > 1:
                mean = acc.out_sum / acc.count
                cov = acc.out_gram / acc.count - torch.outer(mean, mean)
                std = cov.diagonal().clamp(min=0).sqrt()
                scale = torch.outer(std, std)
                corr = torch.where(
                    scale > 1e-12 * max(float(scale.max()), 1e-300), cov / scale, torch.full_like(cov, math.nan)
                )
                stats.correlation = corr.tolist()
            out.append(stats)
        return out

    def close(self) -> None:
        """Remove the module hooks this probe placed."""
        self.tracker.remove()


def duplicate_units(stats: ActivationStats, live: list[int], threshold: float) -> list[int]:
    """Live units whose output correlates at least ``threshold`` with an earlier live unit's: they
    respond to every input the same way (up to scale) and add no capacity."""
    if stats.correlation is None:
        return []
    representatives: list[int] = []
    duplicates = []
    for u in live:
        if any(stats.correlation[u][r] >= threshold for r in representatives):
            duplicates.append(u)
        else:
            representatives.append(u)
    return duplicates


@dataclass
class FinalActivation:
    """The last nonlinearity between the model's layers and its output.

    Attributes:
        kind: The activation kind.
        index: Its call index in the forward pass (matches :class:`ActivationStats.index`).
        low: Lowest value it can produce.
        high: Highest value it can produce.
        units: Units along the softmax dimension (softmax only).
        dim: Softmax dimension (softmax only).
    """

    kind: str
    index: int | None
    low: float
    high: float
    units: int | None = None
    dim: int | None = None


def find_final_activation(model: nn.Module, batch: Batch, probe: ActivationProbe) -> FinalActivation | None:
    """Run one forward with gradients and walk the output's autograd graph to the last activation.

    Only view-like nodes (reshape, squeeze, clone) may stand between the activation and the output:
    an affine layer or a residual sum after it means the output is not range-limited.
    """
    with torch.enable_grad(), probe:
        probe.start_forward()
        out = predict(model, batch)
    node = out.grad_fn
    while node is not None and type(node).__name__ in VIEW_NODES:
        nexts = [n for n, _ in node.next_functions if n is not None]
        node = nexts[0] if len(nexts) == 1 else None
    if node is None:
        return None
    index = probe.grad_fns.get(id(node))
    if index is None:
        return None
    stats = probe.calls[index].stats if index < len(probe.calls) else None
    if stats is None:
        return None
    kind = stats.kind
    if kind == "hardtanh":
        low = float(stats.call_kwargs.get("min_val", stats.call_kwargs.get("arg1", -1.0)))
        high = float(stats.call_kwargs.get("max_val", 1.0))
    elif kind in ("elu", "celu"):
        low, high = -float(stats.call_kwargs.get("alpha", 1.0)), math.inf
    elif kind in RANGES:
        low, high = RANGES[kind]
    else:
        return None
    units = dim = None
    if kind in NORMALISING:
        dim = int(stats.call_kwargs.get("dim", -1))
        units = int(out.shape[dim]) if out.ndim else 1
    return FinalActivation(kind, index, low, high, units, dim)


def probe_activations(
    model: nn.Module,
    batches: Sequence[Batch],
    ratio_threshold: float,
    site_of: Callable[[], Site | None] | None = None,
) -> tuple[list[ActivationStats], FinalActivation | None, list[str]]:
    """Activation statistics over ``batches``, the final activation, and the parametrised layers in order.

    The model runs in train mode without gradients (as it trains); its mode is restored afterwards.
    """
    probe = ActivationProbe(model, ratio_threshold, site_of)
    with in_mode(model, True):
        try:
            final = find_final_activation(model, batches[0], probe) if batches else None
            # Statistics come from gradient-free passes only; the pass above just located the final op.
            for acc in probe.calls:
                acc.active = acc.saturated = acc.out_sum = acc.out_gram = None
                acc.count, acc.total, acc.total_sq = 0, 0.0, 0.0
            with torch.no_grad(), probe:
                for batch in batches:
                    probe.start_forward()
                    predict(model, batch)
            return probe.results(), final, list(probe.tracker.param_order)
        finally:
            probe.close()


def current_site_factory(is_user: Callable[[str], bool]) -> Callable[[], Site | None]:
    """A ``site_of`` callable that finds the innermost user frame on the current stack."""

    def site_of() -> Site | None:
        frame = sys._getframe(2)
        while frame is not None:
            if is_user(frame.f_code.co_filename):
                return Site(real_path(frame.f_code.co_filename), frame.f_lineno, frame.f_code.co_name)
            frame = frame.f_back  # type: ignore[assignment]
        return None

    return site_of
