"""Which model calls are in progress on a thread: the collector behind the recorder's module hooks.

A call of a module while no other is in progress is a *root* call (the model the script calls); the calls
inside it are the model's own layers. A model's own hooks are part of the model, since replays call the model,
hooks and all: a root call is therefore recorded with its arguments as they were before its forward pre-hooks
and its output as it is after its forward hooks. PyTorch runs global hooks before a module's own ones, so when
a model has forward hooks, the end of its call is taken from a hook of ours put after them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from torch import nn
from torch.utils.hooks import RemovableHandle

#: A root call's end: the module, then (args, kwargs, output).
RootPost = Callable[[nn.Module, Any, Any, Any], None]


class ModelCalls:
    """The module-call stack of each thread, and the hooks that end root calls of models with hooks.

    Args:
        undo: Where the removal of every hook this puts on a model is registered (run at uninstall).
    """

    def __init__(self, undo: list[Callable[[], None]]) -> None:
        self._tls = threading.local()
        self._undo = undo
        self._hooks: dict[int, RemovableHandle] = {}  # id(model) -> the handle of the hook that ends its calls

    def _stack(self) -> list[nn.Module]:
        stack = getattr(self._tls, "stack", None)
        if stack is None:
            stack = self._tls.stack = []
        return stack

    def in_model(self) -> bool:
        """Whether a model call is in progress on this thread."""
        return bool(getattr(self._tls, "stack", None))

    def enter(self, module: nn.Module, args: Any, root_post: RootPost) -> bool:
        """A call of ``module`` begins (from the global pre-hook, before the module's own); True for a root
        call. ``root_post`` is put after the model's own forward hooks, if it has any."""
        stack = self._stack()
        root = not stack
        if root:
            self._tls.root_args = tuple(args) if module._forward_pre_hooks else None
            self._hook_last(module, root_post)
        stack.append(module)
        return root

    def _hook_last(self, module: nn.Module, root_post: RootPost) -> None:
        hooks = module._forward_hooks
        handle = self._hooks.get(id(module))
        if not hooks or (handle is not None and next(reversed(hooks)) == handle.id):
            return
        if handle is not None:
            handle.remove()
        handle = module.register_forward_hook(root_post, with_kwargs=True, always_call=True)
        self._hooks[id(module)] = handle
        self._undo.append(handle.remove)

    def defers(self, module: nn.Module) -> bool:
        """From the global forward hook: whether this root call ends later, after the model's own hooks."""
        handle = self._hooks.get(id(module))
        if self._stack() == [module] and handle is not None and handle.id in module._forward_hooks:
            self._tls.deferred = module
            return True
        return False

    def resumes(self, module: nn.Module) -> bool:
        """From the hook after the model's own: whether it ends a deferred root call (not a call of the
        same model inside another one, which ended at the global hook)."""
        if getattr(self._tls, "deferred", None) is not module:
            return False
        self._tls.deferred = None
        return True

    def leave(self, module: nn.Module, rest: tuple[Any, ...]) -> tuple[tuple[Any, ...], dict[str, Any], Any] | None:
        """A call of ``module`` ended with the hook arguments ``rest`` ((args, output) or (args, kwargs,
        output)). Returns the root call's (args, kwargs, output) when no call is left in progress, else None."""
        stack = self._stack()
        if stack and stack[-1] is module:
            stack.pop()
        elif module in stack:
            del stack[stack.index(module) :]
        if stack:
            return None
        root_args, self._tls.root_args = getattr(self._tls, "root_args", None), None
        args = root_args if root_args is not None else (rest[0] if rest else ())
        kwargs = rest[1] if len(rest) == 3 and isinstance(rest[1], dict) else {}
        return tuple(args), dict(kwargs), rest[-1] if rest else None
