import pytest
import torch
import torch.nn.functional as F
from conftest import assert_close
from hypothesis import given
from hypothesis import strategies as st

from attnbook import (
    CausalAttention,
    MultiHeadAttention,
    MultiHeadAttentionWrapper,
    causal_mask,
    padding_mask,
    reference,
)


@pytest.mark.parametrize("qkv_bias", [False, True])
def test_wrapper_and_efficient_class_compute_the_same_function(qkv_bias):
    kwargs = dict(d_in=6, d_out=8, context_length=10, num_heads=4, qkv_bias=qkv_bias)
    mha, wrapper = MultiHeadAttention(**kwargs), MultiHeadAttentionWrapper(**kwargs)
    assert wrapper.load_from(mha) is wrapper
    x = torch.randn(3, 7, 6)
    out, weights = mha(x, need_weights=True)
    out_w, weights_w = wrapper(x, need_weights=True)
    assert out.shape == (3, 7, 8) and weights.shape == (3, 4, 7, 7)
    assert_close(out_w, out)
    assert_close(weights_w, weights)


def test_wrapper_structure():
    wrapper = MultiHeadAttentionWrapper(d_in=3, d_out=6, context_length=5, num_heads=3)
    assert len(wrapper.heads) == 3
    assert all(isinstance(h, CausalAttention) and h.d_out == 2 for h in wrapper.heads)
    assert wrapper.out_proj.weight.shape == (6, 6)


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("qkv_bias", [True, False])
def test_equals_torch_multihead_attention(causal, qkv_bias):
    d, num_heads, n = 8, 2, 5
    mha = MultiHeadAttention(d, d, context_length=n, num_heads=num_heads, qkv_bias=qkv_bias,
                             causal=causal)
    torch_mha = mha.to_torch()
    assert isinstance(torch_mha, torch.nn.MultiheadAttention) and torch_mha.batch_first
    # the in-projection is built independently from the module's own Linear layers
    torch.testing.assert_close(torch_mha.in_proj_weight[d:2 * d], mha.W_key.weight)
    x = torch.randn(2, n, d)
    # PyTorch's module takes the opposite polarity: True = may NOT attend
    torch_mask = ~causal_mask(n) if causal else None
    expected, expected_weights = torch_mha(x, x, x, attn_mask=torch_mask,
                                           average_attn_weights=False)
    out, weights = mha(x, need_weights=True)
    assert_close(out, expected)
    assert_close(weights, expected_weights)


def test_to_torch_needs_d_in_equal_d_out():
    with pytest.raises(ValueError, match="d_in == d_out, got d_in=3, d_out=4"):
        MultiHeadAttention(3, 4, context_length=4).to_torch()


def test_load_from_rejects_other_sizes():
    wrapper = MultiHeadAttentionWrapper(3, 4, context_length=4, num_heads=2)
    with pytest.raises(ValueError, match=r"\(d_in, d_out, num_heads\) = \(3, 4, 2\)"):
        wrapper.load_from(MultiHeadAttention(3, 6, context_length=4, num_heads=2))
    with pytest.raises(ValueError, match="qkv_bias differs"):
        wrapper.load_from(MultiHeadAttention(3, 4, context_length=4, qkv_bias=True))


def test_matches_numpy_twin_with_d_in_not_d_out():
    mha = MultiHeadAttention(d_in=5, d_out=6, context_length=8, num_heads=3).double()
    x = torch.randn(2, 7, 5, dtype=torch.float64)
    W = [getattr(mha, n).weight.detach().T.numpy() for n in ("W_query", "W_key", "W_value")]
    ref_out, ref_weights = reference.multi_head_attention(
        x.numpy(), *W, mha.out_proj.weight.detach().T.numpy(),
        mha.out_proj.bias.detach().numpy(), num_heads=3)
    out, weights = mha(x, need_weights=True)
    assert_close(out, ref_out)
    assert_close(weights, ref_weights)
    assert_close(mha(x), ref_out)  # the fused path gives the same numbers


def test_causal_multihead_ignores_future_and_noncausal_does_not():
    x = torch.randn(1, 6, 4)
    perturbed = x.clone()
    perturbed[:, -1] += 5.0
    causal = MultiHeadAttention(4, 4, context_length=6)
    assert torch.equal(causal(x)[:, :-1], causal(perturbed)[:, :-1])
    bidirectional = MultiHeadAttention(4, 4, context_length=6, causal=False)
    assert not torch.allclose(bidirectional(x)[:, 0], bidirectional(perturbed)[:, 0])


