"""The order task and the position-scheme model of chapter 9."""

import itertools
from functools import partial
from math import inf

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from attnbook import alibi_bias, apply_rope
from attnbook.experiments import (
    SCHEMES,
    OrderModel,
    PositionalSelfAttention,
    copy_back_batch,
    held_out,
    order_blind_accuracy,
    token_accuracy,
    token_loss,
    train,
)


@given(st.integers(0, 10_000), st.integers(1, 3), st.integers(4, 12),
       st.sampled_from(["train", "test"]))
def test_copy_back_batch_targets_distinct_symbols_and_split(seed, lag, n, split):
    g = torch.Generator().manual_seed(seed)
    tokens, targets = copy_back_batch(g, batch_size=16, min_len=n, max_len=n, num_symbols=20,
                                      lag=lag, split=split)
    assert tokens.shape == targets.shape == (16, n)
    assert (targets[:, :lag] == -100).all()
    assert torch.equal(targets[:, lag:], tokens[:, :-lag])
    assert all(len(set(row.tolist())) == n for row in tokens)  # distinct symbols
    assert (held_out(tokens) == (split == "test")).all()


def test_train_and_test_sequences_never_meet():
    g = torch.Generator().manual_seed(0)
    seen = {split: set() for split in ("train", "test")}
    for split in seen:
        for _ in range(20):
            tokens, _ = copy_back_batch(g, batch_size=64, min_len=4, max_len=4, num_symbols=6,
                                        split=split)
            seen[split] |= {tuple(row) for row in tokens.tolist()}
    assert seen["train"] and seen["test"] and not seen["train"] & seen["test"]
    # about a quarter of the 360 sequences of 4 out of 6 symbols are held out
    all_rows = torch.tensor(list(itertools.permutations(range(6), 4)))
    assert 0.15 < held_out(all_rows).float().mean() < 0.35


def test_copy_back_batch_rejects_bad_lengths():
    with pytest.raises(ValueError, match="lag < min_len <= max_len <= num_symbols"):
        copy_back_batch(torch.Generator(), min_len=4, max_len=60, num_symbols=48)
    with pytest.raises(ValueError, match="split"):
        copy_back_batch(torch.Generator(), split="valid")


def test_order_blind_accuracy_by_enumeration():
    # Enumerate all orders of 4 distinct symbols: the best guess of the previous token from
    # (own token, set so far) is right 1/i of the time at position i.
    n = 4
    hits = total = 0
    for perm in itertools.permutations(range(n)):
        for i in range(1, n):
            candidates = sorted(set(perm[: i + 1]) - {perm[i]})
            hits += candidates[0] == perm[i - 1]  # any fixed rule does as well as any other
            total += 1
    assert order_blind_accuracy(n) == pytest.approx(hits / total)
    assert order_blind_accuracy(5, lag=2) == pytest.approx((1 / 2 + 1 / 3 + 1 / 4) / 3)


def _copy_weights(attn):
    return [getattr(attn, name).weight for name in ("W_query", "W_key", "W_value")]


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("causal", [True, False])
def test_positional_attention_against_explicit_computation(scheme, causal):
    torch.manual_seed(0)
    attn = PositionalSelfAttention(d_model=12, num_heads=3, scheme=scheme, causal=causal)
    x = torch.randn(2, 5, 12)
    out, weights = attn(x, need_weights=True)
    Wq, Wk, Wv = _copy_weights(attn)

    def heads(t):  # (2, 5, 12) -> (2, 3, 5, 4)
        return t.view(2, 5, 3, 4).transpose(1, 2)

    q, k, v = heads(x @ Wq.T), heads(x @ Wk.T), heads(x @ Wv.T)
    scores = q @ k.transpose(-1, -2) / 2.0
    if scheme == "rope":
        scores = apply_rope(q) @ apply_rope(k).transpose(-1, -2) / 2.0
    if scheme == "alibi":
        scores = scores + alibi_bias(3, 5, causal=causal)
    if causal:
        scores = scores.masked_fill(torch.ones(5, 5).triu(1).bool(), -inf)
    expected_w = torch.softmax(scores, dim=-1)
    expected = attn.out_proj((expected_w @ v).transpose(1, 2).reshape(2, 5, 12))
    torch.testing.assert_close(weights, expected_w)
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("causal", [True, False])
def test_alibi_scale_multiplies_the_slopes(causal):
    torch.manual_seed(0)
    scaled = PositionalSelfAttention(d_model=12, num_heads=3, scheme="alibi", causal=causal,
                                     alibi_scale=2.5)
    x = torch.randn(2, 5, 12)
    _, weights = scaled(x, need_weights=True)
    Wq, Wk, _ = _copy_weights(scaled)
    q, k = (t.view(2, 5, 3, 4).transpose(1, 2) for t in (x @ Wq.T, x @ Wk.T))
    scores = q @ k.transpose(-1, -2) / 2.0 + 2.5 * alibi_bias(3, 5, causal=causal)
    torch.testing.assert_close(weights, torch.softmax(scores, dim=-1))
    model = OrderModel(10, "alibi", d_model=12, num_heads=3, alibi_scale=0.5)
    assert all(layer["attn"].alibi_scale == 0.5 for layer in model.layers)


