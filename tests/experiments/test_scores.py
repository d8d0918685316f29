"""The three scoring functions of chapter 7 inside the date translator of chapter 8."""

import pytest
import torch

from attnbook import AdditiveAttention, MultiplicativeAttention
from attnbook.experiments import DateDataset, seq2seq_loss, train
from attnbook.experiments.scores import (
    SCORES,
    ProjectedDotProductAttention,
    date_translator,
    scoring_module,
)


def test_projected_dot_product_against_pytorch():
    torch.manual_seed(0)
    attention = ProjectedDotProductAttention(d_query=5, d_key=3, d_k=4)
    query, key, value = torch.randn(2, 6, 5), torch.randn(2, 7, 3), torch.randn(2, 7, 2)
    mask = torch.ones(2, 1, 7, dtype=torch.bool)
    mask[1, :, 5:] = False
    context_vec, attn_weights = attention(query, key, value, attn_mask=mask)
    q, k = query @ attention.W_query.weight.T, key @ attention.W_key.weight.T
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, value, attn_mask=mask)
    torch.testing.assert_close(context_vec, expected)
    scores = q @ k.transpose(-1, -2) / 4**0.5  # by hand
    torch.testing.assert_close(attn_weights[0], torch.softmax(scores[0], -1))
    assert (attn_weights[1, :, 5:] == 0).all()
    with pytest.raises(ValueError, match=r"query of shape \(\.\.\., num_tokens, d_in=5\)"):
        attention(torch.randn(2, 6, 3), key, value)
    with pytest.raises(ValueError, match=r"key of shape \(\.\.\., num_tokens, d_in=3\)"):
        attention(query, torch.randn(2, 7, 5), value)


def test_scoring_modules_and_their_sizes():
    kinds = {"additive": AdditiveAttention, "general": MultiplicativeAttention,
             "scaled dot-product": ProjectedDotProductAttention}
    for score in SCORES:
        module = scoring_module(score, 64, 48, 32)
        assert isinstance(module, kinds[score])
        context_vec, attn_weights = module(torch.randn(2, 3, 64), torch.randn(2, 5, 48),
                                           torch.randn(2, 5, 7))
        assert context_vec.shape == (2, 3, 7) and attn_weights.shape == (2, 3, 5)
    counts = {s: sum(p.numel() for p in scoring_module(s, 64, 48, 32).parameters())
              for s in SCORES}
    assert counts == {"additive": 32 * (64 + 48 + 1), "general": 64 * 48,
                      "scaled dot-product": 32 * (64 + 48)}
    with pytest.raises(ValueError, match="score must be one of"):
        scoring_module("cosine", 4, 4, 4)
    with pytest.raises(ValueError, match="score must be one of"):
        date_translator("cosine", 10, 10)


def test_translators_differ_only_in_the_score():
    models = {}
    for score in SCORES:
        torch.manual_seed(3)
        models[score] = date_translator(score, 20, 13)
    reference = dict(models["additive"].named_parameters())
    for score, model in models.items():
        shared = {n: p for n, p in model.named_parameters() if not n.startswith("attention.")}
        assert shared.keys() == {n for n in reference if not n.startswith("attention.")}
        for name, p in shared.items():
            assert torch.equal(p, reference[name]), (score, name)
    assert isinstance(models["general"].attention, MultiplicativeAttention)


@pytest.mark.parametrize("score", SCORES)
def test_each_translator_learns(score):
    data = DateDataset(400, seed=0)
    train_idx, _ = data.split(50)

    def run():
        torch.manual_seed(0)
        model = date_translator(score, len(data.src_words), len(data.tgt_chars), d_embed=16,
                                d_hidden=32, d_attn=16)
        return train(model, lambda g: data.batch(g, train_idx, batch_size=16), seq2seq_loss,
                     steps=40, lr=0.02).losses

    first = run()
    assert first == run()
    assert sum(first[-5:]) < 0.7 * sum(first[:5])