@given(batch_size=st.integers(1, 4), index=st.integers(0, 3))
def test_result_does_not_depend_on_batch_composition(batch_size, index):
    torch.manual_seed(5)
    mha = MultiHeadAttention(4, 6, context_length=5, num_heads=2).double()
    x = torch.randn(4, 5, 4, dtype=torch.float64)
    index = min(index, batch_size - 1)
    assert_close(mha(x[:batch_size])[index], mha(x[index:index + 1])[0])


@given(perm=st.permutations(range(5)))
def test_noncausal_multihead_is_permutation_equivariant(perm):
    torch.manual_seed(6)
    mha = MultiHeadAttention(4, 6, context_length=5, num_heads=3, causal=False).double()
    x = torch.randn(2, 5, 4, dtype=torch.float64)
    perm = torch.tensor(perm)
    assert_close(mha(x[:, perm]), mha(x)[:, perm])


def test_gradcheck_float64():
    mha = MultiHeadAttention(3, 4, context_length=4, num_heads=2).double()
    x = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(mha, (x,))


def test_dropout_deterministic_in_eval_active_in_train():
    mha = MultiHeadAttention(4, 4, context_length=12, dropout=0.5)
    x = torch.randn(2, 12, 4)
    mha.eval()
    assert torch.equal(mha(x), mha(x))
    mha.train()
    assert not torch.equal(mha(x), mha(x))


def test_shape_walkthrough_8_heads_of_64():
    mha = MultiHeadAttention(d_in=512, d_out=512, context_length=16, num_heads=8)
    assert mha.head_dim == 64
    out, weights = mha(torch.randn(2, 16, 512), need_weights=True)
    assert out.shape == (2, 16, 512) and weights.shape == (2, 8, 16, 16)


@pytest.mark.parametrize("cls", [MultiHeadAttention, MultiHeadAttentionWrapper])
def test_d_out_not_divisible_by_num_heads(cls):
    with pytest.raises(ValueError, match="d_out must be divisible by num_heads: got d_out=6, "
                                         "num_heads=4"):
        cls(d_in=3, d_out=6, context_length=4, num_heads=4)


@pytest.mark.parametrize("cls", [MultiHeadAttention, MultiHeadAttentionWrapper])
def test_bad_inputs(cls):
    module = cls(d_in=3, d_out=4, context_length=4, num_heads=2)
    with pytest.raises(ValueError, match=r"\(batch, num_tokens, d_in=3\), got \(2, 4, 5\)"):
        module(torch.randn(2, 4, 5))
    with pytest.raises(ValueError, match=r"got \(4, 3\)"):
        module(torch.randn(4, 3))
    with pytest.raises(ValueError, match="context_length=4, got num_tokens=5"):
        module(torch.randn(2, 5, 3))


def test_no_weights_stored_on_self():
    mha = MultiHeadAttention(3, 4, context_length=4)
    before = set(vars(mha))
    mha(torch.randn(1, 4, 3), need_weights=True)
    assert set(vars(mha)) == before


# --- Part 2: padding, cross-attention, the fused path -----------------------------


def fused_and_explicit(mha, x, **kwargs):
    """The output of the fused path and of the explicit path (with its weights)."""
    out, weights = mha(x, need_weights=True, **kwargs)
    return mha(x, **kwargs), out, weights


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("masked", [False, True])
def test_fused_path_equals_explicit_path(causal, masked):
    mha = MultiHeadAttention(5, 8, context_length=9, num_heads=2, causal=causal, qkv_bias=True)
    x = torch.randn(3, 9, 5)
    attn_mask = padding_mask(torch.tensor([9, 4, 1]), 9)[:, None, None, :] if masked else None
    fused, explicit, weights = fused_and_explicit(mha, x, attn_mask=attn_mask)
    assert fused.shape == (3, 9, 8) and weights.shape == (3, 2, 9, 9)
    torch.testing.assert_close(fused, explicit, atol=1e-5, rtol=1e-5)


def test_padding_mask_matches_torch_key_padding_mask():
    d, n = 8, 6
    mha = MultiHeadAttention(d, d, context_length=n, num_heads=2, causal=False, qkv_bias=True)
    x = torch.randn(3, n, d)
    keep = padding_mask(torch.tensor([6, 3, 1]), n)
    # PyTorch's key_padding_mask has the opposite polarity: True = padding, ignore
    expected, expected_weights = mha.to_torch()(x, x, x, key_padding_mask=~keep,
                                                average_attn_weights=False)
    out, weights = mha(x, attn_mask=keep[:, None, None, :], need_weights=True)
    assert_close(out, expected)
    assert_close(weights, expected_weights)
    assert_close(mha(x, attn_mask=keep[:, None, None, :]), expected, atol=1e-5, rtol=1e-5)
    assert (weights[1, :, :, 3:] == 0).all()  # nobody attends to the padding


