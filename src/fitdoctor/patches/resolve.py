"""Edits that name something away from their line, resolved to the line they change: the statement that binds
a model input, the construction of a loss module."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import replace

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, ParentNodeProvider, PositionProvider

from fitdoctor.patches.edits import LOSS_CLASSES, EditError, SourceEdit


def callee_name(func: cst.BaseExpression) -> str:
    """The last name of a callee: ``GELU`` for ``nn.GELU``, ``sigmoid`` for ``torch.sigmoid`` or ``h.sigmoid``."""
    if isinstance(func, cst.Name):
        return func.value
    if isinstance(func, cst.Attribute):
        return func.attr.value
    return ""


class _Index(cst.CSTVisitor):
    """Calls on a line, every call's callee and line, and every ``name = Class(...)`` assignment of the module."""

    METADATA_DEPENDENCIES = (PositionProvider, ParentNodeProvider)

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.calls: list[cst.Call] = []
        self.every: list[tuple[str, int]] = []  # (callee, line) of every call of the module
        self.assigned: list[tuple[str, str, int]] = []  # (bound name, class of the call, line)
        self.operations: list[cst.BinaryOperation] = []  # binary operations on the line
        self.positions: Mapping[cst.CSTNode, CodeRange] = {}
        self.parents: Mapping[cst.CSTNode, cst.CSTNode] = {}

    def visit_Call(self, node: cst.Call) -> bool:
        pos = self.get_metadata(PositionProvider, node)
        if pos.start.line <= self.line <= pos.end.line:
            self.calls.append(node)
        self.every.append((callee_name(node.func), pos.start.line))
        return True

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> bool:
        pos = self.get_metadata(PositionProvider, node)
        if pos.start.line <= self.line <= pos.end.line:
            self.operations.append(node)
        return True

    def visit_Assign(self, node: cst.Assign) -> bool:
        if isinstance(node.value, cst.Call):
            line = self.get_metadata(PositionProvider, node.value).start.line
            for target in node.targets:
                name = callee_name(target.target)
                if name:
                    self.assigned.append((name, callee_name(node.value.func), line))
        return True

    def line_of(self, node: cst.CSTNode) -> int:
        return int(self.positions[node].start.line)

    def parent(self, node: cst.CSTNode) -> cst.CSTNode | None:
        found = self.parents.get(node)
        return found if isinstance(found, cst.CSTNode) else None


def _index(wrapper: MetadataWrapper, line: int) -> _Index:
    index = _Index(line)
    wrapper.visit(index)
    index.positions = wrapper.resolve(PositionProvider)
    index.parents = wrapper.resolve(ParentNodeProvider)
    return index


def loss_rename(wrapper: MetadataWrapper, edit: SourceEdit) -> SourceEdit:
    """``replace_loss`` as a ``rename_call``: of the functional loss called on the line, else of the one
    construction of the loss module that the name called on the line is bound to."""
    index = _index(wrapper, edit.line)
    new_class = LOSS_CLASSES.get(edit.value)
    if any(callee_name(call.func) == edit.name for call in index.calls):
        return replace(edit, kind="rename_call")
    old_class = LOSS_CLASSES.get(edit.name)
    called = {callee_name(call.func) for call in index.calls} - {""}
    sites = {line for name, cls, line in index.assigned if name in called and cls == old_class}
    if old_class is None or new_class is None or len(sites) != 1:
        where = "no" if not sites else "more than one"
        raise EditError(f"{edit.path}:{edit.line}: {where} {old_class or edit.name} construction to edit for this loss")
    return replace(edit, kind="rename_call", line=sites.pop(), name=old_class, value=new_class)


def only_call(wrapper: MetadataWrapper, edit: SourceEdit) -> SourceEdit:
    """``set_argument_anywhere`` as the ``set_argument`` of the one call to ``edit.name`` in the file."""
    lines = {line for name, line in _index(wrapper, edit.line).every if name == edit.name}
    if len(lines) != 1:
        where = "no" if not lines else "more than one"
        raise EditError(f"{edit.path}: {where} {edit.name}(...) call whose {edit.keyword} to set")
    return replace(edit, kind="set_argument", line=lines.pop(), position=None)


