import math

import pytest
import torch
import torch.nn.functional as F
from conftest import assert_close
from hypothesis import given
from hypothesis import strategies as st

from attnbook import (
    SelfAttentionV1,
    SelfAttentionV2,
    causal_mask,
    reference,
    scaled_dot_product_attention,
)
from attnbook.data import journey_embeddings

BATCH_SHAPES = [(), (2,), (2, 3)]


def qkv(batch, num_queries=4, num_keys=6, d_k=8, d_v=5, dtype=torch.float32):
    return (torch.randn(*batch, num_queries, d_k, dtype=dtype),
            torch.randn(*batch, num_keys, d_k, dtype=dtype),
            torch.randn(*batch, num_keys, d_v, dtype=dtype))


@pytest.mark.parametrize("batch", BATCH_SHAPES)
@pytest.mark.parametrize("num_queries,num_keys", [(4, 6), (6, 4), (5, 5)])
def test_matches_pytorch_kernel(batch, num_queries, num_keys):
    q, k, v = qkv(batch, num_queries, num_keys)
    context_vec, attn_weights = scaled_dot_product_attention(q, k, v)
    assert context_vec.shape == (*batch, num_queries, 5)
    assert attn_weights.shape == (*batch, num_queries, num_keys)
    assert_close(context_vec, F.scaled_dot_product_attention(q, k, v))


@pytest.mark.parametrize("batch", BATCH_SHAPES)
def test_bool_mask_matches_pytorch(batch):
    q, k, v = qkv(batch)
    mask = torch.rand(4, 6) > 0.4
    mask[:, 2] = True  # no fully masked row: PyTorch's kernels differ there
    context_vec, attn_weights = scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert_close(context_vec, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    assert (attn_weights[..., ~mask] == 0).all()  # masked weights are exactly 0
    assert_close(attn_weights.sum(-1), torch.ones(*batch, 4))


@pytest.mark.parametrize("batch", BATCH_SHAPES)
def test_float_mask_matches_pytorch(batch):
    q, k, v = qkv(batch)
    mask = torch.randn(*batch, 4, 6)
    mask[..., 0, 1] = -math.inf
    context_vec, attn_weights = scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert_close(context_vec, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    assert (attn_weights[..., 0, 1] == 0).all()


@pytest.mark.parametrize("batch", BATCH_SHAPES)
@pytest.mark.parametrize("num_queries,num_keys", [(4, 6), (6, 4), (5, 5)])
def test_is_causal_matches_pytorch(batch, num_queries, num_keys):
    q, k, v = qkv(batch, num_queries, num_keys)
    context_vec, attn_weights = scaled_dot_product_attention(q, k, v, is_causal=True)
    assert_close(context_vec, F.scaled_dot_product_attention(q, k, v, is_causal=True))
    above = ~causal_mask(num_queries, num_keys)
    assert (attn_weights[..., above] == 0).all()


@pytest.mark.parametrize("scale", [0.1, 1.0, 3.0])
def test_custom_scale_matches_pytorch(scale):
    q, k, v = qkv((2,))
    context_vec, _ = scaled_dot_product_attention(q, k, v, scale=scale)
    assert_close(context_vec, F.scaled_dot_product_attention(q, k, v, scale=scale))


def test_matches_numpy_twin():
    q, k, v = qkv((3,), dtype=torch.float64)
    mask = torch.rand(3, 4, 6) > 0.5
    mask[..., 0] = True
    context_vec, attn_weights = scaled_dot_product_attention(q, k, v, attn_mask=mask)
    ref_context, ref_weights = reference.scaled_dot_product_attention(
        q.numpy(), k.numpy(), v.numpy(), attn_mask=mask.numpy())
    assert_close(context_vec, ref_context)
    assert_close(attn_weights, ref_weights)


def test_default_scale_is_inverse_sqrt_d_k():
    q, k, v = qkv((), d_k=16)
    _, w_default = scaled_dot_product_attention(q, k, v)
    _, w_quarter = scaled_dot_product_attention(q, k, v, scale=0.25)
    _, w_one = scaled_dot_product_attention(q, k, v, scale=1.0)
    assert_close(w_default, w_quarter)
    assert not torch.allclose(w_default, w_one)


def test_fully_masked_row_gives_zeros_not_nan_and_finite_gradient():
    q, k, v = (t.double().requires_grad_() for t in qkv((2,)))
    mask = torch.ones(4, 6, dtype=torch.bool)
    mask[1] = False
    context_vec, attn_weights = scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert (attn_weights[:, 1] == 0).all() and (context_vec[:, 1] == 0).all()
    assert torch.isfinite(context_vec).all()
    context_vec.sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))
    assert (q.grad[:, 1] == 0).all()


def test_gradcheck_float64():
    q, k, v = (t.requires_grad_() for t in qkv((2,), 3, 4, 5, 2, dtype=torch.float64))
    mask = causal_mask(3, 4)

    def fn(q, k, v):
        return scaled_dot_product_attention(q, k, v, attn_mask=mask)[0]

    assert torch.autograd.gradcheck(fn, (q, k, v))