def test_padding_and_causal_masks_combine_like_torch():
    d, n = 8, 6
    mha = MultiHeadAttention(d, d, context_length=n, num_heads=4)
    x = torch.randn(2, n, d)
    keep = padding_mask(torch.tensor([6, 4]), n)
    expected, _ = mha.to_torch()(x, x, x, attn_mask=~causal_mask(n), key_padding_mask=~keep)
    for need_weights in (False, True):
        out = mha(x, attn_mask=keep[:, None, None, :], need_weights=need_weights)
        out = out[0] if need_weights else out
        assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_cross_attention_matches_torch_with_a_separate_key_value_sequence():
    d = 8
    mha = MultiHeadAttention(d, d, context_length=10, num_heads=2, causal=False)
    x, context = torch.randn(2, 3, d), torch.randn(2, 7, d)
    keep = padding_mask(torch.tensor([7, 5]), 7)
    expected, expected_weights = mha.to_torch()(x, context, context, key_padding_mask=~keep,
                                                average_attn_weights=False)
    out, weights = mha(x, context=context, attn_mask=keep[:, None, None, :], need_weights=True)
    assert weights.shape == (2, 2, 3, 7)
    assert_close(out, expected)
    assert_close(weights, expected_weights)
    fused = mha(x, context=context, attn_mask=keep[:, None, None, :])
    assert_close(fused, expected, atol=1e-5, rtol=1e-5)


def test_cross_attention_with_d_in_not_d_out_matches_explicit_computation():
    mha = MultiHeadAttention(5, 6, context_length=10, num_heads=3, causal=False).double()
    x, context = torch.randn(2, 3, 5).double(), torch.randn(2, 8, 5).double()
    W = [getattr(mha, n).weight.detach().T.numpy() for n in ("W_query", "W_key", "W_value")]
    q, k, v = x.numpy() @ W[0], context.numpy() @ W[1], context.numpy() @ W[2]

    def split(t):  # (batch, n, 6) -> (batch, 3, n, 2)
        return t.reshape(2, -1, 3, 2).transpose(0, 2, 1, 3)

    ctx, ref_weights = reference.scaled_dot_product_attention(split(q), split(k), split(v))
    ref_out = ctx.transpose(0, 2, 1, 3).reshape(2, 3, 6) @ mha.out_proj.weight.detach().T.numpy()
    ref_out = ref_out + mha.out_proj.bias.detach().numpy()
    out, weights = mha(x, context=context, need_weights=True)
    assert_close(out, ref_out)
    assert_close(weights, ref_weights)
    assert_close(mha(x, context=context), ref_out)


def test_all_padding_row_gives_zeros_where_torch_gives_nan():
    d, n = 8, 4
    mha = MultiHeadAttention(d, d, context_length=n, num_heads=2, causal=False)
    x = torch.randn(2, n, d)
    keep = padding_mask(torch.tensor([4, 0]), n)  # the second sequence is all padding
    expected, _ = mha.to_torch()(x, x, x, key_padding_mask=~keep)
    assert torch.isnan(expected[1]).all()  # nn.MultiheadAttention: NaN on an empty row
    assert_close(expected[0], mha(x, attn_mask=keep[:, None, None, :])[0])
    for need_weights in (False, True):
        out = mha(x, attn_mask=keep[:, None, None, :], need_weights=need_weights)
        out = out[0] if need_weights else out
        # ours: a zero context vector, so the output is out_proj's bias
        assert_close(out[1], mha.out_proj.bias.expand(n, d))


def test_fully_masked_row_has_zero_output_and_finite_gradients_on_the_fused_path():
    mha = MultiHeadAttention(4, 6, context_length=5, num_heads=3)
    x = torch.randn(2, 5, 4, requires_grad=True)
    attn_mask = torch.ones(2, 1, 5, 5, dtype=torch.bool)
    attn_mask[0, :, 2] = False  # query 2 of sequence 0 may attend to nothing
    out = mha(x, attn_mask=attn_mask)
    assert_close(out[0, 2], mha.out_proj.bias)
    out.sum().backward()
    assert torch.isfinite(x.grad).all()
    assert_close(out, mha(x, attn_mask=attn_mask, need_weights=True)[0], atol=1e-5, rtol=1e-5)


