"""From the analysis' measurements to the report's typed summaries (:mod:`fitdoctor.summary`): the captured
setup, the replays' curves, the per-layer table (with each reported layer's share as its finding measured
it) and the picture of a one-feature regression's fit."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, TypeVar

import torch

from fitdoctor.confirm import Confirmation
from fitdoctor.evidence import Evidence, Locator
from fitdoctor.findings import Finding
from fitdoctor.probes.activations import DYING, SATURATING
from fitdoctor.probes.data import feature_matrix
from fitdoctor.probes.lr_range import RangeTest
from fitdoctor.probes.overfit import OverfitResult
from fitdoctor.quantities import measured
from fitdoctor.replay import ReplayResult, inference
from fitdoctor.rules.base import RuleSpec
from fitdoctor.summary import (
    Curve,
    DataInfo,
    FinalActivationInfo,
    Fit,
    GradientRow,
    LayerRow,
    LoopSummary,
    LossSetup,
    ModelInfo,
    OptimizerInfo,
    OverfitSummary,
    RangeTestSummary,
    ReplaySummary,
    SetupInfo,
    Share,
    TrainingSummary,
)
from fitdoctor.training import TrainingSetup, fresh_model

_T = TypeVar("_T")

#: Points of the fit picture's grid over the input range.
FIT_POINTS = 200


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def describe_setup(setup: TrainingSetup, ev: Evidence | None, locate: Locator) -> SetupInfo:
    """What was captured: model, optimizer, loss, data and final activation."""
    model = setup.model
    hyper = {
        k: (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)
        for k, v in (setup.optimizer_groups[0].items() if setup.optimizer_groups else [])
        if k != "params" and isinstance(v, (int, float, bool, str, tuple, type(None)))
    }
    if setup.lr_schedule and "lr" in hyper:
        hyper["lr"] = setup.lr  # the peak of the captured schedule, the rate every replay scales
    first = setup.batches[0] if setup.batches else None
    distinct = list({id(b): b for b in setup.batches}.values())
    x = first.args[0] if first and first.args else None
    final = None
    if ev is not None and ev.final is not None:
        stats = next((a for a in ev.init.activations if a.index == ev.final.index), None)
        location = ev.activation_location(stats) if stats else None
        final = FinalActivationInfo(ev.final.kind, _finite(ev.final.low), _finite(ev.final.high), location)
    return SetupInfo(
        model=ModelInfo(
            type(model).__name__,
            sum(p.numel() for p in model.parameters()),
            sum(p.numel() for p in model.parameters() if p.requires_grad),
            tuple(n for n, m in model.named_modules() if n and not any(True for _ in m.children())),
            locate.model,
        ),
        optimizer=OptimizerInfo(setup.optimizer_cls.__name__, hyper, locate.optimizer),
        loss=LossSetup(
            setup.loss.name,
            setup.loss.transform,
            locate.loss,
            {k: v for k, v in setup.loss.kwargs.items() if isinstance(v, (int, float, str, bool))},
        ),
        data=DataInfo(
            tuple(x.shape) if isinstance(x, torch.Tensor) else None,
            str(x.dtype).replace("torch.", "") if isinstance(x, torch.Tensor) else None,
            tuple(first.target.shape) if first and first.target is not None else None,
            len(setup.batches),
            len(distinct),
            sum(b.pred_shape[0] if b.pred_shape else 1 for b in distinct),
            locate.model_call,
        ),
        final_activation=final,
    )


def summarize_training(
    loop: LoopSummary,
    ev: Evidence,
    confirmation: Confirmation,
    *,
    replay_steps: int,
    eval_batches: int,
    settings: dict[str, float],
    rules: dict[str, RuleSpec],
    range_test: RangeTest | None,
    overfit: OverfitResult | None,
) -> TrainingSummary:
    """The report's training section: the user's loop, the replays, the layer table, the fit and the checks."""
    curves = {name: curve_of(r) for name, r in confirmation.replays.items()}
    baseline = curves.pop("baseline")
    after = {g.name: g.grad_norm for g in _measured_or_empty(ev.trained.gradients)}
    verified = {f.fix.id for f in confirmation.findings if f.fix is not None and f.fix.verified}
    trend = ev.user_trend
    if trend is not None:  # the summary line and FD601 quote the same two numbers
        loop = replace(loop, loss_start=trend.start, loss_end=trend.end)
    return TrainingSummary(
        loop=loop,
        replay=ReplaySummary(replay_steps, eval_batches, baseline, curves, _control_curves(ev)),
        constant_prediction_loss=ev.constant_loss,
        notes=tuple(ev.notes),
        layers=with_verdicts(layer_rows(ev, settings), confirmation.findings, rules),
        gradients=tuple(
            GradientRow(g.name, g.grad_norm, after.get(g.name)) for g in _measured_or_empty(ev.init.gradients)
        ),
        fit=fit_of(ev, confirmation.replays, verified),
        lr_range_test=None
        if range_test is None
        else RangeTestSummary(range_test.suggested_lr, range_test.best_lr, range_test.diverged_at),
        overfit_one_batch=None
        if overfit is None
        else OverfitSummary(
            overfit.samples,
            overfit.steps,
            overfit.lr,
            overfit.start,
            overfit.best,
            overfit.baseline,
            overfit.decided_at,
        ),
    )


def _control_curves(ev: Evidence) -> dict[str, Curve]:
    """The target controls' curves, when a selected rule asked for them and they ran."""
    if not measured(ev.control) or ev.control is None:
        return {}
    runs = {
        "shuffled_targets": ev.control.shuffled,
        "planted_targets": ev.control.planted,
        "teacher_targets": ev.control.teacher,
    }
    return {name: curve_of(r) for name, r in runs.items() if r is not None}


