import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import assert_close
from hypothesis import given
from hypothesis import strategies as st

from attnbook import chunked_attention, reference
from attnbook.chunked import _attend_block


def qkv(batch, num_queries, num_keys, d_k=8, d_v=5, dtype=torch.float32):
    return (torch.randn(*batch, num_queries, d_k, dtype=dtype),
            torch.randn(*batch, num_keys, d_k, dtype=dtype),
            torch.randn(*batch, num_keys, d_v, dtype=dtype))


@pytest.mark.parametrize("is_causal", [False, True])
@pytest.mark.parametrize("num_tokens,chunk_size", [(1, 4), (7, 4), (8, 4), (33, 8), (100, 128),
                                                   (300, 128), (257, 64)])
def test_equals_pytorch_kernel(is_causal, num_tokens, chunk_size):
    q, k, v = qkv((2, 3), num_tokens, num_tokens)
    out = chunked_attention(q, k, v, is_causal=is_causal, chunk_size=chunk_size)
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=is_causal)
    assert out.shape == expected.shape
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("num_queries,num_keys", [(5, 13), (13, 5), (1, 300)])
def test_cross_lengths_and_scale(num_queries, num_keys):
    q, k, v = qkv((2,), num_queries, num_keys)
    out = chunked_attention(q, k, v, scale=0.3, chunk_size=4)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, scale=0.3),
                               atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("is_causal", [False, True])
def test_large_logits_do_not_overflow(is_causal):
    q, k, v = qkv((2,), 40, 40)
    q = q * 100.0  # scores in the thousands: exp would overflow without the running max
    out = chunked_attention(q, k, v, is_causal=is_causal, chunk_size=16)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, is_causal=is_causal),
                               atol=1e-5, rtol=1e-5)


def test_broadcast_batch_dimensions():
    q, _, _ = qkv((2, 3), 9, 9)
    _, k, v = qkv((1, 3), 9, 9)
    out = chunked_attention(q, k, v, chunk_size=4)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v), atol=1e-5,
                               rtol=1e-5)


@pytest.mark.parametrize("num_queries,num_keys", [(0, 0), (0, 4), (4, 0)])
def test_empty_sequences_match_pytorch(num_queries, num_keys):
    q, k, v = qkv((2,), num_queries, num_keys)
    out = chunked_attention(q, k, v, chunk_size=3)
    assert_close(out, F.scaled_dot_product_attention(q, k, v))  # zeros when there are no keys


def test_gradients_match_the_pytorch_kernel():
    q, k, v = (t.double().requires_grad_() for t in qkv((2,), 11, 11))
    assert torch.autograd.gradcheck(
        lambda q, k, v: chunked_attention(q, k, v, is_causal=True, chunk_size=4), (q, k, v))
    chunked_attention(q, k, v, is_causal=True, chunk_size=4).sum().backward()
    grads = [t.grad.clone() for t in (q, k, v)]
    for t in (q, k, v):
        t.grad = None
    F.scaled_dot_product_attention(q, k, v, is_causal=True).sum().backward()
    for grad, t in zip(grads, (q, k, v), strict=True):
        assert_close(grad, t.grad)


def test_never_holds_a_score_matrix_larger_than_a_chunk(monkeypatch):
    """Every score matrix made inside is at most (chunk_size, chunk_size) per head."""
    shapes = []
    original = torch.Tensor.__matmul__

    def recording_matmul(a, b):
        result = original(a, b)
        shapes.append(result.shape)
        return result

    monkeypatch.setattr(torch.Tensor, "__matmul__", recording_matmul)
    q, k, v = qkv((1,), 64, 64, d_k=4, d_v=4)
    chunked_attention(q, k, v, is_causal=True, chunk_size=16)
    assert shapes and all(s[-2] <= 16 and s[-1] <= 16 for s in shapes)
    # causal: only the 10 chunks on or below the diagonal of the 4 x 4 blocks are scored
    assert sum(s[-2:] == (16, 16) for s in shapes) == 10


def test_block_equals_numpy_online_softmax_twin():
    q, k, v = qkv((2,), 6, 10, dtype=torch.float64)
    block = _attend_block(q * 0.5, k, v, None, chunk_size=3)
    expected = reference.chunked_attention(q.numpy(), k.numpy(), v.numpy(), scale=0.5,
                                           chunk_size=3)
    assert_close(block, expected)


@given(num_queries=st.integers(0, 20), num_keys=st.integers(0, 20),
       chunk_size=st.integers(1, 9), is_causal=st.booleans(), seed=st.integers(0, 3))
def test_equals_numpy_twin_and_full_softmax_for_any_shape(num_queries, num_keys, chunk_size,
                                                          is_causal, seed):
    torch.manual_seed(seed)
    num_keys = num_queries if is_causal else num_keys
    q, k, v = qkv((2,), num_queries, num_keys, dtype=torch.float64)
    out = chunked_attention(q, k, v, is_causal=is_causal, chunk_size=chunk_size)
    twin = reference.chunked_attention(q.numpy(), k.numpy(), v.numpy(), is_causal=is_causal,
                                       chunk_size=chunk_size)
    full, _ = reference.scaled_dot_product_attention(q.numpy(), k.numpy(), v.numpy(),
                                                     is_causal=is_causal)
    assert_close(out, twin)
    assert_close(out, full)


@given(x=st.lists(st.floats(-1e4, 1e4), min_size=1, max_size=30), chunk_size=st.integers(1, 7))
def test_numpy_online_softmax_equals_softmax(x, chunk_size):
    x = np.array(x)
    np.testing.assert_allclose(reference.online_softmax(x, chunk_size), reference.softmax(x),
                               atol=1e-12)


def test_numpy_online_softmax_of_a_masked_row_is_zero():
    x = np.array([[-np.inf, -np.inf, -np.inf], [0.0, -np.inf, 1.0]])
    np.testing.assert_allclose(reference.online_softmax(x, 2), reference.softmax(x))


def test_bad_arguments():
    q, k, v = qkv((2,), 4, 6)
    with pytest.raises(ValueError, match="num_queries=4, num_keys=6"):
        chunked_attention(q, k, v, is_causal=True)
    with pytest.raises(ValueError, match="chunk_size must be a positive int, got 0"):
        chunked_attention(q, k, v, chunk_size=0)
    with pytest.raises(ValueError, match=r"query \(..., num_queries, d_k\) and key"):
        chunked_attention(q, k[..., :3], v)
    with pytest.raises(ValueError, match="same number of tokens"):
        chunked_attention(q, k, v[..., :5, :])
