"""GitHub Actions workflow commands: one ``::error``, ``::warning`` or ``::notice`` annotation per finding.

Escaping follows the Actions runner (``ActionCommand.cs``) and the toolkit (``@actions/core`` ``command.ts``):
the message (the command's data) escapes ``%``, carriage return and line feed; property values escape ``:`` and
``,`` as well. ``%`` goes first, so that the runner, which unescapes ``%25`` last, gets the text back exactly.
"""

from __future__ import annotations

from fitdoctor.catalog import RuleDoc
from fitdoctor.findings import Finding, Report
from fitdoctor.report.concise import position, verdict

COMMAND = {"error": "error", "warning": "warning", "info": "notice"}


def escape_data(text: str) -> str:
    """Escape a workflow command's message: ``%`` → ``%25``, CR → ``%0D``, LF → ``%0A``."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow command's property value: as :func:`escape_data`, plus ``:`` → ``%3A``, ``,`` → ``%2C``."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def message(report: Report, finding: Finding) -> str:
    """An annotation's text (unescaped): the finding's message, then the fix and its verification on a new line.

    For the meta finding of a check that could not run, the script's traceback follows.

    Args:
        report: The report the finding belongs to.
        finding: The finding.

    Returns:
        The message, possibly over several lines.
    """
    text = finding.message.rstrip()
    if not text.endswith("."):
        text += "."
    if finding.fix is not None:
        fix = finding.fix
        text += f"\nFix: {fix.title} ({verdict(fix)}"
        if fix.steps:
            text += f" after {fix.steps} replay steps"
        text += ")"
    if report.status != "ok" and finding is report.findings[0]:
        traceback = (report.error or {}).get("traceback")
        if traceback:
            text += "\n" + str(traceback).rstrip()
    return text


def annotation(report: Report, finding: Finding) -> str:
    """One finding as a workflow command, e.g. ``::error file=train.py,line=12,title=FD201 slug::message``.

    Args:
        report: The report the finding belongs to (its script stands in for a missing location).
        finding: The finding.

    Returns:
        The command line, without a line break.
    """
    path, line = position(report, finding)
    properties = []
    if path and not path.startswith("<"):  # ``<api>``: no file to annotate
        properties += [f"file={escape_property(path)}", f"line={line}"]
    properties.append(f"title={escape_property(f'{finding.code} {finding.rule}')}")
    return (
        f"::{COMMAND.get(finding.severity, 'warning')} {','.join(properties)}::{escape_data(message(report, finding))}"
    )


def render(report: Report, catalog: dict[str, RuleDoc], explain: bool = False) -> str:
    """The report as GitHub Actions annotations, one line per finding (nothing for a report without findings).

    Args:
        report: The report to render.
        catalog: The rule catalog by code (unused).

    Returns:
        The commands, one per line, without a final line break.
    """
    del catalog
    return "\n".join(annotation(report, f) for f in report.findings)
