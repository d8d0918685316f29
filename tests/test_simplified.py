import numpy as np
import pytest
import torch
from conftest import assert_close

from attnbook import reference, simplified_self_attention, softmax, softmax_naive
from attnbook.data import journey_embeddings


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_matches_torch(dim):
    x = torch.randn(4, 5, 6) * 5
    assert_close(softmax(x, dim=dim), torch.softmax(x, dim=dim))


def test_softmax_is_stable_where_the_naive_one_overflows():
    x = torch.tensor([[1000.0, 1001.0, 1002.0]])
    assert torch.isnan(softmax_naive(x)).all()
    assert_close(softmax(x), torch.softmax(x, dim=-1))
    assert_close(softmax(x), softmax(x - 1000.0))  # shift invariance


def test_naive_softmax_agrees_on_small_inputs():
    x = torch.randn(3, 7)
    assert_close(softmax_naive(x), softmax(x))


def test_softmax_fully_masked_row_is_zero_with_finite_gradient():
    x = torch.tensor([[0.5, -float("inf")], [-float("inf"), -float("inf")]],
                     requires_grad=True)
    y = softmax(x)
    assert_close(y, torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
    (y * torch.arange(4.0).view(2, 2)).sum().backward()
    assert torch.isfinite(x.grad).all()


def test_softmax_gradcheck():
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(softmax, (x,))


def test_journey_context_vector_by_hand():
    inputs = journey_embeddings()
    query = inputs[1]
    attn_scores = torch.tensor([torch.dot(x_i, query) for x_i in inputs])
    attn_weights = torch.exp(attn_scores) / torch.exp(attn_scores).sum()
    expected = sum(w * x_i for w, x_i in zip(attn_weights, inputs, strict=True))
    context_vecs, weights = simplified_self_attention(inputs)
    assert_close(weights[1], attn_weights)
    assert_close(context_vecs[1], expected)
    # the score of "journey" with "Your" from the lecture: 0.9544
    assert attn_scores[0].item() == pytest.approx(0.9544, abs=1e-4)


def test_simplified_self_attention_matches_numpy_twin_batched():
    inputs = torch.randn(2, 3, 5, 4, dtype=torch.float64)
    context_vecs, attn_weights = simplified_self_attention(inputs)
    ref_context, ref_weights = reference.simplified_self_attention(inputs.numpy())
    assert context_vecs.shape == (2, 3, 5, 4)
    assert attn_weights.shape == (2, 3, 5, 5)
    assert_close(context_vecs, ref_context)
    assert_close(attn_weights, ref_weights)
    assert_close(attn_weights.sum(-1), np.ones((2, 3, 5)))


@pytest.mark.parametrize("shape", [(3,), ()])
def test_simplified_self_attention_rejects_bad_rank(shape):
    with pytest.raises(ValueError, match=r"\(\.\.\., num_tokens, d_in\)"):
        simplified_self_attention(torch.ones(shape))


def test_zero_tokens_and_empty_softmax():
    context_vecs, attn_weights = simplified_self_attention(torch.zeros(2, 0, 3))
    assert context_vecs.shape == (2, 0, 3) and attn_weights.shape == (2, 0, 0)
    assert softmax(torch.zeros(3, 0)).shape == torch.softmax(torch.zeros(3, 0), -1).shape
