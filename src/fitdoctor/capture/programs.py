"""From recorded objectives (tape programs) to a :class:`TrainingSetup` that replays them.

Used when a script's steps are not one loss call on one model's output: hand-written losses, several
loss terms, losses inside ``forward``, closures, several models and optimizers, raw tensors and weights
updated by hand. The replayed model is the user's model, or a :class:`Composite` of every module (and
raw tensor) the checked optimizers train, named as the script names them.
"""

from __future__ import annotations

import copy
import itertools
import linecache
import math
import re
import tokenize
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn

from fitdoctor.batches import Batch, program_batch
from fitdoctor.capture.notes import capture_notes
from fitdoctor.capture.objective import Term, find_terms, match_objective
from fitdoctor.capture.recorder import Recorder
from fitdoctor.capture.records import LOSS_FUNCTIONS, OptimizerRecord, ProgramBatch, unwrap_model
from fitdoctor.capture.tape import Op, Program, Ref, is_ref, map_nested, signature, walk
from fitdoctor.capture.userframes import Site
from fitdoctor.evidence import Locator
from fitdoctor.summary import LoopSummary
from fitdoctor.training import LossSpec, TrainingSetup

LOSS_NAMES = frozenset(LOSS_FUNCTIONS)


class Composite(nn.Module):
    """Several trained modules (and raw trainable tensors) as one model, under the script's names."""

    def __init__(self, members: dict[str, nn.Module], leaves: dict[str, torch.Tensor]) -> None:
        super().__init__()
        for name, module in members.items():
            self.add_module(name, module)
        for name, tensor in leaves.items():
            self.register_parameter(name, nn.Parameter(tensor.detach().clone()))

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """A composite has no forward of its own: its members are called by the recorded objective."""
        raise TypeError("a composite model is called through its members")


@dataclass
class ProgramCapture:
    """What :func:`build_programs` returns (the caller wraps it as ``Captured``)."""

    setup: TrainingSetup
    locate: Locator
    training: LoopSummary
    notes: list[str] = field(default_factory=list)


def _unique(name: str, taken: set[str]) -> str:
    base = name.replace(".", "_") or "model"
    out, i = base, 2
    while out in taken:
        out, i = f"{base}{i}", i + 1
    taken.add(out)
    return out


def build_programs(recorder: Recorder, seed: int, display_root: str | None) -> ProgramCapture:
    """The setup that replays the recorded objectives (see the module docstring)."""
    records = recorder.records
    used = [r for r in records if any(b.optimizer == r.index for b in recorder.store.programs)]
    taken: set[str] = set()
    members, keys, states = _members(recorder, used, taken)
    leaf_names, leaf_values = _leaves(recorder, used, members, taken)
    model, initial, single = _model(members, keys, states, leaf_values)
    param_names = {id(p): n for n, p in model.named_parameters()}
    for tensor_id, name in leaf_names.items():
        param_names[tensor_id] = name
    for name, root in members.items():
        for n, p in root.named_parameters():
            param_names[id(p)] = n if single else f"{name}.{n}"
    batches, terms_seen, unidentified = _program_batches(recorder, keys, param_names)
    batches = _dedupe(batches)
    optimizers = [_spec(r, param_names, recorder) for r in used]
    term = _primary(terms_seen)
    loss = LossSpec(term.name, dict(term.kwargs), term.transform) if term else LossSpec("custom", {}, "other")
    manual = records[0].opt is None
    stale = recorder.manual.stale if manual else recorder.facts.stale_steps
    single_steps = recorder.steps if manual else recorder.facts.single_backward_steps
    adversarial = len(used) > 1 and any(_spans(b, keys, used) for b in recorder.store.programs)
    setup = TrainingSetup(
        model=model,
        initial_state=initial,
        optimizer_cls=optimizers[0][0],
        optimizer_groups=optimizers[0][1],
        loss=loss,
        batches=batches,
        user_losses=recorder.facts.user_losses,
        seed=seed,
        zero_grad=stale <= 0.5 * single_steps,
        accumulation=accumulation(recorder.facts.backward_calls) if not any(r.closure for r in used) else 1,
        loss_scale=1.0,  # the program computes the value the script backpropagated, scaling included
        train_mode=recorder.facts.eval_mode_steps <= 0.5 * max(recorder.steps, 1),
        optimizers=optimizers,
        closure=[r.closure for r in used],
        adversarial=adversarial,
        lr_schedule=recorder.facts.lr_schedule() if not manual else [],
    )
    in_optimizers = {n for _, groups in optimizers for g in groups for n in g["params"]}
    training = replace(
        recorder.training_summary(),
        params_outside_optimizer=tuple(
            n for n, p in model.named_parameters() if p.requires_grad and n not in in_optimizers
        ),
        stale_gradient_steps=stale,
        single_backward_steps=single_steps,
        batches_kept=len(batches),
        models=None if single else (*members, *leaf_values),
        adversarial=adversarial,
    )
    locate = _locator(recorder, model, members, single, display_root, batches, used)
    notes = _notes(recorder, used, members, leaf_values, term, unidentified, len(batches), adversarial)
    return ProgramCapture(setup, locate, training, notes)


