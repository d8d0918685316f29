import datetime

import pytest
import torch

from attnbook import GPTModel
from attnbook.experiments import (
    PAD_ID,
    DateTextDataset,
    date_to_words,
    language_model_loss,
    train,
)


def test_lines_are_iso_date_then_words():
    data = DateTextDataset(num_dates=50, seed=3)
    for row, (y, m, d) in zip(data.tokens, data.dates, strict=True):
        iso = datetime.date(y, m, d).isoformat()
        words = " ".join(date_to_words(y, m, d, "day-month-year"))
        assert data.decode(row) == f"{iso} = {words} ."
        assert data.decode(row[:data.prompt_length]) == f"{iso} ="
    assert data.vocab[PAD_ID] == "<pad>"
    lengths = (data.tokens != PAD_ID).sum(1)
    assert lengths.max() == data.tokens.shape[1] and lengths.min() >= 15


def test_dates_are_distinct_so_the_held_out_split_is_disjoint():
    data = DateTextDataset(num_dates=3000, seed=0)
    assert len(set(data.dates)) == 3000
    train_idx, test_idx = data.split(num_test=500)
    train_dates = {data.dates[i] for i in train_idx.tolist()}
    assert not train_dates & {data.dates[i] for i in test_idx.tolist()}
    assert all(1950 <= y <= 2049 and not (m == 2 and d == 29) for y, m, d in data.dates)


def test_same_seed_same_data_and_errors():
    assert torch.equal(DateTextDataset(20, seed=1).tokens, DateTextDataset(20, seed=1).tokens)
    with pytest.raises(ValueError, match="num_dates"):
        DateTextDataset(40_000)
    with pytest.raises(ValueError, match="vocabulary"):
        DateTextDataset(5).encode(["2", "zebra"])


def test_language_model_loss_ignores_padding():
    data = DateTextDataset(num_dates=6, seed=0)
    tokens = data.tokens
    logits = torch.randn(*tokens.shape, len(data.vocab))

    def model(ids):
        return logits[:, :ids.shape[1]]

    targets, scores = tokens[:, 1:], logits[:, :-1]
    real = targets != PAD_ID
    expected = torch.nn.functional.cross_entropy(scores[real], targets[real])
    torch.testing.assert_close(language_model_loss(model, (tokens,)), expected)


def test_a_tiny_gpt_learns_the_lines():
    data = DateTextDataset(num_dates=400, seed=0)
    torch.manual_seed(0)
    gpt = GPTModel(len(data.vocab), data.tokens.shape[1], d_model=32, num_layers=1,
                   num_heads=2)
    train_idx, _ = data.split(num_test=50)
    result = train(gpt, lambda g: data.batch(g, train_idx, batch_size=32), language_model_loss,
                   steps=150, lr=0.01, seed=0)
    assert result.final_loss < 0.6 * result.losses[0]
