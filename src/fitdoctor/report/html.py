"""A self-contained HTML report to share in a course or a pull request.

One file with no external CSS, JavaScript or fonts, viewable offline: a header with the script and the timings,
the captured setup, plots drawn here as inline SVG (loss curves of the user's loop, the replay baseline and each
fix's replay; the network's fit for 1-D regression; dead and saturated units and gradient norms per layer) and
each finding with its evidence, fix and verification. Everything drawn comes from ``report.training``; nothing here
touches a model. Every piece of text from the report is escaped with :func:`html.escape`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

from fitdoctor.catalog import RuleDoc
from fitdoctor.findings import Finding, Fix, Report
from fitdoctor.report.concise import counts, data_line, number, one_line, summary

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

CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f5f6f8; color: #222831;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1160px; margin: 0 auto; padding: 24px 28px 40px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 10px; border-bottom: 1px solid #dde1e6; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 0 0 6px; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace;
  font-size: 13px; }
pre { background: #1e2329; color: #e6e6e6; padding: 10px 12px; border-radius: 6px; overflow-x: auto;
  margin: 6px 0; white-space: pre-wrap; word-break: break-word; }
pre.source { background: #eef0f3; color: #39414d; }
pre.traceback { background: #2b1d1d; color: #ffd9d9; }
.meta { color: #5c6470; font-size: 13px; }
.meta span + span::before { content: " · "; }
.verdict { margin: 16px 0 0; padding: 12px 16px; border-radius: 8px; font-weight: 600; }
.verdict.ok { background: #e3f4e5; color: #155d27; border: 1px solid #a8dbb1; }
.verdict.bad { background: #fdecec; color: #8a1c1c; border: 1px solid #f1b5b5; }
.verdict.warn { background: #fff6e0; color: #7a5200; border: 1px solid #f0d48a; }
.verdict .sub { font-weight: 400; }
table.setup { border-collapse: collapse; background: #fff; border: 1px solid #dde1e6; border-radius: 8px;
  width: 100%; }
table.setup th, table.setup td { text-align: left; vertical-align: top; padding: 6px 12px;
  border-bottom: 1px solid #eef0f3; }
table.setup th { width: 110px; }
table.setup td.where { color: #5c6470; font-size: 13px; width: 40%; }
table.setup td.where code { color: #39414d; }
.plots { display: flex; flex-wrap: wrap; gap: 14px; }
figure { margin: 0; background: #fff; border: 1px solid #dde1e6; border-radius: 8px; padding: 10px 12px; }
figure.wide { flex: 1 1 100%; }
figcaption { font-weight: 600; font-size: 14px; margin-bottom: 4px; width: 0; min-width: 100%; }
figcaption .hint { font-weight: 400; color: #5c6470; }
svg.chart { display: block; max-width: 100%; height: auto; }
article.finding { background: #fff; border: 1px solid #dde1e6; border-left: 5px solid #8a8f98;
  border-radius: 8px; padding: 12px 16px; margin: 0 0 14px; }
article.finding.error { border-left-color: #d62728; }
article.finding.warning { border-left-color: #e0a000; }
article.finding.info { border-left-color: #1f77b4; }
.badge { display: inline-block; border-radius: 4px; padding: 0 7px; font-size: 12px; font-weight: 700;
  text-transform: uppercase; letter-spacing: .03em; color: #fff; vertical-align: 1px; }
.badge.error { background: #d62728; }
.badge.warning { background: #d99400; }
.badge.info { background: #1f77b4; }
.code { font-weight: 700; margin-left: 6px; }
.slug { font-family: ui-monospace, Menlo, Consolas, monospace; margin-left: 6px; }
.rtitle { color: #5c6470; }
.conf { font-size: 12px; border: 1px solid #c9ced6; border-radius: 10px; padding: 0 7px; margin-left: 6px; }
.conf.confirmed { border-color: #6cbf7a; color: #155d27; }
.loc { margin: 6px 0 0; }
.message { margin: 8px 0; }
dl.evidence { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr)); gap: 2px 18px;
  margin: 6px 0; font-size: 13px; }
dl.evidence div { display: flex; gap: 6px; border-bottom: 1px dotted #e3e6ea; }
dl.evidence dt { color: #5c6470; }
dl.evidence dd { margin: 0 0 0 auto; font-family: ui-monospace, Menlo, Consolas, monospace; }
.fix { margin-top: 10px; padding: 8px 12px; border-radius: 6px; background: #f6f8fa; }
.fix.verified { background: #eef8ef; }
.fix h4 { margin: 0; font-size: 14px; }
.check { font-weight: 700; }
.check.yes { color: #1d7a32; }
.check.no { color: #9a6700; }
.fixrow { display: flex; flex-wrap: wrap; gap: 14px; align-items: flex-start; }
.fixrow > div { flex: 1 1 420px; min-width: 0; }
.fixrow svg.chart { max-width: 380px; }
.explain { margin-top: 10px; padding: 8px 12px; border-left: 3px solid #c9ced6; color: #39414d; }
.explain h4 { margin: 0 0 4px; font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: #5c6470; }
footer { margin-top: 30px; color: #5c6470; font-size: 12px; }
"""


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


