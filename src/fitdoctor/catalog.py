"""The rule catalog: ``rules/<slug>.toml`` in the repository, ``fitdoctor/catalog/`` in a wheel."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from fitdoctor.errors import UsageError

REQUIRED_KEYS = (
    "code",
    "slug",
    "title",
    "severity",
    "category",
    "summary",
    "confirm",
    "what",
    "why",
    "example",
    "fix",
    "references",
    "thresholds",
)


@dataclass(frozen=True)
class RuleDoc:
    """One catalog entry.

    Attributes:
        code: e.g. ``FD301``.
        slug: e.g. ``dead-relu``.
        title: Short noun phrase.
        severity: Default severity.
        category: data, output, activations, initialization, gradients, optimization, loop or meta.
        summary: One sentence.
        confirm: How the confirm phase verifies it.
        what: What the rule does.
        why: Why it matters.
        example: A broken snippet.
        fix: How to fix it.
        references: Citations.
        thresholds: name -> {value, meaning, source}.
        explains: Codes of the findings this rule's problem causes (optional key): when both are confirmed,
            the effect says "explained by" this code and is reported as info under it, and this one is the alarm.
        symptom: Whether the rule reports an outcome (a flat loss, a collapsed output) that any other
            confirmed finding explains (optional key).
        signals_failure: Whether this rule's suspicion means the network is not learning (optional key): while
            it is raised, any suspect whose symptom the short training showed counts as confirmed.
        last_resort: Whether the rule's finding is the explanation left when nothing else explains a failure
            (optional key): while another rule's finding that is not a symptom is confirmed, this one stays an
            unconfirmed suspicion (info).
    """

    code: str
    slug: str
    title: str
    severity: str
    category: str
    summary: str
    confirm: str
    what: str
    why: str
    example: str
    fix: str
    references: tuple[str, ...]
    thresholds: dict[str, dict[str, Any]] = field(default_factory=dict)
    explains: tuple[str, ...] = ()
    symptom: bool = False
    signals_failure: bool = False
    last_resort: bool = False

    def threshold(self, name: str) -> float:
        """The numeric value of one of this rule's thresholds."""
        return float(self.thresholds[name]["value"])


def catalog_dir() -> Path:
    """Where the catalog lives: packaged next to the code in a wheel, else the repository's ``rules/``."""
    packaged = Path(__file__).parent / "catalog"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "rules"


@functools.cache
def load_catalog() -> dict[str, RuleDoc]:
    """All catalog entries by code, read once."""
    rules: dict[str, RuleDoc] = {}
    directory = catalog_dir()
    for path in sorted(directory.glob("*.toml")):
        with path.open("rb") as fh:
            data = tomllib.load(fh)
        missing = [k for k in REQUIRED_KEYS if k not in data]
        if missing:
            raise UsageError(f"catalog entry {path.name} lacks {', '.join(missing)}")
        doc = RuleDoc(
            **{k: data[k] for k in REQUIRED_KEYS if k not in ("references", "thresholds")},
            references=tuple(data["references"]),
            thresholds=dict(data["thresholds"]),
            explains=tuple(data.get("explains", ())),
            symptom=bool(data.get("symptom", False)),
            signals_failure=bool(data.get("signals_failure", False)),
            last_resort=bool(data.get("last_resort", False)),
        )
        rules[doc.code] = doc
    rules = dict(sorted(rules.items()))
    if not rules:
        raise UsageError(f"the rule catalog is missing: no rules/*.toml under {directory}")
    for doc in rules.values():
        unknown = [code for code in doc.explains if code not in rules]
        if unknown:
            raise UsageError(f"catalog entry {doc.slug}.toml explains unknown codes: {', '.join(unknown)}")
    return rules


def rule_doc(key: str) -> RuleDoc:
    """Look a rule up by code (``FD301``) or slug (``dead-relu``), case-insensitively.

    Raises:
        UsageError: No rule has that code or slug.
    """
    catalog = load_catalog()
    wanted = key.strip().lower()
    for doc in catalog.values():
        if wanted in (doc.code.lower(), doc.slug):
            return doc
    raise UsageError(f"no rule named {key!r}; `fitdoctor rules` lists them")
