"""The report's typed description of a check: what was captured (:class:`SetupInfo`) and what was seen and
measured of its training (:class:`LoopSummary`, :class:`TrainingSummary`).

These are the contracts between the capture, the analysis and the renderers: frozen dataclasses, converted
to the report's JSON shape by ``to_dict`` and back by ``from_dict`` at the process boundary (the child process
sends its report as JSON). The JSON field names are stable; renderers read the typed fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from fitdoctor.location import Location


def _location(data: dict[str, Any] | None) -> Location | None:
    return Location(data["path"], int(data["line"]), data.get("source", "")) if data else None


def _location_dict(location: Location | None) -> dict[str, Any] | None:
    return None if location is None else {"path": location.path, "line": location.line, "source": location.source}


def _shape(value: Any) -> tuple[int, ...] | None:
    return None if value is None else tuple(int(v) for v in value)


@dataclass(frozen=True)
class ModelInfo:
    """The trained model: class name, parameter counts, leaf layers, and where it is created."""

    cls: str
    parameters: int
    trainable: int
    layers: tuple[str, ...] = ()
    location: Location | None = None


@dataclass(frozen=True)
class OptimizerInfo:
    """The optimizer: class name, the first group's scalar hyperparameters, and where it is created."""

    cls: str
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    location: Location | None = None


@dataclass(frozen=True)
class LossSetup:
    """The loss: the function's name, how its input relates to the model output, and its options."""

    name: str
    transform: str = "identity"
    location: Location | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DataInfo:
    """The captured data: the first batch's shapes, and how many batches and samples were kept."""

    input_shape: tuple[int, ...] | None
    input_dtype: str | None
    target_shape: tuple[int, ...] | None
    batches: int
    distinct_batches: int
    samples: int
    location: Location | None = None


@dataclass(frozen=True)
class FinalActivationInfo:
    """The activation applied last to the output, with its range (None: unbounded on that side)."""

    kind: str
    low: float | None
    high: float | None
    location: Location | None = None