def _members(
    recorder: Recorder, used: list[OptimizerRecord], taken: set[str]
) -> tuple[dict[str, nn.Module], dict[int, str], dict[str, torch.Tensor]]:
    """The modules of the replay model by name, the name of each (by id) and their initial states."""
    members: dict[str, nn.Module] = {}
    keys: dict[int, str] = {}
    states: dict[str, torch.Tensor] = {}
    for record in used:
        for i, root in enumerate(record.roots):
            if id(root) in keys:
                continue
            name = _unique(record.names[i] if i < len(record.names) else type(root).__name__.lower(), taken)
            keys[id(root)] = name
            members[name] = root
            for k, v in record.states[i].items():
                states[f"{name}.{k}"] = v
    # Modules the objective runs through with trainable weights that no optimizer holds (FD504's case:
    # a discriminator whose optimizer was given the generator's parameters) are part of the model too.
    for pb in recorder.store.programs:
        for module in pb.sliced.modules.values():
            inner = unwrap_model(module)
            if id(inner) in keys or not any(p.requires_grad for p in inner.parameters()):
                continue
            name = _unique(_called_name(recorder, inner), taken)
            keys[id(inner)] = name
            members[name] = inner
            for k, v in inner.state_dict().items():
                states[f"{name}.{k}"] = v.detach().clone()
    return members, keys, states


def _leaves(
    recorder: Recorder, used: list[OptimizerRecord], members: dict[str, nn.Module], taken: set[str]
) -> tuple[dict[int, str], dict[str, torch.Tensor]]:
    """Trained raw tensors that no member module owns: their names (by id) and initial values."""
    leaf_names: dict[int, str] = {}
    leaf_values: dict[str, torch.Tensor] = {}
    owned = {id(p) for m in members.values() for p in m.parameters()}
    for pb in recorder.store.programs:
        for tensor in pb.sliced.leaves.values():
            if id(tensor) in owned or id(tensor) in leaf_names:
                continue
            owner = next((r for r in used if any(t is tensor for t in r.leaves)), None)
            names = owner.leaf_names if owner is not None else []
            index = next((j for j, t in enumerate(owner.leaves) if t is tensor), -1) if owner else -1
            name = _unique(names[index] if 0 <= index < len(names) else f"tensor{len(leaf_values)}", taken)
            leaf_names[id(tensor)] = name
            value = owner.leaf_values[index] if owner is not None and 0 <= index < len(owner.leaf_values) else tensor
            leaf_values[name] = value.detach().clone()
    return leaf_names, leaf_values


def _model(
    members: dict[str, nn.Module],
    keys: dict[int, str],
    states: dict[str, torch.Tensor],
    leaf_values: dict[str, torch.Tensor],
) -> tuple[nn.Module, dict[str, torch.Tensor], bool]:
    """The replay model (the one trained module itself, else a :class:`Composite`), its initial state, and
    whether it is a single module."""
    if len(members) == 1 and not leaf_values:
        ((name, root),) = members.items()
        keys[id(root)] = ""
        return root, {k[len(name) + 1 :]: v for k, v in states.items()}, True
    model = Composite(members, leaf_values)
    initial = {**states, **leaf_values}
    for key, value in model.state_dict().items():
        initial.setdefault(key, value.detach().clone())
    return model, initial, False


