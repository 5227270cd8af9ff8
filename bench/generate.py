"""Labelled training setups by fault injection, in the spirit of DeepCrime's mutation operators.

Humbatova, Jahangirova and Tonella, "DeepCrime: Mutation Testing of Deep Learning Systems Based on Real
Faults", ISSTA 2021. Six healthy *bases* that differ in kind (a 1-D sine fit, a multi-output regression, a
tabular classifier, a binary classifier, a small CNN on synthetic images and a small GRU sequence model) are
varied in healthy ways (other optimizers at sane rates, widths, depths, batch sizes, activations, seeds). One
realistic fault at a time is then injected into a variation drawn by a seeded RNG, and the faulty setup is
labelled with the rule slug it should produce.

A setup is a JSON-able ``spec`` (what to build: base, variation, fault and its parameters) and, kept apart,
a ``label`` (what fitdoctor should say). :func:`materialize` builds the model, data, loss and optimizer from
the spec alone; the code that runs fitdoctor never sees the label.

The healthy grid below was fixed before fitdoctor was run on any of these setups (see BENCHMARKS.md).
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

GENERATOR_SEED = 20210711  # ISSTA 2021; change it and every setup changes, keep it and runs are comparable
STEPS = 100  # captured steps per check
REPLAY_STEPS = 200  # steps per replay

# ----------------------------------------------------------------------------------------------- bases
#: kind: reg (MSE on float targets), cls (cross-entropy on class indices), bin (BCE-with-logits on 0/1 targets).
BASES: dict[str, dict[str, Any]] = {
    "sine1d": {
        "kind": "reg",
        "what": "fit y = sin(x) on [-pi, pi] (256 points)",
        "mlp": True,
        "width": 64,
        "depth": 2,
        "act": "tanh",
        "opt": "adam",
        "lr": 1e-2,
        "batch": 256,
    },
    "multireg": {
        "kind": "reg",
        "what": "3 regression targets from 8 Gaussian features (1024 rows)",
        "mlp": True,
        "width": 64,
        "depth": 2,
        "act": "relu",
        "opt": "adam",
        "lr": 1e-3,
        "batch": 64,
    },
    "tabcls": {
        "kind": "cls",
        "what": "3-class tabular classification, 10 features, teacher-net labels (1024 rows)",
        "mlp": True,
        "width": 64,
        "depth": 2,
        "act": "relu",
        "opt": "adam",
        "lr": 1e-3,
        "batch": 64,
    },
    "binary": {
        "kind": "bin",
        "what": "two interleaved half-moons, BCE-with-logits (800 points)",
        "mlp": True,
        "width": 32,
        "depth": 2,
        "act": "relu",
        "opt": "adam",
        "lr": 1e-3,
        "batch": 32,
    },
    "cnn": {
        "kind": "cls",
        "what": "4-class bar orientation on 1x16x16 synthetic images, 2 conv blocks (512 images)",
        "mlp": False,
        "width": 8,
        "depth": 2,
        "act": "relu",
        "opt": "adam",
        "lr": 1e-3,
        "batch": 32,
    },
    "seq": {
        "kind": "reg",
        "what": "GRU on length-16 sequences, regress a decaying weighted sum (512 sequences)",
        "mlp": False,
        "width": 32,
        "depth": 1,
        "act": "relu",
        "opt": "adam",
        "lr": 1e-3,
        "batch": 32,
    },
}
REGRESSION = [b for b, d in BASES.items() if d["kind"] == "reg"]
MLP_BASES = [b for b, d in BASES.items() if d["mlp"]]
SINGLE_OUTPUT_REG = ["sine1d", "seq"]
CLASSIFIERS = ["tabcls", "cnn"]

# Healthy variations, one factor at a time from each base's default, chosen before any fitdoctor run.
OPTIMIZER_VARIANTS = [
    {"opt": "adamw", "lr": 1e-3},
    {"opt": "sgd", "lr": 0.01},  # SGD always with momentum 0.9
    {"opt": "sgd", "lr": 0.05},
    {"opt": "rmsprop", "lr": 1e-3},
    {"opt": "adam", "lr": 3e-3},
]
WIDTH_VARIANTS = {"cnn": [4, 16], "seq": [16, 64], "binary": [16, 64]}
DEPTH_VARIANTS = {"seq": [0, 2], "cnn": [1, 3]}
BATCH_VARIANTS = {
    "sine1d": [32, 64],
    "multireg": [32, 256],
    "tabcls": [32, 256],
    "binary": [16, 128],
    "cnn": [16, 64],
    "seq": [16, 128],
}
ACT_VARIANT = {"sine1d": "relu", "multireg": "tanh", "tabcls": "gelu", "binary": "tanh", "cnn": "silu", "seq": "tanh"}
N_SIZES = {"sine1d": 256, "multireg": 1024, "tabcls": 1024, "binary": 800, "cnn": 512, "seq": 512}

ACTS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "sigmoid": nn.Sigmoid,
    "elu": nn.ELU,
}
SYMPTOM_RULES = ("loss-not-decreasing", "cannot-overfit-batch")


def healthy_variations(base: str) -> list[dict[str, Any]]:
    """The base's default and its one-factor-at-a-time healthy variations, each with its own seed."""
    d = BASES[base]
    default = {k: d[k] for k in ("width", "depth", "act", "opt", "lr", "batch")}
    out: list[tuple[str, dict[str, Any]]] = [("default", {})]
    for o in OPTIMIZER_VARIANTS:
        if o["opt"] == d["opt"] and o["lr"] == d["lr"]:
            continue
        out.append((f"{o['opt']}-{o['lr']:g}", dict(o)))
    if base == "sine1d":  # its default is Adam 1e-2; the plain Adam default is then a variation
        out.append(("adam-0.001", {"opt": "adam", "lr": 1e-3}))
    for w in WIDTH_VARIANTS.get(base, [32, 128]):
        out.append((f"width{w}", {"width": w}))
    for k in DEPTH_VARIANTS.get(base, [1, 3]):
        out.append((f"depth{k}", {"depth": k}))
    for b in BATCH_VARIANTS[base]:
        out.append((f"batch{b}", {"batch": b}))
    out.append((f"act-{ACT_VARIANT[base]}", {"act": ACT_VARIANT[base]}))
    out.append(("seed1", {}))
    out.append(("seed2", {}))
    variations = []
    for i, (name, change) in enumerate(out):
        v = {**default, **change, "seed": i, "name": name}
        variations.append(v)
    return variations


