"""What every rule module uses: the :class:`Suspect` a rule returns, the :func:`rule` registration and the
number formats of messages. Rule modules import this module, never the package (so no import cycle)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from fitdoctor.catalog import RuleDoc
from fitdoctor.evidence import Evidence
from fitdoctor.fixes import FixCandidate
from fitdoctor.location import Location
from fitdoctor.quantities import unknown


@dataclass
class Suspect:
    """A rule's verdict before confirmation.

    Attributes:
        code: The rule code.
        message: What was found, with numbers.
        location: The user's line.
        module: The model part concerned.
        evidence: Measured values and thresholds.
        candidates: Fixes to replay, most specific first.
        symptom: Whether the short training showed the problem's symptom.
        proof: Whether the evidence settles the matter without a replay (e.g. targets out of range).
    """

    code: str
    message: str
    location: Location | None = None
    module: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    candidates: list[FixCandidate] = field(default_factory=list)
    symptom: bool = False
    proof: bool = False


RuleFn = Callable[[Evidence, RuleDoc], list[Suspect]]


@dataclass(frozen=True)
class RuleSpec:
    """What the pipeline knows of a rule: only what the rule declares.

    Attributes:
        code: The catalog code.
        check: The rule itself, a pure function of the evidence and the rule's catalog entry.
        needs: The probed quantities the rule reads (:data:`fitdoctor.quantities.QUANTITIES`); a check
            measures only those its selected rules need, and leaves the others
            :class:`~fitdoctor.quantities.NotMeasured`.
        per_term: Whether the rule reads the loss target, so it runs once more for every further loss term.
        settings: Probe settings this rule's thresholds supply: ``"probe.setting"`` -> threshold name.
        layer_share: The per-layer share the rule reports in its evidence (``layers``: name -> init and after),
            shown in the report's layer chart in place of the plain measurement (``dead`` or ``saturated``), so
            the chart says what the finding says.
    """

    code: str
    check: RuleFn
    needs: frozenset[str] = frozenset()
    per_term: bool = False
    settings: tuple[tuple[str, str], ...] = ()
    layer_share: str | None = None


RULES: dict[str, RuleSpec] = {}


def rule(
    code: str,
    *,
    needs: Iterable[str] = (),
    per_term: bool = False,
    settings: dict[str, str] | None = None,
    layer_share: str | None = None,
) -> Callable[[RuleFn], RuleFn]:
    """Register a rule's check under its catalog code, with what it declares (see :class:`RuleSpec`)."""
    strangers = unknown(frozenset(needs))
    if strangers:
        raise ValueError(f"{code} needs unknown quantities: {strangers}")

    def register(fn: RuleFn) -> RuleFn:
        settings_items = tuple(sorted((settings or {}).items()))
        RULES[code] = RuleSpec(code, fn, frozenset(needs), per_term, settings_items, layer_share)
        return fn

    return register


def g(value: float) -> str:
    """A number for a message: 3 significant digits, as every number of a report (``report.concise.number``)."""
    return f"{value:.3g}"


def pct(share: float) -> str:
    """A share as a percentage."""
    return f"{100 * share:.0f}%"