def test_positional_attention_rejects_bad_configuration():
    with pytest.raises(ValueError, match="divisible by num_heads"):
        PositionalSelfAttention(10, 3)
    with pytest.raises(ValueError, match="scheme must be one of"):
        PositionalSelfAttention(8, 2, scheme="relative")
    with pytest.raises(ValueError, match="alibi_scale must be positive"):
        PositionalSelfAttention(8, 2, scheme="alibi", alibi_scale=0.0)
    with pytest.raises(ValueError, match="scheme must be one of"):
        OrderModel(10, scheme="abs")


def test_without_positions_the_model_reads_a_set():
    # Causal and no positions: position i's output depends only on token i and the set of
    # tokens before it, so swapping two earlier tokens changes nothing from i on.
    torch.manual_seed(0)
    model = OrderModel(num_symbols=10, scheme="none").eval()
    tokens = torch.tensor([[3, 1, 4, 7, 5, 9]])
    swapped = tokens[:, [1, 0, 2, 3, 4, 5]]
    with torch.no_grad():
        a, b = model(tokens), model(swapped)
    torch.testing.assert_close(a[:, 2:], b[:, 2:], atol=1e-6, rtol=0)
    for scheme in ("sinusoidal", "learned", "rope", "alibi"):
        torch.manual_seed(0)
        model = OrderModel(num_symbols=10, scheme=scheme).eval()
        with torch.no_grad():
            assert not torch.allclose(model(tokens)[:, 2:], model(swapped)[:, 2:])


def test_model_shapes_and_length_limit():
    model = OrderModel(num_symbols=7, scheme="learned", max_len=8, num_layers=2)
    tokens = torch.randint(0, 7, (2, 8))
    assert model(tokens).shape == (2, 8, 7)
    logits, weights = model(tokens, need_weights=True)
    torch.testing.assert_close(logits, model(tokens))
    assert len(weights) == 2 and weights[1].shape == (2, 4, 8, 8)
    assert (weights[0].triu(1) == 0).all()  # causal
    with pytest.raises(ValueError, match="max_len=8"):
        model(torch.randint(0, 7, (2, 9)))


def test_rope_model_learns_the_previous_token_beyond_its_training_length():
    torch.manual_seed(0)
    model = OrderModel(num_symbols=24, scheme="rope", max_len=16)
    batch = partial(copy_back_batch, batch_size=32, min_len=4, max_len=8, num_symbols=24)
    train(model, batch, token_loss, steps=150, lr=0.03, seed=0)
    tokens, targets = copy_back_batch(torch.Generator().manual_seed(1), batch_size=64,
                                      min_len=16, max_len=16, num_symbols=24, split="test")
    assert token_accuracy(model, tokens, targets) > 0.8 > order_blind_accuracy(16) + 0.5


def test_token_accuracy_ignores_positions_without_target():
    class Echo(torch.nn.Module):  # predicts the token itself
        def forward(self, tokens):
            return torch.nn.functional.one_hot(tokens, 5).float()

    tokens = torch.tensor([[1, 2, 3]])
    targets = torch.tensor([[-100, 2, 0]])
    assert token_accuracy(Echo(), tokens, targets) == 0.5
    loss = token_loss(Echo(), (tokens, targets))
    assert torch.isfinite(loss)
