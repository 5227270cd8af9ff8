"""Fixes: each a counterfactual :class:`~fitdoctor.training.Plan` with the code the user would write."""

from __future__ import annotations

from dataclasses import dataclass

from fitdoctor.location import Location
from fitdoctor.patches.edits import SourceEdit
from fitdoctor.training import Plan


@dataclass(frozen=True)
class FixCandidate:
    """A fix a rule proposes, before the confirm phase measures it.

    Attributes:
        id: Identifier of the replay (``standardize-inputs``); equal ids share one replay.
        title: What to do.
        snippet: The change as code.
        plan: The counterfactual replay.
        location: The construct the fix changes.
        note: Extra context shown with the fix.
        edits: The fix as edits of the user's source, when the construct it changes is known.
    """

    id: str
    title: str
    snippet: str
    plan: Plan
    location: Location | None = None
    note: str = ""
    edits: tuple[SourceEdit, ...] = ()
