"""Renderers: each turns a :class:`~fitdoctor.findings.Report` into one output format."""
