import torch

from attnbook.data import JOURNEY_TOKENS, journey_embeddings


def test_journey_example_matches_the_lecture():
    inputs = journey_embeddings()
    assert JOURNEY_TOKENS == ("Your", "journey", "starts", "with", "one", "step")
    assert inputs.shape == (6, 3)
    assert inputs.dtype == torch.float32
    torch.testing.assert_close(inputs[1], torch.tensor([0.55, 0.87, 0.66]))
    torch.testing.assert_close(inputs[-1], torch.tensor([0.05, 0.80, 0.55]))


def test_journey_embeddings_returns_a_fresh_tensor():
    a = journey_embeddings()
    a.zero_()
    assert journey_embeddings().abs().sum() > 0
    assert journey_embeddings(torch.float64).dtype == torch.float64


def test_toy_corpus_is_seeded_and_keeps_the_habit():
    from attnbook.data import toy_corpus

    assert toy_corpus(50, seed=1) == toy_corpus(50, seed=1)
    assert toy_corpus(50, seed=1) != toy_corpus(50, seed=2)
    habitual = dict(zip(("cat", "dog", "bird", "fox", "mouse"),
                        ("mat", "rug", "nest", "den", "hole"), strict=True))
    for sentence in toy_corpus(200, habit=1.0):
        assert len(sentence) == 6 and sentence[0] == sentence[4] == "the"
        assert sentence[5] == habitual[sentence[1]]
    random_places = [s[5] == habitual[s[1]] for s in toy_corpus(2000, habit=0.0)]
    assert 0.1 < sum(random_places) / len(random_places) < 0.3  # 1 in 5 by chance


def test_cooccurrence_embeddings():
    import numpy as np
    import pytest

    from attnbook.data import cooccurrence_embeddings

    corpus = [("a", "b", "c"), ("a", "b", "d"), ("e", "b", "c")]
    vectors = cooccurrence_embeddings(corpus, dim=3, window=1)
    assert set(vectors) == {"a", "b", "c", "d", "e"}
    np.testing.assert_allclose([np.linalg.norm(v) for v in vectors.values()], 1.0)
    # "c" and "d" share their only context ("b"): identical directions
    assert vectors["c"] @ vectors["d"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="between 1 and the vocabulary size 5, got 6"):
        cooccurrence_embeddings(corpus, dim=6)