@dataclass(frozen=True)
class SetupInfo:
    """What was captured: model, optimizer, loss, data and final activation."""

    model: ModelInfo
    optimizer: OptimizerInfo
    loss: LossSetup
    data: DataInfo
    final_activation: FinalActivationInfo | None = None

    def to_dict(self) -> dict[str, Any]:
        """The report's ``setup`` section."""
        m, o, s, d, f = self.model, self.optimizer, self.loss, self.data, self.final_activation
        return {
            "model": {
                "class": m.cls,
                "parameters": m.parameters,
                "trainable": m.trainable,
                "layers": list(m.layers),
                "location": _location_dict(m.location),
            },
            "optimizer": {
                "class": o.cls,
                "hyperparameters": dict(o.hyperparameters),
                "location": _location_dict(o.location),
            },
            "loss": {
                "name": s.name,
                "transform": s.transform,
                "location": _location_dict(s.location),
                "kwargs": s.kwargs,
            },
            "data": {
                "input_shape": None if d.input_shape is None else list(d.input_shape),
                "input_dtype": d.input_dtype,
                "target_shape": None if d.target_shape is None else list(d.target_shape),
                "batches": d.batches,
                "distinct_batches": d.distinct_batches,
                "samples": d.samples,
                "location": _location_dict(d.location),
            },
            "final_activation": None
            if f is None
            else {"kind": f.kind, "range": [f.low, f.high], "location": _location_dict(f.location)},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SetupInfo | None:
        """The inverse of :meth:`to_dict`; None for an empty section (a check that could not run)."""
        if not data:
            return None
        m, o, s, d, f = (data[k] for k in ("model", "optimizer", "loss", "data", "final_activation"))
        return cls(
            model=ModelInfo(m["class"], m["parameters"], m["trainable"], tuple(m["layers"]), _location(m["location"])),
            optimizer=OptimizerInfo(o["class"], dict(o["hyperparameters"]), _location(o["location"])),
            loss=LossSetup(s["name"], s["transform"], _location(s["location"]), dict(s.get("kwargs", {}))),
            data=DataInfo(
                _shape(d["input_shape"]),
                d["input_dtype"],
                _shape(d["target_shape"]),
                d["batches"],
                d["distinct_batches"],
                d["samples"],
                _location(d["location"]),
            ),
            final_activation=None
            if f is None
            else FinalActivationInfo(f["kind"], f["range"][0], f["range"][1], _location(f.get("location"))),
        )


@dataclass(frozen=True)
class LoopSummary:
    """What was seen of the user's own loop (the facts the loop rules read).

    Attributes:
        steps_captured: Optimizer steps (or updates by hand) captured.
        stop_reason: Why the capture ended.
        user_loss: The loss each captured step computed (NaN and infinities kept: they are evidence).
        backward_calls_per_step: Mean backward calls per step.
        batches_kept: Batches kept for the analysis.
        batches_dropped: Batches not kept (memory or count limits).
        nonfinite_user_losses: Steps whose loss was NaN or infinite.
        stale_gradient_steps: Steps that found the last step's gradient not reset.
        single_backward_steps: Steps with one backward call (where staleness is measurable).
        params_outside_optimizer: Trainable parameters no optimizer holds.
        params_without_grad: Optimised parameters that got no gradient at some step.
        params_unchanged: Optimised parameters that never changed.
        eval_mode_steps: Steps taken with the model in eval mode.
        mode_dependent_layers: Layers that behave differently in train and eval mode.
        unregistered: Attributes holding layers or tensors the model does not register that got gradients
            while no optimizer held them (``self.hidden`` for a plain list of layers).
        models: The replay model's members, when the script trains several models or raw tensors.
        loss_start: The loop's loss at the start: the median of the first fifth of its (block-averaged) curve,
            the number FD601 quotes too (None when the loss was not recorded).
        loss_end: The same over the last fifth.
        adversarial: Whether one optimizer's objective runs through another's model (a GAN), so that its losses
            are not meant to fall (in the JSON only when true).
        learning_rates: The checked optimizer's (first param group's) learning rate at each captured step, when
            it changed during the capture (None when it stayed the same: then it is not in the JSON).
        scheduler_steps: How many times the script called a learning-rate scheduler's ``step()`` (in the JSON
            only when it did).
    """

    steps_captured: int = 0
    stop_reason: str = "the script finished"
    user_loss: tuple[float, ...] = ()
    backward_calls_per_step: float = 0.0
    batches_kept: int = 0
    batches_dropped: int = 0
    nonfinite_user_losses: int = 0
    stale_gradient_steps: int = 0
    single_backward_steps: int = 0
    params_outside_optimizer: tuple[str, ...] = ()
    params_without_grad: tuple[str, ...] = ()
    params_unchanged: tuple[str, ...] = ()
    eval_mode_steps: int = 0
    mode_dependent_layers: tuple[str, ...] = ()
    unregistered: tuple[str, ...] = ()
    models: tuple[str, ...] | None = None
    loss_start: float | None = None
    loss_end: float | None = None
    adversarial: bool = False
    learning_rates: tuple[float, ...] | None = None
    scheduler_steps: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The loop's fields of the report's ``training`` section (``models`` only when several,
        ``adversarial`` only when true)."""
        out = {f.name: _json_value(getattr(self, f.name)) for f in fields(self)}
        if self.models is None:
            del out["models"]
        if not self.adversarial:
            del out["adversarial"]
        if self.learning_rates is None:
            del out["learning_rates"]
        if not self.scheduler_steps:
            del out["scheduler_steps"]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoopSummary:
        """The loop's fields out of a ``training`` section (other keys ignored)."""
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items() if k in known}
        return cls(**values)


def _json_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


