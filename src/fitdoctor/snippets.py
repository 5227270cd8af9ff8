"""Code snippets for fixes, derived from the user's own lines where possible."""

from __future__ import annotations

import ast

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