# ----------------------------------------------------------------------------------------------- faults
@dataclass(frozen=True)
class Fault:
    """A fault operator: where it applies, its parameter variants, and what it should produce."""

    name: str
    what: str
    bases: tuple[str, ...]
    variants: tuple[dict[str, Any], ...]
    expected: str
    secondary: tuple[str, ...] = ()
    per_base: int = 1  # variations drawn per (base, parameter variant)
    via: str = "api"


ALL = tuple(BASES)
FAULTS: tuple[Fault, ...] = (
    Fault(
        "unscaled_inputs",
        "inputs in raw units: x*mult + offset (images: 0..255 or 12-bit 0..4095)",
        ALL,
        ({"mult": 1000.0, "offset": 0.0}, {"mult": 100.0, "offset": 5000.0}),
        "unscaled-inputs",
        ("saturated-activations", "dead-relu", "exploding-gradients"),
    ),
    Fault(
        "unscaled_targets",
        "regression targets in raw units: y*mult + offset",
        tuple(REGRESSION),
        ({"mult": 1e4, "offset": 0.0}, {"mult": 1.0, "offset": 1000.0}, {"mult": 300.0, "offset": 5000.0}),
        "unscaled-targets",
        ("learning-rate-too-low",),
    ),
    Fault(
        "final_activation",
        "a bounded final activation that can't reach the regression targets",
        tuple(REGRESSION),
        ({"act": "relu"}, {"act": "sigmoid"}, {"act": "tanh"}, {"act": "gelu"}),
        "output-range-mismatch",
        ("dead-relu", "saturated-activations", "collapsed-output"),
    ),
    Fault(
        "broadcast_target",
        "target of shape (N,) against predictions of shape (N, 1)",
        tuple(SINGLE_OUTPUT_REG),
        ({},),
        "loss-shape-mismatch",
        ("collapsed-output",),
        per_base=3,
    ),
    Fault(
        "softmax_ce",
        "nn.Softmax at the end of the model, then CrossEntropyLoss",
        tuple(CLASSIFIERS),
        ({},),
        "loss-activation-mismatch",
        ("saturated-activations",),
        per_base=3,
    ),
    Fault(
        "sigmoid_bce_logits",
        "nn.Sigmoid at the end of the model, then BCEWithLogitsLoss",
        ("binary",),
        ({},),
        "loss-activation-mismatch",
        ("saturated-activations",),
        per_base=3,
    ),
    Fault(
        "nll_raw",
        "NLLLoss on raw linear outputs (no log_softmax)",
        tuple(CLASSIFIERS),
        ({},),
        "loss-activation-mismatch",
        (),
        per_base=2,
    ),
    Fault(
        "tiny_init",
        "every weight ~ N(0, std^2), biases zero ('small random numbers')",
        ALL,
        ({"std": 1e-2}, {"std": 1e-3}),
        "poor-initialization",
        ("dead-relu", "vanishing-gradients", "collapsed-output", "learning-rate-too-low"),
    ),
    Fault(
        "huge_init",
        "every weight ~ N(0, 1)",
        ALL,
        ({"std": 1.0},),
        "poor-initialization",
        ("exploding-gradients", "saturated-activations", "dead-relu", "learning-rate-too-high"),
        per_base=2,
    ),
    Fault(
        "zero_init",
        "every weight and bias set to zero",
        ALL,
        ({},),
        "poor-initialization",
        ("collapsed-output", "params-not-updated", "vanishing-gradients"),
    ),
    Fault(
        "lr_too_high",
        "learning rate multiplied by factor",
        ALL,
        ({"factor": 300.0}, {"factor": 3000.0}),
        "learning-rate-too-high",
        ("exploding-gradients", "dead-relu", "saturated-activations", "collapsed-output"),
    ),
    Fault(
        "lr_too_low",
        "learning rate multiplied by factor",
        ALL,
        ({"factor": 1e-3}, {"factor": 1e-4}),
        "learning-rate-too-low",
        (),
    ),
    Fault(
        "missing_zero_grad",
        "a script whose loop never calls optimizer.zero_grad() (CLI)",
        ALL,
        ({},),
        "missing-zero-grad",
        ("learning-rate-too-high", "exploding-gradients"),
        per_base=2,
        via="cli",
    ),
    Fault(
        "detach_body",
        "forward() detaches the feature extractor's output before the last layer",
        ALL,
        ({},),
        "params-not-updated",
        (),
        per_base=2,
    ),
    Fault(
        "optimizer_head_only",
        "the optimizer is built on the last layer's parameters only",
        ALL,
        ({},),
        "params-not-updated",
        (),
    ),
    Fault(
        "deep_sigmoid",
        "10 hidden sigmoid layers of width 32 (default init)",
        tuple(MLP_BASES),
        ({},),
        "vanishing-gradients",
        ("saturated-activations", "poor-initialization", "collapsed-output"),
        per_base=2,
    ),
    Fault(
        "saturating_tanh",
        "6 hidden tanh layers with torch.randn-scale weights ~ N(0, 1), the output layer left at its default",
        tuple(MLP_BASES),
        ({},),
        "saturated-activations",
        ("poor-initialization", "vanishing-gradients", "exploding-gradients"),
        per_base=2,
    ),
    Fault(
        "tiny_relu",
        "8 hidden ReLU layers only 3 units wide (deep and narrow: born with dead units, Lu et al. 2020)",
        tuple(MLP_BASES),
        ({},),
        "dead-relu",
        ("poor-initialization", "collapsed-output", "vanishing-gradients"),
        per_base=2,
    ),
    Fault(
        "nan_inputs",
        "2% of the input values are NaN",
        ALL,
        ({"share": 0.02},),
        "nonfinite-data",
        ("exploding-gradients",),
    ),
    Fault(
        "nan_targets",
        "1% of the targets are NaN",
        (*REGRESSION, "binary"),
        ({"share": 0.01},),
        "nonfinite-data",
        ("exploding-gradients",),
    ),
    Fault(
        "inf_inputs",
        "a few input values are +inf",
        ("multireg", "tabcls", "cnn"),
        ({"count": 3},),
        "nonfinite-data",
        ("exploding-gradients",),
    ),
    Fault(
        "layernorm_output",
        "nn.LayerNorm(1) after the single output unit (copied from a transformer)",
        tuple(SINGLE_OUTPUT_REG),
        ({},),
        "collapsed-output",
        ("output-range-mismatch",),
        per_base=2,
    ),
    Fault(
        "eval_mode",
        "model.eval() before the loop of a model with BatchNorm and Dropout (CLI)",
        ("multireg", "tabcls"),
        ({},),
        "eval-mode-training",
        (),
        per_base=2,
        via="cli",
    ),
    # Issue "Diagnose the failures that real scripts have": the common bugs of real threads (appended, so the
    # variations drawn for the operators above stay as they were).
    Fault(
        "relu_logits",
        "nn.ReLU after the last layer, then CrossEntropyLoss (the old PyTorch Quickstart)",
        tuple(CLASSIFIERS),
        ({},),
        "loss-activation-mismatch",
        ("dead-relu", "collapsed-output"),
        per_base=2,
    ),
    Fault(
        "sorted_data",
        "rows sorted by class or by target, batches drawn in order (a DataLoader with shuffle=False)",
        ("multireg", "tabcls", "binary", "cnn", "seq"),  # sine1d trains on one full batch by default
        ({},),
        "data-order",
        ("learning-rate-too-high", "learning-rate-too-low", "dead-relu", "saturated-activations"),
        per_base=2,
    ),
    Fault(
        "softmax_dim0",
        "nn.LogSoftmax(dim=0) at the end (over the batch), then NLLLoss",
        tuple(CLASSIFIERS),
        ({},),
        "softmax-dim",
        ("collapsed-output",),
        per_base=2,
    ),
    Fault(
        "seq_axis",
        "a GRU without batch_first=True fed (batch, time, feature) sequences",
        ("seq",),
        ({},),
        "sequence-axis",
        (),
        per_base=4,
    ),
    Fault(
        "unregistered_list",
        "the hidden layers kept in a plain Python list (never registered, so never trained)",
        ALL,
        ({},),
        "params-not-updated",
        ("learning-rate-too-low",),
    ),
    Fault(
        "shuffled_labels",
        "the targets permuted apart from the inputs (a second permutation: every row gets another row's target)",
        ALL,
        ({},),
        "no-signal",
        ("loss-not-decreasing", "collapsed-output", "learning-rate-too-low", "cannot-overfit-batch"),
        per_base=2,
    ),
    Fault(
        "scheduler_per_batch",
        "the PyTorch tutorial's per-epoch StepLR(step_size=7, gamma=0.1) stepped after every batch (CLI)",
        ALL,
        ({},),
        "scheduler-misuse",
        ("loss-not-decreasing", "learning-rate-too-low", "cannot-overfit-batch", "collapsed-output"),
        per_base=2,
        via="cli",
    ),
)

