"""Apply :class:`SourceEdit` s to a file's source with LibCST: the construct on the edit's line is rewritten,
everything else (formatting, comments) stays byte for byte."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, TypeVar

import libcst as cst
from libcst.metadata import MetadataWrapper, ParentNodeProvider, PositionProvider

from fitdoctor.patches.edits import EditError, SourceEdit
from fitdoctor.patches.rates import rate_source
from fitdoctor.patches.resolve import (
    binding_insert,
    callee_name,
    loss_rename,
    model_changes_move,
    only_call,
    target_insert,
)

__all__ = ["EditError", "apply_edits", "callee_name", "resolve"]


def apply_edits(source: str, edits: Sequence[SourceEdit]) -> str:
    """The source with every edit applied: from the last line up, so an edit that adds or removes lines never
    moves the line of one still to come.

    Raises:
        EditError: An edit's construct could not be found; nothing is applied.
    """
    resolved = [resolve(source, e) for e in edits]  # every line as the original source numbers it
    # from the last line up; on one line, what edits the line before what inserts a statement above it or
    # moves it (down past later lines, which were edited first)
    for edit in sorted(resolved, key=lambda e: (-e.line, e.kind in ("insert_before", "move_after"))):
        if edit.kind != "keep":
            source = _apply_one(source, edit)
    return source


def _parsed(source: str, edit: SourceEdit) -> MetadataWrapper:
    try:
        return MetadataWrapper(cst.parse_module(source))
    except cst.ParserSyntaxError as exc:
        raise EditError(f"can't parse {edit.path}: {exc.message}") from exc


def resolve(source: str, edit: SourceEdit) -> SourceEdit:
    """The edit as one that changes the line it names: an ``insert_after_binding`` becomes the ``insert_after``
    of the statement that binds the variable, a ``replace_loss`` the ``rename_call`` of the loss call or of the
    loss module's construction, a ``set_argument_anywhere`` the ``set_argument`` of the one ``TrainingArguments``
    call. Other kinds are returned as they are.

    Raises:
        EditError: What the edit refers to is not in the source.
    """
    resolvers = {
        "insert_after_binding": binding_insert,
        "replace_loss": loss_rename,
        "set_argument_anywhere": only_call,
        "insert_after_target": target_insert,
        "set_rate": rate_source,
        "after_model_changes": model_changes_move,
    }
    resolver = resolvers.get(edit.kind)
    return edit if resolver is None else resolver(_parsed(source, edit), edit)


def _apply_one(source: str, edit: SourceEdit) -> str:
    wrapper = _parsed(source, edit)
    if "nn" not in _bound_names(wrapper.module) and re.search(r"\bnn\.", edit.value):
        # `import torch` only: spell torch.nn out
        edit = replace(edit, value=re.sub(r"(?<![\w.])nn\.", "torch.nn.", edit.value))
    finder = _Finder(edit)
    wrapper.visit(finder)
    transformer = _Editor(edit, finder.target(), finder.statement, finder.partner, finder.destination)
    module = wrapper.visit(transformer)
    if not transformer.done:
        raise EditError(f"{edit.path}:{edit.line}: no {edit.name or edit.kind} to edit on this line")
    return module.code


def _bound_names(module: cst.Module) -> set[str]:
    """Names the module's top-level imports bind (``nn`` for ``from torch import nn``)."""
    names: set[str] = set()
    for statement in module.body:
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for small in statement.body:
            if isinstance(small, (cst.Import, cst.ImportFrom)) and not isinstance(small.names, cst.ImportStar):
                for alias in small.names:
                    bound = alias.asname.name if alias.asname else alias.name
                    names.add(_dotted(bound).split(".")[0] if isinstance(bound, cst.BaseExpression) else "")
    return names


def _is_name(node: cst.BaseExpression, name: str) -> bool:
    return isinstance(node, cst.Name) and node.value == name


def _dotted(node: cst.BaseExpression) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    return ""


_Block = TypeVar("_Block", cst.IndentedBlock, cst.Module)