def _root_name(node: cst.BaseExpression) -> str | None:
    """``x`` of ``x`` or ``x[idx]`` (a batch sliced out of the data), None for anything else."""
    while isinstance(node, cst.Subscript):
        node = node.value
    return node.value if isinstance(node, cst.Name) else None


def _binds(statement: cst.CSTNode, name: str) -> bool:
    if not isinstance(statement, cst.SimpleStatementLine):
        return False
    for small in statement.body:
        targets: list[cst.BaseExpression] = []
        if isinstance(small, cst.Assign):
            targets = [t.target for t in small.targets]
        elif isinstance(small, cst.AnnAssign) and small.value is not None:
            targets = [small.target]
        for target in targets:
            elements = [e.value for e in target.elements] if isinstance(target, (cst.Tuple, cst.List)) else [target]
            if any(isinstance(e, cst.Name) and e.value == name for e in elements):
                return True
    return False


def binding_insert(wrapper: MetadataWrapper, edit: SourceEdit) -> SourceEdit:
    """``insert_after_binding`` as an ``insert_after`` of the statement that last binds the call's argument
    before the statement holding the call, in the same function or module body."""
    index = _index(wrapper, edit.line)
    calls = [c for c in index.calls if callee_name(c.func) == edit.name]
    if not calls:
        raise EditError(f"{edit.path}:{edit.line}: no call to {edit.name} on this line")
    call = calls[0]
    positional = [a.value for a in call.args if a.keyword is None and not a.star]
    position = edit.position or 0
    variable = _root_name(positional[position]) if position < len(positional) else None
    if variable is None:
        raise EditError(f"{edit.path}:{edit.line}: the input of {edit.name} here is not a variable the script builds")
    found = _scope_body(index, call)
    if found is None:
        raise EditError(f"{edit.path}:{edit.line}: can't tell the scope of this line")
    block, body = found
    child = _statement_in(index, call, block)
    before = body[: body.index(child)] if child in body else []
    binders = [s for s in before if _binds(s, variable)]
    if not binders:
        raise EditError(f"{edit.path}:{edit.line}: {variable} is not assigned before this line in the same scope")
    return replace(edit, kind="insert_after", line=index.line_of(binders[-1]), value=edit.value.format(variable))


def _statement_in(index: _Index, node: cst.CSTNode, block: cst.CSTNode) -> cst.CSTNode:
    """The statement of ``block``'s body that holds ``node``."""
    current: cst.CSTNode = node
    parent = index.parent(current)
    while parent is not None and parent is not block:
        current, parent = parent, index.parent(parent)
    return current


def _scope_body(index: _Index, node: cst.CSTNode) -> tuple[cst.CSTNode, list[cst.CSTNode]] | None:
    """The function or module body holding ``node``: the block and its statements."""
    scope: cst.CSTNode | None = node
    while scope is not None and not isinstance(scope, (cst.Module, cst.FunctionDef)):
        scope = index.parent(scope)
    if isinstance(scope, cst.FunctionDef) and isinstance(scope.body, cst.IndentedBlock):
        return scope.body, list(scope.body.body)
    if isinstance(scope, cst.Module):
        return scope, list(scope.body)
    return None


def _loss_partner(index: _Index, model: str, prediction: str) -> cst.BaseExpression | None:
    """On the located line, the expression paired with the prediction: the next (or previous) positional
    argument of a call, or the other operand of a binary operation, the prediction being the variable
    ``prediction`` or a call to ``model``."""

    def is_prediction(node: cst.BaseExpression) -> bool:
        if prediction and isinstance(node, cst.Name) and node.value == prediction:
            return True
        return isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == model

    for call in index.calls:
        positional = [a.value for a in call.args if a.keyword is None and not a.star]
        for first, second in itertools.pairwise(positional):
            if is_prediction(first) and not is_prediction(second):
                return second
            if is_prediction(second) and not is_prediction(first):
                return first
    for node in index.operations:
        if is_prediction(node.left):
            return node.right
        if is_prediction(node.right):
            return node.left
    return None