@dataclass(frozen=True)
class Curve:
    """A replay's evaluation-loss curve: (step, loss) points, None where the loss was not finite; ``stopped`` when a
    fix's replay ended early because it could no longer be verified (``final`` is then its last point)."""

    points: tuple[tuple[int, float | None], ...]
    final: float | None
    seconds: float
    stopped: bool = False

    def values(self) -> list[float | None]:
        """The losses, in step order."""
        return [v for _, v in self.points]

    def to_dict(self) -> dict[str, Any]:
        return {
            "final": self.final,
            "curve": [[s, v] for s, v in self.points],
            "seconds": self.seconds,
            "stopped": self.stopped,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Curve:
        points = tuple((int(s), None if v is None else float(v)) for s, v in data.get("curve", []))
        return cls(points, data.get("final"), float(data.get("seconds", 0.0)), bool(data.get("stopped", False)))


@dataclass(frozen=True)
class ReplaySummary:
    """The short trainings: the baseline replay, each fix's replay by fix id, and the target controls by name
    (``shuffled_targets``, ``planted_targets``, ``teacher_targets``: the baseline replay on other targets,
    measured against those; only those that ran, see ``probes.control``)."""

    steps: int
    eval_batches: int
    baseline: Curve
    fixes: dict[str, Curve] = field(default_factory=dict)
    controls: dict[str, Curve] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "steps": self.steps,
            "eval_batches": self.eval_batches,
            "baseline": self.baseline.to_dict(),
            "fixes": {k: v.to_dict() for k, v in self.fixes.items()},
        }
        if self.controls:
            out["controls"] = {k: v.to_dict() for k, v in self.controls.items()}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReplaySummary:
        fixes = {k: Curve.from_dict(v) for k, v in data.get("fixes", {}).items()}
        controls = {k: Curve.from_dict(v) for k, v in data.get("controls", {}).items()}
        return cls(int(data["steps"]), int(data["eval_batches"]), Curve.from_dict(data["baseline"]), fixes, controls)


@dataclass(frozen=True)
class Share:
    """A share of a layer's units, at init and after the short training (None: not measured)."""

    init: float | None
    after: float | None


_LAYER_FIELDS = ("name", "kind", "units", "preact_std", "preact_std_after", "grad_norm_init", "grad_norm_after")


@dataclass(frozen=True)
class LayerRow:
    """One activation layer, at init and after the short training.

    Attributes:
        name: The activation's name in the model.
        kind: Its kind (``relu``, ``tanh``...).
        units: Units measured.
        shares: Unit shares by the rules' names for them (``dead``, ``saturated``), as the findings
            measured them where a finding reports the layer.
        preact_std: Pre-activation standard deviation at init.
        preact_std_after: The same after the short training.
        grad_norm_init: Weight-gradient norm of the layer feeding it, at init.
        grad_norm_after: The same after the short training.
    """

    name: str
    kind: str
    units: int
    shares: dict[str, Share] = field(default_factory=dict)
    preact_std: float | None = None
    preact_std_after: float | None = None
    grad_norm_init: float | None = None
    grad_norm_after: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "units": self.units}
        for key, share in self.shares.items():
            out[f"{key}_init"] = share.init
            out[f"{key}_after"] = share.after
        out.update({k: getattr(self, k) for k in _LAYER_FIELDS[3:]})
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LayerRow:
        names = {k[: -len("_init")] for k in data if k.endswith("_init") and k not in _LAYER_FIELDS}
        shares = {n: Share(data.get(f"{n}_init"), data.get(f"{n}_after")) for n in sorted(names)}
        return cls(shares=shares, **{k: data.get(k) for k in _LAYER_FIELDS})  # type: ignore[arg-type]


@dataclass(frozen=True)
class GradientRow:
    """A parametrised layer's weight-gradient norm at init and after the short training."""

    name: str
    init: float | None
    after: float | None


