"""Where a script sets its learning rate: the optimizer's ``lr`` argument when it is a number, else the number
the argument's name comes from (a variable, a function parameter's default, an ``argparse`` option's default,
a field of a configuration class), so that a patch changes the rate where the user would."""

from __future__ import annotations

from dataclasses import replace

import libcst as cst
from libcst.metadata import MetadataWrapper, ParentNodeProvider, PositionProvider

from fitdoctor.patches.edits import EditError, SourceEdit
from fitdoctor.patches.resolve import callee_name


def _is_number(node: cst.BaseExpression | None) -> bool:
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, (cst.Minus, cst.Plus)):
        node = node.expression
    return isinstance(node, (cst.Integer, cst.Float))


class _Places(cst.CSTVisitor):
    """The optimizer calls on a line, and every place of the file that binds a number to a name."""

    METADATA_DEPENDENCIES = (PositionProvider, ParentNodeProvider)

    def __init__(self, line: int, callee: str) -> None:
        super().__init__()
        self.line, self.callee = line, callee
        self.calls: list[cst.Call] = []
        self.options: list[tuple[cst.Call, int]] = []  # add_argument(...) calls with their line
        self.numbers: list[tuple[str, int, cst.CSTNode]] = []  # (name, line, the scope holding the statement)
        self.fields: list[tuple[str, int]] = []  # class-body `name: T = number` / `name = number`
        self.bound: list[tuple[str, cst.CSTNode]] = []  # every (name, scope) an assignment binds

    def resolved(self, wrapper: MetadataWrapper) -> None:
        """After the visit: positions and parents from the wrapper's resolved metadata."""
        self._positions = wrapper.resolve(PositionProvider)
        self._parents = wrapper.resolve(ParentNodeProvider)

    def _line(self, node: cst.CSTNode) -> int:
        positions = getattr(self, "_positions", None)
        pos = positions[node] if positions is not None else self.get_metadata(PositionProvider, node)
        return int(pos.start.line)

    def parent(self, node: cst.CSTNode) -> cst.CSTNode:
        parents = getattr(self, "_parents", None)
        return parents[node] if parents is not None else self.get_metadata(ParentNodeProvider, node)

    def visit_Call(self, node: cst.Call) -> bool:
        if callee_name(node.func) == self.callee and self._line(node) <= self.line:
            pos = self.get_metadata(PositionProvider, node)
            if pos.start.line <= self.line <= pos.end.line:
                self.calls.append(node)
        if callee_name(node.func) == "add_argument":
            self.options.append((node, self._line(node)))
        return True

    def visit_Assign(self, node: cst.Assign) -> bool:
        for target in node.targets:
            if isinstance(target.target, cst.Name):
                self.bound.append((target.target.value, self._scope(node)))
                if _is_number(node.value):
                    self._bound(target.target.value, node)
        return True

    def visit_AnnAssign(self, node: cst.AnnAssign) -> bool:
        if _is_number(node.value) and isinstance(node.target, cst.Name):
            self._bound(node.target.value, node)
        return True

    def _bound(self, name: str, node: cst.CSTNode) -> None:
        scope = self._scope(node)
        if isinstance(scope, cst.ClassDef):
            self.fields.append((name, self._line(node)))
        else:
            self.numbers.append((name, self._line(node), scope))

    def _scope(self, node: cst.CSTNode) -> cst.CSTNode:
        current: cst.CSTNode = node
        while not isinstance(current, (cst.Module, cst.FunctionDef, cst.ClassDef)):
            current = self.parent(current)
        return current


def _rate_argument(call: cst.Call, position: int | None) -> cst.BaseExpression | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == "lr":
            return arg.value
    positional = [a.value for a in call.args if a.keyword is None and not a.star]
    return positional[position] if position is not None and position < len(positional) else None


def _function_of(places: _Places, node: cst.CSTNode) -> cst.FunctionDef | None:
    scope = places._scope(node)
    while isinstance(scope, cst.ClassDef):
        scope = places._scope(places.parent(scope))
    return scope if isinstance(scope, cst.FunctionDef) else None


