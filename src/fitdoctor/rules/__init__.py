"""Rules: pure functions of :class:`~fitdoctor.evidence.Evidence` that return suspicions.

A rule is one unit: its catalog entry ``rules/<slug>.toml`` (docs, thresholds with sources, the findings it
explains) and one module here, ``<slug>.py`` with dashes as underscores, that registers its check with
:func:`~fitdoctor.rules.base.rule`. Modules are discovered: nothing else names a rule. Modules whose name
starts with an underscore, and ``base``, are helpers. The confirm phase turns suspicions into findings by
replaying their fixes.
"""

from __future__ import annotations

import importlib
import pkgutil

from fitdoctor.catalog import RuleDoc
from fitdoctor.rules.base import RULES, RuleSpec


def rule_modules() -> list[str]:
    """The names of the rule modules in this package (helpers excluded)."""
    return sorted(
        info.name
        for info in pkgutil.iter_modules(__path__)
        if not info.name.startswith("_") and info.name != "base" and not info.ispkg
    )


def load_rules() -> dict[str, RuleSpec]:
    """Import every rule module (each registers its check) and return the registry, by code."""
    for name in rule_modules():
        importlib.import_module(f"{__name__}.{name}")
    return RULES


def probe_settings(catalog: dict[str, RuleDoc]) -> dict[str, float]:
    """The probes' settings (``"probe.setting"`` -> value), each from the thresholds of the rule that declares
    it (e.g. the range test's divergence factor from learning-rate-too-high), with overrides applied."""
    out: dict[str, float] = {}
    for spec in load_rules().values():
        for key, threshold in spec.settings:
            if spec.code in catalog:
                out[key] = catalog[spec.code].threshold(threshold)
    return out
