"""Source edits: the construct a fix changes in the user's code, as typed data that travels in the report.

A fix builder that knows which line builds the thing it changes (a final activation, an optimizer, a recurrent
layer) attaches one of these; :mod:`fitdoctor.patches.apply` finds the construct on that line with LibCST and
rewrites it, keeping the rest of the file as it was.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

EditKind = Literal["drop_activation", "set_argument", "wrap_value", "insert_before"]


@dataclass(frozen=True)
class SourceEdit:
    """One change to one construct of the user's source.

    Attributes:
        kind: What to do:

            * ``drop_activation``: remove the activation ``name`` built or called on ``line``: an element of
              ``nn.Sequential(...)`` is removed (replaced by ``nn.Identity()`` unless it is the last), a module
              assigned to an attribute becomes ``nn.Identity()``, a functional or method call is replaced by
              its input.
            * ``set_argument``: in the call to ``name`` on ``line``, set ``keyword`` to ``value`` (the positional
              argument at ``position`` when the call passes it that way), or add it.
            * ``wrap_value``: the value assigned on ``line`` becomes ``value(<value>)`` (e.g. a plain list of
              layers wrapped in ``nn.ModuleList``).
            * ``insert_before``: insert the statement ``value`` before the statement on ``line``, at its
              indentation, unless the same statement already precedes it in that block.
        path: The file (as the report names it).
        line: 1-based line of the construct.
        name: The callee's last name (``GELU``, ``sigmoid``, ``SGD``, ``GRU``) for the first two kinds.
        keyword: The argument to set.
        value: Python source: the argument's new value, the wrapper, or the statement to insert.
        position: The positional index that holds ``keyword`` when passed positionally (None: keyword only).
    """

    kind: EditKind
    path: str
    line: int
    name: str = ""
    keyword: str = ""
    value: str = ""
    position: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The report's JSON form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SourceEdit:
        """The inverse of :meth:`to_dict`."""
        return cls(**data)