# Healthy setups that sit next to a fault (a near miss), fixed before any run: what each one must not trigger.
NEAR_MISSES: tuple[tuple[str, str, dict[str, Any], str], ...] = (
    ("sine1d", "bounded_sigmoid", {"what": "targets in [0.05, 0.95] with a final sigmoid"}, "output-range-mismatch"),
    ("seq", "bounded_tanh", {"what": "targets squashed into (-0.9, 0.9) with a final tanh"}, "output-range-mismatch"),
    ("tabcls", "logsoftmax_nll", {"what": "LogSoftmax at the end and NLLLoss"}, "loss-activation-mismatch"),
    ("cnn", "logsoftmax_nll", {"what": "LogSoftmax at the end and NLLLoss"}, "loss-activation-mismatch"),
    ("binary", "sigmoid_bce", {"what": "Sigmoid at the end and BCELoss"}, "loss-activation-mismatch"),
    (
        "multireg",
        "frozen_first",
        {"what": "first layer frozen (requires_grad=False), optimizer on the rest"},
        "params-not-updated",
    ),
    (
        "tabcls",
        "frozen_first",
        {"what": "first layer frozen (requires_grad=False), optimizer on the rest"},
        "params-not-updated",
    ),
    ("multireg", "bn_dropout", {"what": "BatchNorm1d and Dropout(0.1) after every hidden layer"}, "-"),
    ("tabcls", "bn_dropout", {"what": "BatchNorm1d and Dropout(0.1) after every hidden layer"}, "-"),
    ("multireg", "huber", {"what": "Huber loss instead of MSE"}, "-"),
    ("tabcls", "inputs_x5", {"what": "features with std 5 (not standardised, but modest)"}, "unscaled-inputs"),
    ("multireg", "targets_x3", {"what": "targets with std ~3 (not standardised, but modest)"}, "unscaled-targets"),
    ("cnn", "standardised_pixels", {"what": "pixels standardised to mean 0, std 1"}, "-"),
    ("sine1d", "wide_relu", {"what": "one hidden ReLU layer of 256 units"}, "dead-relu"),
    ("tabcls", "leaky_logits", {"what": "nn.LeakyReLU(0.1) after the last layer, then CrossEntropyLoss"}, "-"),
    (
        "multireg",
        "frozen_list",
        {"what": "a frozen feature extractor kept in a plain list on purpose (requires_grad=False)"},
        "params-not-updated",
    ),
    ("tabcls", "shuffled_sorted", {"what": "rows sorted by class, shuffled once before batching"}, "data-order"),
    ("tabcls", "noisy_labels", {"what": "30 % of the labels replaced by a random class"}, "no-signal"),
    ("multireg", "noisy_targets", {"what": "noise as large as the signal added to the targets (R² ~0.5)"}, "no-signal"),
)


