import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import assert_close
from hypothesis import given
from hypothesis import strategies as st

from attnbook import KVCache, MultiHeadAttention, padding_mask, reference


def run_piecewise(mha, x, splits, **kwargs):
    """Run ``x`` through ``mha`` in pieces cut at ``splits``, with one cache."""
    cache = KVCache()
    bounds = [0, *splits, x.shape[1]]
    outs = [mha(x[:, a:b], cache=cache, **kwargs) for a, b in itertools.pairwise(bounds)]
    return torch.cat(outs, dim=1), cache


@pytest.mark.parametrize("splits", [[1], [3], [5, 6, 7], list(range(1, 8)), [4]])
@pytest.mark.parametrize("causal", [True, False])
def test_piecewise_equals_one_full_call(splits, causal):
    mha = MultiHeadAttention(5, 6, context_length=10, num_heads=3, causal=causal).eval()
    x = torch.randn(2, 8, 5)
    piecewise, cache = run_piecewise(mha, x, splits)
    assert len(cache) == 8
    if causal:  # each query sees what the full call would let it see
        torch.testing.assert_close(piecewise, mha(x), atol=1e-5, rtol=1e-5)
    else:  # without the causal mask, the last piece sees every token: it matches
        last = splits[-1]
        torch.testing.assert_close(piecewise[:, last:], mha(x)[:, last:], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("need_weights", [False, True])
def test_prompt_then_one_token_at_a_time(need_weights):
    mha = MultiHeadAttention(4, 8, context_length=12, num_heads=2, qkv_bias=True).eval()
    x = torch.randn(3, 12, 4)
    cache = KVCache()
    outs = [mha(x[:, :7], cache=cache, need_weights=need_weights)]
    for i in range(7, 12):
        outs.append(mha(x[:, i:i + 1], cache=cache, need_weights=need_weights))
    if need_weights:
        assert outs[-1][1].shape == (3, 2, 1, 12)  # one query over every cached key
        outs = [out for out, _ in outs]
    torch.testing.assert_close(torch.cat(outs, dim=1), mha(x), atol=1e-5, rtol=1e-5)


def test_cache_with_padding_mask_matches_full_call():
    mha = MultiHeadAttention(4, 4, context_length=6, num_heads=2).eval()
    x = torch.randn(2, 6, 4)
    keep = padding_mask(torch.tensor([6, 4]), 6)  # (batch, num_tokens)
    full = mha(x, attn_mask=keep[:, None, None, :])
    cache = KVCache()
    first = mha(x[:, :3], cache=cache, attn_mask=keep[:, None, None, :3])
    rest = mha(x[:, 3:], cache=cache, attn_mask=keep[:, None, None, :])
    torch.testing.assert_close(torch.cat([first, rest], 1), full, atol=1e-5, rtol=1e-5)


def test_torch_is_causal_is_top_left_aligned_the_trap():
    """With fewer queries than keys, PyTorch's is_causal lets the last query see only
    the first keys (top-left diagonal); a cache needs the bottom-right one."""
    torch.manual_seed(1)
    q, k, v = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 5, 8), torch.randn(1, 1, 5, 8)
    top_left = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert_close(top_left, v[..., :1, :])  # query 0 sees key 0 only: wrong for decoding
    bottom_right = F.scaled_dot_product_attention(q, k, v)  # the newest token sees all 5
    assert not torch.allclose(top_left, bottom_right)
    # our module, decoding token 5 after a prompt of 4, attends over all 5 keys
    mha = MultiHeadAttention(8, 8, context_length=5, num_heads=1)
    x = torch.randn(1, 5, 8)
    cache = KVCache()
    mha(x[:, :4], cache=cache)
    _, weights = mha(x[:, 4:], cache=cache, need_weights=True)
    assert (weights[0, 0, 0] > 0).all()
    assert_close(weights.sum(-1), torch.ones(1, 1, 1))


