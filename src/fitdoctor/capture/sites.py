"""Where the user's code creates things: every module and optimizer (the user frames of its ``__init__``) and every
explicit ``torch.nn.init`` call on a tensor. Keyed by ``id()`` with a weak reference (never by hash: some modules,
such as torchmetrics' ``Metric``, hash fields their own ``__init__`` has not set yet)."""

from __future__ import annotations

import functools
import sys
import weakref
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from fitdoctor.capture.userframes import Site, UserFiles, real_path


class CreationSites:
    """The creation sites collector; :meth:`wrap_module_init` and friends make the patches the recorder installs.

    Args:
        user_files: Which source files are the user's.
    """

    def __init__(self, user_files: UserFiles) -> None:
        self.user_files = user_files
        self._modules: dict[int, tuple[weakref.ref[nn.Module], list[Site]]] = {}
        self._optimizers: dict[int, tuple[weakref.ref[Any], Site]] = {}
        self._inits: dict[int, tuple[weakref.ref[torch.Tensor], Site]] = {}

    def of_module(self, module: nn.Module) -> list[Site]:
        """Where the user's code created ``module`` (innermost first)."""
        entry = self._modules.get(id(module))
        return entry[1] if entry is not None and entry[0]() is module else []

    def of_optimizer(self, opt: Any) -> Site | None:
        """Where the user's code created ``opt``."""
        entry = self._optimizers.get(id(opt))
        return entry[1] if entry is not None and entry[0]() is opt else None

    def of_init(self, tensor: torch.Tensor) -> Site | None:
        """Where the user's code explicitly initialised ``tensor`` with ``torch.nn.init``, if it did."""
        entry = self._inits.get(id(tensor))
        return entry[1] if entry is not None and entry[0]() is tensor else None

    def wrap_module_init(self, original: Callable[..., None]) -> Callable[..., None]:
        """``nn.Module.__init__``, recording the user frames that create each module."""

        @functools.wraps(original)
        def __init__(module: nn.Module, *args: Any, **kwargs: Any) -> None:
            original(module, *args, **kwargs)
            sites = self.user_files.sites(limit=4)
            if sites:
                self._modules[id(module)] = (weakref.ref(module), sites)

        return __init__

    def wrap_optimizer_init(self, original: Callable[..., None]) -> Callable[..., None]:
        """``torch.optim.Optimizer.__init__``, recording the user line that creates each optimizer."""

        @functools.wraps(original)
        def __init__(opt: Any, *args: Any, **kwargs: Any) -> None:
            original(opt, *args, **kwargs)
            sites = self.user_files.sites(limit=4)
            if sites:
                self._optimizers[id(opt)] = (weakref.ref(opt), sites[0])

        return __init__

    def wrap_init(self, original: Callable[..., Any]) -> Callable[..., Any]:
        """A ``torch.nn.init`` function, recording the user line that calls it on a tensor."""

        @functools.wraps(original)
        def init(tensor: Any, *args: Any, **kwargs: Any) -> Any:
            caller = sys._getframe(1)
            if isinstance(tensor, torch.Tensor) and self.user_files.is_user(caller.f_code.co_filename):
                site = Site(real_path(caller.f_code.co_filename), caller.f_lineno, caller.f_code.co_name)
                self._inits[id(tensor)] = (weakref.ref(tensor), site)
            return original(tensor, *args, **kwargs)

        return init
