"""The report the Python API returns: the data of :class:`fitdoctor.findings.Report`, displayed by the full
renderer in a terminal (``print``, ``rich.print``) and in Jupyter. The data module knows no renderer."""

from __future__ import annotations

import dataclasses
import io
from typing import Any

from rich.console import Console

from fitdoctor import findings
from fitdoctor.report.full import full_renderables, render


@dataclasses.dataclass(frozen=True)
class Report(findings.Report):
    """A :class:`fitdoctor.findings.Report` that shows itself."""

    @classmethod
    def of(cls, report: findings.Report) -> Report:
        """The same report, displayable."""
        return cls(**{f.name: getattr(report, f.name) for f in dataclasses.fields(report)})

    def __rich_console__(self, console: Any, options: Any) -> Any:
        """Render in rich (``rich.print(report)``) through the full renderer."""
        yield from full_renderables(self, ascii_only=not console.encoding.lower().startswith("utf"))

    def _repr_html_(self) -> str:
        """Render in Jupyter: the full report as HTML."""
        console = Console(record=True, width=100, file=io.StringIO())
        console.print(self)
        return console.export_html(inline_styles=True)

    def __str__(self) -> str:
        return render(self, {})
