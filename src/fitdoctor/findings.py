"""The data fitdoctor produces: findings with their evidence, fixes and the report. No rendering here."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from fitdoctor.location import Location
from fitdoctor.measured import evidence_from_json, evidence_to_json
from fitdoctor.patches.edits import SourceEdit
from fitdoctor.patches.model import Patch
from fitdoctor.summary import SetupInfo, TrainingSummary

Severity = Literal["error", "warning", "info"]
Confidence = Literal["confirmed", "suspected"]

SEVERITY_ORDER: dict[str, int] = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Fix:
    """A proposed change and what the confirm phase measured of it.

    Attributes:
        id: Identifier of the counterfactual replay (e.g. ``standardize-inputs``).
        title: What to do, in one line.
        snippet: The change as code.
        verified: Whether the replay with this fix measurably beat the baseline.
        metric: What ``before`` and ``after`` measure, in words (e.g. ``mse_loss on the captured batches after
            200 replay steps``).
        before: The baseline replay's final value.
        after: The fixed replay's final value.
        steps: Replay steps behind both numbers.
        location: The construct the fix changes.
        note: Extra context (e.g. the learning rate the fix chose).
        measure: ``loss`` or ``error rate``: which quantity ``before`` and ``after`` are.
        edits: The fix as edits of the user's source (``fitdoctor check --diff``), when the construct it
            changes is known; empty for a fix that is a recipe (standardise the data, change the init).
        stopped: Whether the fixed replay was stopped after ``steps`` because it could no longer be verified
            (``fitdoctor.futility``); ``before`` is then the baseline's value at the same step.
    """

    id: str
    title: str
    snippet: str
    verified: bool = False
    metric: str = ""
    before: float | None = None
    after: float | None = None
    steps: int = 0
    location: Location | None = None
    note: str = ""
    measure: str = "loss"
    edits: tuple[SourceEdit, ...] = ()
    stopped: bool = False


@dataclass(frozen=True)
class Finding:
    """One diagnosed problem.

    Attributes:
        code: Rule code, e.g. ``FD301``.
        rule: Rule slug, e.g. ``dead-relu``.
        severity: error, warning or info.
        confidence: confirmed (the short training showed it or its fix was verified) or suspected.
        message: What was found, with the measured numbers.
        location: The user's line it concerns.
        module: The model part it concerns (qualified module name or description).
        evidence: What the rule measured: numbers, names, and :class:`Measured` comparisons with thresholds.
        fix: The best fix, measured.
        alternatives: Other fixes that were tried.
        caused_by: Codes of findings that explain this one (root causes come first in the report).
    """

    code: str
    rule: str
    severity: Severity
    confidence: Confidence
    message: str
    location: Location | None = None
    module: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    fix: Fix | None = None
    alternatives: tuple[Fix, ...] = ()
    caused_by: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The fixed JSON shape of a finding."""
        out = asdict(self)
        out["evidence"] = evidence_to_json(self.evidence)
        out["alternatives"] = [_fix_json(a) for a in self.alternatives]
        if self.fix is not None:
            out["fix"] = _fix_json(self.fix)
        out["caused_by"] = list(self.caused_by)
        return out


def _fix_json(fix: Fix) -> dict[str, Any]:
    """A fix as JSON: its edits a list, like every other sequence of the report."""
    out = asdict(fix)
    out["edits"] = [e.to_dict() for e in fix.edits]
    return out


@dataclass(frozen=True)
class FileWrite:
    """A file or folder the checked script created, changed or deleted.

    Attributes:
        path: The original path (relative to the folder fitdoctor was run from when inside it).
        change: ``created``, ``modified`` or ``deleted``.
        reached: Whether the change reached the user's files (``--in-place``, a path outside the scratch
            copy of the script's folder); otherwise it stayed in the scratch copy and was discarded.
    """

    path: str
    change: str
    reached: bool


