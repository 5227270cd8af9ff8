"""The JSON renderer: the report's fixed JSON shape (``Report.to_dict``), pretty-printed, standard JSON only."""

from __future__ import annotations

import json

from fitdoctor.catalog import RuleDoc
from fitdoctor.findings import Report


def render(report: Report, catalog: dict[str, RuleDoc], explain: bool = False) -> str:
    """The report as pretty JSON (NaN and infinities are already ``null`` in ``to_dict``)."""
    return json.dumps(report.to_dict(), indent=2, allow_nan=False)
