"""``[tool.fitdoctor]`` in the nearest pyproject.toml."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from fitdoctor import options
from fitdoctor.errors import UsageError

#: Keys of ``[tool.fitdoctor]`` and the type each takes.
KEYS: dict[str, type | tuple[type, ...]] = {
    "select": (list, str),
    "ignore": (list, str),
    "fail-on": str,
    "steps": int,
    "time-budget": (int, float),
    "replay-steps": int,
    "seed": int,
    "thresholds": dict,
}
FAIL_ON = ("error", "warning", "info")


@dataclass(frozen=True)
class Config:
    """Settings from ``[tool.fitdoctor]`` (None: not set there).

    Attributes:
        path: The pyproject.toml they came from, if any.
        select: Rules to run.
        ignore: Rules to skip.
        fail_on: Lowest severity that fails the check.
        steps: Step budget.
        time_budget: Time budget in seconds.
        replay_steps: Steps per replay.
        seed: Seed.
        thresholds: Rule -> threshold -> value.
    """

    path: Path | None = None
    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] | None = None
    fail_on: str | None = None
    steps: int | None = None
    time_budget: float | None = None
    replay_steps: int | None = None
    seed: int | None = None
    thresholds: dict[str, dict[str, float]] = field(default_factory=dict)


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml in ``start`` or its parents."""
    folder = start if start.is_dir() else start.parent
    for candidate in (folder, *folder.parents):
        path = candidate / "pyproject.toml"
        if path.is_file():
            return path
    return None


def load_config(start: Path, explicit: Path | None = None) -> Config:
    """Read ``[tool.fitdoctor]`` from ``explicit`` or the nearest pyproject.toml above ``start``.

    Raises:
        UsageError: The file can't be parsed, or the table has an unknown key or a value of the wrong type.
    """
    path = explicit or find_pyproject(start)
    if path is None:
        return Config()
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{path} can't be read as TOML: {exc}") from exc
    table = data.get("tool", {}).get("fitdoctor")
    if table is None:
        return Config(path=path)
    if not isinstance(table, dict):
        raise UsageError(f"{path}: [tool.fitdoctor] must be a table")
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise UsageError(
            f"{path}: unknown key{'s' if len(unknown) > 1 else ''} in [tool.fitdoctor]: {', '.join(unknown)}. "
            f"Known keys: {', '.join(KEYS)}"
        )
    for key, value in table.items():
        expected = KEYS[key]
        if isinstance(value, bool) or not isinstance(value, expected):
            names = expected.__name__ if isinstance(expected, type) else " or ".join(t.__name__ for t in expected)
            raise UsageError(f"{path}: [tool.fitdoctor] {key} must be a {names}, not {value!r}")
    if "fail-on" in table and table["fail-on"] not in FAIL_ON:
        raise UsageError(f"{path}: [tool.fitdoctor] fail-on must be one of {', '.join(FAIL_ON)}")
    where = f"{path}: [tool.fitdoctor]"
    checks: dict[str, Callable[[Any, str], Any]] = {
        "select": options.patterns,
        "ignore": options.patterns,
        "steps": options.steps,
        "replay-steps": options.replay_steps,
        "time-budget": options.time_budget,
        "seed": options.seed,
    }
    values = {key: check(table[key], f"{where} {key}") for key, check in checks.items() if key in table}
    thresholds: dict[str, Any] = table.get("thresholds", {})
    return Config(
        path=path,
        select=values.get("select"),
        ignore=values.get("ignore"),
        fail_on=table.get("fail-on"),
        steps=values.get("steps"),
        time_budget=values.get("time-budget"),
        replay_steps=values.get("replay-steps"),
        seed=values.get("seed"),
        thresholds={str(k): v for k, v in thresholds.items()},
    )