# Learning-rate schedules used as designed, run as scripts through the CLI: what each near miss does.
# sine1d trains full-batch, so there a scheduler stepped per epoch is the fault itself.
SCHEDULED_NEAR_MISSES = {
    "step_per_epoch": (
        "StepLR(step_size=7, gamma=0.1) stepped once per epoch, as the PyTorch tutorial does",
        ("multireg", "tabcls", "binary", "cnn", "seq"),
    ),
    "cosine_per_batch": ("CosineAnnealingLR(T_max=200) stepped per batch over the 200-step run", ALL),
}


# Script shapes (issue: check the training people actually run). Each base's healthy default and a few of its
# faults are also written as scripts of each shape and run through the CLI; chosen before any run.
SHAPES = {
    "hand_written": "the loss written by hand (squared error; log_softmax + gather; BCE with logits by hand)",
    "manual_sgd": "no optimizer: the weights updated by hand, w -= lr * w.grad (plain SGD)",
    "summed": "reduction='sum' divided by the batch size by hand",
    "loss_in_forward": "the model computes the loss in forward(x, labels) and returns a dict",
}
#: Plain-SGD rates for weights updated by hand (no momentum): a working rate per base, fixed before any run.
MANUAL_LR = {"sine1d": 0.1, "multireg": 0.05, "tabcls": 0.1, "binary": 0.1, "cnn": 0.05, "seq": 0.05}
#: Faults each shape is run with: (operator, parameter variant index, bases).
SHAPE_FAULTS: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("unscaled_inputs", 0, ALL),
    ("lr_too_low", 1, ALL),
    ("final_activation", 1, tuple(REGRESSION)),
)


# ----------------------------------------------------------------------------------------------- cases
@dataclass
class Case:
    """One labelled setup: ``spec`` builds it, ``label`` says what it should produce (kept apart)."""

    spec: dict[str, Any]
    label: dict[str, Any]