def test_left_padding_in_a_causal_module_gives_zeros_not_nan():
    mha = MultiHeadAttention(4, 4, context_length=5, num_heads=2)
    x = torch.randn(1, 5, 4)
    keep = torch.tensor([[False, False, True, True, True]])  # two pad tokens on the left
    out = mha(x, attn_mask=keep[:, None, None, :])
    assert torch.isfinite(out).all()
    assert_close(out[0, :2], mha.out_proj.bias.expand(2, 4))


def test_dropout_in_the_fused_path_has_the_explicit_paths_mean():
    torch.manual_seed(3)
    mha = MultiHeadAttention(4, 6, context_length=5, num_heads=2, dropout=0.5).double()
    x = torch.randn(1, 5, 4, dtype=torch.float64)
    expected = mha.eval()(x)
    mha.train()
    with torch.no_grad():
        fused = torch.stack([mha(x) for _ in range(3000)]).mean(0)
        explicit = torch.stack([mha(x, need_weights=True)[0] for _ in range(3000)]).mean(0)
    assert not torch.allclose(mha(x), expected, atol=1e-3)  # dropout is on
    assert_close(fused, expected, atol=0.03, rtol=0)
    assert_close(explicit, expected, atol=0.03, rtol=0)


@pytest.mark.parametrize("need_weights", [False, True])
def test_empty_sequences_match_torch(need_weights):
    d = 8
    mha = MultiHeadAttention(d, d, context_length=4, num_heads=2, causal=False)
    torch_mha = mha.to_torch()
    x, empty = torch.randn(2, 3, d), torch.randn(2, 0, d)
    for query, context in ((empty, empty), (empty, x), (x, empty)):
        out = mha(query, context=context, need_weights=need_weights)
        out = out[0] if need_weights else out
        assert out.shape == (2, query.shape[1], d)
        assert_close(out, torch_mha(query, context, context)[0])
    assert_close(mha(x, context=empty), mha.out_proj.bias.expand(2, 3, d))  # zeros, then bias
    causal = MultiHeadAttention(d, d, context_length=4, num_heads=2)
    assert causal(empty).shape == (2, 0, d)
    assert causal(empty, need_weights=True)[1].shape == (2, 2, 0, 0)


