"""fitdoctor.norms: float64 accuracy at float32 cost, and no float32 overflow for finite values."""

from __future__ import annotations

import math

import pytest
import torch

from fitdoctor.norms import l2_norm, total_norm


@pytest.mark.parametrize("shape", [(4096, 4096), (7,), (4097, 3), (64, 3, 3, 3), (1_000_003,), (0,)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_norm_matches_a_float64_reduction(shape: tuple[int, ...], seed: int) -> None:
    g = torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * 3
    exact = float(g.double().norm())
    assert l2_norm(g) == pytest.approx(exact, rel=1e-7, abs=0.0)


def test_finite_values_past_float32s_range_give_a_finite_norm() -> None:
    big = torch.full((10_000,), 1e20)  # squares overflow float32
    assert l2_norm(big) == pytest.approx(1e22, rel=1e-6)


def test_a_non_finite_element_gives_a_non_finite_norm() -> None:
    x = torch.ones(10_000)
    x[5] = math.inf
    assert l2_norm(x) == math.inf
    x[5] = math.nan
    assert math.isnan(l2_norm(x))


def test_the_total_norm_is_the_norm_of_the_concatenation() -> None:
    parts = [torch.randn(5000), torch.randn(30, 30), torch.randn(3)]
    exact = float(torch.cat([p.reshape(-1) for p in parts]).double().norm())
    assert total_norm(parts) == pytest.approx(exact, rel=1e-7)
    assert total_norm([]) == 0.0