def generate(seed: int = GENERATOR_SEED) -> list[Case]:
    """Every setup of the benchmark, in a fixed order: healthy variations, near misses, CLI negatives, faults."""
    rng = random.Random(seed)
    cases: list[Case] = []
    variations = {b: healthy_variations(b) for b in BASES}
    for base, vs in variations.items():
        for v in vs:
            cases.append(
                Case(
                    {"id": f"{base}/{v['name']}", "base": base, "var": v, "fault": None, "near": None, "via": "api"},
                    {
                        "kind": "healthy",
                        "expected": None,
                        "secondary": [],
                        "twin": None,
                        "what": f"healthy variation {v['name']}",
                    },
                )
            )
    for base, near, extra, avoid in NEAR_MISSES:
        v = dict(variations[base][0], name=near)
        cases.append(
            Case(
                {"id": f"{base}/near-{near}", "base": base, "var": v, "fault": None, "near": near, "via": "api"},
                {
                    "kind": "near-miss",
                    "expected": None,
                    "secondary": [],
                    "twin": f"{base}/default",
                    "what": f"{extra['what']} (must not trigger {avoid})",
                },
            )
        )
    for base in BASES:
        v = variations[base][0]
        cases.append(
            Case(
                {"id": f"{base}/cli-default", "base": base, "var": v, "fault": None, "near": None, "via": "cli"},
                {
                    "kind": "healthy",
                    "expected": None,
                    "secondary": [],
                    "twin": None,
                    "what": "healthy default, run as a script through the CLI",
                },
            )
        )
    for near, (what, near_bases) in SCHEDULED_NEAR_MISSES.items():
        for base in near_bases:
            v = variations[base][0]
            spec = {"id": f"{base}/cli-{near}", "base": base, "var": v, "fault": None, "near": near, "via": "cli"}
            label = {
                "kind": "near-miss",
                "expected": None,
                "secondary": [],
                "twin": f"{base}/cli-default",
                "what": f"{what} (CLI; must not trigger scheduler-misuse)",
            }
            cases.append(Case(spec, label))
    for base in ("sine1d", "multireg"):
        v = variations[base][0]
        cases.append(
            Case(
                {
                    "id": f"{base}/cli-accumulation",
                    "base": base,
                    "var": v,
                    "fault": None,
                    "near": "accumulate",
                    "via": "cli",
                },
                {
                    "kind": "near-miss",
                    "expected": None,
                    "secondary": [],
                    "twin": f"{base}/cli-default",
                    "what": "gradient accumulation over 4 micro-batches, zero_grad after each step (CLI; must not "
                    "trigger missing-zero-grad)",
                },
            )
        )
    for fault in FAULTS:
        for base in fault.bases:
            for k, params in enumerate(fault.variants):
                if fault.name == "final_activation" and base == "sine1d" and params["act"] == "tanh":
                    continue  # sin(x) lies inside tanh's range: not a fault there
                if fault.name == "unscaled_inputs" and base == "cnn":
                    params = {"mult": (255.0, 4095.0)[k], "offset": 0.0}
                for j in range(fault.per_base):
                    pool = variations[base]
                    if fault.name == "eval_mode":
                        v = dict(pool[0], name="bn_dropout", seed=100 + j)
                        twin = f"{base}/near-bn_dropout"
                    else:
                        v = rng.choice(pool)
                        twin = f"{base}/{v['name']}"
                    pid = "-".join(f"{a}{b:g}" if isinstance(b, float) else f"{a}{b}" for a, b in params.items())
                    ident = f"{base}/{fault.name}{'-' + pid if pid else ''}/{v['name']}"
                    if any(c.spec["id"] == ident for c in cases):
                        ident += f"#{j}"
                    near = "bn_dropout" if fault.name == "eval_mode" else None
                    cases.append(
                        Case(
                            {
                                "id": ident,
                                "base": base,
                                "var": v,
                                "fault": {"op": fault.name, **params},
                                "near": near,
                                "via": fault.via,
                            },
                            {
                                "kind": "fault",
                                "expected": fault.expected,
                                "secondary": list(fault.secondary),
                                "twin": twin,
                                "what": fault.what,
                            },
                        )
                    )
    cases.extend(shape_cases(variations))
    return cases


def shape_cases(variations: dict[str, list[dict[str, Any]]]) -> list[Case]:
    """Every shape of script on each base's default: the healthy one and a few faults (appended after the
    original setups, drawing nothing from their RNG, so those stay as they were)."""
    faults = {f.name: f for f in FAULTS}
    cases = []
    for shape, what in SHAPES.items():
        for base in BASES:
            v = variations[base][0]
            cases.append(
                Case(
                    {
                        "id": f"{base}/shape-{shape}",
                        "base": base,
                        "var": v,
                        "fault": None,
                        "near": None,
                        "via": "cli",
                        "shape": shape,
                    },
                    {"kind": "healthy", "expected": None, "secondary": [], "twin": None, "what": f"healthy: {what}"},
                )
            )
            for name, k, bases in SHAPE_FAULTS:
                if base not in bases:
                    continue
                fault = faults[name]
                params = dict(fault.variants[k])
                if name == "unscaled_inputs" and base == "cnn":
                    params = {"mult": 255.0, "offset": 0.0}
                if name == "final_activation" and base == "sine1d":
                    params = {"act": "sigmoid"}
                cases.append(
                    Case(
                        {
                            "id": f"{base}/shape-{shape}/{name}",
                            "base": base,
                            "var": v,
                            "fault": {"op": name, **params},
                            "near": None,
                            "via": "cli",
                            "shape": shape,
                        },
                        {
                            "kind": "fault",
                            "expected": fault.expected,
                            "secondary": list(fault.secondary),
                            "twin": f"{base}/shape-{shape}",
                            "what": f"{fault.what}; {what}",
                        },
                    )
                )
    return cases


