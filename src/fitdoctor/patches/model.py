"""What a patch is, as data: the diff, the fixes it holds, and what re-checking the patched script measured."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Replacement:
    """One change of a file's text: ``length`` characters at ``offset`` (``lines`` whole lines, newlines
    included; 0 for an insertion) become ``text``. ``line`` is the 1-based line it starts at."""

    path: str
    line: int
    offset: int
    length: int
    text: str
    lines: int = 0


@dataclass(frozen=True)
class PatchedFix:
    """A fix the patch holds: the finding's code, the fix's id and title, what its replay measured (``loss`` or
    ``error rate``), and its own changes of the original files (for SARIF ``fixes``)."""

    code: str
    fix: str
    title: str
    measure: str = "loss"
    replacements: tuple[Replacement, ...] = ()


@dataclass(frozen=True)
class Patch:
    """The source patch of a report's verified fixes, and its proof.

    Attributes:
        diff: The unified diff (``--- a/train.py`` / ``+++ b/train.py``, paths relative to the folder fitdoctor
            ran in); empty when no verified fix is a source edit.
        files: The files it changes (as the report names them).
        fixes: The fixes it holds, root causes first.
        left_out: Verified fixes that are not in it, each with why (a recipe rather than an edit, or a
            construct the edit could not find).
        verified: Whether re-checking the patched script (in a scratch copy) showed the fixed findings gone and
            the loss down as the replays predicted; None when it was not re-checked.
        before: The baseline replay's final loss of the script as it is.
        after: The same, of the patched script (same steps and seed).
        remaining: Codes of the fixed findings the patched script still raises.
        findings_after: The patched script's findings as ``(code, severity)`` pairs, when it was re-checked:
            of every rule with ``--fix`` (its exit status follows them), of the fixed rules with ``--diff``.
        proved_by: What the proof judged besides the fixed findings being gone: ``loss`` (it went down), or
            ``finding`` where the loss can't tell (an error-rate fix; an adversarial objective, whose losses are
            not meant to fall).
    """

    diff: str = ""
    files: tuple[str, ...] = ()
    fixes: tuple[PatchedFix, ...] = ()
    left_out: tuple[str, ...] = ()
    verified: bool | None = None
    before: float | None = None
    after: float | None = None
    remaining: tuple[str, ...] = ()
    findings_after: tuple[tuple[str, str], ...] = ()
    proved_by: str = "loss"
    sources: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The report's ``patch`` section (the patched sources themselves stay out)."""
        return {
            "diff": self.diff,
            "files": list(self.files),
            "fixes": [asdict(f) for f in self.fixes],
            "left_out": list(self.left_out),
            "verified": self.verified,
            "before": self.before,
            "after": self.after,
            "remaining": list(self.remaining),
            "findings_after": [list(pair) for pair in self.findings_after],
            "proved_by": self.proved_by,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Patch:
        """The inverse of :meth:`to_dict`."""
        return cls(
            diff=data.get("diff", ""),
            files=tuple(data.get("files", ())),
            fixes=tuple(
                PatchedFix(**{**f, "replacements": tuple(Replacement(**r) for r in f.get("replacements", ()))})
                for f in data.get("fixes", ())
            ),
            left_out=tuple(data.get("left_out", ())),
            verified=data.get("verified"),
            before=data.get("before"),
            after=data.get("after"),
            remaining=tuple(data.get("remaining", ())),
            findings_after=tuple((str(c), str(s)) for c, s in data.get("findings_after", ())),
            proved_by=str(data.get("proved_by", "loss")),
        )
