"""The rich terminal report: the setup at a glance, then findings, fixes and their measurements."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.padding import Padding
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from fitdoctor.catalog import rule_doc
from fitdoctor.errors import UsageError
from fitdoctor.findings import Finding, Fix, Report
from fitdoctor.location import Location
from fitdoctor.report.charts import fit_chart, layer_bars, line_chart, sparkline
from fitdoctor.report.concise import data_line, files_sentences, number, stopped_at
from fitdoctor.report.explain import explain as explain_finding
from fitdoctor.report.explain import to_ascii
from fitdoctor.report.figures import LossFigure, fit_figure, layer_figure, loss_figure, replay_figure
from fitdoctor.report.patch import patch_line
from fitdoctor.summary import LoopSummary

STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
#: Widest a picture gets, whatever the terminal's width (its 2-column indent comes on top).
CHART_WIDTH = 78
#: Line colours of the loss chart; verified fixes take FIX_STYLES in order, the others are dim.
LOSS_STYLES = {"your loop": "bright_blue", "baseline": "red"}
FIX_STYLES = ("green", "cyan", "magenta", "yellow")
MARK = {"error": "✖", "warning": "▲", "info": "●"}
ASCII_MARK = {"error": "x", "warning": "!", "info": "i"}


def _loc(location: Location | None) -> str:
    """``file:line`` with the file's base name: the report's header names the script's folder."""
    return f"{location.path.rsplit('/', 1)[-1]}:{location.line}" if location else ""


def setup_table(report: Report) -> Table:
    """The captured setup in one glance."""
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold", no_wrap=True)
    t.add_column(ratio=1)
    t.add_column(style="dim", no_wrap=True, justify="right")
    s = report.setup
    if s is None:
        return t
    model, opt = s.model, s.optimizer
    t.add_row(
        "model", f"{model.cls} · {model.parameters:,} parameters · {len(model.layers)} layers", _loc(model.location)
    )
    lr = opt.hyperparameters.get("lr")
    t.add_row(
        "optimizer",
        f"{opt.cls}(lr={lr:g})" if isinstance(lr, (int, float)) else opt.cls,
        _loc(opt.location),
    )
    t.add_row("loss", s.loss.name, _loc(s.loss.location))
    t.add_row("data", data_line(s.data), _loc(s.data.location))
    final = s.final_activation
    if final:
        lo, hi = final.low, final.high
        rng = f"{'(-∞' if lo is None else f'[{lo:.3g}'}, {'∞)' if hi is None else f'{hi:.3g}]'}"
        t.add_row("output", f"{final.kind} → range {rng}", _loc(final.location))
    return t


def _curves(report: Report, fix: Fix, ascii_only: bool) -> Text | None:
    figure = replay_figure(report, fix)
    if figure is None:
        return None
    base, fixed = (line.points for line in figure.lines)
    steps = {step for step, _ in fixed}
    if steps <= {step for step, _ in base}:
        base = tuple((step, v) for step, v in base if step in steps)  # the same steps, so the two lines align
    values = [v for _, v in base + fixed if v is not None and v > 0]
    if not values:
        return None
    lo, hi = min(values), max(values)
    text = Text()
    text.append("baseline ", style="dim")
    text.append(sparkline([v for _, v in base], lo, hi, ascii_only=ascii_only), style="red")
    text.append("   with fix ", style="dim")
    text.append(sparkline([v for _, v in fixed], lo, hi, ascii_only=ascii_only), style="green")
    return text


