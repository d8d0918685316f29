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


def test_windowed_causal_mask_by_hand_and_aligned_bottom_right():
    np.testing.assert_array_equal(reference.causal_mask(4, window=2).astype(int),
                                  [[1, 0, 0, 0], [1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]])
    # offset: the last rows of the square mask (a call after num_keys - num_tokens cached)
    np.testing.assert_array_equal(reference.causal_mask(2, 6, window=3, offset=4),
                                  reference.causal_mask(6, window=3)[-2:])


def test_rms_norm_matches_torch_rms_norm():
    rng = np.random.default_rng(0)
    x, weight = rng.normal(size=(2, 3, 5)), rng.normal(size=5)
    layer = torch.nn.RMSNorm(5, eps=1e-6, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(weight))
    expected = layer(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(reference.rms_norm(x, weight), expected, rtol=1e-12, atol=1e-12)
    # by hand: (3, 4) has mean square 12.5
    np.testing.assert_allclose(reference.rms_norm(np.array([3.0, 4.0]), np.ones(2), eps=0.0),
                               np.array([3.0, 4.0]) / np.sqrt(12.5))


def test_swiglu_matches_the_formula_with_torch_kernels():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 4, 3))
    W_g, W_u, W_d = rng.normal(size=(3, 7)), rng.normal(size=(3, 7)), rng.normal(size=(7, 3))
    b_g, b_u, b_d = rng.normal(size=7), rng.normal(size=7), rng.normal(size=3)
    t = {name: torch.from_numpy(a) for name, a in dict(x=x, W_g=W_g, W_u=W_u, W_d=W_d, b_g=b_g,
                                                        b_u=b_u, b_d=b_d).items()}
    expected = (torch.nn.functional.silu(t["x"] @ t["W_g"] + t["b_g"])
                * (t["x"] @ t["W_u"] + t["b_u"])) @ t["W_d"] + t["b_d"]
    np.testing.assert_allclose(reference.swiglu(x, W_g, W_u, W_d, b_g, b_u, b_d),
                               expected.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(reference.silu(np.array([0.0, 2.0])),
                               [0.0, 2.0 / (1.0 + np.exp(-2.0))])


def test_rolling_kv_cache_twin_keeps_the_last_tokens():
    rng = np.random.default_rng(2)
    k = rng.normal(size=(1, 8, 4))
    cached = k[:, :6]
    ctx, keys, _ = reference.kv_cache_attention(k[:, 6:], k[:, 6:], k[:, 6:], cached,
                                                cached, window=3, max_tokens=3)
    np.testing.assert_array_equal(keys, k[:, 5:])
    full, _ = reference.scaled_dot_product_attention(k, k, k, reference.causal_mask(8, window=3))
    np.testing.assert_allclose(ctx, full[:, 6:])
