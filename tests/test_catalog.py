"""Every rule has its catalog entry, its implementation and its examples — and the reverse."""

from __future__ import annotations

import re

import pytest

from conftest import EXAMPLES, expected_codes
from fitdoctor.catalog import REQUIRED_KEYS, catalog_dir, load_catalog, rule_doc
from fitdoctor.rules import load_rules

META = {"FD901", "FD902", "FD903"}  # produced by the capture itself, tested in test_capture.py


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
    expected_somewhere = {c for p in EXAMPLES.glob("*/broken.py") for c in expected_codes(p)}
    for code in set(catalog) - META:
        assert code in implemented, f"{code} has a catalog entry but no implementation"
        assert code in expected_somewhere, f"{code} has no broken example that expects it"


@pytest.mark.parametrize("key", ["FD301", "fd301", "dead-relu"])
def test_rule_lookup_by_code_or_slug(key: str) -> None:
    assert rule_doc(key).code == "FD301"