def finding_block(report: Report, f: Finding, ascii_only: bool = False, explain: bool = False) -> RenderableType:
    """One finding: headline, message (with its explanation when ``explain``), evidence, fix and its
    verification."""
    marks = ASCII_MARK if ascii_only else MARK
    head = Text()
    head.append(f"{marks[f.severity]} {f.code} {f.rule}", style=STYLE[f.severity])
    head.append(f"  {f.severity} · {f.confidence}", style="dim")
    if f.location:
        head.append(f"  {f.location.path}:{f.location.line}", style="bold")
    parts: list[RenderableType] = [head, Padding(Text(f.message + "."), (0, 0, 0, 2))]
    if explain:
        text = _explanation(f)
        if text:
            parts.append(Padding(Text(to_ascii(text) if ascii_only else text, style="dim"), (0, 0, 0, 4)))
    if f.location and f.location.source:
        parts.append(Padding(Text(f"{f.location.line:>4} │ {f.location.source}", style="dim"), (0, 0, 0, 2)))
    if f.caused_by:
        parts.append(Padding(Text(f"caused by {', '.join(f.caused_by)}", style="dim"), (0, 0, 0, 2)))
    if f.fix is not None:
        fx = f.fix
        title = Text("fix  ", style="bold green" if fx.verified else "bold")
        title.append(fx.title, style="green" if fx.verified else "")
        if fx.location and fx.location.path and (not f.location or fx.location.line != f.location.line):
            title.append(f"  {fx.location.path}:{fx.location.line}", style="dim")
        parts.append(Padding(title, (0, 0, 0, 2)))
        parts.append(
            Padding(
                Syntax(fx.snippet, "python", theme="ansi_dark", background_color="default", word_wrap=True),
                (0, 0, 0, 7),
            )
        )
        verdict = Text(
            "verified  " if fx.verified else "not verified  ",
            style="bold green" if fx.verified else "bold yellow",
        )
        measure = fx.measure
        verdict.append(f"{measure} {number(fx.before)} → {number(fx.after)} after {fx.steps} replay steps")
        if fx.before and fx.after is not None and fx.before > 0:
            verdict.append(f" ({fx.after / fx.before:.2g}× the baseline)", style="dim")
        parts.append(Padding(verdict, (0, 0, 0, 2)))
        curves = _curves(report, fx, ascii_only)
        if curves is not None:
            parts.append(Padding(curves, (0, 0, 0, 2)))
        if fx.note:
            parts.append(Padding(Text(f"note: {fx.note}", style="dim"), (0, 0, 0, 2)))
        tried = list(f.alternatives)
        if tried:
            alt = Text("also tried: ", style="dim")
            alt.append(
                "; ".join(
                    f"{a.title} ({number(a.after)}{', verified' if a.verified else ''}{stopped_at(a)})" for a in tried
                ),
                style="dim",
            )
            parts.append(Padding(alt, (0, 0, 0, 2)))
    return Group(*parts)


def full_renderables(
    report: Report, ascii_only: bool = False, explain: bool = False, charts: bool = False
) -> Iterator[RenderableType]:
    """The full report as rich renderables, top to bottom; the pictures (loss curves, layers, fit) only with
    ``charts``, and a one-line pointer to them where there are findings."""
    loop = report.training.loop if report.training is not None else LoopSummary()
    steps = loop.steps_captured
    head = Text()
    head.append("fitdoctor ", style="bold")
    head.append(f"{report.version} · {report.script}")
    if report.status == "ok":
        head.append(f" · {steps} step{'s' * (steps != 1)} captured", style="dim")
    yield head
    if report.status != "ok":
        err = report.error or {}
        for f in report.findings:
            yield finding_block(report, f, ascii_only)
        if err.get("traceback"):
            yield Padding(Text(err["traceback"].rstrip(), style="red"), (1, 0, 0, 2))
        yield from _files(report)
        return
    yield Text()
    yield setup_table(report)
    user = list(loop.user_loss)
    finite = [v for v in user if math.isfinite(v) and v > 0]
    if finite:
        line = Text("your loop  ", style="bold")
        line.append(sparkline(user, min(finite), max(finite), width=40, ascii_only=ascii_only))
        if loop.loss_start is not None and loop.loss_end is not None:  # medians of the first and last fifth
            line.append(f"  {number(loop.loss_start)} → {number(loop.loss_end)}", style="dim")
        else:
            line.append(f"  {number(user[0])} → {number(user[-1])}", style="dim")
        yield line
    for note in report.training.notes if report.training is not None else ():
        yield Text(f"note: {note}", style="dim")
    yield from _files(report)
    yield Text()
    if not report.findings:
        yield Text("OK: no problems found." if ascii_only else "✔ No problems found.", style="bold green")
    for f in report.findings:
        yield finding_block(report, f, ascii_only, explain)
        yield Text()
    if charts:
        yield from pictures(report, ascii_only)
    elif report.findings:
        yield Text("pictures of the loss curves, the layers and the fit: --charts, or --html FILE", style="dim")
        yield Text()
    yield from _patch(report)
    counts = {k: sum(1 for f in report.findings if f.severity == k) for k in ("error", "warning", "info")}
    summary = Text(
        f"{counts['error']} error{'s' * (counts['error'] != 1)}, {counts['warning']} warning"
        f"{'s' * (counts['warning'] != 1)}, {counts['info']} info"
    )
    explained = sum(1 for f in report.findings if f.severity == "info" and f.caused_by)
    if explained:
        summary.append(f" ({explained} explained by the alarms above)")
    if report.suppressed:
        summary.append(f" · {len(report.suppressed)} suppressed", style="dim")
    total = report.timings.get("total_s")
    if total:
        summary.append(f" · checked in {total:.1f} s", style="dim")
    summary.append(f" · seed {report.seed}", style="dim")
    yield summary