# ----------------------------------------------------------------------------------------------- data
def make_data(base: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The base's dataset, deterministic in ``seed``."""
    g = torch.Generator().manual_seed(1000 + seed)
    n = N_SIZES[base]
    if base == "sine1d":
        x = torch.rand(n, 1, generator=g) * 2 * math.pi - math.pi
        return x, torch.sin(x)
    if base == "multireg":
        x = torch.randn(n, 8, generator=g)
        y = torch.stack(
            [torch.sin(x[:, 0]) + 0.5 * x[:, 1] * x[:, 2], 0.5 * (x[:, 3] ** 2 - 1), torch.tanh(x[:, 4] - x[:, 5])],
            dim=1,
        )
        return x, y + 0.05 * torch.randn(n, 3, generator=g)
    if base == "tabcls":
        x = torch.randn(n, 10, generator=g)
        w1 = torch.randn(10, 16, generator=g)
        w2 = torch.randn(16, 3, generator=g)
        return x, (torch.tanh(x @ w1 / math.sqrt(10) * 2) @ w2).argmax(dim=1)
    if base == "binary":
        t = torch.rand(n, generator=g) * math.pi
        label = torch.arange(n) % 2
        px = torch.where(label == 0, torch.cos(t), 1 - torch.cos(t))
        py = torch.where(label == 0, torch.sin(t), 0.5 - torch.sin(t))
        x = torch.stack([px, py], dim=1) + 0.1 * torch.randn(n, 2, generator=g)
        return x, label.float().view(-1, 1)
    if base == "cnn":
        y = torch.arange(n) % 4
        imgs = 0.3 * torch.rand(n, 1, 16, 16, generator=g)
        offs = torch.randint(-4, 5, (n, 2), generator=g)
        idx = torch.arange(-4, 4)
        for i in range(n):
            cy, cx = 8 + int(offs[i, 0]), 8 + int(offs[i, 1])
            if y[i] == 0:
                rows, cols = torch.full_like(idx, cy), cx + idx
            elif y[i] == 1:
                rows, cols = cy + idx, torch.full_like(idx, cx)
            elif y[i] == 2:
                rows, cols = cy + idx, cx + idx
            else:
                rows, cols = cy + idx, cx - idx
            imgs[i, 0, rows.clamp(0, 15), cols.clamp(0, 15)] = 1.0
        return imgs, y
    if base == "seq":
        x = torch.randn(n, 16, 1, generator=g)
        w = 0.8 ** torch.arange(15, -1, -1, dtype=torch.float32)
        y = (x[:, :, 0] * w).sum(dim=1) + 0.5 * x[:, -1, 0] ** 2
        y = (y - y.mean()) / y.std()
        return x, y.view(-1, 1)
    raise ValueError(base)


# ----------------------------------------------------------------------------------------------- models
class GRULast(nn.Module):
    """A GRU over (batch, time, features) that returns the last time step's output."""

    def __init__(self, inputs: int, hidden: int, batch_first: bool = True) -> None:
        super().__init__()
        self.gru = nn.GRU(inputs, hidden, batch_first=batch_first)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(x)
        return out[:, -1]


class Net(nn.Module):
    """body (feature extractor) -> head (last Linear) -> optional final activation."""

    def __init__(self, body: nn.Module, head: nn.Module, final: nn.Module | None = None, detach: bool = False):
        super().__init__()
        self.body = body
        self.head = head
        self.final = final
        self.detach = detach

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x)
        if self.detach:
            h = h.detach()
        out = self.head(h)
        if self.final is not None:
            out = self.final(out)
        return out


class ListBody(nn.Module):
    """Layers applied in order but kept in a plain Python list: not registered, so not in ``parameters()``."""

    def __init__(self, layers: list[nn.Module]) -> None:
        super().__init__()
        self.layers = layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


def _mlp_body(inputs: int, widths: list[int], act: str, bn_dropout: bool) -> tuple[nn.Module, int]:
    layers: list[nn.Module] = []
    last = inputs
    for w in widths:
        layers.append(nn.Linear(last, w))
        if bn_dropout:
            layers.append(nn.BatchNorm1d(w))
        layers.append(ACTS[act]())
        if bn_dropout:
            layers.append(nn.Dropout(0.1))
        last = w
    return nn.Sequential(*layers), last


def _cnn_body(channels: int, blocks: int, act: str) -> tuple[nn.Module, int]:
    layers: list[nn.Module] = []
    c_in, size = 1, 16
    for i in range(blocks):
        c = channels * 2**i
        layers += [nn.Conv2d(c_in, c, 3, padding=1), ACTS[act](), nn.MaxPool2d(2)]
        c_in, size = c, size // 2
    layers += [nn.Flatten(), nn.Linear(c_in * size * size, 32), ACTS[act]()]
    return nn.Sequential(*layers), 32


def _seq_body(hidden: int, depth: int, act: str, batch_first: bool = True) -> tuple[nn.Module, int]:
    layers: list[nn.Module] = [GRULast(1, hidden, batch_first)]
    for _ in range(depth):
        layers += [nn.Linear(hidden, hidden), ACTS[act]()]
    return nn.Sequential(*layers), hidden


# ----------------------------------------------------------------------------------------------- materialize
@dataclass
class Setup:
    """A built setup: what ``fitdoctor.check`` and the plain loop need."""

    model: nn.Module
    x: torch.Tensor
    y: torch.Tensor
    loss: str
    batch_size: int
    optimizer: Callable[[nn.Module], Any]  # model -> the ``optimizer=`` argument (a factory or an instance)
    zero_grad: bool = True
    accumulate: int = 1
    eval_mode: bool = False
    scheduler: str | None = None  # a key of SCHEDULES: how the loop steps a learning-rate scheduler


#: Learning-rate schedules a loop may step: (scheduler of an optimizer and the run's steps, stepped per batch).
SCHEDULES: dict[str, tuple[Callable[[torch.optim.Optimizer, int], Any], bool]] = {
    "step_per_batch": (lambda opt, steps: torch.optim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.1), True),
    "step_per_epoch": (lambda opt, steps: torch.optim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.1), False),
    "cosine_per_batch": (lambda opt, steps: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps), True),
}


