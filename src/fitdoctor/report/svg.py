"""The terminal report as an SVG picture (rich's ``export_svg``), for a README, a slide or an issue."""

from __future__ import annotations

import io
import re

from rich.console import CONSOLE_SVG_FORMAT, Console

from fitdoctor.catalog import RuleDoc
from fitdoctor.findings import Report
from fitdoctor.report.full import render_full

#: Width of the pictured terminal, in characters.
WIDTH = 100

#: rich's SVG template without the web-font downloads: the picture names Fira Code (used when installed) and
#: falls back to the viewer's monospace font, so opening it makes no network request. Every text run carries
#: its width in the SVG, so the layout does not depend on the font.
OFFLINE_SVG_FORMAT = re.sub(r',\s*url\("https?://[^"]*"\)\s*format\("[^"]*"\)', "", CONSOLE_SVG_FORMAT)


def render(report: Report, catalog: dict[str, RuleDoc], explain: bool = False) -> str:
    """The full terminal report drawn as an SVG image of a 100-column terminal.

    Args:
        report: The report to render.
        catalog: The rule catalog by code (the full renderer reads what it needs itself).
        explain: Whether to include each finding's explanation, as ``--explain`` does in the terminal.

    Returns:
        The SVG document.
    """
    del catalog
    console = Console(
        record=True, width=WIDTH, file=io.StringIO(), force_terminal=True, color_system="truecolor", force_jupyter=False
    )
    render_full(report, console, explain=explain, charts=True)
    return console.export_svg(title=f"fitdoctor check {report.script}", code_format=OFFLINE_SVG_FORMAT)