@dataclass(frozen=True)
class Report:
    """Everything one check produced, JSON-able through :meth:`to_dict`.

    Attributes:
        version: fitdoctor's version.
        script: The checked script (or ``<api>``).
        status: ``ok``, ``crashed``, ``no-step``, ``timeout``, ``unsupported`` or ``error``.
        setup: What was captured: model, optimizer, loss, data (None when the check could not run).
        findings: Ordered: severity, then root causes before their effects.
        training: The user's loop and the analysis' measurements (None when the check could not run).
        timings: Seconds per phase.
        seed: The seed the replays used.
        error: For a status other than ok: message and (for a crash) the user's traceback.
        suppressed: Findings silenced by a ``# fitdoctor: ignore[...]`` comment on their line.
        files_written: What the script created, changed or deleted while it was checked.
        patch: The verified fixes as a source patch, and its proof (``--diff``/``--fix`` only).
    """

    version: str
    script: str
    status: str
    setup: SetupInfo | None = None
    findings: tuple[Finding, ...] = ()
    training: TrainingSummary | None = None
    timings: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    error: dict[str, Any] | None = None
    suppressed: tuple[Finding, ...] = ()
    files_written: tuple[FileWrite, ...] = ()
    patch: Patch | None = None

    def to_dict(self) -> dict[str, Any]:
        """The fixed JSON shape of a report (``patch`` only when one was asked for)."""
        out = {
            "version": self.version,
            "script": self.script,
            "status": self.status,
            "setup": {} if self.setup is None else self.setup.to_dict(),
            "findings": [f.to_dict() for f in self.findings],
            "training": {} if self.training is None else self.training.to_dict(),
            "timings": self.timings,
            "seed": self.seed,
            "error": self.error,
            "suppressed": [f.to_dict() for f in self.suppressed],
            "files_written": [asdict(w) for w in self.files_written],
        }
        if self.patch is not None:
            out["patch"] = self.patch.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        """Rebuild a report from :meth:`to_dict` output (the child process sends it as JSON)."""

        def location(d: dict[str, Any] | None) -> Location | None:
            return Location(**d) if d else None

        def fix(d: dict[str, Any] | None) -> Fix | None:
            if not d:
                return None
            # Reports written before ``measure`` existed said it only in the metric's words.
            measure = d.get("measure") or (
                "error rate" if str(d.get("metric", "")).startswith("error rate") else "loss"
            )
            edits = tuple(SourceEdit.from_dict(e) for e in d.get("edits", ()))
            return Fix(**{**d, "location": location(d.get("location")), "measure": measure, "edits": edits})

        def finding(f: dict[str, Any]) -> Finding:
            return Finding(
                **{
                    **f,
                    "location": location(f.get("location")),
                    "evidence": evidence_from_json(f.get("evidence", {})),
                    "fix": fix(f.get("fix")),
                    "alternatives": tuple(x for x in (fix(a) for a in f.get("alternatives", [])) if x),
                    "caused_by": tuple(f.get("caused_by", [])),
                }
            )

        findings = tuple(finding(f) for f in data.get("findings", []))
        return cls(
            version=data["version"],
            script=data["script"],
            status=data["status"],
            setup=SetupInfo.from_dict(data.get("setup") or {}),
            findings=findings,
            training=TrainingSummary.from_dict(data.get("training") or {}),
            timings=data.get("timings", {}),
            seed=data.get("seed", 0),
            error=data.get("error"),
            suppressed=tuple(finding(f) for f in data.get("suppressed", [])),
            files_written=tuple(FileWrite(**w) for w in data.get("files_written", [])),
            patch=Patch.from_dict(data["patch"]) if data.get("patch") else None,
        )

    def worst_severity(self) -> str | None:
        """The most severe finding's severity, or None without findings."""
        if not self.findings:
            return None
        return min((f.severity for f in self.findings), key=SEVERITY_ORDER.__getitem__)
