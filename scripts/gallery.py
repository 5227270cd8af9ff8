"""Regenerate the report excerpts of ``examples/README.md``, and the ``--diff`` example of ``README.md``, from real
runs.

Each gallery entry shows a ```console block with a ``fitdoctor check ...`` command and, before the next entry, a
```text block with what ``--format concise`` prints for it. This script reruns every such command with
``--format concise`` and replaces the text block with the output (the prose around it is written by hand and
is not touched; review ``git diff`` after a run). Usage: ``python scripts/gallery.py [--check]``; with
``--check`` it only reports the blocks that differ and exits 1 if any does.

In ``README.md``, a ```console block whose first line is ``$ fitdoctor check ... --diff ...`` is rerun and the
rest of the block replaced by what the command prints (the diff on stdout, then the patch line on stderr); and
the ```text block after :data:`DEMO_MARK` becomes what ``make demo`` prints (tests/test_readme.py checks it).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GALLERY = ROOT / "examples" / "README.md"
README = ROOT / "README.md"
BLOCK = re.compile(r"```(console|text)\n(.*?)```\n", re.S)
SESSION = re.compile(r"```console\n\$ (fitdoctor check [^\n]*--diff[^\n]*)\n(.*?)```\n", re.S)


def run(command: str) -> str:
    """The concise report of one gallery command, run from the repository root."""
    args = shlex.split(command)
    assert args[:2] == ["fitdoctor", "check"], command
    proc = subprocess.run(
        [sys.executable, "-m", "fitdoctor", *args[1:], "--format", "concise"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout


def regenerate(text: str) -> tuple[str, list[str]]:
    """The gallery with every text block after a command replaced by that command's output, and the commands
    whose block changed."""
    out: list[str] = []
    changed: list[str] = []
    pos = 0
    command: str | None = None
    for m in BLOCK.finditer(text):
        kind, body = m.group(1), m.group(2)
        out.append(text[pos : m.start()])
        pos = m.end()
        if kind == "console":
            line = next((x for x in body.splitlines() if x.startswith("fitdoctor check ")), None)
            command = line
            out.append(m.group(0))
            continue
        if command is None:
            out.append(m.group(0))
            continue
        fresh = run(command)
        if fresh != body:
            changed.append(command)
        out.append(f"```text\n{fresh}```\n")
        command = None
    out.append(text[pos:])
    return "".join(out), changed


def session(command: str) -> str:
    """What a ``--diff`` command prints in a terminal: the diff, then the patch line (stderr's last line)."""
    args = shlex.split(command)
    proc = subprocess.run([sys.executable, "-m", "fitdoctor", *args[1:]], cwd=ROOT, capture_output=True, text=True)
    last = proc.stderr.strip().splitlines()[-1:] if proc.stderr.strip() else []
    return proc.stdout + "".join(f"{line}\n" for line in last)


def regenerate_sessions(text: str) -> tuple[str, list[str]]:
    """README.md with every ``--diff`` console block rerun."""
    changed: list[str] = []

    def replace(m: re.Match[str]) -> str:
        fresh = session(m.group(1))
        if fresh != m.group(2):
            changed.append(m.group(1))
        return f"```console\n$ {m.group(1)}\n{fresh}```\n"

    return SESSION.sub(replace, text), changed


#: Marks the README's ```text block that shows what ``make demo`` prints.
DEMO_MARK = "<!-- the output of make demo, written by scripts/gallery.py and checked by tests/test_readme.py -->"
DEMO_BLOCK = re.compile(re.escape(DEMO_MARK) + r"\n```text\n(.*?)```\n", re.S)


def demo_command() -> list[str]:
    """The ``fitdoctor check ...`` arguments of the Makefile's ``demo`` target."""
    recipe = (ROOT / "Makefile").read_text(encoding="utf-8").split("\ndemo:", 1)[1]
    match = re.search(r"/fitdoctor (check [^|\n]+?)\s*(\|\||\n)", recipe)
    assert match is not None, "no fitdoctor check in the Makefile's demo target"
    return shlex.split(match.group(1))


def demo_output() -> str:
    """What ``make demo`` prints on stdout (the report; the script's own output goes to stderr), in an
    80-column terminal without colour, lines without trailing blanks."""
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TERM")}
    env.update(COLUMNS="80", NO_COLOR="1")
    proc = subprocess.run(
        [sys.executable, "-m", "fitdoctor", *demo_command()], cwd=ROOT, capture_output=True, text=True, env=env
    )
    return "".join(line.rstrip() + "\n" for line in proc.stdout.splitlines())


def without_timing(text: str) -> str:
    """``text`` with the check's duration blanked, and its last paragraph (the summary line, which wraps where
    the duration's digits end) on one line."""
    head, _, last = text.strip().rpartition("\n\n")
    # joined first: the duration's digits can end a wrapped line ("checked in 10.4" / "s · seed 0")
    return re.sub(r"checked in [0-9.]+ s", "checked in … s", f"{head}\n\n{' '.join(last.split())}")


def regenerate_demo(text: str) -> tuple[str, list[str]]:
    """README.md with the ``make demo`` block rerun."""
    match = DEMO_BLOCK.search(text)
    if match is None:
        return text, ["make demo (no marked block in README.md)"]
    fresh = demo_output()
    if without_timing(fresh) == without_timing(match.group(1)):
        return text, []
    return text[: match.start(1)] + fresh + text[match.end(1) :], ["make demo"]


def main() -> int:
    check = "--check" in sys.argv[1:]
    failed = False
    for path, step in ((GALLERY, regenerate), (README, regenerate_sessions), (README, regenerate_demo)):
        text = path.read_text(encoding="utf-8")
        fresh, changed = step(text)
        for command in changed:
            print(f"{'differs' if check else 'updated'}: {command}")
        if not check and fresh != text:
            path.write_text(fresh, encoding="utf-8")
        failed = failed or bool(changed)
    return 1 if check and failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