# --------------------------------------------------------------------------------------------------- the charts


def _fixes_by_id(report: Report) -> dict[str, Fix]:
    """Every fix the findings mention (best and alternatives), by replay id; a verified one wins."""
    out: dict[str, Fix] = {}
    for f in report.findings:
        for fix in ([f.fix] if f.fix else []) + list(f.alternatives):
            if fix.id not in out or (fix.verified and not out[fix.id].verified):
                out[fix.id] = fix
    return out


def _curve(raw: Any) -> list[tuple[float, float | None]]:
    """A replay curve ``[[step, loss|None], ...]`` as pairs, dropping malformed entries."""
    out: list[tuple[float, float | None]] = []
    for item in raw or []:
        if isinstance(item, (list, tuple)) and len(item) == 2 and _finite(item[0]):
            out.append((float(item[0]), float(item[1]) if _finite(item[1]) else None))
    return out


def _fix_styles(ids: Sequence[str], fixes: dict[str, Fix]) -> dict[str, tuple[str, str, bool]]:
    """Colour, dash pattern and verified flag per fix id: greens for verified fixes, muted colours for the rest."""
    out: dict[str, tuple[str, str, bool]] = {}
    green = other = 0
    for fix_id in ids:
        verified = bool(fixes.get(fix_id) and fixes[fix_id].verified)
        if verified:
            out[fix_id] = (GREENS[green % len(GREENS)], DASHES[(green // len(GREENS)) % len(DASHES)], True)
            green += 1
        else:
            out[fix_id] = (OTHERS[other % len(OTHERS)], DASHES[1 + other % (len(DASHES) - 1)], False)
            other += 1
    return out


def _fix_label(fix_id: str, verified: bool, final: Any) -> str:
    mark = " ✔" if verified else ""
    tail = " (diverged)" if final is not None and not _finite(final) else ""
    return f"fix {fix_id}{mark}{tail}"


def loss_chart(report: Report) -> str:
    """The loss curves of the user's loop, the replay baseline and every fix's replay on shared axes.

    Args:
        report: The report whose ``training`` holds ``user_loss`` and ``replay``.

    Returns:
        An ``<svg id="loss-curves">`` element, or an empty string when there is no curve.
    """
    training = report.training
    replay = training.get("replay") or {}
    fixes = _fixes_by_id(report)
    series: list[_Series] = []
    base = replay.get("baseline") or {}
    base_curve = _curve(base.get("curve"))
    if base_curve:
        series.append(_Series("baseline", "baseline replay", base_curve, RED, width=2.6))
    fix_curves = {k: v for k, v in (replay.get("fixes") or {}).items() if _curve((v or {}).get("curve"))}
    styles = _fix_styles(list(fix_curves), fixes)
    # Unverified replays go below the verified ones, so the greens stay on top.
    for fix_id in sorted(fix_curves, key=lambda k: styles[k][2]):
        color, dash, verified = styles[fix_id]
        series.append(
            _Series(
                fix_id,
                _fix_label(fix_id, verified, fix_curves[fix_id].get("final")),
                _curve(fix_curves[fix_id].get("curve")),
                color,
                width=2.2 if verified else 1.5,
                dash=dash,
                opacity=1.0 if verified else 0.8,
            )
        )
    # The user's loop goes last, thin and on top: it usually matches the baseline's start exactly.
    user = training.get("user_loss") or []
    if user:
        points = [(float(i), float(v) if _finite(v) else None) for i, v in enumerate(user)]
        series.append(_Series("your loop", "your loop", points, BLUE, width=1.6, opacity=0.9))
    if not series:
        return ""
    values = [v for s in series for _, v in s.points if v is not None]
    constant = training.get("constant_prediction_loss")
    log = _wants_log(values)
    chart = _frame("loss-curves", "Loss curves: your loop, the replay baseline and each fix", 1080, 380, 230)
    steps = [p for s in series for p, _ in s.points]
    x = _axis(steps, chart.left, chart.right, count=8)
    reference = [float(constant)] if _finite(constant) and (not log or constant > 0) else []
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
    replay = report.training.get("replay") or {}
    base = _curve((replay.get("baseline") or {}).get("curve"))
    fixed = _curve(((replay.get("fixes") or {}).get(fix.id) or {}).get("curve"))
    if not base or not fixed:
        return ""
    series = [
        _Series("baseline", "baseline", base, RED, width=2.2),
        _Series(fix.id, "with fix", fixed, GREENS[0] if fix.verified else OTHERS[0], width=2.2),
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
    fit = report.training.get("fit") or {}
    xs, ys, grid = fit.get("x") or [], fit.get("y") or [], fit.get("grid") or []
    curves: dict[str, Any] = fit.get("curves") or {}
    dots = [(float(a), float(b)) for a, b in zip(xs, ys, strict=False) if _finite(a) and _finite(b)]
    if not dots or not grid:
        return ""
    if len(dots) > MAX_DOTS:
        dots = dots[:: math.ceil(len(dots) / MAX_DOTS)]
    fixes = _fixes_by_id(report)
    fix_ids = [k for k in curves if k not in ("init", "baseline")]
    styles = _fix_styles(fix_ids, fixes)
    series: list[_Series] = []

    def points(values: Any) -> list[tuple[float, float | None]]:
        return [
            (float(g), float(v) if _finite(v) else None) for g, v in zip(grid, values or [], strict=False) if _finite(g)
        ]

    if "init" in curves:
        series.append(_Series("init", "at init", points(curves["init"]), GREY, width=1.8, dash="5 4", opacity=0.75))
    for fix_id in fix_ids:
        color, dash, verified = styles[fix_id]
        series.append(_Series(fix_id, _fix_label(fix_id, verified, None), points(curves[fix_id]), color, 2.0, dash))
    if "baseline" in curves:
        series.append(_Series("baseline", "baseline (your setup)", points(curves["baseline"]), RED, width=2.6))
    # The y range follows the data; a curve far outside it is clipped rather than squashing the data.
    dlo, dhi = min(b for _, b in dots), max(b for _, b in dots)
    span = (dhi - dlo) or 1.0
    values = [b for _, b in dots] + [
        min(max(v, dlo - span), dhi + span) for s in series for _, v in s.points if v is not None
    ]
    chart = _frame("fit", "The network's fit to the data", 1080, 400, 230)
    xs_all = [a for a, _ in dots] + [float(g) for g in grid if _finite(g)]
    x = _axis(xs_all, chart.left + 8, chart.right - 8, count=8, tight=True)
    y = _axis(values, chart.bottom, chart.top, count=6)
    _axes(chart, x, y, "input x", "target y / prediction")
    # The dots go under the curves, larger than the curves are wide, so a curve on the data shows both.
    chart.parts.append(f'<g class="data" clip-path="url(#{_e(chart.chart_id)}-clip)">')
    for a, b in dots:
        chart.parts.append(f'<circle cx="{_f(x.px(a))}" cy="{_f(y.px(b))}" r="3.3" fill="#39414d" fill-opacity="0.4"/>')
    chart.parts.append("</g>")
    chart.legend.append(("dot", "#39414d", "", f"data ({len(dots)} points)", 0, 0.6))
    final = report.setup.get("final_activation") or {}
    bounds = final.get("range") or [None, None]
    for bound, word, below in zip(bounds, ("≥", "≤"), (True, False), strict=False):
        if _finite(bound):
            text = f"{final.get('kind', 'output')} output {word} {bound:.3g}: no weights reach past this line"
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
    layers = [layer for layer in report.training.get("layers") or [] if isinstance(layer, dict)]
    if not layers:
        return ""
    names = [str(layer.get("name", f"layer {i}")) for i, layer in enumerate(layers)]
    word = "Dead" if kind == "dead" else "Saturated"
    chart = _layer_frame(f"layers-{kind}", f"{word} units per layer, at init and after training", names)
    y = _Axis(0.0, 100.0, chart.bottom, chart.top, step=25.0)
    _axes(chart, None, y, "", f"{kind} units (%)")
    band = (chart.right - chart.left) / len(layers)
    bar = min(34.0, band * 0.34)
    chart.parts.append('<g class="bars">')
    for i, layer in enumerate(layers):
        cx = chart.left + band * (i + 0.5)
        for j, (when, color) in enumerate((("init", INIT_BAR), ("after", AFTER_BAR))):
            value = layer.get(f"{kind}_{when}")
            bx = cx - bar - 1 + j * (bar + 2)
            if not _finite(value):
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
    rows = [g for g in report.training.get("gradients") or [] if isinstance(g, dict)]
    if rows:
        names = [str(g.get("name", f"layer {i}")) for i, g in enumerate(rows)]
        init = [g.get("init") for g in rows]
        after = [g.get("after") for g in rows]
    else:
        layers = [layer for layer in report.training.get("layers") or [] if isinstance(layer, dict)]
        layers = [layer for layer in layers if "grad_norm_init" in layer or "grad_norm_after" in layer]
        names = [str(layer.get("name", f"layer {i}")) for i, layer in enumerate(layers)]
        init = [layer.get("grad_norm_init") for layer in layers]
        after = [layer.get("grad_norm_after") for layer in layers]
    values = [float(v) for v in init + after if _finite(v) and v > 0]
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


# --------------------------------------------------------------------------------------------------- the page


def _where(d: dict[str, Any] | None) -> str:
    if not d:
        return ""
    out = f"<code>{_e(d.get('path', ''))}:{_e(d.get('line', ''))}</code>"
    if d.get("source"):
        out += f"<br><code>{_e(d['source'])}</code>"
    return out


def _setup(report: Report) -> str:
    """The captured setup as a table: model, optimizer, loss, data and final activation."""
    s = report.setup
    if not s:
        return ""
    rows: list[tuple[str, str, dict[str, Any] | None]] = []
    model = s.get("model") or {}
    if model:
        parameters = model.get("parameters")
        count = f"{parameters:,} parameters" if isinstance(parameters, int) else "? parameters"
        layers = model.get("layers") or []
        rows.append(("model", f"{model.get('class')} · {count} · {len(layers)} layers", model.get("location")))
    opt = s.get("optimizer") or {}
    if opt:
        hyper = opt.get("hyperparameters") or {}
        shown = [f"lr={hyper['lr']:g}"] if _finite(hyper.get("lr")) else []
        for key in ("momentum", "weight_decay"):
            if _finite(hyper.get(key)) and hyper[key]:
                shown.append(f"{key}={hyper[key]:g}")
        rows.append(("optimizer", f"{opt.get('class')}({', '.join(shown)})", opt.get("location")))
    loss = s.get("loss") or {}
    if loss:
        text = str(loss.get("name"))
        if loss.get("transform") not in (None, "identity"):
            text += f" (on {loss['transform']} of the output)"
        rows.append(("loss", text, loss.get("location")))
    data = s.get("data") or {}
    if data:
        rows.append(("data", data_line(data), data.get("location")))
    final = s.get("final_activation")
    if final:
        lo, hi = (final.get("range") or [None, None])[:2]
        rng = f"{'(-∞' if lo is None else f'[{lo:.3g}'}, {'∞)' if hi is None else f'{hi:.3g}]'}"
        rows.append(("output", f"{final.get('kind')} → range {rng}", final.get("location")))
    body = "".join(
        f'<tr><th>{_e(name)}</th><td>{_e(text)}</td><td class="where">{_where(loc)}</td></tr>'
        for name, text, loc in rows
    )
    return f'<h2>Setup</h2>\n<table class="setup"><tbody>{body}</tbody></table>'


def _header(report: Report) -> str:
    training = report.training
    meta = [f"fitdoctor {report.version}", f"status {report.status}"]
    steps = training.get("steps_captured")
    if steps:
        meta.append(f"{steps} steps captured")
    replay_steps = (training.get("replay") or {}).get("steps")
    if replay_steps:
        meta.append(f"{replay_steps} replay steps")
    meta.append(f"seed {report.seed}")
    timing = ""
    total = report.timings.get("total_s")
    if _finite(total):
        phases = [
            f"{k.removesuffix('_s')} {v:.1f} s" for k, v in report.timings.items() if k != "total_s" and _finite(v)
        ]
        timing = f"checked in {total:.1f} s" + (f" ({', '.join(phases)})" if phases else "")
    spans = "".join(f"<span>{_e(m)}</span>" for m in meta)
    out = f'<header>\n<h1>fitdoctor report: <code>{_e(report.script)}</code></h1>\n<p class="meta">{spans}</p>'
    if timing:
        out += f'\n<p class="meta"><span>{_e(timing)}</span></p>'
    if training.get("stop_reason"):
        out += f'\n<p class="meta"><span>{_e(training["stop_reason"])}</span></p>'
    return out + "\n</header>"


def _verdict(report: Report) -> str:
    if report.status != "ok":
        error = report.error or {}
        reason = error.get("message") or (report.findings[0].message if report.findings else report.status)
        return (
            f'<p class="verdict bad">The check could not run ({_e(report.status)}). '
            f'<span class="sub">{_e(one_line(str(reason)))}</span></p>'
        )
    if not report.findings:
        steps = report.training.get("steps_captured")
        after = f" in {steps} captured training steps" if steps else ""
        return f'<p class="verdict ok">✔ No problems found<span class="sub">{_e(after)}.</span></p>'
    n = counts(report)
    confirmed = sum(1 for f in report.findings if f.confidence == "confirmed")
    verified = sum(1 for f in report.findings if f.fix is not None and f.fix.verified)
    tail = f"{confirmed} confirmed" + (f", {verified} with a fix verified by replay" if verified else "")
    css = "bad" if n["error"] else "warn"
    return f'<p class="verdict {css}">{_e(summary(report))} <span class="sub">· {_e(tail)}.</span></p>'


def _evidence(evidence: dict[str, Any]) -> str:
    """Evidence values as a definition list: numbers and short texts, nested tables flattened with dotted keys."""
    items: list[tuple[str, str]] = []

    def add(key: str, value: Any, depth: int) -> None:
        if isinstance(value, bool):
            items.append((key, "yes" if value else "no"))
        elif isinstance(value, int):
            items.append((key, str(value)))
        elif isinstance(value, float):
            items.append((key, number(value) if math.isfinite(value) else str(value)))
        elif isinstance(value, str) and len(value) <= 80 and "\n" not in value:
            items.append((key, value))
        elif isinstance(value, dict) and depth < 2:
            for k, v in value.items():
                add(f"{key}.{k}", v, depth + 1)
        elif isinstance(value, (list, tuple)) and 0 < len(value) <= 6 and all(_finite(v) for v in value):
            items.append((key, "[" + ", ".join(number(float(v)) for v in value) + "]"))

    for key, value in evidence.items():
        add(str(key), value, 0)
    if not items:
        return ""
    more = len(items) - EVIDENCE_LIMIT
    rows = "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in items[:EVIDENCE_LIMIT])
    if more > 0:
        rows += f"<div><dt>… {more} more in the JSON report</dt><dd></dd></div>"
    return f'<dl class="evidence">{rows}</dl>'


def _verification(fix: Fix) -> str:
    measure = "error rate" if fix.metric.startswith("error rate") else "loss"
    text = f"{measure} {number(fix.before)} → {number(fix.after)} after {fix.steps} replay steps"
    if fix.before and fix.after is not None and fix.before > 0 and math.isfinite(fix.before):
        text += f" ({fix.after / fix.before:.2g}× the baseline)"
    check = (
        '<span class="check yes">✔ verified</span>' if fix.verified else '<span class="check no">not verified</span>'
    )
    return f'<p class="verification">{check} {_e(text)}</p>'


def _fix(report: Report, finding: Finding, index: int) -> str:
    fix = finding.fix
    if fix is None:
        return ""
    where = ""
    if fix.location and fix.location.path and (not finding.location or fix.location.line != finding.location.line):
        where = f' <span class="meta">at <code>{_e(fix.location.path)}:{fix.location.line}</code></span>'
    parts = [
        f"<h4>Fix: {_e(fix.title)}{where}</h4>",
        f'<pre class="snippet"><code>{_e(fix.snippet.rstrip())}</code></pre>',
        _verification(fix),
    ]
    if fix.metric:
        parts.append(f'<p class="meta">measured as {_e(fix.metric)}</p>')
    if fix.note:
        parts.append(f'<p class="meta">note: {_e(fix.note)}</p>')
    if finding.alternatives:
        tried = "; ".join(
            f"{a.title} ({'verified' if a.verified else 'not verified'}: {number(a.before)} → {number(a.after)})"
            for a in finding.alternatives
        )
        parts.append(f'<p class="meta">also tried: {_e(tried)}</p>')
    chart = fix_chart(report, fix, f"fix-{index}")
    body = "\n".join(parts)
    if chart:
        body = f'<div class="fixrow"><div>{body}</div>\n{chart}</div>'
    return f'<div class="fix{" verified" if fix.verified else ""}">\n{body}\n</div>'


def _finding(report: Report, f: Finding, index: int, catalog: dict[str, RuleDoc], explain: bool) -> str:
    doc = catalog.get(f.code)
    title = f' <span class="rtitle">· {_e(doc.title)}</span>' if doc else ""
    parts = [
        f'<article class="finding {_e(f.severity)}" id="finding-{index}">',
        f'<h3><span class="badge {_e(f.severity)}">{SEVERITY_ICON.get(f.severity, "")} {_e(f.severity)}</span>'
        f'<span class="code">{_e(f.code)}</span><span class="slug">{_e(f.rule)}</span>{title}'
        f'<span class="conf {_e(f.confidence)}">{_e(f.confidence)}</span></h3>',
    ]
    if f.location:
        parts.append(f'<p class="loc"><code>{_e(f.location.path)}:{f.location.line}</code></p>')
        if f.location.source:
            parts.append(f'<pre class="source"><code>{f.location.line:>4} │ {_e(f.location.source)}</code></pre>')
    parts.append(f'<p class="message">{_e(one_line(f.message).rstrip("."))}.</p>')
    extra = []
    if f.module:
        extra.append(f"<span>module <code>{_e(f.module)}</code></span>")
    if f.caused_by:
        links = ", ".join(
            f'<a href="#finding-{i}">{_e(c)}</a>' if (i := _index_of(report, c)) is not None else _e(c)
            for c in f.caused_by
        )
        extra.append(f"<span>caused by {links}</span>")
    if extra:
        parts.append(f'<p class="meta">{"".join(extra)}</p>')
    evidence = {k: v for k, v in f.evidence.items() if k != "traceback"}
    parts.append(_evidence(evidence))
    parts.append(_fix(report, f, index))
    if explain and doc is not None:
        why = doc.why.strip().split("\n\n")[0]
        parts.append(f'<div class="explain"><h4>Why it matters</h4><p>{_e(one_line(why))}</p></div>')
    parts.append("</article>")
    return "\n".join(p for p in parts if p)


def _index_of(report: Report, code: str) -> int | None:
    return next((i for i, f in enumerate(report.findings) if f.code == code), None)


def _figure(svg: str, caption: str, hint: str, wide: bool = False) -> str:
    if not svg:
        return ""
    cls = ' class="wide"' if wide else ""
    hint_html = f' <span class="hint">{_e(hint)}</span>' if hint else ""
    return f"<figure{cls}><figcaption>{_e(caption)}{hint_html}</figcaption>\n{svg}\n</figure>"


def _plots(report: Report) -> str:
    replay = report.training.get("replay") or {}
    steps = replay.get("steps")
    hint = "each fix replayed from the same initial weights and batches" + (f" for {steps} steps" if steps else "")
    fit_hint = "grey dashed: at init · red: your setup after training · green: verified fixes"
    figures = [
        _figure(loss_chart(report), "Loss curves", hint, wide=True),
        _figure(fit_chart(report), "Fit", fit_hint, wide=True),
    ]
    layers = [
        _figure(share_chart(report, "dead"), "Dead units", "share of units that never activate"),
        _figure(share_chart(report, "saturated"), "Saturated units", "share of units stuck in a flat region"),
        _figure(gradient_chart(report), "Gradient norms", "weight-gradient norm per layer, forward order"),
    ]
    out = []
    if any(figures):
        out.append('<h2>Training</h2>\n<div class="plots">' + "\n".join(f for f in figures if f) + "</div>")
    if any(layers):
        out.append('<h2>Layers</h2>\n<div class="plots">' + "\n".join(f for f in layers if f) + "</div>")
    return "\n".join(out)


def _suppressed(report: Report) -> str:
    if not report.suppressed:
        return ""
    items = "".join(
        f"<li><b>{_e(f.code)}</b> {_e(f.rule)}"
        + (f" at <code>{_e(f.location.path)}:{f.location.line}</code>" if f.location else "")
        + "</li>"
        for f in report.suppressed
    )
    return f'<h2>Suppressed</h2>\n<ul class="meta">{items}</ul>'


def render(report: Report, catalog: dict[str, RuleDoc], explain: bool = False) -> str:
    """The report as one self-contained HTML page.

    Args:
        report: The report to render.
        catalog: The rule catalog by code, for the rules' titles and explanations.
        explain: Whether to add each rule's explanation (the first paragraph of its ``why``).

    Returns:
        The HTML document, ending with a line break.
    """
    body = [_header(report), _verdict(report)]
    if report.status != "ok":
        body.append("<h2>Findings</h2>")
        body += [_finding(report, f, i, catalog, explain) for i, f in enumerate(report.findings)]
        traceback = (report.error or {}).get("traceback")
        if traceback:
            body.append(f'<h2>Traceback</h2>\n<pre class="traceback"><code>{_e(str(traceback).rstrip())}</code></pre>')
        body.append(_plots(report))
    else:
        body += [_setup(report), _plots(report)]
        if report.findings:
            body.append("<h2>Findings</h2>")
            body += [_finding(report, f, i, catalog, explain) for i, f in enumerate(report.findings)]
        body.append(_suppressed(report))
    body.append(
        f"<footer>Generated by fitdoctor {_e(report.version)} · {_e(summary(report))} "
        "· self-contained: no scripts, no external resources.</footer>"
    )
    main = "\n".join(part for part in body if part)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>fitdoctor: {_e(report.script)}</title>\n"
        f"<style>{CSS}</style>\n</head>\n<body>\n<main>\n{main}\n</main>\n</body>\n</html>\n"
    )
