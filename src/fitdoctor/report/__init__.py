"""Renderers: each turns a :class:`~fitdoctor.findings.Report` into one output format.

Every text renderer is a module here with ``render(report, catalog, explain=False) -> str``; :func:`renderer`
finds one by format name. The full terminal report also prints itself on a rich console
(:func:`fitdoctor.report.full.render_full`). Modules are imported on demand, so ``fitdoctor --help`` stays fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fitdoctor.catalog import RuleDoc
    from fitdoctor.findings import Report

#: A text renderer: the report, the rule catalog by code, and whether to add each finding's explanation.
Renderer = Callable[["Report", "dict[str, RuleDoc]", bool], str]

#: Format name -> the module here that renders it.
FORMATS = {
    "full": "full",
    "concise": "concise",
    "json": "json_format",
    "sarif": "sarif",
    "github": "github",
    "markdown": "markdown",
    "html": "html",
    "svg": "svg",
}


def renderer(name: str) -> Renderer:
    """The text renderer of one format (see :data:`FORMATS`)."""
    if name not in FORMATS:
        raise ValueError(f"no renderer for {name!r}")
    module = importlib.import_module(f"{__name__}.{FORMATS[name]}")
    render: Renderer = module.render
    return render