class _Finder(cst.CSTVisitor):
    """First pass: the call the edit names on its line, and the statement that starts there."""

    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, edit: SourceEdit) -> None:
        super().__init__()
        self.edit = edit
        self.calls: list[tuple[cst.Call, tuple[int, int], tuple[int, int]]] = []
        self.spanning: list[tuple[cst.Call, tuple[int, int], tuple[int, int]]] = []
        self.statement: cst.CSTNode | None = None
        self.destination: cst.CSTNode | None = None  # move_after: the statement to move past
        self.partner: cst.BaseExpression | None = None  # wrap_partner: the expression paired with the name

    def visit_Call(self, node: cst.Call) -> bool:
        if self.edit.kind == "wrap_partner":
            positional = [a.value for a in node.args if a.keyword is None and not a.star]
            for first, second in itertools.pairwise(positional):
                if _is_name(first, self.edit.name):
                    self._partner(node, second)
                    break
        if (
            self.edit.kind in ("drop_activation", "set_argument", "rename_call")
            and callee_name(node.func) == self.edit.name
        ):
            pos = self.get_metadata(PositionProvider, node)
            item = (node, (pos.start.line, pos.start.column), (pos.end.line, pos.end.column))
            if pos.start.line == self.edit.line:
                self.calls.append(item)
            elif pos.start.line < self.edit.line <= pos.end.line:
                self.spanning.append(item)  # a call written over several lines, named by a later one
        return True

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> bool:
        if self.edit.kind == "wrap_partner":
            if _is_name(node.left, self.edit.name):
                self._partner(node, node.right)
            elif _is_name(node.right, self.edit.name):
                self._partner(node, node.left)
        return True

    def _partner(self, node: cst.CSTNode, partner: cst.BaseExpression) -> None:
        pos = self.get_metadata(PositionProvider, node)
        if self.partner is None and pos.start.line <= self.edit.line <= pos.end.line:
            self.partner = partner

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            line = self.get_metadata(PositionProvider, node).start.line
            if self.statement is None and line == self.edit.line:
                self.statement = node
            if self.destination is None and self.edit.kind == "move_after" and line == self.edit.position:
                self.destination = node
        return super().on_visit(node)

    def target(self) -> cst.Call | None:
        """The outermost match that comes last: the final activation of ``F.relu(fc(F.relu(x)))`` is the outer
        call, and of ``nn.Sequential(..., nn.ReLU(), nn.Linear(...), nn.ReLU())`` on one line the last one."""
        outer = [
            (node, start, end)
            for node, start, end in self.calls
            if not any(s <= start and end <= e and n is not node for n, s, e in self.calls)
        ]
        if outer:
            return max(outer, key=lambda item: item[1])[0]
        # else the innermost call that spans the line (the line inside a multi-line call)
        return max(self.spanning, key=lambda item: item[1])[0] if self.spanning else None


