"""Source edits: the construct a fix changes in the user's code, as typed data that travels in the report.

A fix builder that knows which line builds the thing it changes (a final activation, an optimizer, a recurrent
layer) attaches one of these; :mod:`fitdoctor.patches.apply` finds the construct on that line with LibCST and
rewrites it, keeping the rest of the file as it was.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

EditKind = Literal[
    "drop_activation",
    "set_argument",
    "wrap_value",
    "insert_before",
    "insert_after",
    "insert_after_binding",
    "wrap_partner",
    "replace_loss",
    "rename_call",
    "set_argument_anywhere",
    "insert_after_target",
    "set_value",
    "set_rate",
    "set_parameter_default",
    "after_model_changes",
    "move_after",
    "keep",
]

#: The ``torch.nn`` module class of each functional loss a ``replace_loss`` edit names.
LOSS_CLASSES = {
    "nll_loss": "NLLLoss",
    "cross_entropy": "CrossEntropyLoss",
    "binary_cross_entropy": "BCELoss",
    "binary_cross_entropy_with_logits": "BCEWithLogitsLoss",
    "mse_loss": "MSELoss",
}


class EditError(Exception):
    """The construct an edit names is not in the source (the source changed, or the code is too unusual)."""


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
            * ``insert_after``: insert the statement ``value`` after the statement that starts on ``line``.
            * ``insert_after_binding``: in the call to ``name`` on ``line``, the positional argument at
              ``position`` is a variable (``x``, or ``x[idx]``); insert ``value`` with ``{0}`` replaced by that
              variable's name after the last statement of the same function (or module) that assigns it
              before the call, e.g. standardising inputs where they are built.
            * ``wrap_partner``: on ``line``, the expression paired with the variable ``name`` (the other operand
              of a binary operation, or the argument after it in a call) becomes ``value`` with ``{}`` replaced
              by that expression, e.g. a target reshaped to the prediction's shape.
            * ``replace_loss``: the loss computed on ``line`` with the functional loss ``name`` becomes the
              functional loss ``value``: the call itself when it is the function, else the construction of the
              loss module the called name is bound to (``loss_fn = nn.NLLLoss()``), see :data:`LOSS_CLASSES`.
            * ``set_argument_anywhere``: in the one call to ``name`` of the file, wherever it is, set ``keyword``
              to ``value`` (``learning_rate`` of ``TrainingArguments``, ``shuffle`` of ``DataLoader``); ``line``
              is where the fix was found.
            * ``insert_after_target``: on the loss line ``line``, the target paired with the prediction (the
              variable ``keyword``, or a call to the model ``name``) is a variable (``y``, ``y[idx]``); insert
              ``value``, with ``{target}``, ``{model}`` and ``{gap}`` (blank lines around a def at module level)
              filled in, after the later of the statements that last bind the target and the model before
              the loss, e.g. a forward hook that maps the model's output to the targets' units.
            * ``set_value``: the value assigned on ``line`` (``learning_rate = 1e-6``, or a class field
              ``lr: float = 1e-6``) becomes ``value``.
            * ``set_rate``: the learning rate of the optimizer ``name`` built on ``line`` becomes ``value``: its
              ``lr`` argument when that is a number (or absent), else the number that argument comes from: a
              variable, a function parameter's default, an ``argparse`` option's default, a configuration
              class's field (see :mod:`fitdoctor.patches.rates`).
            * ``set_parameter_default``: in the function defined on ``line``, the default of the parameter
              ``keyword`` becomes ``value``.
            * ``after_model_changes``: the statement on ``line`` (an optimizer built on the model ``name``) moves
              after the last statement of its block that changes the model (assigns ``name.<attribute>``), when
              one follows it before the optimizer is used; else nothing changes (resolves to ``move_after``
              or ``keep``).
            * ``move_after``: the statement on ``line`` moves after the statement of the same block that starts
              on line ``position``.
            * ``keep``: no change.
            * ``rename_call``: the callee ``name`` of the call on ``line`` is renamed ``value`` (what
              ``replace_loss`` resolves to).
        path: The file (as the report names it).
        line: 1-based line of the construct.
        name: The callee's last name (``GELU``, ``sigmoid``, ``SGD``, ``GRU``), or the variable or loss the kind
            names.
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
