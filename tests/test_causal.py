import pytest
import torch
import torch.nn.functional as F
from conftest import assert_close

from attnbook import CausalAttention, causal_mask


def test_shapes_with_d_in_not_d_out():
    module = CausalAttention(d_in=5, d_out=3, context_length=8)
    out, weights = module(torch.randn(2, 6, 5), need_weights=True)
    assert out.shape == (2, 6, 3)
    assert weights.shape == (2, 6, 6)


def test_matches_pytorch_causal_kernel():
    module = CausalAttention(d_in=5, d_out=3, context_length=8, qkv_bias=True)
    x = torch.randn(2, 6, 5)
    expected = F.scaled_dot_product_attention(
        module.W_query(x), module.W_key(x), module.W_value(x), is_causal=True)
    assert_close(module(x), expected)


def test_weights_above_diagonal_are_exactly_zero_and_rows_sum_to_one():
    module = CausalAttention(4, 4, context_length=6)
    _, weights = module(torch.randn(3, 6, 4), need_weights=True)
    assert (weights[:, ~causal_mask(6)] == 0).all()
    assert (weights[:, causal_mask(6)] > 0).all()
    assert_close(weights.sum(-1), torch.ones(3, 6))


def test_changing_future_tokens_changes_no_earlier_output():
    module = CausalAttention(4, 3, context_length=8)
    x = torch.randn(1, 8, 4)
    perturbed = x.clone()
    perturbed[:, 5:] = torch.randn(1, 3, 4) * 10
    out, out_perturbed = module(x), module(perturbed)
    assert torch.equal(out[:, :5], out_perturbed[:, :5])
    assert not torch.allclose(out[:, 5:], out_perturbed[:, 5:])


def test_mask_is_a_non_trainable_buffer():
    module = CausalAttention(3, 2, context_length=4)
    assert "mask" in dict(module.named_buffers())
    assert all(p.dtype.is_floating_point for p in module.parameters())
    assert torch.equal(module.mask, causal_mask(4))
    assert module.double().mask.dtype == torch.bool


def test_dropout_is_active_in_train_and_off_in_eval():
    module = CausalAttention(4, 4, context_length=16, dropout=0.5)
    x = torch.randn(2, 16, 4)
    module.eval()
    assert torch.equal(module(x), module(x))
    module.train()
    _, w1 = module(x, need_weights=True)
    _, w2 = module(x, need_weights=True)
    assert not torch.equal(w1, w2)
    visible = causal_mask(16).expand_as(w1)
    assert (w1[visible] == 0).any()  # some visible weights were dropped


def test_more_tokens_than_context_length():
    module = CausalAttention(3, 2, context_length=4)
    with pytest.raises(ValueError, match=r"num_tokens <= context_length=4, got num_tokens=5"):
        module(torch.randn(1, 5, 3))


@pytest.mark.parametrize("shape", [(6, 3), (2, 6, 4), (1, 2, 6, 3)])
def test_bad_shapes(shape):
    with pytest.raises(ValueError, match=r"expected x of shape \(batch, num_tokens, d_in=3\)"):
        CausalAttention(3, 2, context_length=6)(torch.randn(shape))


def test_zero_tokens_give_an_empty_output():
    ca = CausalAttention(d_in=3, d_out=4, context_length=5)
    out, weights = ca(torch.randn(2, 0, 3), need_weights=True)
    assert out.shape == (2, 0, 4) and weights.shape == (2, 0, 0)
