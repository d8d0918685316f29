"""The NumPy twins against hand-derived numbers and against PyTorch's own kernels
(the PyTorch code of attnbook is checked against the twins in its own tests)."""

import numpy as np
import torch

from attnbook import reference


def test_softmax_hand_values():
    # exp(0) / (exp(0) + exp(ln 3)) = 1/4
    np.testing.assert_allclose(reference.softmax(np.array([0.0, np.log(3.0)])),
                               [0.25, 0.75])
    np.testing.assert_allclose(reference.softmax(np.array([-np.inf, -np.inf])), [0, 0])


def test_scaled_dot_product_attention_matches_torch_kernel():
    rng = np.random.default_rng(0)
    q, k, v = rng.normal(size=(2, 4, 8)), rng.normal(size=(2, 6, 8)), rng.normal(size=(2, 6, 3))
    mask = rng.random((4, 6)) > 0.3
    mask[:, 0] = True
    ctx, w = reference.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=0.7)
    expected = torch.nn.functional.scaled_dot_product_attention(
        *(torch.from_numpy(a) for a in (q, k, v)), attn_mask=torch.from_numpy(mask), scale=0.7)
    np.testing.assert_allclose(ctx, expected.numpy(), rtol=1e-10, atol=1e-12)
    assert (w[~np.broadcast_to(mask, w.shape)] == 0).all()


def test_causal_mask_is_lower_triangular():
    np.testing.assert_array_equal(reference.causal_mask(3, 4),
                                  np.array([[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0]], bool))


def test_additive_attention_single_pair_by_hand():
    # one query, one key: the weight must be 1 and the context the value itself
    W_q, W_k, w_v = np.eye(2), np.eye(2), np.array([1.0, -1.0])
    ctx, w = reference.additive_attention(np.ones((1, 2)), np.zeros((1, 2)),
                                          np.array([[3.0, 4.0]]), W_q, W_k, w_v)
    np.testing.assert_allclose(w, [[1.0]])
    np.testing.assert_allclose(ctx, [[3.0, 4.0]])
    # two keys: score_j = w_v . tanh(q + k_j)
    keys = np.array([[0.0, 0.0], [1.0, -1.0]])
    _, w = reference.additive_attention(np.array([[0.5, 0.5]]), keys, np.eye(2), W_q, W_k, w_v)
    s = np.array([0.0, np.tanh(1.5) - np.tanh(-0.5)])
    np.testing.assert_allclose(w[0], np.exp(s) / np.exp(s).sum())


def test_multiplicative_attention_rectangular_matrix_by_hand():
    # row vectors: score = q W k^T with W of shape (d_query=2, d_key=3)
    W = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 2.0]])
    keys = np.array([[1.0, 0.0, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, 1.0]])
    values = np.array([[1.0], [2.0], [3.0]])
    ctx, w = reference.multiplicative_attention(np.array([[1.0, 1.0]]), keys, values, W)
    s = np.array([1.0, 0.0, 2.0])  # the middle key's 5 meets a zero column of W
    np.testing.assert_allclose(w[0], np.exp(s) / np.exp(s).sum())
    np.testing.assert_allclose(ctx[0], w[0] @ values)
    _, w = reference.multiplicative_attention(np.array([[1.0, 1.0]]), keys, values, W,
                                              attn_mask=np.array([True, True, False]))
    np.testing.assert_allclose(w[0], [np.e / (np.e + 1), 1 / (np.e + 1), 0.0])
