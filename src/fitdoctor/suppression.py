"""Inline suppressions: ``# fitdoctor: ignore[FD301]`` on the line a finding points at."""

from __future__ import annotations

import re

from fitdoctor.location import Location

_PATTERN = re.compile(r"#\s*fitdoctor:\s*ignore(?:\[([^\]]*)\])?", re.IGNORECASE)


def suppressed_codes(line: str) -> set[str] | None:
    """The codes/slugs a line's comment suppresses; an empty set means all; None means no comment."""
    match = _PATTERN.search(line)
    if match is None:
        return None
    if match.group(1) is None:
        return set()
    return {part.strip().lower() for part in match.group(1).split(",") if part.strip()}


def silenced_at(location: Location | None, code: str, slug: str) -> bool:
    """Whether the line at ``location`` suppresses the rule ``code`` (by code, code prefix or slug)."""
    if location is None or not location.source:
        return False
    codes = suppressed_codes(location.source)
    if codes is None:
        return False
    return not codes or any(code.lower().startswith(c) or c == slug for c in codes)
