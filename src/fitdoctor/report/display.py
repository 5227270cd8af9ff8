"""The report the Python API returns: the data of :class:`fitdoctor.findings.Report`, displayed by the full
renderer in a terminal (``print``, ``rich.print``) and in Jupyter. The data module knows no renderer."""

from __future__ import annotations

import dataclasses
import html
from typing import Any

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
        """Render in Jupyter: the same self-contained HTML report as ``fitdoctor check --html``, in an iframe
        so that its styles neither leak into the notebook nor take the notebook's."""
        from fitdoctor.catalog import load_catalog
        from fitdoctor.report.html import render as render_html

        page = render_html(self, load_catalog())
        return (
            '<iframe class="fitdoctor-report" title="fitdoctor report" '
            'style="width: 100%; height: 900px; border: 1px solid #ddd; border-radius: 4px" '
            f'srcdoc="{html.escape(page, quote=True)}"></iframe>'
        )

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython's plain-text display (a terminal console, a notebook's text/plain): the full report."""
        printer.text(str(self))

    def __str__(self) -> str:
        return render(self, {})
