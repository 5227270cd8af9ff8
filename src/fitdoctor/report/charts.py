"""Small text charts for the terminal: sparklines, bars, line charts and per-layer bars, with an ASCII fallback.

Line charts draw with Unicode braille dots (U+2800 block: 2×4 dots per character cell, so a 60-column chart
has 120 dots across); with ``ascii_only`` each series gets its own marker character on a plain character
grid. Every chart is a list of :class:`rich.text.Text` lines that fit the width asked for.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich.text import Text

from fitdoctor.report.figures import FitFigure, LayerBar

BLOCKS = "▁▂▃▄▅▆▇█"
ASCII_BLOCKS = "_.-=+*#@"
#: Colours given to line-chart series in order.
PALETTE = ("blue", "red", "green", "magenta", "cyan", "yellow")
#: ASCII markers given to line-chart series in order.
MARKERS = "*ox#%@&+"
#: Braille dot bits by [dot row][dot column] within a cell.
_DOTS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
_EIGHTHS = " ▏▎▍▌▋▊▉█"

#: An (x, y) point; a y of None is a gap (a diverged loss).
Point = tuple[float, float | None]


def sparkline(
    values: Sequence[float | None], low: float, high: float, width: int = 24, ascii_only: bool = False
) -> str:
    """A one-line chart of ``values`` scaled to [low, high] (log scale when the span is wide).

    None (a diverged loss) is drawn as ``×`` (``x`` in ASCII).
    """
    chars = ASCII_BLOCKS if ascii_only else BLOCKS
    pts = _resample(list(values), width)
    use_log = low > 0 and high / low > 50
    lo, hi = (math.log10(low), math.log10(high)) if use_log else (low, high)
    out = []
    for v in pts:
        if v is None or not math.isfinite(v):
            out.append("x" if ascii_only else "×")
            continue
        x = math.log10(v) if use_log and v > 0 else (lo if use_log else v)
        t = 0.0 if hi <= lo else (x - lo) / (hi - lo)
        out.append(chars[min(len(chars) - 1, max(0, round(t * (len(chars) - 1))))])
    return "".join(out)


def _resample(values: list[float | None], width: int) -> list[float | None]:
    if len(values) <= width:
        return values
    step = len(values) / width
    return [values[min(len(values) - 1, int(i * step))] for i in range(width)]


def bar(share: float, width: int = 10, ascii_only: bool = False) -> str:
    """A horizontal bar for a share in [0, 1] (in eighths of a cell unless ``ascii_only``)."""
    share = max(0.0, min(1.0, share))
    if ascii_only:
        filled = round(share * width)
        return "#" * filled + "." * (width - filled)
    eighths = round(share * width * 8)
    full, part = divmod(eighths, 8)
    text = "█" * full + (_EIGHTHS[part] if part else "")
    return text + "░" * (width - len(text))


def fmt(v: float | None) -> str:
    """A number in at most about 7 characters (``-`` for none, ``inf``/``nan`` as such)."""
    if v is None:
        return "-"
    if not math.isfinite(v):
        return str(v)
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e4 or a < 1e-3:
        return f"{v:.2g}".replace("e+0", "e").replace("e-0", "e-").replace("e+", "e")
    return f"{v:.3g}"


# -- line charts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """One series of a line chart.

    Attributes:
        name: The legend's name for it.
        points: (x, y) pairs in drawing order; a y of None (or non-finite) breaks the line.
        style: A rich style (its colour).
        marker: The ASCII character that draws it.
        lines: Join consecutive points (else a scatter of dots).
        label: Name the end of the line at the chart's right edge.
    """

    name: str
    points: Sequence[Point]
    style: str
    marker: str
    lines: bool = True
    label: bool = True


def line_chart(
    series: dict[str, list[tuple[float, float | None]]],
    width: int = 72,
    height: int = 12,
    log_y: bool | None = None,
    ascii_only: bool = False,
    styles: dict[str, str] | None = None,
    x_label: str = "",
    y_label: str = "",
) -> list[Text]:
    """Several named series on one chart with shared axes.

    The y axis is logarithmic when ``log_y`` is True, or, when None, when all values are positive and span
    more than 50×. None values (a diverged loss) leave gaps. The chart has a y axis with three labelled ticks,
    an x axis labelled at both ends and the middle, each line's name at its end, and a legend line.

    Args:
        series: Name -> (x, y) points.
        width: Columns of the whole chart, labels included.
        height: Rows of the plot area.
        log_y: Force a log (True) or linear (False) y axis; None decides from the values.
        ascii_only: Draw with one ASCII marker per series (``*``, ``o``, ``+``, ``x``...) instead of braille.
        styles: Name -> rich style, overriding the default palette for some series.
        x_label: Name of the x axis, after its last label (e.g. ``step``).
        y_label: Name of the y axis, above the chart (e.g. ``loss``).

    Returns:
        The chart's lines.
    """
    styles = styles or {}
    items = [
        Series(name, pts, styles.get(name, PALETTE[i % len(PALETTE)]), MARKERS[i % len(MARKERS)])
        for i, (name, pts) in enumerate(series.items())
    ]
    return plot(items, width, height, log_y, ascii_only, x_label, y_label)


def plot(
    items: Sequence[Series],
    width: int = 72,
    height: int = 12,
    log_y: bool | None = None,
    ascii_only: bool = False,
    x_label: str = "",
    y_label: str = "",
    y_range: tuple[float, float] | None = None,
) -> list[Text]:
    """Draw :class:`Series` on one chart with shared axes (the engine behind :func:`line_chart` and
    :func:`fit_chart`).

    Series are drawn in order: where two meet in a character cell, the dots of both show in the later one's
    colour (in ASCII, the later one's marker).

    Args:
        items: The series, bottom to top.
        width: Columns of the whole chart, labels included.
        height: Rows of the plot area.
        log_y: Force a log (True) or linear (False) y axis; None: log when all values are positive and span
            more than 50×.
        ascii_only: One ASCII marker per series instead of braille dots.
        x_label: Name of the x axis, after its last tick.
        y_label: Name of the y axis, above the chart.
        y_range: Fixed (low, high) of the y axis; points outside it are left out.

    Returns:
        The chart's lines.
    """
    finite = [(x, y) for s in items for x, y in s.points if y is not None and math.isfinite(x) and math.isfinite(y)]
    xs, ys = [x for x, _ in finite], [y for _, y in finite]
    if log_y is None:
        log_y = bool(ys) and min(ys) > 0 and max(ys) / min(ys) > 50
    if log_y:
        ys = [y for y in ys if y > 0]
    if not xs or not ys:
        return [Text("(nothing to draw: no finite values)", style="dim")]
    sub_x, sub_y = (1, 1) if ascii_only else (2, 4)
    scale = _YScale(*(y_range or (min(ys), max(ys))), log_y, height * sub_y)
    labels = _y_labels(scale, height, sub_y)
    label_w = max(len(s) for s in labels.values())
    ends = [s for s in items if s.lines and s.label]
    margin = min(width // 4, max((len(s.name) for s in ends), default=0) + 1) if ends else 0
    canvas = _Canvas(max(8, width - label_w - 2 - margin), height, sub_x, sub_y, min(xs), max(xs), ascii_only)
    end_rows = [row for s in items if (row := canvas.draw(s, scale, s in ends)) is not None]
    right = _place_labels(end_rows, height)
    lines: list[Text] = []
    head = " ".join(p for p in (y_label, "(log scale)" if log_y else "") if p)
    if head:
        lines.append(Text(head, style="dim"))
    for r in range(height):
        tick = "|" if ascii_only else ("┤" if r in labels else "│")
        line = Text(no_wrap=True, overflow="crop")
        line.append(f"{labels.get(r, ''):>{label_w}} {tick}", style="dim")
        canvas.render_row(line, r)
        end = right.get(r)
        if end is not None:
            name = end.name if len(end.name) <= margin - 1 else end.name[: margin - 2] + ("~" if ascii_only else "…")
            line.append(" " + name, style=end.style)
        lines.append(line)
    lines.extend(_x_axis(canvas.x0, canvas.x1, canvas.cols, sub_x, label_w + 2, ascii_only, x_label))
    lines.extend(_legend(items, width, label_w + 2, ascii_only))
    return lines


class _YScale:
    """Maps values to pixel rows (0 at the top) on a linear or log axis from ``lo`` to ``hi``."""

    def __init__(self, lo: float, hi: float, log_y: bool, px_h: int) -> None:
        self.log_y, self.px_h = log_y, px_h
        tlo, thi = self.t(lo), self.t(hi)
        if thi <= tlo:
            pad = 0.5 if log_y else max(abs(tlo) * 0.1, 1e-9)
            tlo, thi = tlo - pad, thi + pad
        self.tlo, self.thi = tlo, thi

    def t(self, v: float) -> float:
        return math.log10(v) if self.log_y else v

    def row(self, y: float) -> int | None:
        """The pixel row of ``y``; None outside the axis (or not positive on a log axis)."""
        if self.log_y and y <= 0:
            return None
        t = (self.t(y) - self.tlo) / (self.thi - self.tlo)
        if t < -1e-9 or t > 1 + 1e-9:
            return None
        return round((1 - min(1.0, max(0.0, t))) * (self.px_h - 1))

    def raw_row(self, y: float) -> float:
        return (1 - (self.t(y) - self.tlo) / (self.thi - self.tlo)) * (self.px_h - 1)

    def value_at(self, py: float) -> float:
        v = self.thi - min(max(py, 0), self.px_h - 1) / max(self.px_h - 1, 1) * (self.thi - self.tlo)
        return 10**v if self.log_y else v


def _y_labels(scale: _YScale, height: int, sub_y: int) -> dict[int, str]:
    """Tick labels by character row: the top, the bottom and, on charts of 5 rows or more, a round value
    near the middle (zero when the axis crosses it)."""
    labels = {0: fmt(scale.value_at(0)), height - 1: fmt(scale.value_at(scale.px_h - 1))}
    if height >= 5:
        mid = (height - 1) // 2
        nice = _roundest(scale.value_at((mid + 2) * sub_y - 0.5), scale.value_at((mid - 1) * sub_y - 0.5))
        if not scale.log_y and scale.tlo < 0 < scale.thi and 2 <= round(scale.raw_row(0.0)) // sub_y <= height - 3:
            nice = 0.0  # a zero line, when there is one, says most
        row = mid if nice is None else min(height - 2, max(1, round(scale.raw_row(nice)) // sub_y))
        labels[row] = fmt(scale.value_at(row * sub_y + (sub_y - 1) / 2) if nice is None else nice)
    return labels


class _Canvas:
    """Braille (or ASCII) cells: which dots are set, and which series drew each cell last."""

    def __init__(self, cols: int, height: int, sub_x: int, sub_y: int, x0: float, x1: float, ascii_only: bool):
        self.cols, self.height, self.sub_x, self.sub_y = cols, height, sub_x, sub_y
        self.x0, self.x1, self.ascii_only = x0, x1, ascii_only
        self.px_w = cols * sub_x
        self.bits = [[0] * cols for _ in range(height)]
        self.owner: list[list[Series | None]] = [[None] * cols for _ in range(height)]

    def column(self, x: float) -> int:
        return self.px_w // 2 if self.x1 <= self.x0 else round((x - self.x0) / (self.x1 - self.x0) * (self.px_w - 1))

    def dot(self, px: int, py: int, s: Series) -> None:
        r, c = py // self.sub_y, px // self.sub_x
        if 0 <= r < self.height and 0 <= c < self.cols:
            self.bits[r][c] |= _DOTS[py % self.sub_y][px % self.sub_x] if not self.ascii_only else 1
            self.owner[r][c] = s

    def draw(self, s: Series, scale: _YScale, labelled: bool) -> tuple[int, Series] | None:
        """Draw one series; returns the character row of its end label when it has one (a labelled line that
        reaches the right edge)."""
        prev: tuple[int, int] | None = None
        last: int | None = None
        prev_x = self.x0
        for x, y in s.points:
            py = scale.row(y) if y is not None and math.isfinite(x) and math.isfinite(y) else None
            if py is None:
                prev = None
                continue
            p = (self.column(x), py)
            for q in _segment(prev, p) if s.lines and prev else [p]:
                self.dot(*q, s)
            prev, last, prev_x = p, py, x
        if labelled and last is not None and prev_x >= self.x0 + 0.9 * (self.x1 - self.x0):
            return last // self.sub_y, s
        return None

    def render_row(self, line: Text, r: int) -> None:
        for c in range(self.cols):
            who = self.owner[r][c]
            if who is None:
                line.append(" ")
            else:
                line.append(who.marker if self.ascii_only else chr(0x2800 + self.bits[r][c]), style=who.style)


def _finite(v: float | None) -> bool:
    return v is not None and math.isfinite(v)


def _roundest(a: float, b: float) -> float | None:
    """The number in [a, b] with the fewest significant digits (None if a > b)."""
    a, b = min(a, b), max(a, b)
    if a <= 0 <= b:
        return 0.0
    top = max(abs(a), abs(b))
    for k in range(math.floor(math.log10(top)), math.floor(math.log10(top)) - 8, -1):
        for step in (10.0**k, 5 * 10.0 ** (k - 1), 2 * 10.0 ** (k - 1)):
            v = math.ceil(a / step) * step
            if v <= b:
                return float(f"{v:.12g}")
    return None


def _segment(a: tuple[int, int] | None, b: tuple[int, int]) -> Iterable[tuple[int, int]]:
    """The dots of a straight line from ``a`` to ``b`` (Bresenham), ``a`` left out."""
    if a is None:
        yield b
        return
    (x, y), (x1, y1) = a, b
    dx, dy = abs(x1 - x), -abs(y1 - y)
    sx, sy = (1 if x1 > x else -1), (1 if y1 > y else -1)
    err = dx + dy
    while (x, y) != (x1, y1):
        e2 = 2 * err
        if e2 >= dy:
            err += dy
            x += sx
        if e2 <= dx:
            err += dx
            y += sy
        yield x, y


def _place_labels(wanted: list[tuple[int, Series]], height: int) -> dict[int, Series]:
    """Give each line's end label the free row nearest its last point."""
    placed: dict[int, Series] = {}
    for row, s in reversed(wanted):  # the line drawn last (on top) gets its own row first
        for d in range(height):
            for r in (row + d, row - d):
                if 0 <= r < height and r not in placed:
                    placed[r] = s
                    break
            else:
                continue
            break
    return placed


def _x_axis(x0: float, x1: float, cols: int, sub_x: int, indent: int, ascii_only: bool, name: str) -> list[Text]:
    """The x axis under the plot: ticks at both ends and at the roundest x near the middle, then their labels."""
    px_w = cols * sub_x

    def x_at(px: float) -> float:
        return x0 if px_w <= 1 else x0 + (x1 - x0) * px / (px_w - 1)

    mid = (cols - 1) // 2
    nice = _roundest(x_at((mid - 1) * sub_x), x_at((mid + 2) * sub_x - 1)) if x1 > x0 else None
    mid_col = mid if nice is None else round((nice - x0) / (x1 - x0) * (px_w - 1)) // sub_x
    integer = float(x0).is_integer() and float(x1).is_integer() and x1 - x0 >= cols / 2
    ticks = {0: x0, cols - 1: x1}
    ticks.setdefault(mid_col, x_at(mid * sub_x) if nice is None else nice)
    axis = ["-" if ascii_only else "─"] * cols
    row = [" "] * cols
    for c, x in sorted(ticks.items(), key=lambda cx: cx[0] not in (0, cols - 1)):
        axis[c] = "+" if ascii_only else "┬"
        label = str(round(x)) if integer else fmt(x)
        start = 0 if c == 0 else cols - len(label) if c == cols - 1 else c - len(label) // 2
        start = max(0, min(start, cols - len(label)))
        if all(ch == " " for ch in row[max(0, start - 1) : start + len(label) + 1]):
            row[start : start + len(label)] = label
    corner = "+" if ascii_only else "└"
    line = " " * (indent - 1) + corner + "".join(axis) + (" " + name if name else "")
    return [Text(line, style="dim"), Text(" " * indent + "".join(row).rstrip(), style="dim")]


def _legend(items: Sequence[Series], width: int, indent: int, ascii_only: bool) -> list[Text]:
    lines = [Text(" " * indent)]
    for s in items:
        key = s.marker if ascii_only else ("━━" if s.lines else "⠂⠂")
        entry = Text()
        entry.append(key, style=s.style)
        entry.append(" " + s.name)
        if len(lines[-1]) > indent and len(lines[-1]) + 3 + len(entry) > width:
            lines.append(Text(" " * indent))
        if len(lines[-1]) > indent:
            lines[-1].append("   ")
        lines[-1].append_text(entry)
    return lines


# -- fit -------------------------------------------------------------------------------------------


def fit_chart(fig: FitFigure, width: int = 72, height: int = 14, ascii_only: bool = False) -> list[Text]:
    """The data and the model's fitted curves over the input x (regression on one feature).

    The data points are dots; the curve at initialisation is dim, the baseline replay's red and each
    fix's green (then cyan, magenta...). The y axis spans the data (and curves within twice the data's
    span of it).

    Args:
        fig: The fit figure (:func:`fitdoctor.report.figures.fit_figure`).
        width: Columns of the whole chart.
        height: Rows of the plot area.
        ascii_only: ASCII markers instead of braille dots.

    Returns:
        The chart's lines.
    """
    data = list(fig.data)
    ys = [y for _, y in data] + [v for line in fig.lines for _, v in line.points if v is not None and _finite(v)]
    data_ys = [y for _, y in data] or ys
    if not ys:
        return [Text("(nothing to draw: no finite values)", style="dim")]
    dlo, dhi = min(data_ys), max(data_ys)
    span = (dhi - dlo) or max(abs(dhi), 1.0)
    lo, hi = max(min(ys), dlo - span), min(max(ys), dhi + span)
    # drawn bottom to top, where two meet in a cell the later one's colour shows: the data (thinned to about
    # one point per column so that a curve through them still shows) over the fixes, the baseline over all
    thin = max(1, math.ceil(len(data) / max(width // 2, 1)))
    items: list[Series] = []
    fixes = iter(("green", "cyan", "magenta", "yellow", "blue"))
    fix_marks = iter("x#%&@")
    for line in fig.lines:
        if line.role == "init":
            items.insert(0, Series("init", list(line.points), "dim", "-"))
        elif line.role == "fix":
            items.append(Series(line.key, list(line.points), next(fixes, "green"), next(fix_marks, "+")))
    items.append(Series("data", data[::thin], "bold", "." if ascii_only else "⠂", lines=False, label=False))
    for line in fig.lines:
        if line.role == "baseline":
            items.append(Series("baseline", list(line.points), "red", "o"))
    return plot(items, width, height, log_y=False, ascii_only=ascii_only, x_label="x", y_range=(lo, hi))


# -- per-layer bars --------------------------------------------------------------------------------


def _log_bar(v: float | None, lo: float, hi: float, width: int, ascii_only: bool) -> str:
    """A bar whose length grows with log10(v) between ``lo`` (a sliver) and ``hi`` (full)."""
    if v is None or not math.isfinite(v) or v <= 0:
        return " " * width
    t = (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
    share = (1 + max(0.0, min(1.0, t)) * (width * 8 - 1)) / (width * 8)
    if ascii_only:
        return ("#" * max(1, round(share * width))).ljust(width)
    return bar(share, width).replace("░", " ")


def _log_range(values: Iterable[float | None]) -> tuple[float, float]:
    pos = [v for v in values if v is not None and math.isfinite(v) and v > 0]
    if not pos:
        return 1.0, 10.0
    lo, hi = min(pos), max(pos)
    if hi / lo < 10:
        lo = hi / 10
    return lo, hi


def layer_bars(
    rows: Sequence[LayerBar],
    width: int = 78,
    ascii_only: bool = False,
    share_limit: float = 0.5,
    scale_band: tuple[float, float] = (0.1, 10.0),
    grad_share: float = 0.01,
) -> list[Text]:
    """A per-layer table of bars: each layer's name, then a row at init and a row after the short training.

    Columns: the share of dead units and of saturated units, the pre-activation standard deviation and the
    weight-gradient norm (both on a log scale shared by the column). A value that signals trouble is red and
    marked ``!``: a share above ``share_limit``, a pre-activation std outside ``scale_band``, a gradient norm
    below ``grad_share`` of the largest layer's at the same time.

    Args:
        rows: The layer figure's rows (:func:`fitdoctor.report.figures.layer_figure`).
        width: Columns of the table.
        ascii_only: ``#``/``.`` bars instead of block characters.
        share_limit: Dead or saturated share that is flagged.
        scale_band: Pre-activation std range that is not flagged.
        grad_share: Gradient norm, as a share of the largest one, below which it is flagged.

    Returns:
        The table's lines.
    """
    if not rows:
        return []
    label_w = 7
    col_w = max(12, min(18, (width - label_w) // 4 - 2))
    bar_w = col_w - 9
    std_lo, std_hi = _log_range(v for r in rows if r.preact_std for v in r.preact_std)
    g_lo, g_hi = _log_range(v for r in rows for v in r.grad)
    g_max = [max([g for r in rows if (g := r.grad[i]) is not None and math.isfinite(g)], default=0.0) for i in (0, 1)]

    def cell(text: str, value: str, bad: bool) -> Text:
        out = Text("  ")
        out.append(text, style="red" if bad else "")
        out.append(f" {value:>7}", style="bold red" if bad else "dim")
        out.append("!" if bad else " ", style="bold red")
        return out

    def share(v: float | None) -> Text:
        return (
            Text(f"  {'-':>{col_w}}", style="dim")
            if v is None
            else cell(bar(v, bar_w, ascii_only), f"{v:.0%}", v > share_limit)
        )

    head = Text(" " * label_w, style="dim", no_wrap=True, overflow="crop")
    for column in ("dead units", "saturated", "pre-act std", "grad norm"):
        head.append(f"  {column:<{col_w}}", style="dim")
    lines = [head]
    for r in rows:
        title = Text(r.name, style="bold", no_wrap=True, overflow="crop" if ascii_only else "ellipsis")
        if r.units:
            title.append(f" {'-' if ascii_only else '·'} {r.units} unit{'s' * (r.units != 1)}", style="dim")
        lines.append(title)
        for i, phase in enumerate(("init", "after")):
            line = Text(f"  {phase:<{label_w - 2}}", style="dim", no_wrap=True, overflow="crop")
            if r.preact_std is None:
                line.append(" " * (col_w + 2) * 3)
            else:
                for kind in ("dead", "saturated"):
                    measured = r.shares.get(kind)
                    line.append_text(share(None if measured is None else (measured.init, measured.after)[i]))
                std = r.preact_std[i]
                bad = std is not None and not (scale_band[0] <= std <= scale_band[1])
                line.append_text(cell(_log_bar(std, std_lo, std_hi, bar_w, ascii_only), fmt(std), bad))
            g = r.grad[i]
            bad = g is not None and (not math.isfinite(g) or g < grad_share * g_max[i])
            line.append_text(cell(_log_bar(g, g_lo, g_hi, bar_w, ascii_only), fmt(g), bad))
            line.rstrip()
            lines.append(line)
    lines.append(
        Text(
            f"! marks trouble: over {share_limit:.0%} of the units dead or saturated, pre-activation std outside "
            f"{fmt(scale_band[0])}-{fmt(scale_band[1])}, gradient under {grad_share:.0%} of the largest layer's. "
            "Scale and gradient bars are log-scaled.",
            style="dim",
        )
    )
    return lines
