"""The learning-rate range test's summary, shared by FD501 and FD502."""

from __future__ import annotations

from fitdoctor.evidence import Evidence
from fitdoctor.rules.base import g


def range_note(ev: Evidence) -> str:
    """What the range test found, for a message: where the loss fell fastest and where it diverged."""
    rt = ev.lr_range
    assert rt is not None
    note = f"range test: the loss fell fastest towards lr {g(rt.best_lr)}"
    if rt.diverged_at is not None:
        note += f" and diverged at {g(rt.diverged_at)}"
    return note