def test_cached_step_matches_numpy_twin():
    mha = MultiHeadAttention(3, 4, context_length=8, num_heads=2).double().eval()
    x = torch.randn(1, 6, 3, dtype=torch.float64)
    cache = KVCache()
    mha(x[:, :4], cache=cache)
    cached_keys, cached_values = cache.keys.detach().numpy(), cache.values.detach().numpy()
    _, weights = mha(x[:, 4:], cache=cache, need_weights=True)

    def project(name):  # (1, 2, 4) -> (1, num_heads=2, 2, head_dim=2)
        t = getattr(mha, name)(x[:, 4:]).detach().numpy()
        return t.reshape(1, 2, 2, 2).transpose(0, 2, 1, 3)

    context_vec, keys, values = reference.kv_cache_attention(
        project("W_query"), project("W_key"), project("W_value"), cached_keys, cached_values)
    np.testing.assert_allclose(keys, cache.keys.detach().numpy())
    np.testing.assert_allclose(values, cache.values.detach().numpy())
    expected, ref_weights = reference.scaled_dot_product_attention(
        project("W_query"), keys, values, attn_mask=np.tril(np.ones((2, 6), bool), k=4))
    np.testing.assert_allclose(context_vec, expected)
    assert_close(weights, ref_weights)


def test_past_context_length_raises_and_leaves_the_cache_alone():
    mha = MultiHeadAttention(3, 4, context_length=5, num_heads=2)
    cache = KVCache()
    mha(torch.randn(1, 4, 3), cache=cache)
    with pytest.raises(ValueError, match=r"cache holds 4 tokens and this call adds 2: "
                                         r"6 > context_length=5"):
        mha(torch.randn(1, 2, 3), cache=cache)
    assert len(cache) == 4
    mha(torch.randn(1, 1, 3), cache=cache)
    assert len(cache) == 5
    cache.reset()
    assert len(cache) == 0 and cache.keys is None
    mha(torch.randn(1, 5, 3), cache=cache)
    assert len(cache) == 5


def test_cache_rejects_keys_of_another_shape():
    cache = KVCache()
    cache.append(torch.randn(2, 3, 4, 5), torch.randn(2, 3, 4, 5))
    with pytest.raises(ValueError, match=r"\(batch=2, num_kv_heads=3, num_new, head_dim=5\) "
                                         r"\(the cache holds 4 tokens\), got \(1, 3, 1, 5\)"):
        cache.append(torch.randn(1, 3, 1, 5), torch.randn(1, 3, 1, 5))
    with pytest.raises(ValueError, match=r"\(batch, num_kv_heads, num_new, head_dim\)"):
        KVCache().append(torch.randn(2, 3, 5), torch.randn(2, 3, 5))
    mha = MultiHeadAttention(3, 4, context_length=8, num_heads=2)
    cache = KVCache()
    mha(torch.randn(2, 2, 3), cache=cache)
    with pytest.raises(ValueError, match="batch=2"):
        mha(torch.randn(1, 1, 3), cache=cache)


@given(prompt=st.integers(1, 6), steps=st.integers(0, 3), seed=st.integers(0, 3))
def test_any_prompt_and_step_lengths_match_the_full_call(prompt, steps, seed):
    torch.manual_seed(seed)
    mha = MultiHeadAttention(4, 6, context_length=9, num_heads=2).double()
    x = torch.randn(2, prompt + steps, 4, dtype=torch.float64)
    piecewise, cache = run_piecewise(mha, x, list(range(prompt, prompt + steps)))
    assert len(cache) == prompt + steps
    assert_close(piecewise, mha(x))


# -- the rolling cache of sliding-window attention (DESIGN Part 3) -------------------------