@dataclass(frozen=True)
class Fit:
    """For a regression on one input feature: the data, and the fitted curve of each model on a grid."""

    x: tuple[float, ...]
    y: tuple[float, ...]
    grid: tuple[float, ...]
    curves: dict[str, tuple[float | None, ...]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "x": list(self.x),
            "y": list(self.y),
            "grid": list(self.grid),
            "curves": {k: list(v) for k, v in self.curves.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fit:
        curves = {k: tuple(v) for k, v in data.get("curves", {}).items()}
        return cls(tuple(data["x"]), tuple(data["y"]), tuple(data["grid"]), curves)


@dataclass(frozen=True)
class RangeTestSummary:
    """The learning-rate range test: suggested and best learning rates, and where the loss diverged."""

    suggested_lr: float | None
    best_lr: float | None
    diverged_at: float | None


@dataclass(frozen=True)
class OverfitSummary:
    """The overfit-one-batch check: its batch, steps and learning rate, and the losses it reached
    (``decided_at``: the step at which the batch counted as memorised and the check stopped, if it did)."""

    samples: int
    steps: int
    lr: float
    start: float
    best: float
    baseline: float
    decided_at: int | None = None


@dataclass(frozen=True)
class TrainingSummary:
    """What was seen of the user's loop and measured by the analysis: the report's ``training`` section.

    Attributes:
        loop: The user's loop, as captured.
        replay: The baseline and fix replays (None when the analysis did not run).
        constant_prediction_loss: The loss of the best constant prediction (None when not measurable).
        notes: What the capture and analysis could not see or did differently.
        layers: Activation layers at init and after the short training.
        gradients: Parametrised layers' gradient norms at init and after.
        fit: The picture of a one-feature regression's fit (None when not drawable).
        lr_range_test: The learning-rate range test, when it ran.
        overfit_one_batch: The overfit-one-batch check, when it ran.
    """

    loop: LoopSummary = field(default_factory=LoopSummary)
    replay: ReplaySummary | None = None
    constant_prediction_loss: float | None = None
    notes: tuple[str, ...] = ()
    layers: tuple[LayerRow, ...] = ()
    gradients: tuple[GradientRow, ...] = ()
    fit: Fit | None = None
    lr_range_test: RangeTestSummary | None = None
    overfit_one_batch: OverfitSummary | None = None

    def to_dict(self) -> dict[str, Any]:
        """The report's ``training`` section (sections that were not measured are left out)."""
        out = self.loop.to_dict()
        if self.replay is not None:
            out["replay"] = self.replay.to_dict()
            out["constant_prediction_loss"] = self.constant_prediction_loss
            out["notes"] = list(self.notes)
            out["layers"] = [layer.to_dict() for layer in self.layers]
            out["gradients"] = [{"name": g.name, "init": g.init, "after": g.after} for g in self.gradients]
        elif self.notes:
            out["notes"] = list(self.notes)
        if self.fit is not None:
            out["fit"] = self.fit.to_dict()
        if self.lr_range_test is not None:
            out["lr_range_test"] = vars(self.lr_range_test).copy()
        if self.overfit_one_batch is not None:
            out["overfit_one_batch"] = vars(self.overfit_one_batch).copy()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingSummary | None:
        """The inverse of :meth:`to_dict`; None for an empty section (a check that could not run)."""
        if not data:
            return None
        replay, fit = data.get("replay"), data.get("fit")
        range_test, overfit = data.get("lr_range_test"), data.get("overfit_one_batch")
        return cls(
            loop=LoopSummary.from_dict(data),
            replay=ReplaySummary.from_dict(replay) if replay else None,
            constant_prediction_loss=data.get("constant_prediction_loss"),
            notes=tuple(data.get("notes", ())),
            layers=tuple(LayerRow.from_dict(x) for x in data.get("layers", ())),
            gradients=tuple(GradientRow(g["name"], g.get("init"), g.get("after")) for g in data.get("gradients", ())),
            fit=Fit.from_dict(fit) if fit else None,
            lr_range_test=RangeTestSummary(**range_test) if range_test else None,
            overfit_one_batch=OverfitSummary(**overfit) if overfit else None,
        )
