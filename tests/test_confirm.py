"""How findings that explain each other are reported: the cause is the alarm, what it explains an info."""

from __future__ import annotations

from fitdoctor.catalog import load_catalog
from fitdoctor.confirm import _escalated, rank
from fitdoctor.findings import Finding, Severity


def _f(code: str, severity: Severity, caused_by: tuple[str, ...] = (), confidence: str = "confirmed") -> Finding:
    return Finding(
        code=code,
        rule=code.lower(),
        severity=severity,
        confidence=confidence,  # type: ignore[arg-type]
        message="m",
        caused_by=caused_by,
    )


def test_a_cause_takes_the_worst_severity_of_what_it_explains_through_a_chain() -> None:
    """FD303 (warning) explains FD301, which explains FD401; FD602 (an error before it was explained) is
    explained by FD301 only: FD303 still becomes an error, so ``--fail-on error`` fails as before."""
    findings = [
        _f("FD303", "warning"),
        _f("FD301", "info", ("FD303",)),
        _f("FD401", "info", ("FD301", "FD303")),
        _f("FD602", "info", ("FD301",)),
        _f("FD502", "info", confidence="suspected"),
    ]
    levels: dict[str, Severity] = {"FD303": "warning", "FD301": "warning", "FD401": "warning", "FD602": "error"}
    out = {f.code: f.severity for f in _escalated(findings, levels)}
    assert out == {"FD303": "error", "FD301": "info", "FD401": "info", "FD602": "info", "FD502": "info"}


def test_a_cause_with_nothing_worse_below_it_keeps_its_severity() -> None:
    findings = [_f("FD501", "warning"), _f("FD402", "info", ("FD501",))]
    out = {f.code: f.severity for f in _escalated(findings, {"FD501": "warning", "FD402": "warning"})}
    assert out == {"FD501": "warning", "FD402": "info"}


def test_alarms_come_first_then_what_they_explain_then_suspicions() -> None:
    catalog = load_catalog()
    findings = [
        _f("FD502", "info", confidence="suspected"),
        _f("FD601", "info", ("FD201",)),
        _f("FD602", "info", ("FD201",)),
        _f("FD201", "error"),
    ]
    # Among the explained, the one that was an error (FD602) before the one that was a warning (FD601).
    levels: dict[str, Severity] = {"FD201": "error", "FD601": "warning", "FD602": "error"}
    assert [f.code for f in rank(findings, catalog, levels)] == ["FD201", "FD602", "FD601", "FD502"]
