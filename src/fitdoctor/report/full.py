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
from fitdoctor.report.charts import fit_chart, layer_bars, line_chart, sparkline
from fitdoctor.report.concise import data_line, files_sentences
from fitdoctor.report.explain import explain as explain_finding
from fitdoctor.report.explain import to_ascii

STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
#: Widest a picture gets, whatever the terminal's width (its 2-column indent comes on top).
CHART_WIDTH = 78
#: Line colours of the loss chart; verified fixes take FIX_STYLES in order.
LOSS_STYLES = {"your loop": "bright_blue", "baseline": "red"}
FIX_STYLES = ("green", "cyan", "magenta", "yellow")
MARK = {"error": "✖", "warning": "▲", "info": "●"}
ASCII_MARK = {"error": "x", "warning": "!", "info": "i"}


def _num(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "diverged"
    return f"{v:.4g}"


def _loc(d: dict[str, Any] | None) -> str:
    """``file:line`` with the file's base name: the report's header names the script's folder."""
    return f"{d['path'].rsplit('/', 1)[-1]}:{d['line']}" if d else ""


def setup_table(report: Report) -> Table:
    """The captured setup in one glance."""
    s = report.setup
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold", no_wrap=True)
    t.add_column(ratio=1)
    t.add_column(style="dim", no_wrap=True, justify="right")
    model = s.get("model", {})
    t.add_row(
        "model",
        f"{model.get('class')} · {model.get('parameters', 0):,} parameters · {len(model.get('layers', []))} layers",
        _loc(model.get("location")),
    )
    opt = s.get("optimizer", {})
    hyper = opt.get("hyperparameters", {})
    lr = hyper.get("lr")
    t.add_row(
        "optimizer",
        f"{opt.get('class')}(lr={lr:g})" if isinstance(lr, (int, float)) else str(opt.get("class")),
        _loc(opt.get("location")),
    )
    loss = s.get("loss", {})
    t.add_row("loss", str(loss.get("name")), _loc(loss.get("location")))
    data = s.get("data", {})
    t.add_row("data", data_line(data), _loc(data.get("location")))
    final = s.get("final_activation")
    if final:
        lo, hi = final["range"]
        rng = f"{'(-∞' if lo is None else f'[{lo:.3g}'}, {'∞)' if hi is None else f'{hi:.3g}]'}"
        t.add_row("output", f"{final['kind']} → range {rng}", _loc(final.get("location")))
    return t


def _curves(report: Report, fix: Fix, ascii_only: bool) -> Text | None:
    replay = report.training.get("replay", {})
    base = replay.get("baseline", {}).get("curve")
    fixed = replay.get("fixes", {}).get(fix.id, {}).get("curve")
    if not base or not fixed:
        return None
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
        verdict.append(f"{measure} {_num(fx.before)} → {_num(fx.after)} after {fx.steps} replay steps")
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
                "; ".join(f"{a.title} ({_num(a.after)}{', verified' if a.verified else ''})" for a in tried),
                style="dim",
            )
            parts.append(Padding(alt, (0, 0, 0, 2)))
    return Group(*parts)


def full_renderables(report: Report, ascii_only: bool = False, explain: bool = False) -> Iterator[RenderableType]:
    """The full report as rich renderables, top to bottom."""
    steps = report.training.get("steps_captured", 0)
    head = Text()
    head.append("fitdoctor ", style="bold")
    head.append(f"{report.version} · {report.script}")
    if report.status == "ok":
        head.append(f" · {steps} steps captured", style="dim")
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
    user = report.training.get("user_loss") or []
    finite = [v for v in user if v is not None and math.isfinite(v) and v > 0]
    if finite:
        line = Text("your loop  ", style="bold")
        line.append(sparkline(user, min(finite), max(finite), width=40, ascii_only=ascii_only))
        line.append(f"  {_num(user[0])} → {_num(user[-1])}", style="dim")
        yield line
    for note in report.training.get("notes") or []:
        yield Text(f"note: {note}", style="dim")
    yield from _files(report)
    yield Text()
    if not report.findings:
        yield Text("OK: no problems found." if ascii_only else "✔ No problems found.", style="bold green")
    for f in report.findings:
        yield finding_block(report, f, ascii_only, explain)
        yield Text()
    yield from pictures(report, ascii_only)
    counts = {k: sum(1 for f in report.findings if f.severity == k) for k in ("error", "warning", "info")}
    summary = Text(
        f"{counts['error']} error{'s' * (counts['error'] != 1)}, {counts['warning']} warning"
        f"{'s' * (counts['warning'] != 1)}, {counts['info']} info"
    )
    if report.suppressed:
        summary.append(f" · {len(report.suppressed)} suppressed", style="dim")
    total = report.timings.get("total_s")
    if total:
        summary.append(f" · checked in {total:.1f} s", style="dim")
    summary.append(f" · seed {report.seed}", style="dim")
    yield summary


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