def _program_batches(
    recorder: Recorder, keys: dict[int, str], param_names: dict[int, str]
) -> tuple[list[Batch], list[Term], int]:
    """The recorded steps as replayable batches, the first step's loss terms, and how many steps had a term
    whose target is unknown."""
    fixed: dict[int, tuple[str, nn.Module]] = {}
    matched: dict[Any, Term | None] = {}
    batches = []
    terms_seen: list[Term] = []
    unidentified = 0
    for pb in recorder.store.programs:
        batch, terms = _batch(pb, keys, param_names, fixed, matched)
        if batch is None:
            continue
        if not terms or any(t.target is None for t in terms):
            unidentified += 1
        if not terms_seen and terms:
            terms_seen = terms
        batches.append(batch)
    return batches, terms_seen, unidentified


def _called_name(recorder: Recorder, module: nn.Module) -> str:
    """The script's name for a module no optimizer trains (from where it was created)."""
    for site in recorder.sites.of_module(module):
        text = linecache.getline(site.path, site.line)
        if "=" in text:
            name = text.split("=", 1)[0].strip().rsplit(".", 1)[-1]
            if name.isidentifier():
                return name
    return type(module).__name__.lower()


def _primary(terms: list[Term]) -> Term | None:
    """The term the target-side rules read: the first with an identified target."""
    return next((t for t in terms if t.target is not None), terms[0] if terms else None)


def _spans(pb: ProgramBatch, keys: dict[int, str], used: list[OptimizerRecord]) -> bool:
    """Whether a step's objective runs through modules of two optimizers (a generator's loss through the
    discriminator)."""
    owners = set()
    for module in pb.sliced.modules.values():
        inner = unwrap_model(module)
        for r in used:
            if any(inner is root for root in r.roots):
                owners.add(r.index)
    return len(owners) > 1


def _batch(
    pb: ProgramBatch,
    keys: dict[int, str],
    names: dict[int, str],
    fixed: dict[int, tuple[str, nn.Module]],
    matched: dict[Any, Term | None],
) -> tuple[Any, list[Term]]:
    sliced = pb.sliced
    ops = []
    program_fixed: dict[str, nn.Module] = {}
    for i, op in enumerate(sliced.program.ops):
        if op.func is None:
            module = sliced.modules[i]
            inner = unwrap_model(module)
            key = keys.get(id(inner))
            if key is None:
                if id(inner) not in fixed:
                    fixed[id(inner)] = (f"fixed{len(fixed)}", copy.deepcopy(inner))
                key, copy_ = fixed[id(inner)]
                program_fixed[key] = copy_
            op = replace(op, module=key)
        ops.append(replace(op, args=_rename(op.args, sliced, names), kwargs=_rename(op.kwargs, sliced, names)))
    program = Program(tuple(ops), sliced.program.result, program_fixed)
    trained_calls = [i for i, op in enumerate(ops) if op.func is None and op.module not in program_fixed]
    if sliced.functional:
        return _functional_batch(pb, program)
    terms = [t for t in find_terms(sliced, LOSS_NAMES) if t.call in trained_calls or not trained_calls]
    if not terms:
        # a hand-written loss no pattern reads: identified by what it computes, once per program structure
        structure = signature(sliced.program)
        if structure not in matched:
            matched[structure] = match_objective(sliced)
        found = matched[structure]
        if found is not None and found.target is not None and found.target_shape is not None:
            # the loss reads a view of the script's constant: that view, as one more constant of this step
            sliced.consts.append(sliced.consts[found.target].reshape(found.target_shape))
            found = replace(found, target=len(sliced.consts) - 1)
        terms = [found] if found is not None and (found.call in trained_calls or not trained_calls) else []
    term = _primary(terms)
    primary = term.call if term else (trained_calls[0] if trained_calls else -1)
    if primary < 0:
        return None, []
    path = term.path if term else _first_path(sliced.outputs.get(primary))
    shape = term.pred_shape if term and term.pred_shape else _shape_at(sliced.outputs.get(primary), path)
    batch = program_batch(
        program,
        sliced.consts,
        primary=primary,
        output_path=path,
        pred_shape=shape,
        target_const=term.target if term else None,
        target_op=term.op if term and term.target is not None else None,
        optimizer=pb.optimizer,
    )
    batch.terms = tuple(terms)
    return batch, terms


