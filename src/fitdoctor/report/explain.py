"""Short explanations for ``--explain``: why a finding matters, from the catalog, and this run's numbers.

The text is generic: the first sentences of the rule's ``why`` and a sentence built from the finding's
``evidence`` dict and the rule's thresholds, following the conventions the rules use for their evidence:

- a :class:`~fitdoctor.measured.Measured` value is a measurement with the threshold it was compared with;
- a key named after one of the rule's thresholds holds that threshold (as this run applied it);
- for layer rules, ``layers[<layer>]`` holds the layer's share at init and after the short training.

``fitdoctor rule <slug>`` shows the whole catalog entry.
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any

from fitdoctor.catalog import RuleDoc
from fitdoctor.findings import Finding
from fitdoctor.measured import Measured

#: Words whose trailing full stop does not end a sentence.
_ABBREVIATIONS = ("e.g.", "i.e.", "al.", "vs.", "cf.", "fig.", "eq.", "approx.", "sec.", "no.")
#: How many measured numbers the explanation quotes at most.
MAX_NUMBERS = 6


def explain(finding: Finding, doc: RuleDoc) -> str:
    """Two or three plain sentences on why the finding matters, then one with this run's numbers.

    Args:
        finding: The finding to explain.
        doc: Its rule's catalog entry.

    Returns:
        Plain text (no markdown), one paragraph.
    """
    why = " ".join(first_sentences(plain(doc.why)))
    numbers = numbers_sentence(finding.evidence, doc)
    return f"{why} {numbers}".strip()


_ASCII = {
    "×": "x",
    "−": "-",
    "–": "-",
    "—": "-",
    "→": "->",
    "←": "<-",
    "≥": ">=",
    "≤": "<=",
    "≈": "~",
    "·": "*",
    "²": "^2",
    "½": "1/2",
    "λ": "lambda",
    "…": "...",
    "‘": "'",
    "’": "'",
    "“": '"',
    "”": '"',
    "ȳ": "mean(y)",
}


def to_ascii(text: str) -> str:
    """``text`` with common symbols spelled in ASCII and any other non-ASCII character dropped."""
    text = "".join(_ASCII.get(ch, ch) for ch in text)
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def plain(markdown: str) -> str:
    """Markdown to plain text: code blocks dropped, backticks, emphasis and link targets removed, one line."""
    text = re.sub(r"```.*?```", " ", markdown, flags=re.S)
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)
    text = text.replace("`", "")
    text = re.sub(r"(\*\*|__)(.+?)\1", r"\2", text)
    text = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"\1", text)
    text = re.sub(r"^\s*[-*]\s+", "", text, flags=re.M)
    return re.sub(r"\s+", " ", text).strip()


def first_sentences(text: str, most: int = 3, enough: int = 220, limit: int = 480) -> list[str]:
    """The first sentences of ``text``: at least one, two when they fit ``limit`` characters, a third while
    the first two are shorter than ``enough`` characters."""
    sentences: list[str] = []
    start = 0
    for m in re.finditer(r"[.!?](?=\s+[A-Z0-9\"'(])", text):
        words = text[start : m.end()].split()
        if words and words[-1].lower() in _ABBREVIATIONS:
            continue
        sentences.append(text[start : m.end()].strip())
        start = m.end()
    if start < len(text):
        sentences.append(text[start:].strip())
    out: list[str] = []
    for s in sentences:
        total = sum(len(x) + 1 for x in out)
        if out and (len(out) >= most or total + len(s) > limit or (len(out) >= 2 and total >= enough)):
            break
        out.append(s)
    return out


def numbers_sentence(evidence: dict[str, Any], doc: RuleDoc) -> str:
    """``Here: <measured> (threshold <t>), ...; threshold: <name> <t>.`` from a finding's evidence.

    Measured values are paired with the threshold they were compared with where the evidence says so (see
    the module docstring) or where the measured key ends with the threshold's name (less a first word such as
    ``min`` or ``layer``); other thresholds of the rule present in the evidence are listed at the end.

    Args:
        evidence: The finding's evidence.
        doc: The rule's catalog entry (its threshold names).

    Returns:
        The sentence, or an empty string when the evidence has no numbers.
    """
    thresholds, paired, measured = _pairings(evidence, doc)
    parts: list[str] = []
    layer_part = _layer_part(evidence, thresholds, paired)
    if layer_part:
        parts.append(layer_part)
    ordered = [k for k in measured if k in paired] + [k for k in measured if k not in paired]
    for key in ordered[: max(0, MAX_NUMBERS - len(parts))]:
        value = evidence[key]
        measured_value = value.value if isinstance(value, Measured) else value
        text = f"{_words(key)} {_value(key, measured_value)}"
        if isinstance(value, Measured) and value.unit:
            text += f" {value.unit}"
        if key in paired:
            text += f" (threshold {_value(paired[key], thresholds[paired[key]], exact=True)})"
        parts.append(text)
    rest = [n for n in thresholds if n not in paired.values() and _is_number(thresholds[n])]
    listed = ", ".join(f"{_words(n)} {_value(n, thresholds[n], exact=True)}" for n in rest)
    label = f"threshold{'s' * (len(rest) > 1)}"
    if parts:
        return "Here: " + ", ".join(parts) + (f"; {label}: {listed}." if rest else ".")
    return f"Here the {label}: {listed}." if rest else ""


def _pairings(evidence: dict[str, Any], doc: RuleDoc) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """The thresholds in the evidence (name -> value), the measured key each is paired with, and the
    measured keys to show, in evidence order."""
    names = list(doc.thresholds)
    keys = list(evidence)
    thresholds: dict[str, Any] = {}  # threshold name -> value used
    held: set[str] = set()  # evidence keys that hold a threshold
    paired: dict[str, str] = {}  # measured key -> threshold name
    for key in keys:
        value = evidence[key]
        if isinstance(value, Measured):
            name = _threshold_named(value.threshold, doc, evidence, key)
            paired[key] = name
            thresholds[name] = value.threshold
    for name in names:
        if name in evidence and name not in thresholds and name not in paired:
            thresholds[name] = evidence[name]
            held.add(name)
    measured = [k for k in keys if k not in held and _shown(evidence[k])]
    for name in thresholds:
        if name not in paired.values():
            match = _measured_for(name, measured, paired)
            if match is not None:
                paired[match] = name
    return thresholds, paired, measured


def _layer_part(evidence: dict[str, Any], thresholds: dict[str, Any], paired: dict[str, str]) -> str:
    """The named layer's share at init and after training, with the layer threshold (pairing it), if any."""
    layer, layers = evidence.get("layer"), evidence.get("layers")
    if not (isinstance(layer, str) and isinstance(layers, dict) and isinstance(layers.get(layer), dict)):
        return ""
    per = layers[layer]
    if not (_is_number(per.get("init")) and _is_number(per.get("after"))):
        return ""
    share = next((n for n in thresholds if n.startswith("layer_")), None)
    text = f"{layer}: {_value('share', per['init'])} at init, {_value('share', per['after'])} after training"
    if share is not None and share not in paired.values():
        text += f" (threshold {_value(share, thresholds[share], exact=True)})"
        paired[f"layers[{layer}]"] = share
    return text


