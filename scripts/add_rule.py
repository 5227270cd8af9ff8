"""Scaffold a new rule: its catalog entry, its module, a broken example, a healthy twin and its test.

Usage (from the repository root; ``make rule NAME=softmax-dim CODE=FD205`` runs it)::

    python scripts/add_rule.py --name softmax-dim --code FD205 [--category output] [--severity warning]

Every file it writes holds ``TODO`` placeholders, and the test suite fails until each is replaced: the catalog test
rejects a ``TODO`` in an entry, the example tests expect the broken example to raise the rule and the healthy twin
to stay clean, and the rule's own test starts as a failing reminder. Nothing outside these files names the rule:
rule modules are discovered, and the causal links it declares live in its TOML (``explains``).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CATEGORIES = ("data", "output", "activations", "initialization", "gradients", "optimization", "loop")

TOML = '''code = "{code}"
slug = "{slug}"
title = "TODO: a short noun phrase"
severity = "{severity}"
category = "{category}"
# explains = ["FD601"]  # codes of the findings this problem causes (they then say "explained by {code}")
summary = "TODO: one sentence: what the rule reports."
confirm = "TODO: how the confirm phase verifies it (the fix it replays, and what counts as verified)."

what = """
TODO: what fitdoctor measures, and when it reports.
"""

why = """
TODO: why this makes a network learn nothing, with sources.
"""

example = """
TODO: a broken snippet, in a fenced python block.
"""

fix = """
TODO: how to fix it, in a fenced python block.
"""

references = [
    "TODO: a citation",
]

[thresholds]
# [thresholds.name]
# value = 0.5
# meaning = "TODO"
# source = "TODO: where the number comes from"
'''

MODULE = '''"""{code} {slug}: TODO one line on what it reports."""

from __future__ import annotations

from fitdoctor.catalog import RuleDoc
from fitdoctor.evidence import Evidence
from fitdoctor.rules.base import Suspect, rule


# needs=(...): the probed quantities the check reads, from fitdoctor.quantities.QUANTITIES (e.g. "spread").
@rule("{code}")
def check(ev: Evidence, doc: RuleDoc) -> list[Suspect]:
    """TODO: the condition, in terms of the evidence and ``doc.threshold(...)``."""
    return []
'''

BROKEN = '''"""TODO: the failure, as people write it (cite the thread or post it comes from).

Expected: {code} {slug}
"""

raise SystemExit("TODO: write the broken example for {code}")
'''

HEALTHY = '''"""TODO: the same script, fixed.

Expected: none
"""

raise SystemExit("TODO: write the healthy twin of the {code} example")
'''

TEST = '''"""{code} {slug}: the rule on evidence built here (no subprocess), and its examples through the CLI."""

from __future__ import annotations

import pytest


@pytest.mark.skip(reason="TODO: test {code} on evidence built in the test, over several seeds")
def test_{module}_fires_and_its_twin_does_not() -> None:
    raise AssertionError("TODO")
'''


def main(argv: list[str] | None = None) -> int:
    """Write the rule's files; refuses to overwrite anything."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--name", required=True, help="the slug, kebab-case (softmax-dim)")
    parser.add_argument("--code", required=True, help="the code, FD plus three digits (FD205)")
    parser.add_argument("--category", default="output", choices=CATEGORIES)
    parser.add_argument("--severity", default="warning", choices=("error", "warning", "info"))
    args = parser.parse_args(argv)
    slug, code = args.name, args.code.upper()
    if not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", slug):
        parser.error(f"--name {slug!r} must be kebab-case, e.g. softmax-dim")
    if not re.fullmatch(r"FD[1-8]\d\d", code):
        parser.error(f"--code {code!r} must be FD plus three digits (FD9xx are the meta findings)")
    module = slug.replace("-", "_")
    taken = [p for p in (ROOT / "rules").glob("*.toml") if f'code = "{code}"' in p.read_text(encoding="utf-8")]
    if taken:
        parser.error(f"{code} is taken by {taken[0].name}")
    values = {"code": code, "slug": slug, "module": module, "category": args.category, "severity": args.severity}
    files = {
        ROOT / "rules" / f"{slug}.toml": TOML,
        ROOT / "src" / "fitdoctor" / "rules" / f"{module}.py": MODULE,
        ROOT / "examples" / module / "broken.py": BROKEN,
        ROOT / "examples" / module / "healthy.py": HEALTHY,
        ROOT / "tests" / "rules" / f"test_{module}.py": TEST,
    }
    existing = [p for p in files if p.exists()]
    if existing:
        parser.error(f"{existing[0].relative_to(ROOT)} exists already")
    for path, template in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**values), encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    print(f"Now replace every TODO; `make test` fails until {code} is real.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
