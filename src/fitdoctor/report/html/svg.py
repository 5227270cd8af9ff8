"""A small SVG toolkit for the HTML report: axes with nice ticks, series, frames and reference lines. Every
piece of text is escaped with :func:`html.escape`."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeGuard

from fitdoctor.report.concise import number

#: Loss curves switch to a log y axis when the largest plotted value is more than this many times the smallest.
LOG_SPAN = 50.0
#: At most this many evidence values are listed per finding.
EVIDENCE_LIMIT = 16
#: A line series keeps at most this many points (evenly thinned); a scatter at most this many dots.
MAX_POINTS = 1000
MAX_DOTS = 2000

RED = "#d62728"
BLUE = "#1f77b4"
GREY = "#8a8f98"
INK = "#222831"
GRID = "#e3e6ea"
#: Verified fixes are drawn in greens, other replays in muted colours.
GREENS = ("#2ca02c", "#00693e", "#5fc35f", "#1b9e77", "#8fd18f", "#3d7d3d")
OTHERS = ("#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
DASHES = ("", "6 3", "2 3", "8 3 2 3", "4 4", "1 2")
INIT_BAR = "#a9bfdc"
AFTER_BAR = "#1f4e9c"

SEVERITY_ICON = {"error": "✖", "warning": "▲", "info": "●"}


def _e(value: object) -> str:
    """``value`` as text made safe for HTML and SVG (``&``, ``<``, ``>`` and quotes escaped)."""
    return html.escape(str(value), quote=True)


def _f(value: float) -> str:
    """A pixel coordinate with one decimal."""
    return f"{value:.1f}"


def _finite(value: object) -> TypeGuard[float]:
    """Whether ``value`` is a finite number (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _tick_label(value: float) -> str:
    """A tick value in a few characters: ``0.5``, ``200``, ``1e-05`` as ``1e-5``."""
    if value == 0:
        return "0"
    if 1e-3 <= abs(value) < 1e5:
        return f"{value:.4g}"
    mantissa, exponent = f"{value:.1e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def _nice_step(span: float, count: int) -> float:
    """A round tick step (1, 2 or 5 times a power of ten) giving about ``count`` ticks over ``span``."""
    raw = span / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * power >= raw:
            return m * power
    return 10 * power


@dataclass(frozen=True)
class _Axis:
    """A mapping of data values to pixels, linear or log10, with its ticks.

    Attributes:
        lo: The smallest value shown.
        hi: The largest value shown.
        start: Pixel of ``lo``.
        end: Pixel of ``hi``.
        log: Whether the axis is logarithmic.
        step: Tick step of a linear axis.
    """

    lo: float
    hi: float
    start: float
    end: float
    log: bool = False
    step: float = 0.0

    def px(self, value: float) -> float:
        """The pixel of ``value`` (which must be positive on a log axis)."""
        if self.log:
            a, b, v = math.log10(self.lo), math.log10(self.hi), math.log10(value)
        else:
            a, b, v = self.lo, self.hi, value
        return self.start + (v - a) / (b - a) * (self.end - self.start)

    def shows(self, value: float | None) -> bool:
        """Whether ``value`` can be placed on this axis (finite, and positive on a log axis)."""
        return value is not None and math.isfinite(value) and (value > 0 or not self.log)

    def ticks(self) -> list[tuple[float, str]]:
        """Tick values and their labels."""
        if self.log:
            first, last = round(math.log10(self.lo)), round(math.log10(self.hi))
            decades = last - first
            every = max(1, math.ceil(decades / 7))
            out = [(10.0**k, _tick_label(10.0**k)) for k in range(first, last + 1, every)]
            if decades <= 2:
                out += [
                    (m * 10.0**k, _tick_label(m * 10.0**k))
                    for k in range(first, last)
                    for m in (2, 5)
                    if self.lo <= m * 10.0**k <= self.hi
                ]
            return sorted(out)
        out = []
        k = math.ceil(self.lo / self.step - 1e-6)
        while k * self.step <= self.hi + self.step * 1e-6:
            value = k * self.step
            out.append((value, _tick_label(round(value, 12) + 0.0)))
            k += 1
        return out


def _axis(
    values: Iterable[float], start: float, end: float, log: bool = False, count: int = 5, tight: bool = False
) -> _Axis:
    """An axis over ``values`` with round ends.

    Args:
        values: The values to show (non-finite ones, and on a log axis non-positive ones, are ignored).
        start: Pixel of the smallest value.
        end: Pixel of the largest value.
        log: Whether the axis is logarithmic.
        count: About how many ticks a linear axis gets.
        tight: Whether a linear axis ends at the extreme values instead of the next round ticks.

    Returns:
        The axis.
    """
    shown = [v for v in values if math.isfinite(v) and (v > 0 or not log)]
    if log:
        if not shown:
            return _Axis(0.1, 10.0, start, end, log=True)
        lo = 10.0 ** math.floor(math.log10(min(shown)) + 1e-9)
        hi = 10.0 ** math.ceil(math.log10(max(shown)) - 1e-9)
        if hi <= lo:
            lo, hi = lo / 10, hi * 10
        return _Axis(lo, hi, start, end, log=True)
    lo, hi = (min(shown), max(shown)) if shown else (0.0, 1.0)
    if hi - lo <= 1e-12 * max(1.0, abs(hi)):
        pad = abs(hi) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    step = _nice_step(hi - lo, count)
    if tight:
        return _Axis(lo, hi, start, end, step=step)
    return _Axis(math.floor(lo / step + 1e-9) * step, math.ceil(hi / step - 1e-9) * step, start, end, step=step)


def _wants_log(values: Iterable[float | None]) -> bool:
    """Whether positive values span more than :data:`LOG_SPAN` times (and none is zero or negative)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite or min(finite) <= 0:
        return False
    return max(finite) / min(finite) > LOG_SPAN


@dataclass
class _Series:
    """One line in a chart.

    Attributes:
        key: Identifier written as ``data-series`` (the fix id, ``baseline``, ``your loop``...).
        label: Legend text.
        points: ``(x, y)`` pairs; a None or non-finite y breaks the line.
        color: Stroke colour.
        width: Stroke width in pixels.
        dash: SVG dash pattern, empty for a solid line.
        opacity: Stroke opacity.
        markers: Whether to put a dot on every point.
    """

    key: str
    label: str
    points: list[tuple[float, float | None]]
    color: str
    width: float = 2.0
    dash: str = ""
    opacity: float = 1.0
    markers: bool = False


@dataclass
class _Chart:
    """A frame being drawn: size, plot area and SVG pieces.

    Attributes:
        chart_id: The SVG element's id.
        title: Accessible title.
        width: Width in pixels.
        height: Height in pixels.
        left: Plot area's left edge.
        top: Plot area's top edge.
        right: Plot area's right edge.
        bottom: Plot area's bottom edge.
        parts: SVG markup, in drawing order.
        legend: ``(kind, colour, dash, label, width, opacity)`` per legend entry.
        legend_top: Whether the legend is one row above the plot area instead of a column on its right.
    """

    chart_id: str
    title: str
    width: int
    height: int
    left: float
    top: float
    right: float
    bottom: float
    parts: list[str]
    legend: list[tuple[str, str, str, str, float, float]]
    legend_top: bool = False

    def svg(self) -> str:
        """The finished ``<svg>`` element."""
        out = [
            f'<svg class="chart" id="{_e(self.chart_id)}" viewBox="0 0 {self.width} {self.height}" '
            f'width="{self.width}" height="{self.height}" role="img" aria-labelledby="{_e(self.chart_id)}-title" '
            'font-family="system-ui, -apple-system, Segoe UI, Roboto, Arial, sans-serif" font-size="12">',
            f'<title id="{_e(self.chart_id)}-title">{_e(self.title)}</title>',
            f'<defs><clipPath id="{_e(self.chart_id)}-clip"><rect x="{_f(self.left)}" y="{_f(self.top - 2)}" '
            f'width="{_f(self.right - self.left)}" height="{_f(self.bottom - self.top + 4)}"/></clipPath></defs>',
            *self.parts,
            *self._legend(),
            "</svg>",
        ]
        return "\n".join(out)

    def _legend(self) -> list[str]:
        if not self.legend:
            return []
        out = ['<g class="legend">']
        if self.legend_top:
            x, y = self.left, 12.0
            for entry in self.legend:
                out += self._legend_entry(x, y, entry, len(entry[3]))
                x += 40 + len(entry[3]) * 6.4
            out.append("</g>")
            return out
        x = self.right + 16
        chars = max(8, int((self.width - x - 32) / 6.4))
        for i, entry in enumerate(self.legend):
            out += self._legend_entry(x, self.top + 8 + i * 18, entry, chars)
        out.append("</g>")
        return out

    @staticmethod
    def _legend_entry(x: float, y: float, entry: tuple[str, str, str, str, float, float], chars: int) -> list[str]:
        """A swatch (dot, bar or line) and its label, the label shortened to ``chars`` characters."""
        kind, color, dash, label, width, opacity = entry
        if kind == "dot":
            swatch = f'<circle cx="{_f(x + 11)}" cy="{_f(y)}" r="3" fill="{color}" fill-opacity="{opacity}"/>'
        elif kind == "bar":
            swatch = f'<rect x="{_f(x + 4)}" y="{_f(y - 5)}" width="14" height="10" fill="{color}"/>'
        else:
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            swatch = (
                f'<line x1="{_f(x)}" y1="{_f(y)}" x2="{_f(x + 22)}" y2="{_f(y)}" stroke="{color}" '
                f'stroke-width="{width}" stroke-opacity="{opacity}"{dash_attr}/>'
            )
        shown = label if len(label) <= chars else label[: chars - 1] + "…"
        return [
            swatch,
            f'<text x="{_f(x + 28)}" y="{_f(y + 4)}" fill="{INK}"><title>{_e(label)}</title>{_e(shown)}</text>',
        ]


def _frame(
    chart_id: str,
    title: str,
    width: int,
    height: int,
    legend_width: int = 0,
    left: int = 62,
    bottom_margin: int = 44,
    legend_top: bool = False,
) -> _Chart:
    """An empty chart with its plot area placed.

    Args:
        chart_id: The SVG element's id.
        title: Accessible title.
        width: Width in pixels.
        height: Height in pixels.
        legend_width: Room for the legend right of the plot area (0 for none or a legend on top).
        left: Room for the tick labels left of the plot area.
        bottom_margin: Room for tick labels and the axis label under the plot area.
        legend_top: Whether the legend goes in one row above the plot area.

    Returns:
        The chart, with no parts yet.
    """
    right = width - (legend_width + 12 if legend_width else 16)
    top = 32 if legend_top else 14
    return _Chart(chart_id, title, width, height, left, top, right, height - bottom_margin, [], [], legend_top)


def _axes(chart: _Chart, x: _Axis | None, y: _Axis, xlabel: str, ylabel: str) -> None:
    """Grid, ticks, tick labels, the frame and both axis labels."""
    parts = chart.parts
    parts.append('<g class="grid">')
    for value, label in y.ticks():
        py = y.px(value)
        parts.append(
            f'<line x1="{_f(chart.left)}" y1="{_f(py)}" x2="{_f(chart.right)}" y2="{_f(py)}" stroke="{GRID}"/>'
            f'<text x="{_f(chart.left - 6)}" y="{_f(py + 4)}" text-anchor="end" fill="#5c6470">{_e(label)}</text>'
        )
    if x is not None:
        for value, label in x.ticks():
            px = x.px(value)
            parts.append(
                f'<line x1="{_f(px)}" y1="{_f(chart.top)}" x2="{_f(px)}" y2="{_f(chart.bottom)}" stroke="{GRID}"/>'
                f'<text x="{_f(px)}" y="{_f(chart.bottom + 16)}" text-anchor="middle" fill="#5c6470">'
                f"{_e(label)}</text>"
            )
    parts.append("</g>")
    parts.append(
        f'<rect class="frame" x="{_f(chart.left)}" y="{_f(chart.top)}" width="{_f(chart.right - chart.left)}" '
        f'height="{_f(chart.bottom - chart.top)}" fill="none" stroke="#aab1bb"/>'
    )
    if xlabel:
        parts.append(
            f'<text class="xlabel" x="{_f((chart.left + chart.right) / 2)}" y="{_f(chart.height - 8)}" '
            f'text-anchor="middle" fill="{INK}">{_e(xlabel)}</text>'
        )
    cy = (chart.top + chart.bottom) / 2
    parts.append(
        f'<text class="ylabel" x="14" y="{_f(cy)}" text-anchor="middle" fill="{INK}" '
        f'transform="rotate(-90 14 {_f(cy)})">{_e(ylabel)}</text>'
    )


def _thin(points: Sequence[tuple[float, float | None]], limit: int = MAX_POINTS) -> list[tuple[float, float | None]]:
    """Every k-th point so that at most about ``limit`` remain, always keeping the last one."""
    if len(points) <= limit:
        return list(points)
    every = math.ceil(len(points) / limit)
    kept = list(points[::every])
    if kept[-1] != points[-1]:
        kept.append(points[-1])
    return kept


def _path(x: _Axis, y: _Axis, points: Sequence[tuple[float, float | None]]) -> str:
    """SVG path data through the points, broken where a value cannot be placed."""
    out: list[str] = []
    pen_down = False
    for px, py in points:
        if py is None or not y.shows(py) or not x.shows(px):
            pen_down = False
            continue
        out.append(f"{'L' if pen_down else 'M'}{_f(x.px(px))} {_f(y.px(py))}")
        pen_down = True
    return " ".join(out)


def _draw_series(chart: _Chart, x: _Axis, y: _Axis, series: Sequence[_Series]) -> None:
    """One ``<path class="series">`` per series (clipped to the plot area), and its legend entry."""
    chart.parts.append(f'<g class="lines" clip-path="url(#{_e(chart.chart_id)}-clip)">')
    for s in series:
        points = _thin(s.points)
        dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
        chart.parts.append(
            f'<path class="series" data-series="{_e(s.key)}" d="{_path(x, y, points)}" fill="none" '
            f'stroke="{s.color}" stroke-width="{s.width}" stroke-opacity="{s.opacity}" stroke-linejoin="round" '
            f'stroke-linecap="round"{dash}><title>{_e(s.label)}</title></path>'
        )
        if s.markers:
            for px, py in points:
                if py is not None and y.shows(py):
                    chart.parts.append(
                        f'<circle cx="{_f(x.px(px))}" cy="{_f(y.px(py))}" r="3.5" fill="{s.color}">'
                        f"<title>{_e(s.label)}: {_e(number(py))}</title></circle>"
                    )
        chart.legend.append(("line", s.color, s.dash, s.label, s.width, s.opacity))
    chart.parts.append("</g>")


def _hline(chart: _Chart, y: _Axis, value: float, label: str, color: str = GREY, below: bool = False) -> None:
    """A dashed horizontal reference line, when ``value`` is on the axis, labelled at its left end.

    Args:
        chart: The chart to draw on.
        y: Its y axis.
        value: Where the line goes.
        label: Its label.
        color: Colour of line and label.
        below: Whether the label goes under the line instead of over it.
    """
    if not y.shows(value) or not y.lo <= value <= y.hi:
        return
    py = y.px(value)
    ty = py + 14 if below else py - 5
    chart.parts.append(
        f'<g class="reference"><line x1="{_f(chart.left)}" y1="{_f(py)}" x2="{_f(chart.right)}" y2="{_f(py)}" '
        f'stroke="{color}" stroke-width="1.2" stroke-dasharray="4 3"/>'
        f'<text x="{_f(chart.left + 6)}" y="{_f(ty)}" fill="{color}" font-size="11" stroke="#ffffff" '
        f'stroke-width="3" paint-order="stroke">{_e(label)}</text></g>'
    )