def _functional_batch(pb: ProgramBatch, program: Program) -> tuple[Any, list[Term]]:
    """A torch.func step: the probes call the model on the whole batch of inputs (what vmap maps over)."""
    info = pb.sliced.functional
    consts = pb.sliced.consts
    if info.get("input") is None:
        return None, []
    x = consts[info["input"]]
    loss = info.get("loss")
    target = info.get("target")
    terms = [Term(loss[0], dict(loss[1]), -1, (), target, None, "identity", ())] if loss else []
    batch = program_batch(
        program,
        consts,
        primary=-1,
        output_path=(),
        pred_shape=(x.shape[0],) if x.ndim else (),
        target_const=target,
        target_op=None,
        optimizer=pb.optimizer,
    )
    batch.args = (x,)
    return batch, terms


def _rename(obj: Any, sliced: Any, names: dict[int, str]) -> Any:
    """Parameter references by the replayed model's parameter names."""

    def rename(ref: Ref) -> Ref:
        if ref.kind != "param":
            return ref
        return Ref("param", name=names.get(id(sliced.leaves.get(ref.name)), ref.name))

    return map_nested(obj, is_ref, rename)


def _first_path(output: Any) -> tuple[Any, ...]:
    for path, _ in walk(output):
        return path
    return ()


def _shape_at(output: Any, path: tuple[Any, ...]) -> tuple[int, ...]:
    for p, t in walk(output):
        if p == path:
            return tuple(t.shape)
    return ()


def _dedupe(batches: list[Any]) -> list[Any]:
    """Steps that replay the same operations on the same constants share one batch object (the probes
    count distinct batches)."""
    seen: dict[tuple[Any, ...], Any] = {}
    out = []
    for b in batches:
        key = (id(b.program.ops[0].func) if b.program.ops else 0, len(b.program.ops), b.optimizer, *map(id, b.consts))
        same = seen.get(key)
        if same is not None and _same_ops(same.program.ops, b.program.ops):
            out.append(same)
        else:
            seen[key] = b
            out.append(b)
    return out


def _same_ops(a: tuple[Op, ...], b: tuple[Op, ...]) -> bool:
    return len(a) == len(b) and all(x.func is y.func and x.module == y.module for x, y in zip(a, b, strict=True))


def _spec(record: OptimizerRecord, names: dict[int, str], recorder: Recorder) -> tuple[type[Any], list[dict[str, Any]]]:
    """The optimizer's class and param groups by parameter name (plain SGD at the measured rate for weights
    updated by hand)."""
    if record.opt is None:
        lr = median(recorder.manual.lrs, 0.0)
        params = [names[id(p)] for r in record.roots for p in r.parameters() if id(p) in names]
        params += [names[id(t)] for t in record.leaves if id(t) in names]
        defaults = dict(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=max(lr, 1e-12)).defaults)
        defaults["lr"] = lr
        return torch.optim.SGD, [{**defaults, "params": params}]
    groups = []
    for group in record.opt.param_groups:
        hyper = {k: v for k, v in group.items() if k != "params"}
        hyper["params"] = [names[id(p)] for p in group["params"] if id(p) in names]
        groups.append(hyper)
    return type(record.opt), groups


def _locator(
    recorder: Recorder,
    model: nn.Module,
    members: dict[str, nn.Module],
    single: bool,
    display_root: str | None,
    batches: list[Any],
    used: list[OptimizerRecord],
) -> Locator:
    module_sites: dict[str, list[Site]] = {}
    for name, root in members.items():
        for n, m in root.named_modules():
            sites = recorder.sites.of_module(m)
            if sites:
                module_sites[n if single else (f"{name}.{n}" if n else name)] = sites
    first_root = next(iter(members.values()), None)
    model_sites = recorder.sites.of_module(first_root) if first_root is not None else []
    model_site = next((s for s in model_sites if s.function != "__init__"), model_sites[0] if model_sites else None)
    first = batches[0] if batches else None
    loss_site = call_site = None
    if first is not None:
        ops = first.program.ops
        call_site = ops[first.primary].site if 0 <= first.primary < len(ops) else None
        loss_op = first.target_op if first.target_op is not None else first.program.result.index
        loss_site = ops[loss_op].site if loss_op < len(ops) else None
        loss_site = loss_site or call_site
    if model_site is None:
        model_site = call_site
    return Locator(
        display_root=display_root,
        module_sites=module_sites,
        model=model_site,
        optimizer=_optimizer_site(recorder, used[0].site if used else None) or loss_site,
        loss=loss_site,
        model_call=call_site,
        init_sites=recorder.init_sites,
        original=recorder.user_files.original,
        scheduler=recorder.schedulers.site,
    )