def optimizer_factory(name: str, lr: float) -> Callable[[Any], torch.optim.Optimizer]:
    """A function of the parameters that builds the named optimizer."""

    def build(params: Any) -> torch.optim.Optimizer:
        params = [p for p in params if p.requires_grad]
        if name == "adam":
            return torch.optim.Adam(params, lr=lr)
        if name == "adamw":
            return torch.optim.AdamW(params, lr=lr, weight_decay=1e-2)
        if name == "sgd":
            return torch.optim.SGD(params, lr=lr, momentum=0.9)
        if name == "rmsprop":
            return torch.optim.RMSprop(params, lr=lr)
        if name == "plain_sgd":  # what weights updated by hand (w -= lr * w.grad) do
            return torch.optim.SGD(params, lr=lr)
        raise ValueError(name)

    return build


def _init_all(model: nn.Module, how: str, std: float = 0.0, gain: float = 1.0) -> None:
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d, nn.GRU)):
                for name, p in module.named_parameters(recurse=False):
                    if how == "zero":
                        p.zero_()
                    elif name.startswith("weight"):
                        if how == "normal":
                            p.normal_(0.0, std)
                        elif how == "fan_in":
                            p.normal_(0.0, gain / math.sqrt(p.shape[1]))
                    elif how == "normal":
                        p.zero_()