def test_new_arguments_are_checked():
    mha = MultiHeadAttention(3, 4, context_length=6, num_heads=2)
    x = torch.randn(2, 5, 3)
    with pytest.raises(ValueError, match="causal=False"):
        mha(x, context=torch.randn(2, 5, 3))
    cross = MultiHeadAttention(3, 4, context_length=6, num_heads=2, causal=False)
    with pytest.raises(ValueError, match=r"context of shape \(batch, num_tokens, d_in=3\), "
                                         r"got \(2, 5, 4\)"):
        cross(x, context=torch.randn(2, 5, 4))
    with pytest.raises(ValueError, match=r"context of shape \(batch=2, num_kv, d_in=3\)"):
        cross(x, context=torch.randn(3, 4, 3))
    with pytest.raises(ValueError, match="context_length=6, got num_tokens=7"):
        cross(x, context=torch.randn(2, 7, 3))
    with pytest.raises(ValueError, match=r"\(batch, num_heads, num_queries, num_kv\) = "
                                         r"\(2, 2, 5, 4\)"):
        cross(x, context=torch.randn(2, 4, 3), attn_mask=torch.ones(2, 1, 1, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"bool tensor broadcastable to .* = \(2, 2, 5, 5\)"):
        mha(x, attn_mask=torch.zeros(5, 5))


def test_padding_mask_values_and_errors():
    mask = padding_mask(torch.tensor([2, 0, 3]), 3)
    assert mask.dtype == torch.bool and mask.shape == (3, 3)
    assert mask.tolist() == [[True, True, False], [False, False, False], [True, True, True]]
    assert padding_mask([1, 2], 2).tolist() == [[True, False], [True, True]]
    assert padding_mask(torch.tensor([], dtype=torch.long), 4).shape == (0, 4)
    with pytest.raises(ValueError, match=r"0 <= lengths <= num_tokens=3, got \[4, 1\]"):
        padding_mask(torch.tensor([4, 1]), 3)
    with pytest.raises(ValueError, match=r"0 <= lengths"):
        padding_mask(torch.tensor([-1]), 3)
    with pytest.raises(ValueError, match=r"integer tensor of shape \(batch,\), got dtype "
                                         r"torch.float32"):
        padding_mask(torch.tensor([1.0]), 3)
    with pytest.raises(ValueError, match=r"shape \(2, 1\)"):
        padding_mask(torch.tensor([[1], [2]]), 3)


@given(lengths=st.lists(st.integers(0, 6), min_size=1, max_size=4))
def test_padded_sequences_give_the_outputs_of_the_unpadded_ones(lengths):
    torch.manual_seed(8)
    mha = MultiHeadAttention(4, 6, context_length=6, num_heads=2).double()
    x = torch.randn(len(lengths), 6, 4, dtype=torch.float64)
    keep = padding_mask(torch.tensor(lengths), 6)[:, None, None, :]
    out = mha(x, attn_mask=keep)
    for i, length in enumerate(lengths):
        assert_close(out[i, :length], mha(x[i:i + 1, :length])[0])


# -- sliding-window attention (DESIGN Part 3) ---------------------------------------------

def split_projections(mha, x):
    b, n, _ = x.shape
    return [getattr(mha, name)(x).view(b, n, mha.num_heads, mha.head_dim).transpose(1, 2)
            for name in ("W_query", "W_key", "W_value")]


@pytest.mark.parametrize("window", [1, 3, 7, 20])
def test_window_fused_and_explicit_paths_equal_sdpa_with_the_band_mask(window):
    mha = MultiHeadAttention(d_in=5, d_out=6, context_length=12, num_heads=3, window=window)
    x = torch.randn(2, 9, 5)
    q, k, v = split_projections(mha, x)
    band = causal_mask(9, window=window)
    ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=band)
    expected = mha.out_proj(ctx.transpose(1, 2).reshape(2, 9, 6))
    fused = mha(x)
    out, weights = mha(x, need_weights=True)
    torch.testing.assert_close(fused, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    assert weights.shape == (2, 3, 9, 9)
    assert weights[:, :, ~band].abs().max() == 0  # nothing outside the band
    assert_close(weights.sum(-1), torch.ones(2, 3, 9))


def test_window_matches_numpy_twin_and_differs_from_full_causal():
    mha = MultiHeadAttention(d_in=5, d_out=6, context_length=8, num_heads=3, window=3).double()
    x = torch.randn(2, 8, 5, dtype=torch.float64)
    W = [getattr(mha, n).weight.detach().T.numpy() for n in ("W_query", "W_key", "W_value")]
    ref_out, ref_weights = reference.multi_head_attention(
        x.numpy(), *W, mha.out_proj.weight.detach().T.numpy(),
        mha.out_proj.bias.detach().numpy(), num_heads=3, window=3)
    out, weights = mha(x, need_weights=True)
    assert_close(out, ref_out)
    assert_close(weights, ref_weights)
    full = MultiHeadAttention(d_in=5, d_out=6, context_length=8, num_heads=3).double()
    full.load_state_dict(mha.state_dict())
    assert_close(full(x)[:, :3], out[:, :3])  # the first 3 tokens see the same keys
    assert not torch.allclose(full(x)[:, 3:], out[:, 3:])


def test_window_combined_with_padding_on_both_paths():
    mha = MultiHeadAttention(d_in=4, d_out=4, context_length=6, num_heads=2, window=2)
    x = torch.randn(2, 6, 4)
    keep = padding_mask(torch.tensor([6, 2]), 6)  # the second sequence: 2 tokens, 4 pads
    allowed = keep[:, None, None, :] & causal_mask(6, window=2)  # (2, 1, 6, 6)
    q, k, v = split_projections(mha, x)
    ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    ctx = ctx.masked_fill(~allowed.any(-1, keepdim=True), 0.0)  # rows with no key: zeros
    expected = mha.out_proj(ctx.transpose(1, 2).reshape(2, 6, 4))
    fused = mha(x, attn_mask=keep[:, None, None, :])
    out, weights = mha(x, attn_mask=keep[:, None, None, :], need_weights=True)
    assert not fused.isnan().any() and not out.isnan().any()
    torch.testing.assert_close(fused, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    # the second sequence's queries 3 .. 5 see only padding in their window: zero weights
    assert weights[1, :, 3:].abs().max() == 0
    assert weights[1, :, :2, 2:].abs().max() == 0  # the real tokens never read the padding


def test_window_errors_name_what_was_expected():
    with pytest.raises(ValueError, match="window=3 needs causal=True"):
        MultiHeadAttention(4, 4, context_length=5, causal=False, window=3)
    for bad in (0, -1, 2.0):
        with pytest.raises(ValueError, match=r"expected window to be None or an int >= 1"):
            MultiHeadAttention(4, 4, context_length=5, window=bad)


def test_windowed_to_torch_with_the_band_mask():
    mha = MultiHeadAttention(8, 8, context_length=7, num_heads=2, window=3)
    x = torch.randn(2, 7, 8)
    expected, _ = mha.to_torch()(x, x, x, attn_mask=~causal_mask(7, window=3))
    assert_close(mha(x), expected, atol=1e-5, rtol=1e-5)
