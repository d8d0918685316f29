import pytest
import torch
from conftest import assert_close
from hypothesis import given
from hypothesis import strategies as st

from attnbook import (
    CausalAttention,
    MultiHeadAttention,
    MultiHeadAttentionWrapper,
    causal_mask,
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
