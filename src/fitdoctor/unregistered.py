"""Layers and tensors a model holds without registering them: ``nn.Module`` registers an attribute only when it
is a module, a parameter, or a ``ModuleList``/``ModuleDict``/``ParameterList``. A plain Python list of layers, or a
tensor with ``requires_grad`` kept as an attribute, is used in ``forward`` like any other, but
``model.parameters()`` (so the optimizer, ``model.zero_grad()``, ``state_dict`` and ``.to(device)``) never sees
it: it gets gradients and never changes."""

from __future__ import annotations

import linecache
import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from fitdoctor.snippets import without_comment, wrap_assignment


@dataclass(frozen=True)
class Unregistered:
    """An attribute of a module that holds trainable tensors the module does not register.

    Attributes:
        owner: The owning module's qualified name ("" for the model itself).
        attribute: The attribute's name.
        container: ``list``, ``tuple`` or ``dict`` of modules, or ``tensor`` for a bare tensor.
        modules: Modules in the container (0 for a tensor).
    """

    owner: str
    attribute: str
    container: str
    modules: int

    @property
    def label(self) -> str:
        """The attribute as the user writes it from the model (``encoder.blocks``, ``self.hidden`` at the root)."""
        return f"{self.owner}.{self.attribute}" if self.owner else f"self.{self.attribute}"


def _module_values(value: object) -> list[nn.Module] | None:
    if isinstance(value, (list, tuple)):
        items = list(value)
    elif isinstance(value, dict):
        items = list(value.values())
    else:
        return None
    modules = [v for v in items if isinstance(v, nn.Module)]
    return modules if modules else None


def find_unregistered(model: nn.Module) -> list[tuple[Unregistered, list[torch.Tensor]]]:
    """Every unregistered attribute of the model's modules that holds tensors with ``requires_grad``, with them."""
    out: list[tuple[Unregistered, list[torch.Tensor]]] = []
    for owner, module in model.named_modules():
        for attribute, value in vars(module).items():
            if attribute.startswith("_"):
                continue
            modules = _module_values(value)
            if modules is not None:
                tensors: list[torch.Tensor] = [p for m in modules for p in m.parameters() if p.requires_grad]
                kind = "dict" if isinstance(value, dict) else type(value).__name__
                if tensors:
                    out.append((Unregistered(owner, attribute, kind, len(modules)), tensors))
            elif isinstance(value, torch.Tensor) and value.requires_grad and value.is_leaf:
                out.append((Unregistered(owner, attribute, "tensor", 0), [value]))
    return out


def unregistered_labels(model: nn.Module, optimizers: Sequence[torch.optim.Optimizer]) -> list[str]:
    """The labels of the unregistered attributes whose tensors got a gradient (they are used in the loss) while
    no optimizer holds them: trained by nothing."""
    optimized = {id(p) for opt in optimizers for g in opt.param_groups for p in g["params"]}
    return [
        found.label
        for found, tensors in find_unregistered(model)
        if any(t.grad is not None for t in tensors) and not any(id(t) in optimized for t in tensors)
    ]


def register(model: nn.Module, labels: frozenset[str]) -> None:
    """Register the unregistered attributes with these labels: lists and tuples of modules as ``nn.ModuleList``,
    dicts as ``nn.ModuleDict``, tensors as ``nn.Parameter`` (the same values)."""
    modules = dict(model.named_modules())
    for found, _ in find_unregistered(model):
        if found.label not in labels:
            continue
        owner = modules[found.owner]
        value = owner.__dict__.pop(found.attribute)
        if found.container == "tensor":
            setattr(owner, found.attribute, nn.Parameter(value.detach().clone()))
        elif found.container == "dict":
            setattr(owner, found.attribute, nn.ModuleDict(value))
        else:
            setattr(owner, found.attribute, nn.ModuleList(value))


def describe(found: Unregistered) -> str:
    """What the attribute is, for a message."""
    if found.container == "tensor":
        return f"{found.label} is a tensor with requires_grad, not an nn.Parameter"
    noun = "module" if found.modules == 1 else "modules"
    return f"{found.label} is a plain Python {found.container} of {found.modules} {noun}"


def fixed_code(found: Unregistered, source: str = "") -> str:
    """The registration, as code: the user's assignment line wrapped where there is one."""
    wrapper = {"tensor": "nn.Parameter", "dict": "nn.ModuleDict"}.get(found.container, "nn.ModuleList")
    wrapped = wrap_assignment(source, wrapper) if source else None
    if wrapped:
        return f"{wrapped}  # was: {without_comment(source)}"
    return f"self.{found.attribute} = {wrapper}(...)  # not a plain {found.container}: the optimizer then sees it"


def assignment_line(model: nn.Module, found: Unregistered) -> tuple[str, int] | None:
    """Where the owner's ``__init__`` assigns the attribute (``self.hidden = ...``): its source file and line
    (read through the code object, which knows the file a script's class came from)."""
    owner = dict(model.named_modules()).get(found.owner)
    code = getattr(getattr(type(owner), "__init__", None), "__code__", None)
    if owner is None or code is None:
        return None
    numbers = [line for _, _, line in code.co_lines() if line is not None]
    lines = linecache.getlines(code.co_filename)
    assign = re.compile(rf"\s*self\.{re.escape(found.attribute)}\s*(:[^=]*)?=[^=]")
    for number in range(code.co_firstlineno, max(numbers, default=code.co_firstlineno) + 1):
        if number <= len(lines) and assign.match(lines[number - 1]):
            return code.co_filename, number
    return None