def target_insert(wrapper: MetadataWrapper, edit: SourceEdit) -> SourceEdit:
    """``insert_after_target`` as an ``insert_after``: on the loss line ``edit.line``, the target paired with
    the prediction (``edit.keyword``, or a call to the model ``edit.name``) is a variable (``y``, ``y[idx]``);
    ``edit.value`` with ``{target}`` and ``{model}`` filled in goes after the later of the last statements
    binding the target and the model before the loss, in the loss's function or module body."""
    index = _index(wrapper, edit.line)
    partner = _loss_partner(index, edit.name, edit.keyword)
    target = _root_name(partner) if partner is not None else None
    if target is None:
        raise EditError(f"{edit.path}:{edit.line}: the loss's target here is not a variable the script builds")
    statement = next((c for c in index.calls), None)
    found = _scope_body(index, statement) if statement is not None else None
    if found is None:
        raise EditError(f"{edit.path}:{edit.line}: can't tell the scope of this line")
    block, body = found
    child = _statement_in(index, statement, block)  # type: ignore[arg-type]
    before = body[: body.index(child)] if child in body else []
    lines = []
    for name in (target, edit.name):
        binders = [s for s in before if _binds(s, name)]
        if not binders:
            raise EditError(f"{edit.path}:{edit.line}: {name} is not assigned before this line in the same scope")
        lines.append(index.line_of(binders[-1]))
    # a def at module level gets two blank lines around it (PEP 8), in a function none
    gap = "\n\n" if isinstance(block, cst.Module) else ""
    value = edit.value.replace("{target}", target).replace("{model}", edit.name).replace("{gap}", gap)
    return replace(edit, kind="insert_after", line=max(lines), value=value)


def _assigns_attribute_of(statement: cst.CSTNode, name: str) -> bool:
    """Whether ``statement`` is ``name.<attribute> = ...`` (a layer of the model replaced or added)."""
    if not isinstance(statement, cst.SimpleStatementLine):
        return False
    for small in statement.body:
        targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) else []
        if isinstance(small, cst.AnnAssign):
            targets = [small.target]
        if any(
            isinstance(t, cst.Attribute) and isinstance(t.value, cst.Name) and t.value.value == name for t in targets
        ):
            return True
    return False


def _uses(statement: cst.CSTNode, name: str) -> bool:
    found: list[bool] = []

    class _Use(cst.CSTVisitor):
        def visit_Name(self, node: cst.Name) -> None:
            if node.value == name:
                found.append(True)

    statement.visit(_Use())
    return bool(found)


def model_changes_move(wrapper: MetadataWrapper, edit: SourceEdit) -> SourceEdit:
    """``after_model_changes`` as the ``move_after`` of the optimizer's statement past the model's changes that
    follow it in its block before the optimizer is used, or as ``keep`` when none does."""
    index = _index(wrapper, edit.line)
    if not index.calls:
        raise EditError(f"{edit.path}:{edit.line}: no optimizer built on this line")
    found = _scope_body(index, index.calls[0])
    if found is None:
        raise EditError(f"{edit.path}:{edit.line}: can't tell the scope of this line")
    block, body = found
    statement = _statement_in(index, index.calls[0], block)
    if statement not in body:
        return replace(edit, kind="keep")
    bound = [
        t.target.value
        for small in getattr(statement, "body", ())
        if isinstance(small, cst.Assign)
        for t in small.targets
        if isinstance(t.target, cst.Name)
    ]
    last = None
    for later in body[body.index(statement) + 1 :]:
        if bound and _uses(later, bound[0]):
            break  # the optimizer is used from here on: it must exist by then
        if _assigns_attribute_of(later, edit.name):
            last = later
    if last is None:
        return replace(edit, kind="keep")
    return replace(edit, kind="move_after", position=index.line_of(last))