def materialize(spec: dict[str, Any]) -> Setup:
    """Build the setup described by ``spec`` (deterministic: seeds come from the spec)."""
    base, v, fault, near = spec["base"], spec["var"], spec["fault"] or {}, spec["near"]
    op = fault.get("op")
    kind = BASES[base]["kind"]
    x, y = make_data(base, v["seed"])
    torch.manual_seed(v["seed"])
    width, depth, act = v["width"], v["depth"], v["act"]
    loss = {"reg": "mse", "cls": "cross_entropy", "bin": "bce_with_logits"}[kind]
    final: nn.Module | None = None
    opt_name, lr = v["opt"], v["lr"]

    # --- data faults and near misses
    if op == "unscaled_inputs":
        x = x * fault["mult"] + fault["offset"]
    elif op == "unscaled_targets":
        y = y * fault["mult"] + fault["offset"]
    elif op in ("nan_inputs", "nan_targets"):
        t = (x if op == "nan_inputs" else y).clone()
        g = torch.Generator().manual_seed(7 + v["seed"])
        flat = t.view(-1)
        flat[torch.randperm(flat.numel(), generator=g)[: max(1, int(fault["share"] * flat.numel()))]] = float("nan")
        x, y = (t, y) if op == "nan_inputs" else (x, t)
    elif op == "inf_inputs":
        x = x.clone()
        g = torch.Generator().manual_seed(7 + v["seed"])
        x.view(-1)[torch.randperm(x.numel(), generator=g)[: fault["count"]]] = float("inf")
    elif op == "broadcast_target":
        y = y.view(-1)
    elif op == "shuffled_labels":  # a second permutation for the targets: every row gets another row's target
        y = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(31 + v["seed"]))]
    if near == "noisy_labels":  # 30 % of the labels replaced by a random class: noisy, but learnable
        g = torch.Generator().manual_seed(31 + v["seed"])
        flip = torch.rand(len(y), generator=g) < 0.3
        y = torch.where(flip, torch.randint(0, int(y.max()) + 1, y.shape, generator=g), y)
    elif near == "noisy_targets":  # noise as large as the signal (R^2 about 0.5): weak, but real
        g = torch.Generator().manual_seed(31 + v["seed"])
        y = y + y.std(0, keepdim=True) * torch.randn(y.shape, generator=g)
    if op == "sorted_data" or near == "shuffled_sorted":
        key = y.view(len(y), -1)[:, 0].float()
        order = torch.sort(key, stable=True).indices
        if near == "shuffled_sorted":
            order = order[torch.randperm(len(order), generator=torch.Generator().manual_seed(v["seed"]))]
        x, y = x[order], y[order]
    if near == "bounded_sigmoid":
        y = 0.05 + 0.9 * (y + 1) / 2
        final = nn.Sigmoid()
    elif near == "bounded_tanh":
        y = 0.9 * torch.tanh(y)
        final = nn.Tanh()
    elif near == "inputs_x5":
        x = x * 5
    elif near == "targets_x3":
        y = y * 3
    elif near == "standardised_pixels":
        x = (x - x.mean()) / x.std()
    elif near == "wide_relu":
        width, depth, act = 256, 1, "relu"

    # --- architecture faults
    if op == "deep_sigmoid":
        width, depth, act = 32, 10, "sigmoid"
    elif op == "saturating_tanh":
        depth, act = 6, "tanh"
    elif op == "tiny_relu":
        width, depth, act = 3, 8, "relu"
    outputs = {"sine1d": 1, "multireg": 3, "tabcls": 3, "binary": 1, "cnn": 4, "seq": 1}[base]
    if base == "cnn":
        body, features = _cnn_body(width, depth, act)
    elif base == "seq":
        body, features = _seq_body(width, depth, act, batch_first=op != "seq_axis")
    else:
        body, features = _mlp_body(x.shape[1], [width] * depth, act, near == "bn_dropout")
    head = nn.Linear(features, outputs)
    if op == "final_activation":
        final = ACTS[fault["act"]]()
    elif op in ("softmax_ce",):
        final = nn.Softmax(dim=1)
    elif op == "sigmoid_bce_logits":
        final = nn.Sigmoid()
    elif op == "nll_raw":
        loss = "nll"
    elif op == "layernorm_output":
        final = nn.LayerNorm(1)
    elif op == "relu_logits":
        final = nn.ReLU()
    elif op == "softmax_dim0":
        final, loss = nn.LogSoftmax(dim=0), "nll"
    if op == "unregistered_list" or near == "frozen_list":
        body = ListBody(list(body))
        if near == "frozen_list":
            for layer in body.layers:
                layer.requires_grad_(False)
    if near == "leaky_logits":
        final = nn.LeakyReLU(0.1)
    if near == "logsoftmax_nll":
        final, loss = nn.LogSoftmax(dim=1), "nll"
    elif near == "sigmoid_bce":
        final, loss = nn.Sigmoid(), "bce"
    elif near == "huber":
        loss = "huber"
    model = Net(body, head, final, detach=op == "detach_body")

    # --- initialisation faults
    if op in ("tiny_init", "huge_init"):
        _init_all(model, "normal", std=fault["std"])
    elif op == "zero_init":
        _init_all(model, "zero")
    elif op == "saturating_tanh":
        _init_all(model.body, "normal", std=1.0)
    if near == "frozen_first":
        for p in model.body[0].parameters():
            p.requires_grad_(False)

    # --- script shapes: weights updated by hand are plain SGD at the base's manual rate
    if spec.get("shape") == "manual_sgd":
        opt_name, lr = "plain_sgd", MANUAL_LR[base]

    # --- optimizer faults
    if op == "lr_too_high" or op == "lr_too_low":
        lr = lr * fault["factor"]
    factory = optimizer_factory(opt_name, lr)
    if op == "optimizer_head_only":

        def optimizer(m: nn.Module) -> Any:
            return factory(m.head.parameters())  # an instance over the head only
    else:

        def optimizer(m: nn.Module) -> Any:
            return factory

    batch = min(v["batch"], x.shape[0])
    if near == "accumulate":
        batch = max(1, batch // 4)  # 4 micro-batches per optimizer step, the same samples per step
    return Setup(
        model,
        x,
        y,
        loss,
        batch,
        optimizer,
        zero_grad=op != "missing_zero_grad",
        accumulate=4 if near == "accumulate" else 1,
        eval_mode=op == "eval_mode",
        scheduler="step_per_batch" if op == "scheduler_per_batch" else near if near in SCHEDULES else None,
    )


LOSS_MODULES: dict[str, Callable[[], nn.Module]] = {
    "mse": nn.MSELoss,
    "huber": nn.HuberLoss,
    "cross_entropy": nn.CrossEntropyLoss,
    "nll": nn.NLLLoss,
    "bce": nn.BCELoss,
    "bce_with_logits": nn.BCEWithLogitsLoss,
}


def batches(setup: Setup) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The mini-batches in order, no shuffling (as ``fitdoctor.check`` feeds a tensor pair)."""
    n, b = setup.x.shape[0], setup.batch_size
    return [(setup.x[i : i + b], setup.y[i : i + b]) for i in range(0, n, b)]


def plain_skill(spec: dict[str, Any], steps: int = REPLAY_STEPS) -> dict[str, float]:
    """Train the setup with a plain loop (no fitdoctor) and measure how well it fits its own training data.

    skill: R^2 for regression (scale-free, so raw-unit targets are judged fairly), accuracy for classifiers;
    -inf when the loss went non-finite. This is the benchmark's independent measure of whether a fault hurt.
    """
    setup = materialize(spec)
    model = copy.deepcopy(setup.model)
    torch.manual_seed(0)
    made = setup.optimizer(model)
    opt = made if isinstance(made, torch.optim.Optimizer) else made(model.parameters())
    loss_fn = LOSS_MODULES[setup.loss]()
    model.train(not setup.eval_mode)
    data = batches(setup)
    make, per_batch = SCHEDULES[setup.scheduler] if setup.scheduler else (None, False)
    scheduler = make(opt, steps) if make else None
    done, i = 0, 0
    finite = True
    while done < steps:
        xb, yb = data[i % len(data)]
        i += 1
        if setup.zero_grad and (i - 1) % setup.accumulate == 0:
            opt.zero_grad()
        value = loss_fn(model(xb), yb) / setup.accumulate
        value.backward()
        if i % setup.accumulate == 0:
            opt.step()
            done += 1
        if scheduler is not None and (per_batch or i % len(data) == 0):
            scheduler.step()
        if not torch.isfinite(value):
            finite = False
            break
    model.eval()
    with torch.no_grad():
        pred = model(setup.x)
    kind = BASES[spec["base"]]["kind"]
    y = setup.y
    if not finite or not torch.isfinite(pred).all():
        return {"skill": -math.inf}
    if kind == "reg":
        pred = pred.reshape(y.shape) if pred.numel() == y.numel() else pred
        mask = torch.isfinite(y)
        resid = ((pred - y)[mask] ** 2).mean()
        var = y[mask].var()
        return {"skill": float(1 - resid / var)}
    if kind == "cls":
        return {"skill": float((pred.argmax(dim=1) == y).float().mean())}
    cut = 0.5 if isinstance(model.final, nn.Sigmoid) else 0.0  # probabilities or logits
    return {"skill": float(((pred > cut).float() == y).float().mean())}
