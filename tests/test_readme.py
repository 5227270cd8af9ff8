"""The README's demo block is what `make demo` prints today (modulo the check's duration)."""

from __future__ import annotations

import importlib.util
from types import ModuleType

import pytest

from conftest import ROOT


def _gallery() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gallery", ROOT / "scripts" / "gallery.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_demo_command_is_the_makefiles() -> None:
    assert _gallery().demo_command() == ["check", "examples/gelu_final_activation/broken.py"]


def test_timing_is_the_only_thing_ignored() -> None:
    gallery = _gallery()
    a = "report\n\n1 error, 0 warnings · checked in 4.3 s\n· seed 0\n"
    b = "report\n\n1 error, 0 warnings · checked in 12.25 s · seed\n0\n"
    assert gallery.without_timing(a) == gallery.without_timing(b)
    c = "report\n\n1 error, 0 warnings · checked in 10.4\ns · seed 0\n"  # the digits end a wrapped line
    assert gallery.without_timing(a) == gallery.without_timing(c)
    assert gallery.without_timing(a) != gallery.without_timing(a.replace("1 error", "2 errors"))
    assert gallery.without_timing(a) != gallery.without_timing(a.replace("report", "rep ort"))


@pytest.mark.slow
def test_the_readme_demo_block_is_what_make_demo_prints() -> None:
    gallery = _gallery()
    match = gallery.DEMO_BLOCK.search((ROOT / "README.md").read_text(encoding="utf-8"))
    assert match is not None, "README.md lost its marked make demo block"
    fresh = gallery.demo_output()
    assert fresh.startswith("fitdoctor "), fresh[-2000:]
    assert gallery.without_timing(match.group(1)) == gallery.without_timing(fresh), (
        "README.md's demo block is stale: run `python scripts/gallery.py`"
    )
