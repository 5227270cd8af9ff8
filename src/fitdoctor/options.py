"""Validation of the budget and selection options, in one place for the CLI, ``[tool.fitdoctor]`` and the API.

Every function raises :class:`~fitdoctor.errors.UsageError` with a sentence that names the option (as the
caller spells it) and says what it must be.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from fitdoctor.errors import UsageError

#: The largest seed ``torch.manual_seed`` takes.
MAX_SEED = 2**64 - 1


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def steps(value: Any, name: str = "steps") -> int:
    """A positive number of optimizer steps."""
    if not _is_int(value) or value < 1:
        raise UsageError(f"{name} must be a positive integer, not {value!r}")
    return int(value)


def replay_steps(value: Any, name: str = "replay-steps") -> int:
    """Steps per replay: a positive integer, or 0 for the default (twice the captured steps, at least 200)."""
    if not _is_int(value) or value < 0:
        raise UsageError(f"{name} must be 0 (the default) or a positive integer, not {value!r}")
    return int(value)


def time_budget(value: Any, name: str = "time-budget") -> float:
    """Seconds the script may run: a finite number of at least 1 (the hang guard is derived from it)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 1:
        raise UsageError(f"{name} must be a finite number of seconds, at least 1, not {value!r}")
    return float(value)


def seed(value: Any, name: str = "seed") -> int:
    """A seed ``torch.manual_seed`` accepts: an integer from 0 to 2**64 - 1."""
    if not _is_int(value) or not 0 <= value <= MAX_SEED:
        raise UsageError(f"{name} must be an integer from 0 to 2**64 - 1, not {value!r}")
    return int(value)


def batch_size(value: Any, name: str = "batch_size") -> int | None:
    """A batch size: a positive integer, or None for the default."""
    if value is None:
        return None
    if not _is_int(value) or value < 1:
        raise UsageError(f"{name} must be a positive integer or None, not {value!r}")
    return int(value)


def stage(value: Any, name: str = "stage") -> int:
    """A training stage: 1 for the first."""
    if not _is_int(value) or value < 1:
        raise UsageError(f"{name} must be a positive integer (1 is the first stage), not {value!r}")
    return int(value)


def patterns(value: Any, name: str) -> tuple[str, ...]:
    """Rule patterns: a string (comma-separated codes, prefixes or slugs) or a list of such strings."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Iterable) or isinstance(value, (bytes, dict)):
        raise UsageError(f"{name} must be a rule code, prefix or slug, or a list of them, not {value!r}")
    out: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise UsageError(f"{name} must hold rule codes, prefixes or slugs as strings, not {item!r}")
        out.extend(part.strip() for part in item.split(",") if part.strip())
    return tuple(out)


def threshold(value: Any, name: str) -> float:
    """A threshold override: a finite number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UsageError(f"threshold {name} must be a finite number, not {value!r}")
    return float(value)