def run_rolling(mha, x, splits, max_tokens):
    """Like run_piecewise, with a rolling cache; checks len(cache) <= max_tokens throughout."""
    cache = KVCache(max_tokens=max_tokens)
    bounds, outs = [0, *splits, x.shape[1]], []
    for a, b in itertools.pairwise(bounds):
        outs.append(mha(x[:, a:b], cache=cache))
        assert len(cache) == min(b, max_tokens) and cache.num_seen == b
    return torch.cat(outs, dim=1), cache


@pytest.mark.parametrize("splits", [[1], [2], [6], list(range(1, 10)), [3, 4, 8]])
@pytest.mark.parametrize("window", [1, 2, 4])
def test_rolling_cache_equals_one_full_call_of_the_windowed_module(splits, window):
    mha = MultiHeadAttention(5, 6, context_length=10, num_heads=3, window=window).eval()
    x = torch.randn(2, 10, 5)
    piecewise, cache = run_rolling(mha, x, splits, max_tokens=window)
    torch.testing.assert_close(piecewise, mha(x), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(cache.keys, mha.W_key(x[:, -window:]).view(
        2, window, 3, 2).transpose(1, 2))  # the keys of the last `window` tokens, in order


@pytest.mark.parametrize("need_weights", [False, True])
def test_generation_runs_past_context_length_with_the_rolling_cache(need_weights):
    """context_length 6, window 4: 40 tokens one at a time, as one call of a module
    with the same weights and room for all 40."""
    short = MultiHeadAttention(4, 8, context_length=6, num_heads=2, window=4).eval()
    long = MultiHeadAttention(4, 8, context_length=40, num_heads=2, window=4).eval()
    long.load_state_dict(short.state_dict())
    x = torch.randn(2, 40, 4)
    cache = KVCache(max_tokens=4)
    outs = [short(x[:, :3], cache=cache, need_weights=need_weights)]
    for i in range(3, 40):
        outs.append(short(x[:, i:i + 1], cache=cache, need_weights=need_weights))
        assert len(cache) <= 4
    if need_weights:
        assert outs[-1][1].shape == (2, 2, 1, 5)  # 4 cached keys and its own
        assert outs[-1][1][..., 0].abs().max() == 0  # the oldest is outside the window
        outs = [out for out, _ in outs]
    assert cache.num_seen == 40
    torch.testing.assert_close(torch.cat(outs, dim=1), long(x), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="context_length=6"):  # a plain cache cannot
        run_piecewise(short, x[:, :7], list(range(1, 7)))


def test_the_smallest_rolling_cache_is_window_minus_one():
    mha = MultiHeadAttention(3, 4, context_length=5, num_heads=2, window=3).eval()
    long = MultiHeadAttention(3, 4, context_length=9, num_heads=2, window=3).eval()
    long.load_state_dict(mha.state_dict())
    x = torch.randn(1, 9, 3)
    piecewise, _ = run_rolling(mha, x, list(range(1, 9)), max_tokens=2)
    torch.testing.assert_close(piecewise, long(x), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match=r"KVCache\(max_tokens=1\) drops keys this module still "
                                         r"attends to: expected a module with a window of at "
                                         r"most max_tokens \+ 1 = 2 tokens, got window=3"):
        mha(x[:, :1], cache=KVCache(max_tokens=1))


def test_a_rolling_cache_needs_a_windowed_module():
    mha = MultiHeadAttention(3, 4, context_length=8, num_heads=2)
    cache = KVCache(max_tokens=4)
    with pytest.raises(ValueError, match="got window=None"):
        mha(torch.randn(1, 2, 3), cache=cache)
    assert len(cache) == 0 and cache.num_seen == 0  # refused before anything was appended


@pytest.mark.parametrize("max_tokens", [0, -3, 2.5, True])
def test_bad_max_tokens_names_what_was_expected(max_tokens):
    with pytest.raises(ValueError, match=r"expected max_tokens to be None or an int >= 1"):
        KVCache(max_tokens=max_tokens)


def test_reset_restarts_the_positions():
    mha = MultiHeadAttention(3, 4, context_length=4, num_heads=2, window=2).eval()
    x = torch.randn(1, 6, 3)
    cache = KVCache(max_tokens=2)
    first = torch.cat([mha(x[:, i:i + 1], cache=cache) for i in range(6)], 1)
    cache.reset()
    assert len(cache) == 0 and cache.num_seen == 0 and cache.keys is None
    again = torch.cat([mha(x[:, i:i + 1], cache=cache) for i in range(6)], 1)
    torch.testing.assert_close(first, again)


def test_rolling_cache_with_padding_and_window():
    """A padded batch: the padding mask over the cached keys and the window combine."""
    short = MultiHeadAttention(4, 4, context_length=5, num_heads=2, window=3).eval()
    long = MultiHeadAttention(4, 4, context_length=8, num_heads=2, window=3).eval()
    long.load_state_dict(short.state_dict())
    x = torch.randn(2, 8, 4)
    keep = torch.ones(2, 8, dtype=torch.bool)
    keep[1, 1] = False  # the second sequence has a hole at position 1 (e.g. a masked token)
    full = long(x, attn_mask=keep[:, None, None, :])
    cache, outs = KVCache(max_tokens=3), []
    for i in range(8):
        visible = keep[:, max(0, i - len(cache)):i + 1]  # the cached keys, then this token
        outs.append(short(x[:, i:i + 1], cache=cache, attn_mask=visible[:, None, None, :]))
    torch.testing.assert_close(torch.cat(outs, 1), full, atol=1e-5, rtol=1e-5)


def test_rolling_step_matches_numpy_twin():
    mha = MultiHeadAttention(3, 4, context_length=8, num_heads=2, window=3).double().eval()
    x = torch.randn(1, 7, 3, dtype=torch.float64)
    cache = KVCache(max_tokens=3)
    with torch.no_grad():
        mha(x[:, :5], cache=cache)
    cached_keys, cached_values = cache.keys.numpy(), cache.values.numpy()

    def project(name):  # (1, 2, 4) -> (1, num_heads=2, 2, head_dim=2)
        t = getattr(mha, name)(x[:, 5:]).detach().numpy()
        return t.reshape(1, 2, 2, 2).transpose(0, 2, 1, 3)

    with torch.no_grad():
        out, weights = mha(x[:, 5:], cache=cache, need_weights=True)
    context_vec, keys, values = reference.kv_cache_attention(
        project("W_query"), project("W_key"), project("W_value"), cached_keys, cached_values,
        window=3, max_tokens=3)
    np.testing.assert_allclose(keys, cache.keys.numpy())
    np.testing.assert_allclose(values, cache.values.numpy())
    _, ref_weights = reference.scaled_dot_product_attention(
        project("W_query"), np.concatenate([cached_keys, project("W_key")], -2),
        np.concatenate([cached_values, project("W_value")], -2),
        attn_mask=reference.causal_mask(2, 5, window=3, offset=3))
    assert_close(weights, ref_weights)
    expected = mha.out_proj(torch.from_numpy(context_vec).transpose(1, 2).reshape(1, 2, 4))
    assert_close(out, expected.detach())


@given(prompt=st.integers(1, 7), steps=st.integers(0, 8), window=st.integers(1, 4),
       seed=st.integers(0, 3))
def test_any_prompt_step_and_window_lengths_match_the_full_call(prompt, steps, window, seed):
    torch.manual_seed(seed)
    mha = MultiHeadAttention(4, 6, context_length=15, num_heads=2, window=window).double()
    x = torch.randn(2, prompt + steps, 4, dtype=torch.float64)
    piecewise, _ = run_rolling(mha, x, list(range(prompt, prompt + steps)), window)
    assert_close(piecewise, mha(x))
    plain, _ = run_piecewise(mha, x, list(range(prompt, prompt + steps)))
    assert_close(plain, mha(x))  # a plain cache serves a windowed module too
