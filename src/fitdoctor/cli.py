"""The command line: ``fitdoctor check``, ``fitdoctor rules``, ``fitdoctor rule``."""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from fitdoctor._version import __version__
from fitdoctor.errors import FitdoctorError

app = typer.Typer(
    name="fitdoctor",
    help="A diagnostic linter for PyTorch training setups: finds why a network trains but learns nothing, "
    "and verifies each fix by measurement.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

F = TypeVar("F", bound=Callable[..., Any])
_T = TypeVar("_T")
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


class Format(str, Enum):
    """Output formats of ``fitdoctor check``."""

    full = "full"
    concise = "concise"
    json = "json"
    sarif = "sarif"
    github = "github"
    markdown = "markdown"


class FailOn(str, Enum):
    """The lowest severity that makes ``fitdoctor check`` exit 1."""

    error = "error"
    warning = "warning"
    info = "info"


class Color(str, Enum):
    """When to colour the output."""

    auto = "auto"
    always = "always"
    never = "never"


def friendly(fn: F) -> F:
    """Our errors become a one-paragraph message on stderr and exit code 2, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except FitdoctorError as exc:
            Console(stderr=True, highlight=False, soft_wrap=True).print(f"[bold red]fitdoctor:[/] {escape(str(exc))}")
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        print(f"fitdoctor {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """fitdoctor: why does my network train but learn nothing?"""


def _split(values: list[str] | None) -> tuple[str, ...] | None:
    if not values:
        return None
    return tuple(part.strip() for v in values for part in v.split(",") if part.strip())


def _console(color: Color, file: Any = None, stderr: bool = False) -> Console:
    if color is Color.always:
        return Console(file=file, stderr=stderr, force_terminal=True, highlight=False)
    if color is Color.never:
        return Console(file=file, stderr=stderr, no_color=True, highlight=False)
    return Console(file=file, stderr=stderr, highlight=False)  # rich honours NO_COLOR and non-TTYs itself


def render(
    report: Any, output_format: Format, console: Console, explain: bool = False, charts: bool = False
) -> str | None:
    """Render ``report``: the full format prints on ``console`` (its pictures with ``charts``); the others return
    text."""
    from fitdoctor.catalog import load_catalog
    from fitdoctor.report import renderer

    if output_format is Format.full:
        from fitdoctor.report.full import render_full

        render_full(report, console, explain=explain, charts=charts)
        return None
    return renderer(output_format.value)(report, load_catalog(), explain)


@app.command()
@friendly
def check(
    script: Annotated[
        str | None, typer.Argument(help="The training script to check, run unmodified.", show_default=False)
    ] = None,
    script_args: Annotated[
        list[str] | None, typer.Argument(help="Arguments for the script, after `--`.", show_default=False)
    ] = None,
    output_format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.full,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the report to this file.")] = None,
    fail_on: Annotated[
        FailOn | None, typer.Option(help="Exit 1 when a finding is at least this severe. [default: error]")
    ] = None,
    exit_zero: Annotated[bool, typer.Option("--exit-zero", help="Exit 0 even when there are findings.")] = False,
    select: Annotated[
        list[str] | None, typer.Option(help="Only these rules: code, code prefix (FD3) or slug; repeatable.")
    ] = None,
    ignore: Annotated[
        list[str] | None, typer.Option(help="Skip these rules: code, code prefix or slug; repeatable.")
    ] = None,
    steps: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Stop the script after this many optimizer steps. By default, 200, or fewer (a multiple of 50) "
            "once the steps took 3 s of CPU time: slow steps make a shorter check.",
            show_default=False,
        ),
    ] = None,
    time_budget: Annotated[
        float | None,
        typer.Option(
            min=1.0,
            help="Stop the script after this many seconds. The analysis aims at about the time the captured "
            "steps took (at least 10 s, or 4 s when slow steps ended the capture; at most 4x this and 120 s), "
            "scaled down for large models. [default: 30]",
        ),
    ] = None,
    replay_steps: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Steps per replay. Given, the analysis runs in full (no scaling to the time the captured steps "
            "took), so that it measures the same on a busy machine as on an idle one. "
            "[default: twice the captured steps, at least 200]",
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the script and of every replay. [default: 0]")] = None,
    stage: Annotated[
        int,
        typer.Option(
            min=1,
            help="Which training stage to check when the script trains in stages (pre-training, then fine-tuning "
            "with a new optimizer); the stages before it run unchecked. [default: 1]",
        ),
    ] = 1,
    config: Annotated[
        Path | None, typer.Option(help="A pyproject.toml to read [tool.fitdoctor] from (default: the nearest).")
    ] = None,
    explain: Annotated[
        bool, typer.Option("--explain", help="Under each finding, why it matters, with this run's numbers.")
    ] = False,
    charts: Annotated[
        bool,
        typer.Option("--charts", help="Draw the loss curves, the layers and the fit in the terminal report too."),
    ] = False,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write a self-contained HTML report with plots to this file.")
    ] = None,
    svg: Annotated[Path | None, typer.Option("--svg", help="Also write the terminal report as an SVG picture.")] = None,
    module: Annotated[
        str | None,
        typer.Option(
            "--module",
            "-m",
            help="Run this module as `python -m` does (for scripts that use relative imports), instead of SCRIPT.",
            show_default=False,
        ),
    ] = None,
    cwd: Annotated[
        Path | None,
        typer.Option(
            help="The folder the script runs in. [default: the script's folder; with -m, the current folder]",
            show_default=False,
        ),
    ] = None,
    in_place: Annotated[
        bool,
        typer.Option(
            "--in-place",
            help="Run the script in its own folders: what it writes (checkpoints, logs) reaches your files. By "
            "default it runs in a scratch copy that is removed afterwards.",
        ),
    ] = False,
    nproc_per_node: Annotated[
        int,
        typer.Option(
            "--nproc-per-node",
            min=1,
            max=64,
            help="Launch the script in this many processes, as torchrun --nproc-per-node does (for "
            "DistributedDataParallel scripts); rank 0 is checked.",
        ),
    ] = 1,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress and no output of the script.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="After the report, the seconds each phase took (on stderr).")
    ] = False,
    diff: Annotated[
        bool,
        typer.Option(
            "--diff",
            help="Print the verified fixes that are source edits as a unified diff instead of the report, after "
            "re-checking the patched script in a scratch copy; writes nothing. With --format/--output, the report "
            "holds it. Exit 1 when there is a diff.",
        ),
    ] = False,
    fix: Annotated[
        bool,
        typer.Option(
            "--fix",
            help="Write the verified fixes that are source edits into your files, once re-checking the patched "
            "script in a scratch copy proved them (the fixed findings gone, the loss down).",
        ),
    ] = False,
    color: Annotated[Color, typer.Option(help="Colour the output.")] = Color.auto,
) -> None:
    """Run SCRIPT, capture what it trains, diagnose it and verify each fix.

    The script runs in a scratch copy of its folder: files it writes never reach yours (--in-place to let
    them). Exit status: 0 no finding at or above --fail-on, 1 findings, 2 the check could not run.
    """
    from fitdoctor import options as check_option
    from fitdoctor.capture.budget import CAPTURE_TARGET_S
    from fitdoctor.capture.runner import CheckOptions, resolve_target, run_check
    from fitdoctor.config import load_config
    from fitdoctor.selection import RuleSelection

    started = time.perf_counter()
    args = list(script_args or [])
    if module is not None and script is not None:
        args, script = [script, *args], None  # like `python -m module args...`
    where = CheckOptions(cwd=str(cwd) if cwd is not None else None, module=module, in_place=in_place)
    path = resolve_target(script, where).path
    settings = load_config(path, config)
    selection = RuleSelection(
        select=_split(select) or settings.select or (),
        ignore=_split(ignore) or settings.ignore or (),
        thresholds=settings.thresholds,
    ).validate()
    options = CheckOptions(
        steps=check_option.steps(steps or settings.steps or 200, "--steps"),
        time_budget=check_option.time_budget(time_budget or settings.time_budget or 30.0, "--time-budget"),
        # Steps the user asked for are captured (within the time budget); by default, slow steps end sooner.
        capture_target_s=None if (steps or settings.steps) else CAPTURE_TARGET_S,
        replay_steps=check_option.replay_steps(
            replay_steps if replay_steps is not None else (settings.replay_steps or 0), "--replay-steps"
        ),
        # A replay length the user set gets the full analysis (a CI gate measures the same on any machine load).
        planned=not (replay_steps or settings.replay_steps),
        seed=check_option.seed(seed if seed is not None else (settings.seed or 0), "--seed"),
        args=args,
        rules=selection,
        quiet=quiet,
        stage=stage,
        cwd=where.cwd,
        module=module,
        in_place=in_place,
        nproc_per_node=nproc_per_node,
    )
    err = _console(color, stderr=True)
    report = _spinning(
        err,
        quiet,
        f"running {script or module or ''}",
        # under the spinner, the script's output goes through the console, above the spinner line
        lambda progress: run_check(script, options, progress=progress, user_output=_Echo(err) if progress else None),
    )
    if (diff or fix) and report.status == "ok":
        report = _with_patch(report, script, options, err, quiet, every_rule=fix)
    report.timings["total_s"] = time.perf_counter() - started
    if diff and output_format is Format.full and output is None:
        _print_diff(report, err)  # like ruff --diff: the diff alone on stdout
        raise typer.Exit(2 if report.status != "ok" else 1 if report.patch and report.patch.diff else 0)
    written = _apply_patch(report, err) if fix else False
    _write_pictures(report, html, svg, explain)
    if output is not None:
        try:
            with output.open("w", encoding="utf-8") as fh:
                console = _console(color if color is Color.always else Color.never, fh)
                text = render(report, output_format, console, explain, charts)
                if text is not None:
                    fh.write(text.rstrip("\n") + "\n")
        except OSError as exc:
            raise FitdoctorError(f"can't write the report to {output}: {exc.strerror}") from exc
    else:
        text = render(report, output_format, _console(color), explain, charts)
        if text is not None:
            sys.stdout.write(text.rstrip("\n") + "\n")
    if verbose:
        from fitdoctor.report.timings import timing_line

        err.print(escape(timing_line(report.timings)), style="dim", soft_wrap=True)
    if report.status != "ok":
        raise typer.Exit(2)
    if diff:  # the report (with its patch) went to a file or another format: the exit status is --diff's
        raise typer.Exit(1 if report.patch and report.patch.diff else 0)
    limit = (fail_on.value if fail_on else None) or settings.fail_on or "error"
    worst = report.worst_severity()
    if written and report.patch is not None:  # what is left in the patched files decides, as ruff --fix does
        worst = min((s for _, s in report.patch.findings_after), key=SEVERITY_ORDER.__getitem__, default=None)
    if not exit_zero and worst is not None and SEVERITY_ORDER[worst] <= SEVERITY_ORDER[limit]:
        raise typer.Exit(1)


def _with_patch(report: Any, script: str | None, options: Any, err: Console, quiet: bool, every_rule: bool) -> Any:
    """The report with its patch: planned from the verified fixes, proved by re-checking the patched script
    (for the fixed rules only, unless ``every_rule``: ``--fix`` exits as the written files' full check would)."""
    import dataclasses

    from fitdoctor.patches.patch import plan_patch
    from fitdoctor.patches.prove import prove

    patch = plan_patch(report)
    if patch.sources:
        text = "re-checking your patched script in a scratch copy"
        patch = _spinning(err, quiet, text, lambda _: prove(patch, script, options, report, every_rule))
    return dataclasses.replace(report, patch=patch)


def _spinning(err: Console, quiet: bool, text: str, work: Callable[[Callable[[str], None] | None], _T]) -> _T:
    """``work(progress)`` under a spinner on stderr that says ``text`` and then what ``progress`` is told (no
    spinner with ``--quiet`` or when stderr is not a terminal: ``progress`` is then None)."""
    if quiet or not err.is_terminal:
        return work(None)
    with err.status(f"fitdoctor: {escape(text)}", spinner="dots") as status:
        return work(lambda update: status.update(f"fitdoctor: {escape(update)}"))


class _Echo:
    """The script's output, line by line, printed on a console that shows a spinner (rich then keeps the spinner
    below it instead of the two colliding on one line). It has no ``fileno``, so the runner pumps to it."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.pending = ""

    def write(self, text: str) -> int:
        lines = (self.pending + text).split("\n")
        self.pending = lines.pop()
        for line in lines:
            self.console.print(line, markup=False, highlight=False, emoji=False, soft_wrap=True)
        return len(text)

    def flush(self) -> None:
        if self.pending:
            line, self.pending = self.pending, ""
            self.console.print(line, markup=False, highlight=False, emoji=False, soft_wrap=True)


def _patch_summary(report: Any) -> str:
    """One line on what the patch holds and whether running it proved it."""
    from fitdoctor.report.patch import patch_line

    return patch_line(report.patch)


def _print_diff(report: Any, err: Console) -> None:
    if report.status != "ok":
        message = report.error["message"] if report.error else report.status
        err.print(escape(f"fitdoctor: the check could not run: {message}"), soft_wrap=True)
        return
    if report.patch is not None and report.patch.diff:
        sys.stdout.write(report.patch.diff)
    err.print(escape(_patch_summary(report)), soft_wrap=True)


def _apply_patch(report: Any, err: Console) -> bool:
    """Write a proved patch into the user's files (``--fix``); say what was and wasn't written."""
    patch = report.patch
    if patch is None or not patch.sources:
        if patch is not None:
            err.print(escape(_patch_summary(report)), soft_wrap=True)
        return False
    if not patch.verified:
        err.print(escape(_patch_summary(report) + "; nothing was written (--diff shows it)"), soft_wrap=True)
        return False
    for path, text in patch.sources.items():
        try:
            with open(path, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
        except OSError as exc:
            raise FitdoctorError(f"can't write the fixed {path}: {exc.strerror}") from exc
    err.print(escape(f"fixed: wrote {', '.join(patch.files)}. " + _patch_summary(report)), soft_wrap=True)
    return True


def _write_pictures(report: Any, html: Path | None, svg: Path | None, explain: bool) -> None:
    """Write the HTML report and/or the SVG picture of the terminal report."""
    from fitdoctor.catalog import load_catalog
    from fitdoctor.report import renderer

    for path, kind in ((html, "html"), (svg, "svg")):
        if path is None:
            continue
        text = renderer(kind)(report, load_catalog(), explain)
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise FitdoctorError(f"can't write the {kind.upper()} report to {path}: {exc.strerror}") from exc


@app.command("rules")
@friendly
def list_rules(
    as_json: Annotated[bool, typer.Option("--json", help="Print the catalog as JSON.")] = False,
) -> None:
    """List every rule: code, slug and title."""
    from rich.table import Table

    from fitdoctor.catalog import load_catalog

    catalog = load_catalog()
    if as_json:
        rows = [
            {
                "code": d.code,
                "slug": d.slug,
                "title": d.title,
                "severity": d.severity,
                "category": d.category,
                "summary": d.summary,
            }
            for d in catalog.values()
        ]
        print(json.dumps(rows, indent=2))
        return
    # code, slug and title: one line per rule at 80 columns (`fitdoctor rule CODE` and --json give the rest)
    table = Table("code", "slug", "title", box=None, pad_edge=False, header_style="bold")
    for d in catalog.values():
        table.add_row(d.code, d.slug, d.title)
    console = Console()
    console.print(table)
    console.print(f"{len(catalog)} rules · fitdoctor rule CODE explains one", style="dim")


@app.command("rule")
@friendly
def show_rule(
    name: Annotated[str, typer.Argument(help="A rule code (FD301) or slug (dead-relu).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the entry as JSON.")] = False,
) -> None:
    """Explain one rule: what it checks, why it matters, an example, the fix and references."""
    from dataclasses import asdict

    from rich.markdown import Markdown

    from fitdoctor.catalog import rule_doc

    doc = rule_doc(name)
    if as_json:
        print(json.dumps(asdict(doc), indent=2))
        return
    lines = [
        f"# {doc.code} {doc.slug} — {doc.title}",
        f"*{doc.severity} · {doc.category}* — {doc.summary}",
        "## What it does",
        doc.what,
        "## Why is this bad?",
        doc.why,
        "## Example",
        doc.example,
        "## Fix",
        doc.fix,
        "## Thresholds",
    ]
    for key, t in doc.thresholds.items():
        lines.append(f"- `{key}` = {t['value']}: {t['meaning']} *Source:* {t['source']}")
    if not doc.thresholds:
        lines.append("None: the rule's evidence is exact.")
    lines += ["## How fitdoctor confirms it", doc.confirm, "## References"]
    lines += [f"- {r}" for r in doc.references]
    Console().print(Markdown("\n\n".join(lines)))


def main() -> None:
    """Console-script entry point. Anything unforeseen is our bug: a short message and exit 2."""
    try:
        app()
    except Exception as exc:
        Console(stderr=True, highlight=False, soft_wrap=True).print(
            f"[bold red]fitdoctor: internal error[/] {type(exc).__name__}: {exc}. This is a bug in fitdoctor, not "
            "in your script; please report it with the command you ran."
        )
        sys.exit(2)
