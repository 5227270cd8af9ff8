"""The HTML report's figures, drawn from ``report.training`` as inline SVG: loss curves, each fix's replay, the fit
of a 1-D regression, dead and saturated units and gradient norms per layer."""

from __future__ import annotations

import math
from collections.abc import Sequence

from fitdoctor.findings import Fix, Report
from fitdoctor.report.concise import number
from fitdoctor.report.figures import Line, fit_figure, layer_figure, loss_figure, replay_figure
from fitdoctor.report.html.svg import (
    AFTER_BAR,
    BLUE,
    DASHES,
    GREENS,
    GREY,
    INIT_BAR,
    INK,
    MAX_DOTS,
    OTHERS,
    RED,
    _axes,
    _Axis,
    _axis,
    _Chart,
    _draw_series,
    _e,
    _f,
    _finite,
    _frame,
    _hline,
    _Series,
    _wants_log,
)


def _fix_styles(lines: Sequence[Line]) -> dict[str, tuple[str, str]]:
    """Colour and dash pattern per fix line: greens for verified fixes, muted colours for the rest."""
    out: dict[str, tuple[str, str]] = {}
    green = other = 0
    for line in lines:
        if line.role != "fix":
            continue
        if line.verified:
            out[line.key] = (GREENS[green % len(GREENS)], DASHES[(green // len(GREENS)) % len(DASHES)])
            green += 1
        else:
            out[line.key] = (OTHERS[other % len(OTHERS)], DASHES[1 + other % (len(DASHES) - 1)])
            other += 1
    return out


def loss_chart(report: Report) -> str:
    """The loss curves of the user's loop, the replay baseline and every fix's replay on shared axes.

    Args:
        report: The report whose ``training`` holds ``user_loss`` and ``replay``.

    Returns:
        An ``<svg id="loss-curves">`` element, or an empty string when there is no curve.
    """
    figure = loss_figure(report)
    if figure is None:
        return ""
    styles = _fix_styles(figure.lines)
    series: list[_Series] = []
    for line in figure.lines:
        if line.role == "baseline":
            series.append(_Series(line.key, line.label, list(line.points), RED, width=2.6))
        elif line.role == "fix":
            color, dash = styles[line.key]
            width, opacity = (2.2, 1.0) if line.verified else (1.5, 0.8)
            series.append(_Series(line.key, line.label, list(line.points), color, width, dash, opacity))
        else:  # the user's loop goes last, thin and on top: it usually matches the baseline's start exactly
            series.append(_Series(line.key, line.label, list(line.points), BLUE, width=1.6, opacity=0.9))
    user = figure.lines[-1].role == "user"
    values = [v for s in series for _, v in s.points if v is not None]
    constant = figure.constant
    log = _wants_log(values)
    chart = _frame("loss-curves", "Loss curves: your loop, the replay baseline and each fix", 1080, 380, 230)
    steps = [p for s in series for p, _ in s.points]
    x = _axis(steps, chart.left, chart.right, count=8)
    reference = [constant] if constant is not None and (not log or constant > 0) else []
    y = _axis(values + reference, chart.bottom, chart.top, log=log)
    _axes(chart, x, y, "training step", "loss (log scale)" if log else "loss")
    for value in reference:
        _hline(chart, y, value, f"constant prediction {number(value)}")
    _draw_series(chart, x, y, series)
    if user:
        chart.legend.insert(0, chart.legend.pop())
    return chart.svg()


def fix_chart(report: Report, fix: Fix, chart_id: str) -> str:
    """A small chart of the baseline replay against one fix's replay.

    Args:
        report: The report holding the replays.
        fix: The fix whose replay to draw.
        chart_id: The SVG element's id.

    Returns:
        An ``<svg>`` element, or an empty string when either curve is missing.
    """
    figure = replay_figure(report, fix)
    if figure is None:
        return ""
    base, fixed = figure.lines
    series = [
        _Series("baseline", "baseline", list(base.points), RED, width=2.2),
        _Series(fix.id, "with fix", list(fixed.points), GREENS[0] if fix.verified else OTHERS[0], width=2.2),
    ]
    values = [v for s in series for _, v in s.points if v is not None]
    log = _wants_log(values)
    chart = _frame(chart_id, f"Replay loss: baseline against {fix.id}", 380, 150, 100, left=54, bottom_margin=34)
    x = _axis([p for s in series for p, _ in s.points], chart.left, chart.right, count=4)
    y = _axis(values, chart.bottom, chart.top, log=log, count=3)
    _axes(chart, x, y, "", "log loss" if log else "loss")
    _draw_series(chart, x, y, series)
    return chart.svg()


def fit_chart(report: Report) -> str:
    """The 1-D regression: data points and the network's curve at init, after the baseline and with each fix.

    Args:
        report: The report whose ``training`` may hold ``fit``.

    Returns:
        An ``<svg id="fit">`` element, or an empty string without a usable ``fit``.
    """
    figure = fit_figure(report)
    if figure is None:
        return ""
    dots = list(figure.data)
    if len(dots) > MAX_DOTS:
        dots = dots[:: math.ceil(len(dots) / MAX_DOTS)]
    styles = _fix_styles(figure.lines)
    series: list[_Series] = []
    for line in figure.lines:
        points = list(line.points)
        if line.role == "init":
            series.append(_Series(line.key, line.label, points, GREY, width=1.8, dash="5 4", opacity=0.75))
        elif line.role == "fix":
            color, dash = styles[line.key]
            series.append(_Series(line.key, line.label, points, color, 2.0, dash))
        else:
            series.append(_Series(line.key, line.label, points, RED, width=2.6))
    # The y range follows the data; a curve far outside it is clipped rather than squashing the data.
    dlo, dhi = min(b for _, b in dots), max(b for _, b in dots)
    span = (dhi - dlo) or 1.0
    values = [b for _, b in dots] + [
        min(max(v, dlo - span), dhi + span) for s in series for _, v in s.points if v is not None
    ]
    chart = _frame("fit", "The network's fit to the data", 1080, 400, 230)
    xs_all = [a for a, _ in dots] + [p for line in figure.lines for p, _ in line.points]
    x = _axis(xs_all, chart.left + 8, chart.right - 8, count=8, tight=True)
    y = _axis(values, chart.bottom, chart.top, count=6)
    _axes(chart, x, y, "input x", "target y / prediction")
    # The dots go under the curves, larger than the curves are wide, so a curve on the data shows both.
    chart.parts.append(f'<g class="data" clip-path="url(#{_e(chart.chart_id)}-clip)">')
    for a, b in dots:
        chart.parts.append(f'<circle cx="{_f(x.px(a))}" cy="{_f(y.px(b))}" r="3.3" fill="#39414d" fill-opacity="0.4"/>')
    chart.parts.append("</g>")
    chart.legend.append(("dot", "#39414d", "", f"data ({len(dots)} points)", 0, 0.6))
    for bound, word, below in zip(figure.bounds, ("≥", "≤"), (True, False), strict=True):
        if bound is not None and _finite(bound):
            text = f"{figure.activation or 'output'} output {word} {bound:.3g}: no weights reach past this line"
            _hline(chart, y, float(bound), text, RED, below=below)
    _draw_series(chart, x, y, series)
    return chart.svg()


def _wrap(name: str, chars: int, lines: int = 3) -> list[str]:
    """``name`` in at most ``lines`` lines of at most ``chars`` characters, broken at spaces, the rest cut with ``…``."""
    out: list[str] = []
    for word in name.split():
        if out and len(out[-1]) + 1 + len(word) <= chars:
            out[-1] += " " + word
        else:
            out.append(word)
    out = [line if len(line) <= chars else line[: max(chars - 1, 1)] + "…" for line in out]
    if len(out) > lines:
        out = [*out[: lines - 1], out[lines - 1][: max(chars - 1, 1)] + "…"]
    return out or [""]


#: Layer names under a categorical axis: characters per pixel of band, and the most lines per name.
CHAR_PX = 6.4
LABEL_LINES = 3


def _label_lines(names: Sequence[str], band: float) -> list[list[str]]:
    chars = max(3, int((band - 6) / CHAR_PX))
    return [_wrap(name, chars, LABEL_LINES) for name in names]


def _category_labels(chart: _Chart, names: Sequence[str]) -> None:
    """Layer names centred under their band, wrapped into up to three lines (the full name as a tooltip)."""
    band = (chart.right - chart.left) / max(len(names), 1)
    chart.parts.append('<g class="categories">')
    for i, (name, lines) in enumerate(zip(names, _label_lines(names, band), strict=True)):
        cx = chart.left + band * (i + 0.5)
        spans = "".join(
            f'<tspan x="{_f(cx)}" y="{_f(chart.bottom + 16 + 14 * k)}">{_e(line)}</tspan>'
            for k, line in enumerate(lines)
        )
        chart.parts.append(f'<text text-anchor="middle" fill="{INK}"><title>{_e(name)}</title>{spans}</text>')
    chart.parts.append("</g>")


def _layer_frame(chart_id: str, title: str, names: Sequence[str]) -> _Chart:
    """A frame for a per-layer chart: narrow enough for three in a row when there are few layers."""
    width = 320 if len(names) <= 3 else max(440, min(1080, 100 + 70 * len(names)))
    left, right_margin = 62, 16
    band = (width - left - right_margin) / max(len(names), 1)
    lines = max(len(x) for x in _label_lines(names, band))
    bottom = 12 + 14 * lines
    return _frame(chart_id, title, width, 200 + bottom, left=left, bottom_margin=bottom, legend_top=True)


def share_chart(report: Report, kind: str) -> str:
    """Grouped bars per activation layer: the share of ``kind`` (dead or saturated) units at init and after.

    Args:
        report: The report whose ``training`` holds ``layers``.
        kind: ``dead`` or ``saturated``.

    Returns:
        An ``<svg id="layers-KIND">`` element, or an empty string without layers.
    """
    layers = [row for row in layer_figure(report) if row.units]
    if not layers:
        return ""
    names = [row.name for row in layers]
    word = "Dead" if kind == "dead" else "Saturated"
    chart = _layer_frame(f"layers-{kind}", f"{word} units per layer, at init and after training", names)
    y = _Axis(0.0, 100.0, chart.bottom, chart.top, step=25.0)
    _axes(chart, None, y, "", f"{kind} units (%)")
    band = (chart.right - chart.left) / len(layers)
    bar = min(34.0, band * 0.34)
    chart.parts.append('<g class="bars">')
    for i, layer in enumerate(layers):
        cx = chart.left + band * (i + 0.5)
        share = layer.shares.get(kind)
        for j, (when, color) in enumerate((("init", INIT_BAR), ("after", AFTER_BAR))):
            value = None if share is None else (share.init, share.after)[j]
            bx = cx - bar - 1 + j * (bar + 2)
            if value is None or not _finite(value):
                chart.parts.append(
                    f'<text x="{_f(bx + bar / 2)}" y="{_f(chart.bottom - 4)}" text-anchor="middle" '
                    f'fill="#5c6470" font-size="10">n/a</text>'
                )
                continue
            pct = max(0.0, min(100.0, 100.0 * float(value)))
            top = y.px(pct)
            chart.parts.append(
                f'<rect class="bar {when}" x="{_f(bx)}" y="{_f(top)}" width="{_f(bar)}" '
                f'height="{_f(max(chart.bottom - top, 0.0))}" fill="{color}">'
                f"<title>{_e(names[i])}, {when}: {pct:.0f}% {kind}</title></rect>"
            )
            if len(layers) <= 14:
                chart.parts.append(
                    f'<text x="{_f(bx + bar / 2)}" y="{_f(top - 3)}" text-anchor="middle" fill="#39414d" '
                    f'font-size="10">{pct:.0f}%</text>'
                )
    chart.parts.append("</g>")
    _category_labels(chart, names)
    chart.legend += [("bar", INIT_BAR, "", "at init", 0, 1), ("bar", AFTER_BAR, "", "after training", 0, 1)]
    return chart.svg()


def gradient_chart(report: Report) -> str:
    """The weight-gradient norm per parametrised layer, at init and after training, on a log axis.

    Args:
        report: The report whose ``training`` holds ``gradients`` (or gradient norms in ``layers``).

    Returns:
        An ``<svg id="gradients">`` element, or an empty string without gradient norms.
    """
    rows = [row for row in layer_figure(report) if row.grad_name is not None or row.grad != (None, None)]
    names = [row.grad_name or row.name for row in rows]
    init = [row.grad[0] for row in rows]
    after = [row.grad[1] for row in rows]
    values = [float(v) for v in init + after if v is not None and _finite(v) and v > 0]
    if not names or not values:
        return ""
    chart = _layer_frame("gradients", "Weight-gradient norm per layer, at init and after training", names)
    y = _axis(values, chart.bottom, chart.top, log=True)
    _axes(chart, None, y, "", "gradient norm (log)")
    band = (chart.right - chart.left) / len(names)
    # Categories sit at x = 0..n-1; this axis maps them to the centres of their bands.
    x = _Axis(-0.5, len(names) - 0.5, chart.left, chart.right, step=1.0)
    series = [
        _Series("init", "at init", [(float(i), float(v) if _finite(v) else None) for i, v in enumerate(init)],
                INIT_BAR, width=2.0, markers=True),
        _Series("after", "after training", [(float(i), float(v) if _finite(v) else None) for i, v in enumerate(after)],
                AFTER_BAR, width=2.0, markers=True),
    ]  # fmt: skip
    _draw_series(chart, x, y, series)
    for s in series:
        for px, v in s.points:
            if v == 0:
                cx = chart.left + band * (px + 0.5)
                chart.parts.append(
                    f'<text x="{_f(cx)}" y="{_f(chart.bottom - 4)}" text-anchor="middle" fill="{s.color}" '
                    f'font-size="11">0<title>{_e(names[int(px)])}, {s.label}: exactly zero</title></text>'
                )
    _category_labels(chart, names)
    return chart.svg()
