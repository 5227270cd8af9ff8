"""What an optimizer trains, found at its first step: the root modules (and raw tensors) its parameters belong
to, their state before the first update, and the names the user's script gives them."""

from __future__ import annotations

import sys
from typing import Any

import torch
from torch import nn

from fitdoctor.capture.records import OptimizerRecord, unwrap_model
from fitdoctor.capture.userframes import Site, UserFiles


def optimizer_params(opt: torch.optim.Optimizer) -> dict[int, torch.Tensor]:
    """The parameters ``opt`` updates, by ``id``."""
    return {id(p): p for group in opt.param_groups for p in group["params"]}


def new_record(
    opt: torch.optim.Optimizer, index: int, site: Site | None, candidates: list[nn.Module]
) -> OptimizerRecord:
    """The record of ``opt``: which of ``candidates`` (root modules seen in model calls) it trains, the
    tensors it trains outside any of them, and a copy of both before the first update."""
    params = optimizer_params(opt)
    record = OptimizerRecord(opt, index, site)
    covered: set[int] = set()
    for candidate in candidates:
        inner = unwrap_model(candidate)
        if any(inner is r for r in record.roots):
            continue
        owned = {id(p) for p in inner.parameters()}
        if owned & set(params) and not owned <= covered:
            record.roots.append(inner)
            covered |= owned
    record.leaves = [p for i, p in params.items() if i not in covered and p.requires_grad]
    record.states = [{k: v.detach().clone() for k, v in r.state_dict().items()} for r in record.roots]
    record.leaf_values = [p.detach().clone() for p in record.leaves]
    return record


def main_model(candidates: list[nn.Module], params: dict[int, torch.Tensor]) -> nn.Module | None:
    """The root that shares most parameters with the optimizer (the single-model view of the probes)."""
    best: nn.Module | None = None
    best_overlap = 0
    for candidate in candidates:
        overlap = sum(1 for p in candidate.parameters() if id(p) in params)
        if overlap > best_overlap:
            best, best_overlap = candidate, overlap
    return best


def parameter_groups(opt: torch.optim.Optimizer, model: nn.Module) -> list[dict[str, Any]]:
    """The hyperparameters of each of ``opt``'s groups, with the names of ``model``'s parameters it holds."""
    names = {id(p): n for n, p in model.named_parameters()}
    groups = []
    for group in opt.param_groups:
        hyper = {k: v for k, v in group.items() if k != "params"}
        hyper["params"] = [names[id(p)] for p in group["params"] if id(p) in names]
        groups.append(hyper)
    return groups


def name_targets(record: OptimizerRecord, user_files: UserFiles) -> None:
    """The script's names for what an optimizer trains: variables or attributes in the user's frames on
    the stack, else the class name (modules) or ``tensor<i>`` (raw tensors)."""
    wanted = [*record.roots, *record.leaves]
    found: dict[int, str] = {}
    frame: Any = sys._getframe(1)
    while frame is not None and len(found) < len(wanted):
        if user_files.is_user(frame.f_code.co_filename):
            for scope in (frame.f_locals, frame.f_globals):
                for key, obj in _named_objects(scope):
                    for target in wanted:
                        if obj is target and id(target) not in found:
                            found[id(target)] = key
        frame = frame.f_back
    record.names = [found.get(id(r), type(r).__name__.lower()) for r in record.roots]
    record.leaf_names = [found.get(id(t), f"tensor{i}") for i, t in enumerate(record.leaves)]


def _named_objects(scope: dict[str, Any]) -> list[tuple[str, Any]]:
    """A frame scope's public names, and through ``self`` its object's public attributes and submodules."""
    items: list[tuple[str, Any]] = []
    for name, value in list(scope.items()):
        items.append((name, value))
        if name == "self" and hasattr(value, "__dict__"):
            owner = vars(value)
            items += list(owner.get("_modules", {}).items()) + list(owner.items())
    return [(k, v) for k, v in items if isinstance(k, str) and not k.startswith("_")]