def test_large_inputs_stay_finite():
    q, k, v = (t * 1e3 for t in qkv((2,)))
    context_vec, attn_weights = scaled_dot_product_attention(q, k, v)
    assert torch.isfinite(context_vec).all() and torch.isfinite(attn_weights).all()
    assert_close(context_vec, F.scaled_dot_product_attention(q, k, v), rtol=1e-4, atol=1e-2)


def test_dropout_zeroes_and_rescales_weights():
    q, k, v = qkv((2,), 16, 16)
    _, no_drop = scaled_dot_product_attention(q, k, v)
    torch.manual_seed(1)
    _, dropped = scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    kept = dropped != 0
    assert 0.3 < kept.float().mean() < 0.7
    assert_close(dropped[kept], no_drop[kept] * 2.0)


@given(perm=st.permutations(range(5)))
def test_self_attention_is_permutation_equivariant(perm):
    torch.manual_seed(3)
    x = torch.randn(5, 4, dtype=torch.float64)
    module = SelfAttentionV2(4, 3).double()
    perm = torch.tensor(perm)
    assert_close(module(x[perm]), module(x)[perm])


@given(batch_size=st.integers(1, 4), index=st.integers(0, 3))
def test_result_does_not_depend_on_batch_composition(batch_size, index):
    torch.manual_seed(4)
    q, k, v = qkv((4,), dtype=torch.float64)
    index = min(index, batch_size - 1)
    full, _ = scaled_dot_product_attention(q[:batch_size], k[:batch_size], v[:batch_size])
    alone, _ = scaled_dot_product_attention(q[index], k[index], v[index])
    assert_close(full[index], alone)


@pytest.mark.parametrize(
    "shapes,match",
    [
        (((4, 8), (6, 7), (6, 5)), "same feature size d_k"),
        (((4, 8), (6, 8), (5, 5)), "same number of tokens"),
        (((8,), (6, 8), (6, 5)), r"query of shape \(\.\.\., num_tokens, d_in\)"),
        (((2, 4, 8), (3, 6, 8), (3, 6, 5)), "batch dimensions"),
    ],
)
def test_bad_shapes_raise_value_error(shapes, match):
    q, k, v = (torch.randn(s) for s in shapes)
    with pytest.raises(ValueError, match=match):
        scaled_dot_product_attention(q, k, v)


