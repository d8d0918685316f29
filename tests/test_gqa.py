import pytest
import torch
import torch.nn.functional as F
from conftest import assert_close

from attnbook import GroupedQueryAttention, KVCache, MultiHeadAttention, padding_mask


def copy_weights(source, target):
    target.load_state_dict(source.state_dict())
    return target


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("qkv_bias", [True, False])
def test_as_many_groups_as_heads_is_multihead_attention(causal, qkv_bias):
    kwargs = dict(d_in=5, d_out=8, context_length=7, qkv_bias=qkv_bias, causal=causal)
    mha = MultiHeadAttention(num_heads=4, **kwargs)
    gqa = copy_weights(mha, GroupedQueryAttention(num_heads=4, num_kv_groups=4, **kwargs))
    x = torch.randn(2, 7, 5)
    keep = padding_mask(torch.tensor([7, 3]), 7)[:, None, None, :]
    for attn_mask in (None, keep):
        out, weights = gqa(x, attn_mask=attn_mask, need_weights=True)
        expected, expected_weights = mha(x, attn_mask=attn_mask, need_weights=True)
        assert_close(out, expected)
        assert_close(weights, expected_weights)
        assert_close(gqa(x, attn_mask=attn_mask), mha(x, attn_mask=attn_mask))


def projections(gqa, x):
    """Queries (batch, num_heads, n, head_dim) and keys/values (batch, groups, n, head_dim)."""
    b, n, _ = x.shape
    q = gqa.W_query(x).view(b, n, gqa.num_heads, gqa.head_dim).transpose(1, 2)
    k = gqa.W_key(x).view(b, n, gqa.num_kv_groups, gqa.head_dim).transpose(1, 2)
    v = gqa.W_value(x).view(b, n, gqa.num_kv_groups, gqa.head_dim).transpose(1, 2)
    return q, k, v


@pytest.mark.parametrize("num_kv_groups", [1, 2, 3, 6])
@pytest.mark.parametrize("causal", [True, False])
def test_equals_torch_enable_gqa_on_the_same_projections(num_kv_groups, causal):
    gqa = GroupedQueryAttention(4, 12, context_length=6, num_heads=6,
                                num_kv_groups=num_kv_groups, causal=causal)
    assert gqa.W_key.weight.shape == (num_kv_groups * 2, 4)
    x = torch.randn(2, 6, 4)
    q, k, v = projections(gqa, x)
    ctx = F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)
    expected = gqa.out_proj(ctx.transpose(1, 2).reshape(2, 6, 12))
    assert_close(gqa(x), expected, atol=1e-5, rtol=1e-5)
    assert_close(gqa(x, need_weights=True)[0], expected, atol=1e-5, rtol=1e-5)


def test_multi_query_attention_shares_one_key_value_head():
    gqa = GroupedQueryAttention(4, 8, context_length=5, num_heads=4, num_kv_groups=1)
    x = torch.randn(1, 5, 4)
    _, weights = gqa(x, need_weights=True)
    q, k, _ = projections(gqa, x)
    # every query head scores its queries against the same single key head
    for h in range(4):
        scores = q[:, h] @ k[:, 0].transpose(-2, -1) / 2 ** 0.5
        scores = scores.masked_fill(~torch.ones(5, 5, dtype=torch.bool).tril(), float("-inf"))
        assert_close(weights[:, h], torch.softmax(scores, -1))


def test_cache_holds_num_kv_groups_heads_and_matches_the_full_call():
    gqa = GroupedQueryAttention(4, 12, context_length=9, num_heads=6, num_kv_groups=2).eval()
    x = torch.randn(2, 9, 4)
    cache = KVCache()
    outs = [gqa(x[:, :5], cache=cache)] + [gqa(x[:, i:i + 1], cache=cache) for i in range(5, 9)]
    assert cache.keys.shape == (2, 2, 9, 2) and cache.values.shape == (2, 2, 9, 2)
    torch.testing.assert_close(torch.cat(outs, 1), gqa(x), atol=1e-5, rtol=1e-5)
    mha_cache = KVCache()
    MultiHeadAttention(4, 12, context_length=9, num_heads=6)(x, cache=mha_cache)
    assert mha_cache.keys.numel() == 3 * cache.keys.numel()  # 6 heads cached instead of 2


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_heads must be divisible by num_kv_groups: "
                                         "got num_heads=6, num_kv_groups=4"):
        GroupedQueryAttention(4, 12, context_length=5, num_heads=6, num_kv_groups=4)
    with pytest.raises(ValueError, match="num_kv_groups=0"):
        GroupedQueryAttention(4, 12, context_length=5, num_heads=6, num_kv_groups=0)
    with pytest.raises(ValueError, match="d_out must be divisible by num_heads"):
        GroupedQueryAttention(4, 10, context_length=5, num_heads=6, num_kv_groups=2)
    gqa = GroupedQueryAttention(4, 12, context_length=5, num_heads=6, num_kv_groups=2)
    with pytest.raises(ValueError, match=r"\(batch, num_tokens, d_in=4\), got \(2, 5, 3\)"):
        gqa(torch.randn(2, 5, 3))
    with pytest.raises(ValueError, match="enable_gqa"):
        gqa.to_torch()


def test_empty_input_and_gradients():
    gqa = GroupedQueryAttention(4, 8, context_length=5, num_heads=4, num_kv_groups=2).double()
    assert gqa(torch.randn(2, 0, 4).double()).shape == (2, 0, 8)
    x = torch.randn(1, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(gqa, (x,))


@pytest.mark.parametrize("num_kv_groups", [1, 2])
def test_window_equals_torch_enable_gqa_with_the_band_mask(num_kv_groups):
    from attnbook import causal_mask

    gqa = GroupedQueryAttention(4, 12, context_length=8, num_heads=6,
                                num_kv_groups=num_kv_groups, window=3)
    x = torch.randn(2, 8, 4)
    q, k, v = projections(gqa, x)
    ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=causal_mask(8, window=3),
                                         enable_gqa=True)
    expected = gqa.out_proj(ctx.transpose(1, 2).reshape(2, 8, 12))
    assert_close(gqa(x), expected, atol=1e-5, rtol=1e-5)
    assert_close(gqa(x, need_weights=True)[0], expected, atol=1e-5, rtol=1e-5)


def test_window_with_a_rolling_cache_holds_the_groups_only():
    gqa = GroupedQueryAttention(4, 8, context_length=5, num_heads=4, num_kv_groups=2, window=3)
    long = GroupedQueryAttention(4, 8, context_length=12, num_heads=4, num_kv_groups=2, window=3)
    long.load_state_dict(gqa.state_dict())
    x = torch.randn(1, 12, 4)
    cache = KVCache(max_tokens=3)
    outs = [gqa(x[:, :2], cache=cache)] + [gqa(x[:, i:i + 1], cache=cache) for i in range(2, 12)]
    assert cache.keys.shape == (1, 2, 3, 2) and cache.num_seen == 12  # 2 groups, 3 tokens
    assert_close(torch.cat(outs, 1), long(x), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="num_heads must be divisible by num_kv_groups"):
        GroupedQueryAttention(4, 8, context_length=5, num_heads=4, num_kv_groups=3, window=2)
