"""Evidence: every measurement of one setup, gathered once, read by all rules."""

from __future__ import annotations

import linecache
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from torch import nn

from fitdoctor.batches import Batch
from fitdoctor.capture.userframes import Site
from fitdoctor.location import Location
from fitdoctor.probes.activations import ActivationStats, FinalActivation
from fitdoctor.probes.control import Controls
from fitdoctor.probes.data import FeatureStats, NonFinite, TargetStats
from fitdoctor.probes.gradients import LayerGradient
from fitdoctor.probes.lr_range import RangeTest
from fitdoctor.probes.overfit import OverfitResult
from fitdoctor.probes.sequence import SequenceInput
from fitdoctor.probes.trend import Trend
from fitdoctor.quantities import NotMeasured
from fitdoctor.replay import ReplayResult
from fitdoctor.summary import LoopSummary
from fitdoctor.training import TrainingSetup


class Locator:
    """Turns captured sites into :class:`Location` objects in the user's script.

    Args:
        display_root: Paths are shown relative to this folder (the user's working directory).
        module_sites: Qualified module name -> creation sites, innermost first.
        model: Where the model is created.
        optimizer: Where the optimizer is created.
        loss: Where the loss is computed.
        model_call: Where the training loop calls the model.
        init_sites: Parameter name -> where the user's code initialises it explicitly (``nn.init``).
        original: Maps the path the script ran from (a scratch copy) to the user's original path.
        scheduler: Where the script first steps a learning-rate scheduler.
    """

    def __init__(
        self,
        display_root: str | None = None,
        module_sites: dict[str, list[Site]] | None = None,
        model: Site | None = None,
        optimizer: Site | None = None,
        loss: Site | None = None,
        model_call: Site | None = None,
        init_sites: dict[str, Site] | None = None,
        original: Callable[[str], str] | None = None,
        scheduler: Site | None = None,
    ) -> None:
        self.display_root = display_root
        self.original: Callable[[str], str] = original or (lambda path: path)
        self.module_sites = module_sites or {}
        self.model = self.site(model)
        self.optimizer = self.site(optimizer)
        self.loss = self.site(loss)
        self.model_call = self.site(model_call)
        self.init_sites = init_sites or {}
        self.scheduler = self.site(scheduler)

    def site(self, site: Site | None) -> Location | None:
        """The location of a site (None stays None)."""
        if site is None:
            return None
        path = self.original(site.path)
        if self.display_root and not path.startswith("<"):
            rel = os.path.relpath(path, self.display_root)
            path = rel if not rel.startswith("..") else path
        return Location(path, site.line, linecache.getline(site.path, site.line).strip())

    def init(self, parameter: str) -> Location | None:
        """Where the user's code explicitly initialises this parameter, if it does."""
        return self.site(self.init_sites.get(parameter))

    def module(self, name: str | None) -> Location | None:
        """Where the module with this qualified name was created (its innermost user frame)."""
        if name is None:
            return None
        sites = self.module_sites.get(name)
        return self.site(sites[0]) if sites else None


@dataclass
class StateEvidence:
    """Measurements of the model in one state (at init, or after the short training).

    Attributes:
        activations: Per activation call site.
        gradients: Per parametrised layer, in forward order.
        loss: Mean loss on the probe batches.
        spread: (std of predictions across inputs, std of targets), see ``probes.outputs``.
        output: The mean and std of the prediction the loss sees, over the probe batches (at init only; see
            ``probes.outputs.output_moments``).
    """

    activations: list[ActivationStats]
    gradients: list[LayerGradient]
    loss: float
    spread: tuple[float, float] | None = None
    output: tuple[float, float] | None = None


@dataclass
class Evidence:
    """All measurements of one training setup.

    Attributes:
        setup: The captured setup.
        probe_batches: Batches the probes ran on.
        eval_batches: Batches replays are evaluated on.
        inputs: Per-feature statistics of the model input (None when not a float tensor).
        targets: Statistics of the loss targets.
        final: The final activation, if the output passes through one.
        layers: Parametrised layers in forward order.
        init: The model at its initial weights.
        trained: The model after the baseline replay.
        baseline: The baseline replay.
        user_trend: Trend of the user's own loss curve.
        replay_trend: Trend of the baseline replay's training loss.
        constant_loss: Loss of the best input-independent prediction.
        locate: Maps captured sites to the user's lines.
        notes: What was sampled or skipped.
        loop: Facts of the user's loop from the capture (stale gradients, parameter coverage...).
        nonfinite: NaN/Inf counts in the captured data.
        lr_range: The learning-rate range test.
        overfit: The overfit-one-batch test.
        sequence_inputs: What the recurrent and attention layers received on the probe batches.
        control: The baseline replay on targets permuted across the captured samples and on targets planted by
            one feature of the inputs or by another draw of the model (None when they did not run: the user's
            loop already fits).
    """

    setup: TrainingSetup
    probe_batches: Sequence[Batch]
    eval_batches: Sequence[Batch]
    inputs: list[FeatureStats] | None
    targets: TargetStats | None
    final: FinalActivation | None
    layers: list[str]
    init: StateEvidence
    trained: StateEvidence
    baseline: ReplayResult
    user_trend: Trend | None
    replay_trend: Trend | None
    constant_loss: float | None
    locate: Locator
    notes: list[str] = field(default_factory=list)
    loop: LoopSummary = field(default_factory=LoopSummary)
    nonfinite: NonFinite | None = None
    lr_range: RangeTest | None = None
    overfit: OverfitResult | None = None
    sequence_inputs: list[SequenceInput] = field(default_factory=list)
    control: Controls | None = None

    def restricted(self, needed: frozenset[str] | set[str]) -> Evidence:
        """This evidence as a check measuring only the ``needed`` quantities
        (:data:`fitdoctor.quantities.QUANTITIES`) sees it: every other one :class:`NotMeasured`."""

        def keep(name: str, value: Any) -> Any:
            return value if name in needed else NotMeasured(name)

        init = replace(
            self.init,
            gradients=keep("init.gradients", self.init.gradients),
            loss=keep("init.gradients", self.init.loss),
            spread=keep("spread", self.init.spread),
            output=keep("init.output", self.init.output),
        )
        trained = replace(
            self.trained,
            activations=keep("trained.activations", self.trained.activations),
            gradients=keep("trained.gradients", self.trained.gradients),
            loss=keep("trained.gradients", self.trained.loss),
            spread=keep("spread", self.trained.spread),
        )
        return replace(
            self,
            init=init,
            trained=trained,
            lr_range=keep("lr_range", self.lr_range),
            overfit=keep("overfit", self.overfit),
            sequence_inputs=keep("sequence_inputs", self.sequence_inputs),
            control=keep("shuffled_targets", self.control),
        )

    def module(self, name: str) -> nn.Module | None:
        """The module with this qualified name in the setup's model."""
        return dict(self.setup.model.named_modules()).get(name)

    def activation_location(self, stats: ActivationStats) -> Location | None:
        """Where an activation is applied: the functional call's line, else the module's creation line."""
        if stats.site is not None and not stats.activation_module:
            return self.locate.site(stats.site)
        return self.locate.module(stats.module) or self.locate.model