def _measured_or_empty(values: list[_T]) -> list[_T]:
    """A measured list of per-layer values, or none when a selection did not need them (not measured)."""
    return values if measured(values) else []


def curve_of(r: ReplayResult) -> Curve:
    """A replay's evaluation curve (a loss that is not finite kept as None)."""
    return Curve(tuple((s, _finite(v)) for s, v in r.curve), _finite(r.final), r.seconds, r.stopped)


def layer_rows(ev: Evidence, settings: dict[str, float]) -> list[LayerRow]:
    """Per activation layer, at init and after the short training: dead and saturated shares (by the
    rules' unit thresholds), pre-activation scale, and the weight-gradient norm of the layer feeding it."""
    active = settings["layers.unit_active_share"]
    saturated = settings["layers.unit_saturated_share"]
    after = {a.index: a for a in _measured_or_empty(ev.trained.activations)}
    grads_init = {g.name: g.grad_norm for g in _measured_or_empty(ev.init.gradients)}
    grads_after = {g.name: g.grad_norm for g in _measured_or_empty(ev.trained.gradients)}

    def share(values: list[float], below: bool) -> float | None:
        if not values:
            return None
        return sum((v < active) if below else (v >= saturated) for v in values) / len(values)

    rows = []
    for a in ev.init.activations:
        if not a.units:
            continue
        b = after.get(a.index)
        # "Dead" is the notion of ReLU-like units (derivative zero on a half-line), "saturated" that of
        # flat tails; a kind without the notion has neither share measured.
        none = Share(None, None)
        shares = {
            "dead": Share(share(a.active_share, True), share(b.active_share, True) if b else None)
            if a.kind in DYING
            else none,
            "saturated": Share(share(a.saturated_share, False), share(b.saturated_share, False) if b else None)
            if a.kind in SATURATING
            else none,
        }
        rows.append(
            LayerRow(
                a.name,
                a.kind,
                a.units,
                shares,
                a.preact_std,
                b.preact_std if b else None,
                grads_init.get(a.producer or ""),
                grads_after.get(a.producer or ""),
            )
        )
    return rows