class _Editor(cst.CSTTransformer):
    METADATA_DEPENDENCIES = (PositionProvider, ParentNodeProvider)

    def __init__(
        self,
        edit: SourceEdit,
        target: cst.Call | None,
        statement: cst.CSTNode | None,
        partner: cst.BaseExpression | None = None,
        destination: cst.CSTNode | None = None,
    ) -> None:
        super().__init__()
        self.edit = edit
        self.done = False
        self.target = target
        self.statement = statement
        self.partner = partner
        self.destination = destination

    def on_leave(self, original: cst.CSTNode, updated: cst.CSTNode) -> Any:
        if self.edit.kind == "wrap_partner" and not self.done and original is self.partner:
            self.done = True
            code = cst.Module(body=[]).code_for_node(updated).strip()
            atomic = isinstance(original, (cst.Name, cst.Attribute, cst.Subscript, cst.Call)) and not original.lpar
            return cst.parse_expression(self.edit.value.replace("{}", code if atomic else f"({code})"))
        return super().on_leave(original, updated)

    def _starts_on_line(self, node: cst.CSTNode) -> bool:
        return bool(self.get_metadata(PositionProvider, node).start.line == self.edit.line)

    def _in_sequential(self, call: cst.Call) -> bool:
        parent = self.get_metadata(ParentNodeProvider, call)
        if not isinstance(parent, cst.Arg):
            return False
        outer = self.get_metadata(ParentNodeProvider, parent)
        return isinstance(outer, cst.Call) and callee_name(outer.func) == "Sequential"

    # ------------------------------------------------------------------------------------------ editing
    def leave_Arg(self, original: cst.Arg, updated: cst.Arg) -> cst.Arg:
        # an element of nn.Sequential that is not the last: nn.Identity() keeps the later layers' indices
        if self.edit.kind != "drop_activation" or self.done or self.target is None or original.value is not self.target:
            return updated
        if not self._in_sequential(self.target) or self._is_last_element(original):
            return updated
        self.done = True
        return updated.with_changes(value=cst.parse_expression(_identity(original.value)))

    def _is_last_element(self, arg: cst.Arg) -> bool:
        parent = self.get_metadata(ParentNodeProvider, arg)
        return isinstance(parent, cst.Call) and bool(parent.args) and parent.args[-1] is arg

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        if self.done:
            return updated
        edit = self.edit
        if edit.kind == "drop_activation" and self.target is not None and original.args:
            last = original.args[-1]
            if last.value is self.target and callee_name(original.func) == "Sequential":
                # the last element goes; the one before takes its comma (a trailing comma, or none)
                self.done = True
                args = list(updated.args[:-1])
                if args:
                    args[-1] = args[-1].with_changes(comma=_merged_comma(args[-1].comma, updated.args[-1].comma))
                return updated.with_changes(args=args)
        if original is not self.target:
            return updated
        if edit.kind == "set_argument":
            self.done = True
            return _set_argument(updated, edit)
        if edit.kind == "rename_call":
            self.done = True
            func = updated.func
            if isinstance(func, cst.Attribute):
                return updated.with_changes(func=func.with_changes(attr=cst.Name(edit.value)))
            return updated.with_changes(func=cst.Name(edit.value))
        if edit.kind != "drop_activation":
            return updated
        if self._in_sequential(original):
            return updated  # an element of nn.Sequential: its Arg or the Sequential call edits it
        name = callee_name(updated.func)
        self.done = True
        if name[:1].isupper():
            # a module built outside a Sequential (self.act = nn.Sigmoid()): keep the attribute, drop its effect
            return cst.parse_expression(_identity(original))
        if isinstance(updated.func, cst.Attribute) and not updated.args:
            return updated.func.value  # a method: h.sigmoid() -> h
        return updated.args[0].value  # a function: torch.sigmoid(h) -> h

    def leave_Assign(self, original: cst.Assign, updated: cst.Assign) -> cst.Assign:
        if self.edit.kind not in ("wrap_value", "set_value") or self.done or not self._starts_on_line(original):
            return updated
        self.done = True
        if self.edit.kind == "set_value":
            return updated.with_changes(value=cst.parse_expression(self.edit.value))
        wrapped = cst.Call(func=cst.parse_expression(self.edit.value), args=[cst.Arg(updated.value)])
        return updated.with_changes(value=wrapped)

    def leave_AnnAssign(self, original: cst.AnnAssign, updated: cst.AnnAssign) -> cst.AnnAssign:
        if self.edit.kind not in ("wrap_value", "set_value") or self.done or updated.value is None:
            return updated
        if not self._starts_on_line(original):
            return updated
        self.done = True
        if self.edit.kind == "set_value":
            return updated.with_changes(value=cst.parse_expression(self.edit.value))
        wrapped = cst.Call(func=cst.parse_expression(self.edit.value), args=[cst.Arg(updated.value)])
        return updated.with_changes(value=wrapped)

    def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef) -> cst.FunctionDef:
        if self.edit.kind != "set_parameter_default" or self.done or original is not self.statement:
            return updated
        value = cst.parse_expression(self.edit.value)

        def set_default(param: cst.Param) -> cst.Param:
            if param.name.value != self.edit.keyword or param.default is None:
                return param
            self.done = True
            return param.with_changes(default=value)

        params = updated.params
        return updated.with_changes(
            params=params.with_changes(
                params=[set_default(p) for p in params.params],
                kwonly_params=[set_default(p) for p in params.kwonly_params],
            )
        )

    def _move(self, original: _Block, updated: _Block) -> _Block:
        body: list[cst.CSTNode] = list(original.body)
        if self.done or self.statement not in body or self.destination not in body:
            return updated
        source, destination = body.index(self.statement), body.index(self.destination)
        if destination <= source:
            return updated
        self.done = True
        return updated.with_changes(body=_moved(list(updated.body), source, destination))

    def leave_IndentedBlock(self, original: cst.IndentedBlock, updated: cst.IndentedBlock) -> cst.IndentedBlock:
        return self._insert(original, updated)

    def leave_Module(self, original: cst.Module, updated: cst.Module) -> cst.Module:
        return self._insert(original, updated)

    def _insert(self, original: _Block, updated: _Block) -> _Block:
        if self.edit.kind == "move_after":
            return self._move(original, updated)
        if self.edit.kind not in ("insert_before", "insert_after") or self.done or self.statement is None:
            return updated
        body: list[cst.CSTNode] = list(original.body)
        if self.statement not in body:
            return updated
        index = body.index(self.statement) + (self.edit.kind == "insert_after")
        new = _statements(self.edit.value)
        code = [cst.Module(body=[]).code_for_node(s).strip() for s in body]
        self.done = True
        near = code[:index] if self.edit.kind == "insert_before" else code[index : index + 1]
        if cst.Module(body=[]).code_for_node(new[0]).strip() in near:
            return updated  # already there: nothing to add
        items: list[cst.CSTNode] = list(updated.body)
        items[index:index] = new
        return updated.with_changes(body=items)


