"""Positions against the papers' formulas, written out here independently:
Vaswani et al. (2017) section 3.5, RoFormer (Su et al.) eq. 13-16, ALiBi (Press et al.)
section 3. RoPE uses the paper's pairing of features (2i, 2i + 1)."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from attnbook import (
    alibi_bias,
    apply_rope,
    reference,
    scaled_dot_product_attention,
    sinusoidal_positions,
)
from attnbook.positions import alibi_slopes, rope_angles, t5_relative_buckets

# --- sinusoidal --------------------------------------------------------------------


def test_sinusoidal_hand_values():
    pe = sinusoidal_positions(3, 4).double()
    # d_model = 4: frequencies 1 and 1/100
    expected = [[0, 1, 0, 1],
                [math.sin(1), math.cos(1), math.sin(0.01), math.cos(0.01)],
                [math.sin(2), math.cos(2), math.sin(0.02), math.cos(0.02)]]
    torch.testing.assert_close(pe, torch.tensor(expected, dtype=torch.float64))


@given(st.integers(1, 40), st.integers(1, 33))
def test_sinusoidal_matches_formula_and_twin(num_positions, d_model):
    pe = sinusoidal_positions(num_positions, d_model)
    assert pe.shape == (num_positions, d_model) and pe.dtype == torch.float32
    p = np.arange(num_positions)[:, None]
    for c in range(d_model):  # PE(p, 2i) = sin(p / 10000^(2i/d)), PE(p, 2i+1) = cos(...)
        two_i = c - c % 2
        f = np.sin if c % 2 == 0 else np.cos
        np.testing.assert_allclose(pe[:, c:c + 1].numpy(), f(p / 10000 ** (two_i / d_model)),
                                   atol=1e-6)
    np.testing.assert_allclose(pe.numpy(), reference.sinusoidal_positions(num_positions, d_model),
                               atol=1e-6)


def test_sinusoidal_offset_is_a_linear_map():
    # Vaswani et al.: PE(p + k) is a linear function (a rotation per pair) of PE(p).
    pe = sinusoidal_positions(20, 8).double()
    k = 3
    omega = 10000.0 ** (-torch.arange(0, 8, 2, dtype=torch.float64) / 8)
    for i, w in enumerate(omega):
        c, s = math.cos(k * w), math.sin(k * w)
        sin_p, cos_p = pe[:-k, 2 * i], pe[:-k, 2 * i + 1]
        torch.testing.assert_close(pe[k:, 2 * i], sin_p * c + cos_p * s)
        torch.testing.assert_close(pe[k:, 2 * i + 1], cos_p * c - sin_p * s)


@pytest.mark.parametrize("args", [(0, 4), (4, 0), (2.0, 4), (True, 4)])
def test_sinusoidal_rejects_bad_sizes(args):
    with pytest.raises(ValueError, match="must be an integer"):
        sinusoidal_positions(*args)


# --- RoPE --------------------------------------------------------------------------


def roformer_matrix(m, head_dim, base=10000.0):
    """R^d_{Theta, m} of RoFormer eq. 15, entry by entry."""
    R = torch.zeros(head_dim, head_dim, dtype=torch.float64)
    for i in range(head_dim // 2):
        theta = base ** (-2 * i / head_dim)
        R[2 * i, 2 * i] = math.cos(m * theta)
        R[2 * i, 2 * i + 1] = -math.sin(m * theta)
        R[2 * i + 1, 2 * i] = math.sin(m * theta)
        R[2 * i + 1, 2 * i + 1] = math.cos(m * theta)
    return R


@given(st.integers(1, 3), st.integers(1, 12), st.integers(1, 8), st.sampled_from([100.0, 1e4]))
def test_rope_equals_roformer_rotation_matrix(batch, num_tokens, half, base):
    head_dim = 2 * half
    x = torch.randn(batch, num_tokens, head_dim, dtype=torch.float64)
    out = apply_rope(x, base=base)
    assert out.shape == x.shape and out.dtype == x.dtype
    for m in range(num_tokens):
        torch.testing.assert_close(out[:, m], x[:, m] @ roformer_matrix(m, head_dim, base).T)
    np.testing.assert_allclose(out.numpy(), reference.apply_rope(x.numpy(), base=base),
                               rtol=1e-10, atol=1e-12)


def test_rope_equals_complex_multiplication():
    # Meta's Llama code: view pairs (2i, 2i+1) as complex numbers, multiply by e^{i m theta}.
    x = torch.randn(2, 3, 7, 16, dtype=torch.float64)
    m = torch.arange(7, dtype=torch.float64)
    theta = 10000.0 ** (-torch.arange(0, 16, 2, dtype=torch.float64) / 16)
    z = torch.view_as_complex(x.reshape(2, 3, 7, 8, 2))
    expected = torch.view_as_real(z * torch.polar(torch.ones(7, 8, dtype=torch.float64),
                                                  m[:, None] * theta)).flatten(-2)
    torch.testing.assert_close(apply_rope(x), expected)


def test_rope_half_split_is_a_permutation_of_interleaved():
    # GPT-NeoX / Hugging Face "rotate_half" pairs feature i with i + d/2: the same rotation
    # applied to features permuted so that (i, i + d/2) become (2i, 2i + 1).
    d = 8
    x = torch.randn(5, d, dtype=torch.float64)
    theta = 10000.0 ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    angle = torch.arange(5, dtype=torch.float64)[:, None] * torch.cat([theta, theta])
    rotate_half = torch.cat([-x[:, d // 2:], x[:, :d // 2]], dim=-1)
    neox = x * torch.cos(angle) + rotate_half * torch.sin(angle)
    perm = torch.stack([torch.arange(d // 2), torch.arange(d // 2) + d // 2], dim=1).flatten()
    torch.testing.assert_close(apply_rope(x[:, perm]), neox[:, perm])


@given(st.integers(1, 16), st.integers(1, 16), st.integers(-50, 50))
def test_rope_keeps_norms_and_dot_products_depend_on_offset_only(num_tokens, half, shift):
    x = torch.randn(num_tokens, 2 * half, dtype=torch.float64)
    torch.testing.assert_close(apply_rope(x).norm(dim=-1), x.norm(dim=-1))
    q, k = torch.randn(2 * half, dtype=torch.float64), torch.randn(2 * half, dtype=torch.float64)
    m = torch.arange(num_tokens)
    n = torch.flip(m, [0])
    qm = apply_rope(q.expand(num_tokens, -1), m)
    kn = apply_rope(k.expand(num_tokens, -1), n)
    qs = apply_rope(q.expand(num_tokens, -1), m + shift)
    ks = apply_rope(k.expand(num_tokens, -1), n + shift)
    # shifting both positions by the same amount changes no dot product
    torch.testing.assert_close((qm * kn).sum(-1), (qs * ks).sum(-1))
    # and q_m . k_n = q . R_{n-m} k (RoFormer eq. 16)
    torch.testing.assert_close((qm * kn).sum(-1),
                               (q * apply_rope(k.expand(num_tokens, -1), n - m)).sum(-1))


def test_rope_position_zero_is_identity_and_positions_broadcast():
    x = torch.randn(2, 4, 3, 6)  # (batch, num_heads, num_tokens, head_dim)
    torch.testing.assert_close(apply_rope(x)[..., 0, :], x[..., 0, :])
    per_batch = torch.tensor([[5, 6, 7], [0, 1, 2]])[:, None, :]  # (batch, 1, num_tokens)
    out = apply_rope(x, per_batch)
    torch.testing.assert_close(out[1], apply_rope(x[1]))
    torch.testing.assert_close(out[0], apply_rope(x[0], torch.tensor([5, 6, 7])))


def test_rope_float32_keeps_dtype_and_precision_at_large_positions():
    x = torch.randn(3, 8)
    pos = torch.tensor([10_000, 20_000, 30_000])
    expected = apply_rope(x.double(), pos)
    out = apply_rope(x, pos)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.double(), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 7), (6,)])
def test_rope_rejects_odd_head_dim_or_low_rank(shape):
    with pytest.raises(ValueError, match=r"\(\.\.\., num_tokens, head_dim\) with an even head_dim"):
        apply_rope(torch.randn(shape))


def test_rope_rejects_mismatched_positions():
    with pytest.raises(ValueError, match=r"expected positions of shape \(num_tokens,\) = \(4,\)"):
        apply_rope(torch.randn(4, 6), torch.arange(5))
    with pytest.raises(ValueError, match="even head_dim"):
        rope_angles(torch.arange(3), head_dim=5)


# --- ALiBi -------------------------------------------------------------------------


def test_alibi_slopes_of_the_paper():
    # Press et al.: 8 heads -> 1/2, 1/4, ..., 1/256; 16 heads interleave their geometric means
    torch.testing.assert_close(alibi_slopes(8), torch.tensor([2.0 ** -k for k in range(1, 9)]))
    torch.testing.assert_close(alibi_slopes(16)[1::2], alibi_slopes(8))
    torch.testing.assert_close(alibi_slopes(16)[::2],
                               torch.tensor([2.0 ** -(k - 0.5) for k in range(1, 9)]))


@given(st.integers(1, 12), st.integers(1, 20), st.booleans())
def test_alibi_pattern(num_heads, num_tokens, causal):
    bias = alibi_bias(num_heads, num_tokens, causal=causal)
    assert bias.shape == (num_heads, num_tokens, num_tokens)
    for h in range(1, num_heads + 1):
        slope = 2.0 ** (-8.0 * h / num_heads)
        for i in range(num_tokens):
            for j in range(num_tokens):
                if j <= i:
                    expected = -slope * (i - j)
                else:
                    expected = -math.inf if causal else -slope * (j - i)
                assert bias[h - 1, i, j].item() == pytest.approx(expected, rel=1e-6)
    np.testing.assert_allclose(bias.numpy(), reference.alibi_bias(num_heads, num_tokens, causal),
                               rtol=1e-6)


def test_alibi_as_float_mask_matches_torch_kernel_and_masks_the_future():
    q, k, v = torch.randn(2, 4, 6, 8), torch.randn(2, 4, 6, 8), torch.randn(2, 4, 6, 3)
    bias = alibi_bias(4, 6)  # broadcasts over the batch
    out, weights = scaled_dot_product_attention(q, k, v, attn_mask=bias)
    assert (weights.triu(1) == 0).all()
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    torch.testing.assert_close(out, expected)
    # the steepest head (slope 1/4) puts less weight far back than attention without bias
    # on keys that all score the same
    _, flat = scaled_dot_product_attention(torch.zeros(1, 6, 8), torch.zeros(1, 6, 8), v[0, :1],
                                           attn_mask=bias[:1])
    torch.testing.assert_close(flat[0, 5], torch.softmax(-0.25 * torch.arange(5, -1, -1.0), 0))


@pytest.mark.parametrize("args", [(0, 4), (2, 0), (2.5, 3)])
def test_alibi_rejects_bad_sizes(args):
    with pytest.raises(ValueError, match="must be an integer"):
        alibi_bias(*args)


# -- T5's relative-position buckets --------------------------------------------------


def test_t5_buckets_by_hand():
    # decoder (one direction), 32 buckets up to distance 128: distances 0..15 exact,
    # then 16 + floor(16 * log(d / 16) / log(8)), and 31 from distance 128 on
    row = t5_relative_buckets(300)[-1]              # the last query: distance = 299 - j
    for distance, bucket in [(0, 0), (1, 1), (15, 15), (16, 16), (31, 21), (32, 21),
                             (63, 26), (64, 26), (112, 30), (113, 31), (127, 31), (128, 31),
                             (299, 31)]:
        assert row[299 - distance] == bucket, distance
    assert (t5_relative_buckets(5)[0, 1:] == 0).all()      # future keys share bucket 0


def test_t5_buckets_bidirectional_by_hand():
    # encoder: 16 buckets per direction (8 exact); keys after the query from 16 on
    buckets = t5_relative_buckets(1, 40, bidirectional=True)[0]
    assert buckets[:8].tolist() == [0, *range(17, 24)]
    # distance 20: 8 + floor(8 * log(20 / 8) / log(128 / 8)) = 8 + floor(2.64) = 10
    assert buckets[8] == 16 + 8 and buckets[20] == 16 + 10
    left = t5_relative_buckets(40, 1, bidirectional=True)[:, 0]
    assert left[:8].tolist() == list(range(8)) and left.max() < 16


@given(st.integers(1, 40), st.integers(1, 40), st.sampled_from([8, 16, 32]),
       st.sampled_from([20, 64, 128]), st.booleans())
def test_t5_buckets_match_the_numpy_twin(n_q, n_k, num_buckets, max_distance, bidirectional):
    torch_buckets = t5_relative_buckets(n_q, n_k, num_buckets, max_distance, bidirectional)
    assert torch_buckets.shape == (n_q, n_k) and torch_buckets.dtype == torch.int64
    np.testing.assert_array_equal(
        torch_buckets.numpy(),
        reference.t5_relative_buckets(n_q, n_k, num_buckets, max_distance, bidirectional))
    assert 0 <= torch_buckets.min() and torch_buckets.max() < num_buckets


def test_t5_buckets_grow_with_distance():
    row = t5_relative_buckets(500)[-1].flip(0)      # distance 0, 1, 2, ...
    assert (row[1:] >= row[:-1]).all()


def test_t5_buckets_reject_bad_arguments():
    with pytest.raises(ValueError, match="num_queries"):
        t5_relative_buckets(0)
    with pytest.raises(ValueError, match="max_distance"):
        t5_relative_buckets(4, num_buckets=32, max_distance=16)