def _threshold_named(value: Any, doc: RuleDoc, evidence: dict[str, Any], key: str) -> str:
    """The rule's threshold a :class:`Measured` value at ``key`` was compared with: the one named ``key``, else
    the one with that value in the catalog, else the first one not in the evidence under its own name."""
    if key in doc.thresholds:
        return key
    for name, entry in doc.thresholds.items():
        limit = entry.get("value") if isinstance(entry, dict) else None
        if _is_number(value) and isinstance(limit, (int, float)) and math.isclose(value, limit, rel_tol=1e-9):
            return name
    return next((n for n in doc.thresholds if n not in evidence), next(iter(doc.thresholds), "threshold"))


def _measured_for(name: str, measured: list[str], paired: dict[str, str]) -> str | None:
    """The measured key that ends with ``name`` or its last words (at least two of them, or the last alone
    when a key is exactly that word)."""
    words = name.split("_")
    for i in range(len(words)):
        suffix = "_".join(words[i:])
        for key in measured:
            if key in paired:
                continue
            if key == suffix and (i == len(words) - 1 or key != name):
                return key
            if len(words) - i >= 2 and key.endswith("_" + suffix):
                return key
    return None


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _shown(v: Any) -> bool:
    """Whether an evidence value goes in the sentence: numbers, True flags, short lists of numbers, names."""
    if isinstance(v, bool):
        return v
    if _is_number(v) or isinstance(v, Measured):
        return True
    if isinstance(v, list) and v:
        return (len(v) <= 4 and all(_is_number(x) for x in v)) or all(isinstance(x, str) for x in v)
    return False


def _words(key: str) -> str:
    return key.replace("_", " ")


def _value(key: str, v: Any, exact: bool = False) -> str:
    """An evidence value as text: shares as percentages, lists of names by count, shapes as lists."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, list):
        if all(isinstance(x, str) for x in v):
            return f"{len(v)}"
        return "[" + ", ".join(_value("", x) for x in v) + "]"
    if isinstance(v, int):
        return str(v)
    if not isinstance(v, float):
        return str(v)
    if not math.isfinite(v):
        return str(v)
    if "share" in key and 0 <= v <= 1:
        p = v * 100
        return f"{p:.0f}%" if p >= 1 or p == 0 else f"{p:.2g}%"
    return f"{v:g}" if exact else f"{v:.3g}"
