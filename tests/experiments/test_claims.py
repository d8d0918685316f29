"""Bounds are rounded outwards; shares come with their uniform baseline."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from attnbook.experiments.claims import at_least, at_most, share_with_uniform


@pytest.mark.parametrize(
    ("value", "digits", "percent", "low", "high"),
    [
        (0.0054, 3, False, "0.005", "0.006"),  # chapter 5's "within 0.005" was false
        (0.967, 0, True, "96", "97"),
        (0.0649, 2, False, "0.06", "0.07"),
        (0.07, 2, False, "0.07", "0.07"),  # exact at the printed precision: both agree
        (1234.5, 0, False, "1,234", "1,235"),
        (-0.015, 2, False, "-0.02", "-0.01"),
    ],
)
def test_bounds_round_outwards(value, digits, percent, low, high):
    assert at_least(value, digits, percent=percent) == low
    assert at_most(value, digits, percent=percent) == high


@given(st.floats(-1e6, 1e6, allow_nan=False), st.integers(0, 4))
def test_printed_bounds_hold(value, digits):
    assert float(at_least(value, digits).replace(",", "")) <= value
    assert float(at_most(value, digits).replace(",", "")) >= value
    assert float(at_most(value, digits).replace(",", "")) - value <= 10.0**-digits


def test_bounds_take_tensors():
    assert at_most(torch.tensor(0.0649)) == "0.07"


def test_share_with_uniform_against_a_hand_count():
    # query 0 may attend all 4 keys, query 1 only the first 2 (causal-like)
    weights = torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.9, 0.1, 0.0, 0.0]])
    selected = torch.tensor([[False, True, True, False], [False, True, True, False]])
    allowed = torch.tensor([[True, True, True, True], [True, True, False, False]])
    share, uniform = share_with_uniform(weights, selected, allowed)
    assert math.isclose(share, (0.5 + 0.1) / 2, rel_tol=1e-6)
    assert math.isclose(uniform, (2 / 4 + 1 / 2) / 2, rel_tol=1e-6)


def test_share_with_uniform_default_allows_every_key():
    weights = torch.full((3, 5), 0.2)
    selected = torch.tensor([True, True, False, False, False])
    share, uniform = share_with_uniform(weights, selected)
    assert math.isclose(share, 0.4, rel_tol=1e-6) and math.isclose(uniform, 0.4, rel_tol=1e-6)


def test_share_with_uniform_rejects_bad_masks():
    with pytest.raises(ValueError, match="num_queries, num_keys"):
        share_with_uniform(torch.ones(2, 3) / 3, torch.ones(4, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="at least one allowed key"):
        share_with_uniform(torch.ones(2, 3) / 3, torch.ones(2, 3, dtype=torch.bool),
                           torch.zeros(2, 3, dtype=torch.bool))