def _patch(report: Report) -> Iterator[Any]:
    """The patch (``--fix``, or ``--diff`` with another output): what it holds, its proof, and the diff."""
    patch = report.patch
    if patch is None:
        return
    style = "bold green" if patch.verified else "yellow"
    yield Text(patch_line(patch), style=style)
    if patch.diff:
        yield Padding(
            Syntax(patch.diff.rstrip("\n"), "diff", theme="ansi_dark", background_color="default"), (0, 0, 0, 2)
        )
    yield Text()


def _files(report: Report) -> Iterator[Text]:
    for reached, sentence in files_sentences(report):
        yield Text(f"files: {sentence}", style="yellow" if reached else "dim")


def _explanation(f: Finding) -> str:
    try:
        doc = rule_doc(f.code)
    except UsageError:  # a code the installed catalog lacks: no explanation rather than no report
        return ""
    return explain_finding(f, doc)


class _Sized:
    """A chart drawn at render time to the width it gets (at most :data:`CHART_WIDTH`)."""

    def __init__(self, draw: Callable[[int], list[Text]]) -> None:
        self.draw = draw

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self.draw(max(40, min(options.max_width, CHART_WIDTH)))


def pictures(report: Report, ascii_only: bool = False) -> Iterator[RenderableType]:
    """The "Pictures" section: loss curves, per-layer bars and the fit, each where the report has the data."""
    if report.status != "ok":
        return
    loss = loss_figure(report)
    curves = loss is not None and any(len(line.points) > 1 for line in loss.lines)
    layers = layer_figure(report)
    fit = fit_figure(report, best_only=True)
    if not (curves or layers or fit):
        return
    yield Text("Pictures", style="bold")
    if loss is not None and curves:
        series, styles = _loss_series(loss)
        yield Padding(Text("Loss: your loop, the baseline replay and each fix's replay"), (1, 0, 0, 2))
        yield Padding(
            _Sized(
                lambda w: line_chart(
                    series, w, 12, ascii_only=ascii_only, styles=styles, x_label="step", y_label="loss"
                )
            ),
            (0, 0, 0, 2),
        )
    if layers:
        yield Padding(Text("Layers at init and after the short training"), (1, 0, 0, 2))
        yield Padding(_Sized(lambda w: layer_bars(layers, w, ascii_only=ascii_only)), (0, 0, 0, 2))
    if fit:
        with_fix = any(line.role == "fix" for line in fit.lines)
        caption = "Fit over x: the data and the model (at init, baseline replay" + (
            ", with the fix)" if with_fix else ")"
        )
        yield Padding(Text(caption), (1, 0, 0, 2))
        yield Padding(_Sized(lambda w: fit_chart(fit, w, 14, ascii_only)), (0, 0, 0, 2))
    yield Text()


def _loss_series(figure: LossFigure) -> tuple[dict[str, list[tuple[float, float | None]]], dict[str, str]]:
    """The loss figure's lines as chart series and their styles: the user's loop first, verified fixes in
    :data:`FIX_STYLES` order, fixes that were not verified dim."""
    order = sorted(figure.lines, key=lambda line: line.role != "user")
    series = {line.key: list(line.points) for line in order}
    styles = dict(LOSS_STYLES)
    verified = iter(FIX_STYLES)
    for line in order:
        if line.role == "fix":
            styles[line.key] = next(verified, FIX_STYLES[-1]) if line.verified else "dim"
    return series, styles


def render_full(report: Report, console: Console, explain: bool = False, charts: bool = False) -> None:
    """Print the full report (with each finding's explanation when ``explain``, the pictures with ``charts``)."""
    ascii_only = not console.encoding.lower().startswith("utf")
    for renderable in full_renderables(report, ascii_only, explain=explain, charts=charts):
        console.print(renderable)


def render(report: Report, catalog: dict[str, Any], explain: bool = False) -> str:
    """The full report as plain text, 100 columns wide (the CLI prints it on a console instead)."""
    import io

    console = Console(record=True, width=100, file=io.StringIO(), color_system=None, force_jupyter=False)
    render_full(report, console, explain=explain)
    return console.export_text()
