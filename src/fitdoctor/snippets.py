"""Code snippets for fixes, derived from the user's own lines where possible."""

from __future__ import annotations

import ast
import io
import tokenize

#: Names under which each activation kind is called in user code.
CALL_NAMES: dict[str, tuple[str, ...]] = {
    "relu": ("relu", "relu_"),
    "relu6": ("relu6",),
    "tanh": ("tanh",),
    "sigmoid": ("sigmoid",),
    "elu": ("elu",),
    "selu": ("selu",),
    "celu": ("celu",),
    "gelu": ("gelu",),
    "silu": ("silu",),
    "mish": ("mish",),
    "softplus": ("softplus",),
    "softmax": ("softmax",),
    "log_softmax": ("log_softmax",),
    "logsigmoid": ("logsigmoid",),
    "hardtanh": ("hardtanh",),
}


def _call_name(node: ast.Call) -> str | None:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


class _Stripper(ast.NodeTransformer):
    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.done = False

    def visit_Call(self, node: ast.Call) -> ast.AST:
        if not self.done and _call_name(node) in self.names:
            self.done = True
            if node.args:
                return node.args[0]
            if isinstance(node.func, ast.Attribute):  # x.relu() -> x
                return node.func.value
        return self.generic_visit(node)


def strip_activation(line: str, kind: str) -> str | None:
    """The user's line with the activation call removed, e.g. ``return F.gelu(self.fc3(x))`` ->
    ``return self.fc3(x)``; None when the line can't be parsed on its own or has no such call."""
    names = CALL_NAMES.get(kind)
    if not names or not line:
        return None
    text = line.strip().rstrip(",")
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    stripper = _Stripper(names)
    new = stripper.visit(tree)
    if not stripper.done:
        return None
    return ast.unparse(new)


def without_comment(line: str) -> str:
    """A source line without its trailing comment (a ``#`` inside a string stays), stripped."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(line).readline))
    except (tokenize.TokenError, SyntaxError):
        return line.strip()
    comment = next((t for t in tokens if t.type == tokenize.COMMENT), None)
    return (line[: comment.start[1]] if comment else line).strip()


def wrap_assignment(line: str, wrapper: str) -> str | None:
    """``self.x = VALUE`` as ``self.x = wrapper(VALUE)``, from the user's line (None when it isn't one
    complete assignment)."""
    code = without_comment(line)
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], (ast.Assign, ast.AnnAssign)):
        return None
    target, _, value = code.partition("=")
    return f"{target.rstrip()} = {wrapper}({value.strip()})"