def _moved(body: list[cst.CSTNode], source: int, destination: int) -> list[cst.CSTNode]:
    """``body`` with its statement at ``source`` moved right after the one at ``destination`` (later)."""
    items = list(body)
    moving = items.pop(source)
    items.insert(destination, moving)  # the destination's index moved up by one with the pop
    return items


def _statements(value: str) -> list[cst.CSTNode]:
    """The statements of ``value`` (one or several), comment lines above the first one kept with it."""
    parsed: cst.Module = cst.parse_module(value + "\n")
    new: list[cst.CSTNode] = list(parsed.body)
    first = new[0] if new else None
    if parsed.header and isinstance(first, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
        # comments above the first statement: LibCST keeps them as the module's header
        new[0] = first.with_changes(leading_lines=[*parsed.header, *first.leading_lines])
    return new


def _merged_comma(kept: cst.Comma | cst.MaybeSentinel, removed: cst.Comma | cst.MaybeSentinel) -> Any:
    """The comma of the element before a removed last one: the removed one's (a trailing comma and the line
    break before the closing parenthesis, or none), with the kept element's own end-of-line comment rather than
    the removed one's."""
    if not isinstance(removed, cst.Comma):
        return removed
    after = removed.whitespace_after
    if isinstance(after, cst.ParenthesizedWhitespace):
        own = kept.whitespace_after if isinstance(kept, cst.Comma) else None
        first = own.first_line if isinstance(own, cst.ParenthesizedWhitespace) else cst.TrailingWhitespace()
        after = after.with_changes(first_line=first)
    return removed.with_changes(whitespace_after=after)


def _identity(call: cst.BaseExpression) -> str:
    dotted = _dotted(call.func) if isinstance(call, cst.Call) else ""
    prefix = dotted.rsplit(".", 1)[0] if "." in dotted else "nn"
    return f"{prefix}.Identity()"


def _set_argument(call: cst.Call, edit: SourceEdit) -> cst.Call:
    value = cst.parse_expression(edit.value)
    args = list(call.args)
    for i, arg in enumerate(args):
        if arg.keyword is not None and arg.keyword.value == edit.keyword:
            args[i] = arg.with_changes(value=value)
            return call.with_changes(args=args)
    positional = [i for i, arg in enumerate(args) if arg.keyword is None and not arg.star]
    if edit.position is not None and edit.position < len(positional):
        i = positional[edit.position]
        args[i] = args[i].with_changes(value=value)
        return call.with_changes(args=args)
    new = cst.Arg(
        keyword=cst.Name(edit.keyword),
        value=value,
        equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")),
    )
    if args:
        # the new argument takes the last one's comma (a trailing comma stays trailing), the last one a ", "
        new = new.with_changes(comma=args[-1].comma)
        args[-1] = args[-1].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
    return call.with_changes(args=[*args, new])