def with_verdicts(
    rows: list[LayerRow], findings: Sequence[Finding], rules: dict[str, RuleSpec]
) -> tuple[LayerRow, ...]:
    """The layer table with each reported layer's share as its finding measured it (a rule may count more than
    the plain measurement, e.g. units condensed onto another as lost), so chart and finding agree."""
    shares: dict[str, dict[str, Share]] = {row.name: dict(row.shares) for row in rows}
    for f in findings:
        spec = rules.get(f.code)
        per_layer = f.evidence.get("layers")
        if spec is None or spec.layer_share is None or not isinstance(per_layer, dict):
            continue
        for name, per_rule in per_layer.items():
            if name in shares and isinstance(per_rule, dict):
                shares[name][spec.layer_share] = Share(per_rule.get("init"), per_rule.get("after"))
    return tuple(dataclasses.replace(row, shares=shares[row.name]) for row in rows)


def fit_of(ev: Evidence, replays: dict[str, ReplayResult], verified: set[str], points: int = FIT_POINTS) -> Fit | None:
    """For regression on one input feature: the data and the fitted curve at init, after the baseline
    replay and after each verified fix, on a grid over the input range (the picture of the fit)."""
    data = _one_feature_data(ev)
    if data is None:
        return None
    x_all, y_all = data
    order = torch.argsort(x_all)[:: max(1, x_all.numel() // 500)]
    grid = torch.linspace(float(x_all.min()), float(x_all.max()), points)
    sample = ev.probe_batches[0].args[0]
    grid_input = grid.reshape(points, *([1] * max(sample.ndim - 1, 1))).to(sample.dtype)

    def curve(model: torch.nn.Module) -> tuple[float | None, ...] | None:
        try:
            with inference(model):
                out = model(grid_input)
        except Exception:  # a model that can't take the grid (e.g. fixed batch size): no picture
            return None
        if not isinstance(out, torch.Tensor) or out.numel() != points:
            return None
        return tuple(_finite(float(v)) for v in out.detach().double().reshape(-1))

    curves: dict[str, tuple[float | None, ...] | None] = {
        "init": curve(fresh_model(ev.setup)),
        "baseline": curve(ev.baseline.model),
    }
    for name in sorted(verified):
        if name in replays:
            curves[name] = curve(replays[name].model)
    if curves["baseline"] is None:
        return None
    return Fit(
        tuple(x_all[order].tolist()),
        tuple(y_all[order].tolist()),
        tuple(grid.tolist()),
        {k: v for k, v in curves.items() if v is not None},
    )


def _one_feature_data(ev: Evidence) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The probe batches' (x, y) when the model maps one float feature to one target, else None."""
    if not ev.setup.loss.is_regression or not ev.probe_batches:
        return None
    xs, ys = [], []
    for batch in ev.probe_batches:
        x: Any = batch.args[0] if len(batch.args) == 1 and not batch.kwargs else None
        if not isinstance(x, torch.Tensor) or not x.is_floating_point() or batch.target is None:
            return None
        fx = feature_matrix(x.detach())
        if fx.shape[0] == 0:
            continue
        ty = batch.target.detach().reshape(fx.shape[0], -1) if batch.target.numel() % max(fx.shape[0], 1) == 0 else None
        if fx.shape[1] != 1 or ty is None or ty.shape[1] != 1:
            return None
        xs.append(fx[:, 0].double())
        ys.append(ty[:, 0].double())
    if not xs:
        return None
    x_all, y_all = torch.cat(xs), torch.cat(ys)
    keep = torch.isfinite(x_all) & torch.isfinite(y_all)
    x_all, y_all = x_all[keep], y_all[keep]
    if x_all.numel() < 2 or float(x_all.min()) == float(x_all.max()):
        return None
    return x_all, y_all
