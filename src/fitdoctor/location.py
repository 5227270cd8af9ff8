"""A line in the user's script: where a finding, a fix or a captured object points."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """A line in the user's script.

    Attributes:
        path: The file, as given on the command line when it is the script, else absolute.
        line: 1-based line number.
        source: The text of that line, stripped.
    """

    path: str
    line: int
    source: str = ""