def _optimizer_site(recorder: Recorder, site: Site | None) -> Site | None:
    """Where the user sets the learning rate: the optimizer's creation line, or, when a framework creates the
    optimizer (Hugging Face ``Trainer``), the user's line that sets ``learning_rate=`` / ``lr=``."""
    if site is not None and re.search(r"optim|\blr\b|learning_rate", linecache.getline(site.path, site.line)):
        return site
    script = recorder.user_files.script
    number = _first_rate_assignment(linecache.getlines(script)) if script else None
    return Site(script, number, "<module>") if script and number else site


def _first_rate_assignment(lines: list[str]) -> int | None:
    """The line of the script's first ``learning_rate =`` or ``lr =`` (an assignment or a keyword argument) in
    its code, not in a docstring or a comment."""
    names = ("learning_rate", "lr")
    try:
        tokens = list(tokenize.generate_tokens(iter(lines).__next__))
    except (tokenize.TokenError, SyntaxError):
        return None
    code = [t for t in tokens if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE)]
    for token, after in itertools.pairwise(code):
        if token.type == tokenize.NAME and token.string in names and after.type == tokenize.OP and after.string == "=":
            return token.start[0]
    return None


def _notes(
    recorder: Recorder,
    used: list[OptimizerRecord],
    members: dict[str, nn.Module],
    leaves: dict[str, torch.Tensor],
    term: Term | None,
    unidentified: int,
    batches: int,
    adversarial: bool,
) -> list[str]:
    notes = capture_notes(recorder, programs=True)
    if used[0].opt is None:
        lr = median(recorder.manual.lrs, 0.0)
        notes.append(
            f"weights updated by hand: the script changes the weights by −lr·gradient with lr ≈ {lr:.3g} (measured "
            f"over {len(recorder.manual.lrs)} steps); the check replays that as torch.optim.SGD(lr={lr:.3g})"
        )
    if leaves and not members:
        notes.append(
            f"raw tensors: the script trains tensors ({', '.join(leaves)}) rather than an nn.Module; checks that "
            "need layers (dead or saturated units, initialisation, per-layer gradients) had none to look at"
        )
    if len(used) > 1:
        names = ", ".join(members) or "its models"
        notes.append(
            f"several optimizers: checked every model they train ({names}); each replay step runs the script's "
            "own objective of that step with its own optimizer, in the script's order"
        )
    if adversarial:
        notes.append(
            "adversarial objectives: one model's loss runs through another's, so its losses are not meant to fall; "
            "loss-not-decreasing, overfit-one-batch and the learning-rate range test (judged by the loss) don't apply"
        )
    if term is None:
        notes.append(
            "hand-written loss: the objective is replayed as the script computes it, but no loss term with an "
            "identifiable target was found (no torch.nn loss, and on random outputs it equals none of cross-entropy, "
            "NLL, BCE, BCE with logits, squared or absolute error of one of the step's tensors), so target-side "
            "checks (unscaled targets, output range, shape and activation/loss mismatches) did not run"
        )
    elif unidentified:
        notes.append(
            f"loss terms: target-side checks read the {term.name} term's target; "
            f"{unidentified} of {batches} captured steps hold terms whose target can't be identified, and those "
            "terms were replayed but not checked against a target"
        )
    functional = next((pb.sliced for pb in recorder.store.programs if pb.sliced.functional), None)
    if functional is not None:
        scale = functional.program.ops[0].func.scale
        notes.append(
            "torch.func: the script computes per-sample gradients (vmap(grad(...))) and assigns them to .grad; "
            f"replays train on the mean per-sample loss with ordinary autograd, scaled by {scale:.3g} (the "
            "script's gradient measured against the gradient of the mean loss at the first step)"
        )
    if any(r.closure for r in used):
        notes.append(
            "closure: the optimizer is stepped with a closure (optimizer.step(closure)); replays do the same, "
            "and the closure's first evaluation stands for the step"
        )
    return notes


def median(values: list[float], default: float) -> float:
    """The median of the finite values, or ``default`` when there is none."""
    finite = sorted(v for v in values if math.isfinite(v))
    return finite[len(finite) // 2] if finite else default


def accumulation(backward_calls: list[int]) -> int:
    """Backward calls per optimizer step in the user's loop (1 without gradient accumulation)."""
    counts = sorted(c for c in backward_calls if c > 0)
    return max(1, counts[len(counts) // 2]) if counts else 1