def _verified_fixes(report: Report) -> list[str]:
    """Ids of the findings' verified fixes that have a replay curve, in report order."""
    fixes = report.training.get("replay", {}).get("fixes", {})
    out: list[str] = []
    for f in report.findings:
        if f.fix is not None and f.fix.verified and f.fix.id in fixes and f.fix.id not in out:
            out.append(f.fix.id)
    return out


def loss_series(report: Report) -> dict[str, list[tuple[float, float | None]]]:
    """The loss chart's series: the user's loop by step, the baseline replay and each verified fix's replay."""
    training = report.training
    replay = training.get("replay", {})
    series: dict[str, list[tuple[float, float | None]]] = {}
    user = training.get("user_loss") or []
    if user:
        series["your loop"] = [(float(i), v) for i, v in enumerate(user)]
    base = replay.get("baseline", {}).get("curve")
    if base:
        series["baseline"] = [(float(x), y) for x, y in base]
    for fix_id in _verified_fixes(report)[: len(FIX_STYLES)]:
        curve = replay["fixes"][fix_id].get("curve")
        if curve:
            series[fix_id] = [(float(x), y) for x, y in curve]
    return series


def _best_fit_fix(report: Report, fit: dict[str, Any]) -> str | None:
    """The verified fix with a fitted curve whose replay ended lowest."""
    fixes = report.training.get("replay", {}).get("fixes", {})
    names = [n for n in fit.get("curves", {}) if n not in ("init", "baseline")]
    preferred = [n for n in _verified_fixes(report) if n in names] or names

    def final(name: str) -> float:
        v = fixes.get(name, {}).get("final")
        return v if isinstance(v, (int, float)) and math.isfinite(v) else math.inf

    return min(preferred, key=final, default=None)


def pictures(report: Report, ascii_only: bool = False) -> Iterator[RenderableType]:
    """The "Pictures" section: loss curves, per-layer bars and the fit, each where the report has the data."""
    training = report.training
    if report.status != "ok":
        return
    series = loss_series(report)
    layers, gradients = training.get("layers") or [], training.get("gradients") or []
    fit = training.get("fit")
    if not (any(len(s) > 1 for s in series.values()) or layers or gradients or fit):
        return
    yield Text("Pictures", style="bold")
    if any(len(s) > 1 for s in series.values()):
        styles = {**LOSS_STYLES, **dict(zip([k for k in series if k not in LOSS_STYLES], FIX_STYLES, strict=False))}
        yield Padding(Text("Loss: your loop, the baseline replay and each verified fix's replay"), (1, 0, 0, 2))
        yield Padding(
            _Sized(
                lambda w: line_chart(
                    series, w, 12, ascii_only=ascii_only, styles=styles, x_label="step", y_label="loss"
                )
            ),
            (0, 0, 0, 2),
        )
    if layers or gradients:
        yield Padding(Text("Layers at init and after the short training"), (1, 0, 0, 2))
        yield Padding(_Sized(lambda w: layer_bars(layers, gradients, w, ascii_only=ascii_only)), (0, 0, 0, 2))
    if fit:
        best = _best_fit_fix(report, fit)
        keep = {k: v for k, v in fit.get("curves", {}).items() if k in ("init", "baseline", best)}
        caption = "Fit over x: the data and the model (at init, baseline replay" + (", with the fix)" if best else ")")
        yield Padding(Text(caption), (1, 0, 0, 2))
        yield Padding(_Sized(lambda w: fit_chart({**fit, "curves": keep}, w, 14, ascii_only)), (0, 0, 0, 2))
    yield Text()


def render_full(report: Report, console: Console, explain: bool = False) -> None:
    """Print the full report (with each finding's explanation when ``explain``)."""
    ascii_only = not console.encoding.lower().startswith("utf")
    for renderable in full_renderables(report, ascii_only, explain=explain):
        console.print(renderable)


def render(report: Report, catalog: dict[str, Any], explain: bool = False) -> str:
    """The full report as plain text, 100 columns wide (the CLI prints it on a console instead)."""
    import io

    console = Console(record=True, width=100, file=io.StringIO(), color_system=None)
    render_full(report, console, explain=explain)
    return console.export_text()