def test_bad_masks_raise_value_error():
    q, k, v = qkv((2,))
    with pytest.raises(ValueError, match=r"attn_mask of shape \(4, 5\) does not broadcast"):
        scaled_dot_product_attention(q, k, v, attn_mask=torch.ones(4, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="bool or floating-point"):
        scaled_dot_product_attention(q, k, v, attn_mask=torch.ones(4, 6, dtype=torch.long))
    with pytest.raises(ValueError, match="not both"):
        scaled_dot_product_attention(q, k, v, attn_mask=causal_mask(4, 6), is_causal=True)
    with pytest.raises(ValueError, match="dropout_p"):
        scaled_dot_product_attention(q, k, v, dropout_p=1.0)


def test_causal_mask_polarity():
    mask = causal_mask(4)
    assert mask.dtype == torch.bool
    assert mask[3, 0] and not mask[0, 3]  # a later query sees an earlier key, not the reverse
    assert mask.sum() == 10
    assert causal_mask(2, 3).tolist() == [[True, False, False], [True, True, False]]


def test_v1_and_v2_compute_the_same_function_after_copying_weights():
    sa_v2 = SelfAttentionV2(3, 2)
    sa_v1 = SelfAttentionV1(3, 2)
    with torch.no_grad():  # nn.Linear stores W transposed: (d_out, d_in)
        sa_v1.W_query.copy_(sa_v2.W_query.weight.T)
        sa_v1.W_key.copy_(sa_v2.W_key.weight.T)
        sa_v1.W_value.copy_(sa_v2.W_value.weight.T)
    x = journey_embeddings()
    out_v1, w_v1 = sa_v1(x, need_weights=True)
    out_v2, w_v2 = sa_v2(x, need_weights=True)
    assert out_v1.shape == (6, 2)
    assert_close(out_v1, out_v2)
    assert_close(w_v1, w_v2)


def test_v1_matches_numpy_twin_and_torch_kernel():
    sa_v1 = SelfAttentionV1(4, 3).double()
    x = torch.randn(2, 5, 4, dtype=torch.float64)
    W = [p.detach().numpy() for p in (sa_v1.W_query, sa_v1.W_key, sa_v1.W_value)]
    ref_context, _ = reference.self_attention(x.numpy(), *W)
    expected = F.scaled_dot_product_attention(x @ sa_v1.W_query, x @ sa_v1.W_key,
                                              x @ sa_v1.W_value)
    out = sa_v1(x)
    assert_close(out, ref_context)
    assert_close(out, expected)


def test_v1_parameters_and_v2_linear_layers():
    sa_v1 = SelfAttentionV1(3, 2)
    assert isinstance(sa_v1.W_query, torch.nn.Parameter) and sa_v1.W_query.shape == (3, 2)
    sa_v2 = SelfAttentionV2(3, 2, qkv_bias=True)
    assert isinstance(sa_v2.W_key, torch.nn.Linear) and sa_v2.W_key.weight.shape == (2, 3)
    assert sa_v2.W_key.bias is not None
    assert SelfAttentionV2(3, 2).W_key.bias is None


@pytest.mark.parametrize("cls", [SelfAttentionV1, SelfAttentionV2])
def test_self_attention_rejects_wrong_last_dimension(cls):
    with pytest.raises(ValueError, match=r"expected x of shape \(\.\.\., num_tokens, d_in=3\), "
                                         r"got \(6, 4\)"):
        cls(3, 2)(torch.ones(6, 4))


@pytest.mark.parametrize("cls", [SelfAttentionV1, SelfAttentionV2])
def test_modules_keep_no_weights_on_self(cls):
    module = cls(3, 2)
    before = set(vars(module))
    module(journey_embeddings(), need_weights=True)
    assert set(vars(module)) == before


@pytest.mark.parametrize("num_queries,num_keys", [(0, 0), (0, 3), (3, 0)])
def test_empty_sequences_match_pytorch(num_queries, num_keys):
    q, k, v = qkv((2,), num_queries, num_keys)
    context_vec, attn_weights = scaled_dot_product_attention(q, k, v)
    assert context_vec.shape == (2, num_queries, 5)
    assert attn_weights.shape == (2, num_queries, num_keys)
    assert_close(context_vec, F.scaled_dot_product_attention(q, k, v))  # zeros for no keys
    if num_queries == num_keys:
        causal, _ = scaled_dot_product_attention(q, k, v, is_causal=True)
        assert causal.shape == (2, 0, 5)


@pytest.mark.parametrize("cls", [SelfAttentionV1, SelfAttentionV2])
def test_modules_accept_zero_tokens(cls):
    module = cls(3, 4)
    out, weights = module(torch.randn(2, 0, 3), need_weights=True)
    assert out.shape == (2, 0, 4) and weights.shape == (2, 0, 0)


def test_padding_mask_as_attn_mask_ignores_the_padding():
    from attnbook import padding_mask

    q, k, v = qkv((2,), num_queries=4, num_keys=6)
    keep = padding_mask(torch.tensor([6, 2]), 6)  # (batch, num_keys)
    context_vec, attn_weights = scaled_dot_product_attention(q, k, v, attn_mask=keep[:, None, :])
    assert (attn_weights[1, :, 2:] == 0).all()
    assert_close(context_vec[1], scaled_dot_product_attention(q[1], k[1, :2], v[1, :2])[0])


# -- the sliding window of causal_mask (DESIGN Part 3) ------------------------------------

@pytest.mark.parametrize("num_tokens,num_keys", [(6, 6), (3, 7), (7, 3)])
@pytest.mark.parametrize("window", [1, 2, 3, 10])
def test_windowed_causal_mask_is_the_band_by_definition(num_tokens, num_keys, window):
    mask = causal_mask(num_tokens, num_keys, window=window)
    expected = [[j <= i and i - j < window for j in range(num_keys)] for i in range(num_tokens)]
    assert mask.dtype == torch.bool and mask.tolist() == expected
    assert torch.equal(mask, torch.from_numpy(reference.causal_mask(num_tokens, num_keys,
                                                                    window=window)))


def test_window_one_is_the_diagonal_and_a_wide_window_is_full_causal():
    assert torch.equal(causal_mask(5, window=1), torch.eye(5, dtype=torch.bool))
    assert torch.equal(causal_mask(5, window=5), causal_mask(5))
    far = torch.ones(5, 5, dtype=torch.bool).tril(diagonal=-4)  # i - j >= 4: only (4, 0)
    assert torch.equal(causal_mask(5, window=4), causal_mask(5) & ~far)
    assert causal_mask(9, window=3).sum(-1).max() == 3  # no query sees more than the window


def test_band_mask_with_pytorch_kernel_equals_windowed_attention_by_hand():
    """SDPA with the band as its explicit mask, against scores masked key by key."""
    q, k, v = qkv((2,), num_queries=7, num_keys=7)
    window = 3
    context_vec, attn_weights = scaled_dot_product_attention(
        q, k, v, attn_mask=causal_mask(7, window=window))
    assert_close(context_vec, F.scaled_dot_product_attention(
        q, k, v, attn_mask=causal_mask(7, window=window)))
    for i in range(7):  # query i averages the values of keys max(0, i - 2) .. i
        first = max(0, i - window + 1)
        w = torch.softmax(q[:, i:i + 1] @ k[:, first:i + 1].mT / math.sqrt(8), dim=-1)
        assert_close(context_vec[:, i:i + 1], w @ v[:, first:i + 1])
        assert attn_weights[:, i, :first].abs().sum() == 0


@pytest.mark.parametrize("window", [0, -2, 1.5, True, "3"])
def test_bad_window_names_what_was_expected(window):
    with pytest.raises(ValueError, match=r"expected window to be None or an int >= 1"):
        causal_mask(4, window=window)
