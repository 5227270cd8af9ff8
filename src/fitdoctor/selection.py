"""Which rules run, with which thresholds: ``--select``/``--ignore`` and per-rule threshold overrides."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from fitdoctor import options
from fitdoctor.catalog import RuleDoc, load_catalog, rule_doc
from fitdoctor.errors import UsageError

META_PREFIX = "FD9"


def _matches(pattern: str, doc: RuleDoc) -> bool:
    p = pattern.strip()
    return p.lower() == doc.slug or doc.code.upper().startswith(p.upper())


def _check_patterns(patterns: Iterable[str], catalog: Mapping[str, RuleDoc], option: str) -> None:
    for p in patterns:
        if not p.strip() or not any(_matches(p, d) for d in catalog.values()):
            raise UsageError(
                f"{option} {p!r} matches no rule: use a code (FD301), a code prefix (FD3) or a slug (dead-relu); "
                "`fitdoctor rules` lists them"
            )


@dataclass(frozen=True)
class RuleSelection:
    """Rules to run and threshold overrides.

    Attributes:
        select: Codes, code prefixes or slugs to run (empty: all).
        ignore: Codes, code prefixes or slugs to skip (applied after ``select``).
        thresholds: Rule (code or slug) -> threshold name -> value.
    """

    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    thresholds: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def validate(self) -> RuleSelection:
        """Raise :class:`UsageError` for patterns, rules or thresholds that don't exist."""
        catalog = load_catalog()
        _check_patterns(self.select, catalog, "select")
        _check_patterns(self.ignore, catalog, "ignore")
        for rule, values in self.thresholds.items():
            doc = rule_doc(rule)
            if not isinstance(values, Mapping):
                raise UsageError(f"thresholds for {rule} must be a table of name = number")
            for name, value in values.items():
                if name not in doc.thresholds:
                    known = ", ".join(doc.thresholds) or "none"
                    raise UsageError(f"{doc.code} {doc.slug} has no threshold {name!r} (it has: {known})")
                options.threshold(value, f"{doc.code}.{name}")
                if doc.thresholds[name].get("value", 0) >= 0 and value < 0:
                    raise UsageError(f"threshold {doc.code}.{name} must not be negative, not {value!r}")
                if "share" in name and not 0 <= value <= 1:
                    raise UsageError(f"threshold {doc.code}.{name} is a share: it must lie in [0, 1], not {value!r}")
        return self

    def is_selected(self, doc: RuleDoc) -> bool:
        """Whether the rule runs. Meta rules (FD9xx) always do: they say why a check could not run."""
        if doc.code.startswith(META_PREFIX):
            return True
        if self.select and not any(_matches(p, doc) for p in self.select):
            return False
        return not any(_matches(p, doc) for p in self.ignore)

    def catalog(self) -> dict[str, RuleDoc]:
        """The whole catalog with the threshold overrides applied."""
        catalog = dict(load_catalog())
        for rule, values in self.thresholds.items():
            doc = rule_doc(rule)
            merged = {name: dict(t) for name, t in doc.thresholds.items()}
            for name, value in values.items():
                merged[name]["value"] = float(value)
                merged[name]["source"] = f"set by the user (default {doc.thresholds[name]['value']})"
            catalog[doc.code] = replace(catalog[doc.code], thresholds=merged)
        return catalog

    def to_job(self) -> dict[str, Any]:
        """The selection as JSON for the child process."""
        return {
            "select": list(self.select),
            "ignore": list(self.ignore),
            "thresholds": {k: dict(v) for k, v in self.thresholds.items()},
        }

    @classmethod
    def from_job(cls, job: Mapping[str, Any]) -> RuleSelection:
        """The selection from a child job (absent keys: everything, defaults)."""
        rules = job.get("rules") or {}
        return cls(tuple(rules.get("select", ())), tuple(rules.get("ignore", ())), dict(rules.get("thresholds", {})))