def rate_source(wrapper: MetadataWrapper, edit: SourceEdit) -> SourceEdit:
    """``set_rate`` as the edit of the number the optimizer's learning rate comes from.

    Raises:
        EditError: The rate is an expression fitdoctor can't trace to one number in the file.
    """
    places = _Places(edit.line, edit.name)
    wrapper.visit(places)
    places.resolved(wrapper)
    if not places.calls:
        raise EditError(f"{edit.path}:{edit.line}: no call to {edit.name} on this line")
    call = places.calls[-1]
    value = _rate_argument(call, edit.position)
    if value is None or _is_number(value):
        return replace(edit, kind="set_argument")
    found: SourceEdit | None = None
    if isinstance(value, cst.Name):
        found = _parameter_default(places, call, value.value, edit) or _assignment(places, call, value.value, edit)
    elif isinstance(value, cst.Attribute):
        found = _option_default(places, value.attr.value, edit) or _field(places, value.attr.value, edit)
    if found is None:
        code = cst.Module(body=[]).code_for_node(value)
        raise EditError(f"{edit.path}:{edit.line}: the learning rate is {code}, not traced to one number in the file")
    return found


def _parameter_default(places: _Places, call: cst.Call, name: str, edit: SourceEdit) -> SourceEdit | None:
    function = _function_of(places, call)
    if function is None:
        return None
    params = [*function.params.params, *function.params.kwonly_params]
    param = next((p for p in params if p.name.value == name), None)
    if param is None or not _is_number(param.default):
        return None
    return replace(edit, kind="set_parameter_default", line=places._line(function), keyword=name, position=None)


def _assignment(places: _Places, call: cst.Call, name: str, edit: SourceEdit) -> SourceEdit | None:
    """The last statement binding ``name`` to a number before the call in its function; else, when the function
    neither binds the name nor takes it as a parameter, the module's last one."""
    function = _function_of(places, call)
    line = places._line(call)
    numbers = [(at, scope) for n, at, scope in places.numbers if n == name]
    lines = [at for at, scope in numbers if function is not None and scope is function and at < line]
    if not lines:
        params = [*function.params.params, *function.params.kwonly_params] if function is not None else []
        shadowed = any(p.name.value == name for p in params) or (name, function) in places.bound
        lines = (
            [] if function is not None and shadowed else [at for at, scope in numbers if isinstance(scope, cst.Module)]
        )
    if not lines:
        return None
    return replace(edit, kind="set_value", line=max(lines), name="", keyword="", position=None)


def _option_default(places: _Places, attr: str, edit: SourceEdit) -> SourceEdit | None:
    """The one ``add_argument("--lr", ..., default=<number>)`` whose destination is ``attr``."""
    flags = {f"--{attr}", f"--{attr.replace('_', '-')}"}
    found = []
    for call, line in places.options:
        strings = [a.value.evaluated_value for a in call.args if isinstance(a.value, cst.SimpleString)]
        dest = next((a.value for a in call.args if a.keyword is not None and a.keyword.value == "dest"), None)
        named = isinstance(dest, cst.SimpleString) and dest.evaluated_value == attr
        default = next((a.value for a in call.args if a.keyword is not None and a.keyword.value == "default"), None)
        if (named or flags & {s for s in strings if isinstance(s, str)}) and _is_number(default):
            found.append(line)
    if len(found) != 1:
        return None
    return replace(edit, kind="set_argument", line=found[0], name="add_argument", keyword="default", position=None)


def _field(places: _Places, attr: str, edit: SourceEdit) -> SourceEdit | None:
    """The one class-body field ``attr: T = <number>`` (a configuration dataclass)."""
    lines = [line for name, line in places.fields if name == attr]
    if len(lines) != 1:
        return None
    return replace(edit, kind="set_value", line=lines[0], name="", keyword="", position=None)
