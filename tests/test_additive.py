import pytest
import torch
from conftest import assert_close

from attnbook import AdditiveAttention, causal_mask, reference


def twin_weights(module):
    return (module.W_query.weight.detach().T.numpy(), module.W_key.weight.detach().T.numpy(),
            module.w_v.weight.detach()[0].numpy())


@pytest.mark.parametrize("batch", [(), (2,), (2, 3)])
def test_matches_numpy_twin(batch):
    module = AdditiveAttention(d_query=4, d_key=3, d_hidden=7).double()
    q = torch.randn(*batch, 5, 4, dtype=torch.float64)
    k = torch.randn(*batch, 6, 3, dtype=torch.float64)
    v = torch.randn(*batch, 6, 2, dtype=torch.float64)
    mask = torch.rand(5, 6) > 0.5
    mask[:, 0] = True
    context_vec, attn_weights = module(q, k, v, attn_mask=mask)
    ref_context, ref_weights = reference.additive_attention(
        q.numpy(), k.numpy(), v.numpy(), *twin_weights(module), attn_mask=mask.numpy())
    assert context_vec.shape == (*batch, 5, 2) and attn_weights.shape == (*batch, 5, 6)
    assert_close(context_vec, ref_context)
    assert_close(attn_weights, ref_weights)
    assert (attn_weights[..., ~mask] == 0).all()


def test_score_is_the_row_vector_formula_for_one_pair():
    # e(q, k) = tanh(q W_q + k W_k) w_v, with W_q (d_query, d_a), W_k (d_key, d_a), w_v (d_a,)
    module = AdditiveAttention(d_query=2, d_key=4, d_hidden=3)
    W_q, W_k, w_v = module.W_query.weight.T, module.W_key.weight.T, module.w_v.weight[0]
    assert W_q.shape == (2, 3) and W_k.shape == (4, 3) and w_v.shape == (3,)
    q, k = torch.randn(1, 2), torch.randn(1, 4)
    expected = torch.tanh(q @ W_q + k @ W_k) @ w_v
    other = torch.tanh(q @ W_q) @ w_v  # the score of a zero key
    _, weights = module(q, torch.cat([k, torch.zeros(1, 4)]), torch.eye(2))
    assert_close(weights[0], torch.softmax(torch.cat([expected, other]), dim=0))


def test_hidden_intermediate_is_kept_for_backward():
    # the (num_queries, num_keys, d_a) tanh output is saved: d_a floats per pair
    module = AdditiveAttention(d_query=4, d_key=3, d_hidden=16)
    q, k, v = torch.randn(5, 4), torch.randn(7, 3), torch.randn(7, 2)
    shapes = []

    def pack(t):
        shapes.append(tuple(t.shape))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        module(q, k, v)
    assert (5, 7, 16) in shapes


def test_float_mask_and_fully_masked_row():
    module = AdditiveAttention(3, 3, 4)
    q, k, v = torch.randn(2, 4, 3), torch.randn(2, 4, 3), torch.randn(2, 4, 5)
    mask = torch.where(causal_mask(4), 0.0, float("-inf"))
    _, w_float = module(q, k, v, attn_mask=mask)
    _, w_bool = module(q, k, v, attn_mask=causal_mask(4))
    assert_close(w_float, w_bool)
    none = torch.zeros(4, 4, dtype=torch.bool)
    context_vec, weights = module(q, k, v, attn_mask=none)
    assert (context_vec == 0).all() and (weights == 0).all()


def test_gradcheck_float64():
    module = AdditiveAttention(3, 2, 4).double()
    q = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    k = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    v = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(module, (q, k, v))


def test_dropout_train_and_eval():
    module = AdditiveAttention(3, 3, 4, dropout=0.5)
    q, k, v = torch.randn(8, 3), torch.randn(8, 3), torch.randn(8, 3)
    module.eval()
    assert torch.equal(module(q, k, v)[1], module(q, k, v)[1])
    module.train()
    assert not torch.equal(module(q, k, v)[1], module(q, k, v)[1])


def test_parameters():
    module = AdditiveAttention(d_query=4, d_key=3, d_hidden=5)
    assert module.W_query.weight.shape == (5, 4) and module.W_query.bias is None
    assert module.W_key.weight.shape == (5, 3) and module.W_key.bias is None
    assert module.w_v.weight.shape == (1, 5) and module.w_v.bias is None


def test_bad_inputs():
    module = AdditiveAttention(4, 3, 5)
    q, k, v = torch.randn(2, 4), torch.randn(6, 3), torch.randn(6, 2)
    with pytest.raises(ValueError, match=r"query of shape \(\.\.\., num_tokens, d_in=4\)"):
        module(torch.randn(2, 3), k, v)
    with pytest.raises(ValueError, match=r"key of shape \(\.\.\., num_tokens, d_in=3\)"):
        module(q, torch.randn(6, 4), v)
    with pytest.raises(ValueError, match="same number of tokens"):
        module(q, k, torch.randn(5, 2))
    with pytest.raises(ValueError, match="does not broadcast"):
        module(q, k, v, attn_mask=torch.ones(3, 6, dtype=torch.bool))
