"""Every rule has its catalog entry, its implementation and its examples — and the reverse."""

from __future__ import annotations

import re

import pytest

from conftest import EXAMPLES, SCRIPTS, expected_codes
from fitdoctor.catalog import REQUIRED_KEYS, catalog_dir, load_catalog, rule_doc
from fitdoctor.rules import load_rules

META = {"FD901", "FD902", "FD903"}  # produced by the capture itself, in capture/child.py

#: DESIGN.md §3: the fixed codes and slugs.
DESIGN_CODES = {
    "FD101": "unscaled-inputs",
    "FD102": "unscaled-targets",
    "FD103": "nonfinite-data",
    "FD201": "output-range-mismatch",
    "FD202": "loss-shape-mismatch",
    "FD203": "loss-activation-mismatch",
    "FD204": "collapsed-output",
    "FD301": "dead-relu",
    "FD302": "saturated-activations",
    "FD303": "poor-initialization",
    "FD401": "vanishing-gradients",
    "FD402": "exploding-gradients",
    "FD501": "learning-rate-too-high",
    "FD502": "learning-rate-too-low",
    "FD503": "missing-zero-grad",
    "FD504": "params-not-updated",
    "FD601": "loss-not-decreasing",
    "FD602": "cannot-overfit-batch",
}


def test_every_design_code_is_in_the_catalog() -> None:
    catalog = load_catalog()
    for code, slug in DESIGN_CODES.items():
        assert code in catalog, f"{code} lacks its catalog entry"
        assert catalog[code].slug == slug
    assert set(catalog) >= META


def test_catalog_entries_are_complete() -> None:
    catalog = load_catalog()
    assert catalog
    for code, doc in catalog.items():
        assert re.fullmatch(r"FD\d{3}", code)
        assert (catalog_dir() / f"{doc.slug}.toml").exists()
        assert doc.severity in ("error", "warning", "info")
        for key in REQUIRED_KEYS:
            assert getattr(doc, key) not in ("", None), (code, key)
        for name, threshold in doc.thresholds.items():
            assert {"value", "meaning", "source"} <= set(threshold), (code, name)
            assert len(threshold["source"]) > 20, (code, name, "cite where the number comes from")


def test_every_rule_has_an_implementation_and_examples() -> None:
    catalog = load_catalog()
    implemented = set(load_rules())
    assert implemented <= set(catalog), implemented - set(catalog)
    scripts = [*EXAMPLES.glob("*/broken*.py"), *SCRIPTS.glob("*.py")]
    expected_somewhere = {c for p in scripts if "Expected:" in p.read_text() for c in expected_codes(p)}
    for code in catalog:
        if code not in META:
            assert code in implemented, f"{code} has a catalog entry but no implementation"
        assert code in expected_somewhere, f"{code} has no broken example (or test script) that expects it"


def test_the_meta_codes_are_the_captures_constants() -> None:
    from fitdoctor.rules import _meta

    assert {_meta.SCRIPT_CRASHED, _meta.NO_TRAINING_STEP, _meta.UNSUPPORTED_SETUP} == META


def test_a_rule_is_one_unit_named_after_its_slug() -> None:
    """Each rule module is ``<slug>.py`` and registers its own code only (discovery finds it; nothing lists it)."""
    catalog = load_catalog()
    for code, spec in load_rules().items():
        module = spec.check.__module__.rsplit(".", 1)[-1]
        assert module == catalog[code].slug.replace("-", "_"), (code, module)


def test_no_catalog_entry_keeps_a_scaffold_placeholder() -> None:
    for path in catalog_dir().glob("*.toml"):
        assert "TODO" not in path.read_text(encoding="utf-8"), f"{path.name} still has TODO placeholders"


@pytest.mark.parametrize("key", ["FD301", "fd301", "dead-relu"])
def test_rule_lookup_by_code_or_slug(key: str) -> None:
    assert rule_doc(key).code == "FD301"
