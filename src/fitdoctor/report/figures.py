"""The report's pictures as data: figure specs built from a :class:`Report`, drawn by the terminal backend
(:mod:`fitdoctor.report.charts`, used by the full report) and the SVG backend (:mod:`fitdoctor.report.html`).

Both backends draw the same figures with the same content: what a figure shows is decided here, how it
looks there. The loss figure holds every fix that was replayed, each marked verified or not; the fit
figure holds the verified fixes the analysis drew; the layer figure puts each parametrised layer's
gradient on the row of the activation it feeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from fitdoctor.findings import Fix, Report
from fitdoctor.summary import Curve, LayerRow, Share

Role = Literal["user", "baseline", "fix", "init"]
Points = tuple[tuple[float, float | None], ...]


@dataclass(frozen=True)
class Line:
    """One curve of a figure.

    Attributes:
        key: ``your loop``, ``baseline``, ``init`` or a fix id.
        label: Its legend text.
        role: What it is: the user's loop, the baseline replay, a fix's replay, the model at init.
        points: (x, y) pairs; y is None where the value was not finite.
        verified: For a fix: whether its replay verified it.
    """

    key: str
    label: str
    role: Role
    points: Points
    verified: bool = False


@dataclass(frozen=True)
class LossFigure:
    """Loss curves on shared axes: the baseline replay, fix replays (the verified ones last), then the user's loop.

    Attributes:
        lines: In drawing order (later on top).
        constant: The loss of the best constant prediction, a reference line (None when not measured).
        replay_steps: Steps of each replay.
    """

    lines: tuple[Line, ...]
    constant: float | None = None
    replay_steps: int | None = None


@dataclass(frozen=True)
class FitFigure:
    """A one-feature regression: the data, and the model's curve over x at init, with each fix and after the
    baseline replay (in drawing order), with the final activation's bounds.

    Attributes:
        data: (x, y) data points, sorted by x.
        lines: The curves, over the figure's grid.
        activation: The final activation's kind (None without one).
        bounds: Its range (None: unbounded on that side).
    """

    data: tuple[tuple[float, float], ...]
    lines: tuple[Line, ...]
    activation: str | None = None
    bounds: tuple[float | None, float | None] = (None, None)


@dataclass(frozen=True)
class LayerBar:
    """One row of the per-layer figure, in forward order.

    Attributes:
        name: The activation layer's name, or the parametrised layer's for a row without activation.
        units: Units of the activation (None for a row without activation).
        shares: Dead and saturated shares at init and after (empty for a row without activation).
        preact_std: Pre-activation standard deviation at init and after (None without activation).
        grad_name: The parametrised layer whose weight-gradient norm the row shows (None: none known).
        grad: That norm at init and after.
    """

    name: str
    units: int | None = None
    shares: dict[str, Share] = field(default_factory=dict)
    preact_std: tuple[float | None, float | None] | None = None
    grad_name: str | None = None
    grad: tuple[float | None, float | None] = (None, None)


def fixes_by_id(report: Report) -> dict[str, Fix]:
    """Every fix the findings mention (best and alternatives), by replay id; a verified one wins."""
    out: dict[str, Fix] = {}
    for f in report.findings:
        for fix in ([f.fix] if f.fix else []) + list(f.alternatives):
            if fix.id not in out or (fix.verified and not out[fix.id].verified):
                out[fix.id] = fix
    return out


def _finite(v: float | None) -> bool:
    return v is not None and math.isfinite(v)


def _points(curve: Curve) -> Points:
    return tuple((float(s), v if _finite(v) else None) for s, v in curve.points)


def _fix_line(fix_id: str, points: Points, verified: bool, diverged: bool, stopped: bool = False) -> Line:
    tail = " (diverged)" if diverged else " (stopped: could no longer be verified)" if stopped else ""
    return Line(fix_id, f"fix {fix_id}{' ✔' if verified else ''}{tail}", "fix", points, verified)


def loss_figure(report: Report) -> LossFigure | None:
    """The user's loop, the baseline replay and every fix's replay (None when there is no curve)."""
    training = report.training
    if training is None:
        return None
    lines: list[Line] = []
    replay = training.replay
    if replay is not None:
        if replay.baseline.points:
            lines.append(Line("baseline", "baseline replay", "baseline", _points(replay.baseline)))
        fixes = fixes_by_id(report)
        ids = [k for k, c in replay.fixes.items() if c.points]
        ids.sort(key=lambda k: k in fixes and fixes[k].verified)  # verified last: drawn on top
        for fix_id in ids:
            curve = replay.fixes[fix_id]
            verified = bool(fix_id in fixes and fixes[fix_id].verified)
            lines.append(
                _fix_line(fix_id, _points(curve), verified, diverged=curve.final is None, stopped=curve.stopped)
            )
    user = training.loop.user_loss
    if user:
        points = tuple((float(i), v if _finite(v) else None) for i, v in enumerate(user))
        lines.append(Line("your loop", "your loop", "user", points))
    if not lines:
        return None
    constant = training.constant_prediction_loss
    return LossFigure(
        tuple(lines),
        constant if _finite(constant) else None,
        replay.steps if replay is not None else None,
    )


def replay_figure(report: Report, fix: Fix) -> LossFigure | None:
    """The baseline replay against one fix's replay (None when either curve is missing)."""
    replay = report.training.replay if report.training is not None else None
    if replay is None or fix.id not in replay.fixes:
        return None
    base, fixed = _points(replay.baseline), _points(replay.fixes[fix.id])
    if not base or not fixed:
        return None
    lines = (Line("baseline", "baseline", "baseline", base), Line(fix.id, "with fix", "fix", fixed, fix.verified))
    return LossFigure(lines, None, replay.steps)


