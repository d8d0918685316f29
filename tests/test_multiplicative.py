import pytest
import torch
from conftest import assert_close

from attnbook import MultiplicativeAttention, causal_mask, reference, scaled_dot_product_attention


@pytest.mark.parametrize("batch", [(), (2,), (2, 3)])
def test_matches_numpy_twin_with_different_query_and_key_sizes(batch):
    module = MultiplicativeAttention(d_query=4, d_key=3).double()
    q = torch.randn(*batch, 5, 4, dtype=torch.float64)
    k = torch.randn(*batch, 6, 3, dtype=torch.float64)
    v = torch.randn(*batch, 6, 2, dtype=torch.float64)
    mask = causal_mask(5, 6)
    context_vec, attn_weights = module(q, k, v, attn_mask=mask)
    ref_context, ref_weights = reference.multiplicative_attention(
        q.numpy(), k.numpy(), v.numpy(), module.W_key.weight.detach().numpy(),
        attn_mask=mask.numpy())
    assert context_vec.shape == (*batch, 5, 2)
    assert_close(context_vec, ref_context)
    assert_close(attn_weights, ref_weights)
    assert (attn_weights[..., ~mask] == 0).all()


def test_score_is_the_bilinear_form():
    module = MultiplicativeAttention(3, 2)
    q, k = torch.randn(1, 3), torch.randn(4, 2)
    scores = q @ module.W_key.weight @ k.T  # q^T W k with W of shape (d_query, d_key)
    _, weights = module(q, k, torch.eye(4))
    assert_close(weights, torch.softmax(scores, dim=-1))


def test_default_init_score_variance_is_a_third_of_d_query():
    # Var(W_ij) = 1/(3 d_key) under nn.Linear's default init, so Var(q W k^T) = d_query / 3
    d_query, d_key = 256, 128
    ratios = []
    for seed in range(3):
        torch.manual_seed(seed)
        module = MultiplicativeAttention(d_query, d_key)
        W = module.W_key.weight.detach()
        assert abs(W.var().item() * 3 * d_key - 1) < 0.05
        q, k = torch.randn(400, d_query), torch.randn(400, d_key)
        ratios.append((q @ W @ k.T).var().item() / (d_query / 3))
    assert all(0.85 < r < 1.15 for r in ratios)


def test_dividing_by_sqrt_d_query_is_sdpa_on_projected_keys():
    module = MultiplicativeAttention(d_query=6, d_key=3)
    q, k, v = torch.randn(2, 4, 6), torch.randn(2, 5, 3), torch.randn(2, 5, 2)
    _, weights = scaled_dot_product_attention(q, module.W_key(k), v)
    expected = torch.softmax(q @ module.W_key.weight @ k.transpose(-1, -2) / 6**0.5, dim=-1)
    assert_close(weights, expected)


def test_identity_matrix_gives_luong_dot_product():
    module = MultiplicativeAttention(3, 3)
    with torch.no_grad():
        module.W_key.weight.copy_(torch.eye(3))
    q, k, v = torch.randn(2, 3), torch.randn(4, 3), torch.randn(4, 5)
    context_vec, _ = module(q, k, v)
    assert_close(context_vec, torch.softmax(q @ k.T, dim=-1) @ v)


def test_dropout_train_eval():
    module = MultiplicativeAttention(3, 3, dropout=0.5)
    q, k, v = torch.randn(8, 3), torch.randn(8, 3), torch.randn(8, 3)
    module.eval()
    assert torch.equal(module(q, k, v)[1], module(q, k, v)[1])
    module.train()
    assert not torch.equal(module(q, k, v)[1], module(q, k, v)[1])


def test_bad_inputs():
    module = MultiplicativeAttention(4, 3)
    with pytest.raises(ValueError, match=r"query of shape \(\.\.\., num_tokens, d_in=4\)"):
        module(torch.randn(2, 3), torch.randn(5, 3), torch.randn(5, 2))
    with pytest.raises(ValueError,
                       match=r"key of shape \(\.\.\., num_tokens, d_in=3\), got \(5, 4\)"):
        module(torch.randn(2, 4), torch.randn(5, 4), torch.randn(5, 2))
    with pytest.raises(ValueError, match="same number of tokens"):
        module(torch.randn(2, 4), torch.randn(5, 3), torch.randn(6, 2))
