"""A measured number with the threshold it was compared with, and how evidence holding such numbers is
written to the JSON report and read back.

A rule states the comparison it made as ``Measured(value, threshold)`` under the measurement's key. In the
JSON report (whose shape is stable) the pair is written as two keys: the measurement under its own key and
the threshold under ``threshold_key`` (``<key>_threshold`` unless the rule names it, e.g. ``threshold``
right after the measurement). :func:`evidence_from_json` pairs them back; nothing else reads key order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Measured:
    """A measured number and the threshold it was compared with.

    Attributes:
        value: What this run measured.
        threshold: The threshold it was compared with (as this run applied it).
        unit: What the numbers count (empty: a plain ratio or scale).
        threshold_key: The threshold's key in the JSON report (None: ``<key>_threshold``).
    """

    value: float
    threshold: float
    unit: str = ""
    threshold_key: str | None = None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def evidence_to_json(evidence: dict[str, Any]) -> dict[str, Any]:
    """Evidence as the JSON report writes it: each :class:`Measured` as its value and its threshold."""
    out: dict[str, Any] = {}
    for key, value in evidence.items():
        if isinstance(value, Measured):
            out[key] = value.value
            out[value.threshold_key or f"{key}_threshold"] = value.threshold
            if value.unit:
                out[f"{key}_unit"] = value.unit
        else:
            out[key] = value
    return out


def evidence_from_json(data: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`evidence_to_json`: a number followed by ``threshold``, or a number ``<key>``
    with a ``<key>_threshold`` (and ``<key>_unit``), become one :class:`Measured`."""
    keys = list(data)
    out: dict[str, Any] = {}
    taken: set[str] = set()
    for i, key in enumerate(keys):
        if key in taken:
            continue
        value = data[key]
        following = keys[i + 1] if i + 1 < len(keys) else None
        unit = data.get(f"{key}_unit", "")
        if _is_number(value) and _is_number(data.get(f"{key}_threshold")):
            out[key] = Measured(value, data[f"{key}_threshold"], unit)
            taken |= {f"{key}_threshold", f"{key}_unit"}
        elif _is_number(value) and following == "threshold" and _is_number(data["threshold"]):
            out[key] = Measured(value, data["threshold"], unit, threshold_key="threshold")
            taken |= {"threshold", f"{key}_unit"}
        else:
            out[key] = value
    return out