def fit_figure(report: Report, best_only: bool = False) -> FitFigure | None:
    """The fit of a one-feature regression (None when the report has none).

    Args:
        report: The report.
        best_only: Keep one fix: the verified fix whose replay ended lowest (the terminal's narrow chart).
    """
    training = report.training
    fit = training.fit if training is not None else None
    if fit is None:
        return None
    data = tuple((float(x), float(y)) for x, y in zip(fit.x, fit.y, strict=False) if _finite(x) and _finite(y))
    if not data or not fit.grid:
        return None
    fixes = fixes_by_id(report)
    fix_ids = [k for k in fit.curves if k not in ("init", "baseline")]
    if best_only:
        fix_ids = [k for k in [_best_fit_fix(report, fix_ids)] if k is not None]

    def over_grid(values: tuple[float | None, ...]) -> Points:
        return tuple(
            (float(g), v if _finite(v) else None) for g, v in zip(fit.grid, values, strict=False) if _finite(g)
        )

    lines: list[Line] = []
    if "init" in fit.curves:
        lines.append(Line("init", "at init", "init", over_grid(fit.curves["init"])))
    for fix_id in fix_ids:
        verified = bool(fix_id in fixes and fixes[fix_id].verified)
        lines.append(_fix_line(fix_id, over_grid(fit.curves[fix_id]), verified, diverged=False))
    if "baseline" in fit.curves:
        lines.append(Line("baseline", "baseline (your setup)", "baseline", over_grid(fit.curves["baseline"])))
    final = report.setup.final_activation if report.setup is not None else None
    bounds = (final.low, final.high) if final is not None else (None, None)
    return FitFigure(data, tuple(lines), final.kind if final is not None else None, bounds)


def _best_fit_fix(report: Report, names: list[str]) -> str | None:
    """Of the fixes with a fitted curve, the verified one whose replay ended lowest."""
    fixes = fixes_by_id(report)
    replay = report.training.replay if report.training is not None else None
    preferred = [n for n in names if n in fixes and fixes[n].verified] or names

    def final(name: str) -> float:
        curve = replay.fixes.get(name) if replay is not None else None
        value = curve.final if curve is not None else None
        return value if value is not None and math.isfinite(value) else math.inf

    return min(preferred, key=final, default=None)


def layer_figure(report: Report) -> tuple[LayerBar, ...]:
    """Activation layers and parametrised layers in forward order: a parametrised layer whose gradient norms
    are those of an activation layer's producer shares that layer's row."""
    training = report.training
    if training is None:
        return ()

    def same(a: float | None, b: float | None) -> bool:
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9)

    def activation_row(a: LayerRow, grad_name: str | None) -> LayerBar:
        return LayerBar(
            a.name,
            a.units,
            dict(a.shares),
            (a.preact_std, a.preact_std_after),
            grad_name,
            (a.grad_norm_init, a.grad_norm_after),
        )

    rows: list[LayerBar] = []
    todo = list(training.layers)
    for g in training.gradients:
        match = next((i for i, a in enumerate(todo) if same(a.grad_norm_init, g.init)), None)
        if match is None:
            rows.append(LayerBar(module_name(g.name), grad_name=module_name(g.name), grad=(g.init, g.after)))
            continue
        rows.extend(activation_row(a, None) for a in todo[:match])
        rows.append(activation_row(todo[match], module_name(g.name)))
        todo = todo[match + 1 :]
    rows.extend(activation_row(a, None) for a in todo)
    return tuple(rows)


def module_name(parameter_owner: str) -> str:
    """A parameter-owning module's qualified name as the activation layers spell it: ``model.out``,
    ``model[2]``, ``model.encoder[0]``."""
    return "model" + "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in parameter_owner.split(".") if p)
