"""The command line: ``fitdoctor check``, ``fitdoctor rules``, ``fitdoctor rule``."""

from __future__ import annotations

import json
import sys
import time
from enum import Enum
from typing import Annotated

import typer
from rich.console import Console

from fitdoctor import __version__
from fitdoctor.errors import FitdoctorError

app = typer.Typer(
    name="fitdoctor",
    help="A diagnostic linter for PyTorch training setups: finds why a network trains but learns nothing, "
    "and verifies each fix by measurement.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class Format(str, Enum):
    """Output formats of ``fitdoctor check``."""

    full = "full"
    json = "json"


class FailOn(str, Enum):
    """The lowest severity that makes ``fitdoctor check`` exit 1."""

    error = "error"
    warning = "warning"
    info = "info"


def _version(value: bool) -> None:
    if value:
        print(f"fitdoctor {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """fitdoctor: why does my network train but learn nothing?"""


@app.command()
def check(
    script: Annotated[str, typer.Argument(help="The training script to check, run unmodified.")],
    script_args: Annotated[
        list[str] | None, typer.Argument(help="Arguments for the script, after `--`.", show_default=False)
    ] = None,
    steps: Annotated[int, typer.Option(min=1, help="Stop the script after this many optimizer steps.")] = 200,
    time_budget: Annotated[float, typer.Option(min=1.0, help="Stop the script after this many seconds.")] = 30.0,
    replay_steps: Annotated[
        int, typer.Option(min=0, help="Steps per replay (0: twice the captured steps, at least 200).")
    ] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the script and of every replay.")] = 0,
    output_format: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.full,
    fail_on: Annotated[FailOn, typer.Option(help="Exit 1 when a finding is at least this severe.")] = FailOn.error,
) -> None:
    """Run SCRIPT, capture what it trains, diagnose it and verify each fix.

    Exit status: 0 no finding at or above --fail-on, 1 findings, 2 the check could not run.
    """
    from fitdoctor.capture.runner import CheckOptions, as_json, run_check

    started = time.perf_counter()
    options = CheckOptions(
        steps=steps,
        time_budget=time_budget,
        replay_steps=replay_steps,
        seed=seed,
        args=list(script_args or []),
    )
    report = run_check(script, options)
    report.timings["total_s"] = time.perf_counter() - started
    if output_format is Format.json:
        sys.stdout.write(as_json(report) + "\n")
    else:
        from fitdoctor.report.full import render_full

        render_full(report, Console())
    if report.status != "ok":
        raise typer.Exit(2)
    order = {"error": 0, "warning": 1, "info": 2}
    worst = report.worst_severity()
    if worst is not None and order[worst] <= order[fail_on.value]:
        raise typer.Exit(1)


@app.command("rules")
def list_rules(
    as_json: Annotated[bool, typer.Option("--json", help="Print the catalog as JSON.")] = False,
) -> None:
    """List every rule: code, slug, severity and summary."""
    from rich.table import Table

    from fitdoctor.catalog import load_catalog

    catalog = load_catalog()
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "code": d.code,
                        "slug": d.slug,
                        "title": d.title,
                        "severity": d.severity,
                        "category": d.category,
                        "summary": d.summary,
                    }
                    for d in catalog.values()
                ],
                indent=2,
            )
        )
        return
    table = Table("code", "slug", "severity", "summary")
    for d in catalog.values():
        table.add_row(d.code, d.slug, d.severity, d.summary)
    Console().print(table)


@app.command("rule")
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
    lines += ["## How fitdoctor confirms it", doc.confirm, "## References"]
    lines += [f"- {r}" for r in doc.references]
    Console().print(Markdown("\n\n".join(lines)))


def main() -> None:
    """Console-script entry point: our errors become a one-paragraph message and exit code 2."""
    try:
        app()  # standalone: usage errors exit 2, typer.Exit carries our exit codes
    except FitdoctorError as exc:
        Console(stderr=True).print(f"[bold red]fitdoctor:[/] {exc}", highlight=False)
        sys.exit(exc.exit_code)
    except Exception as exc:  # anything unforeseen is our bug, never the user's traceback
        Console(stderr=True).print(
            f"[bold red]fitdoctor: internal error[/] {type(exc).__name__}: {exc}. This is a bug in fitdoctor, not "
            "in your script; please report it with the command you ran.",
            highlight=False,
        )
        sys.exit(2)
