import pytest
import torch

from attnbook.data import toy_corpus
from attnbook.experiments import (
    MaskedWordModel,
    WordVocabulary,
    masked_word_batch,
    masked_word_loss,
    masked_word_losses,
    train,
)


def test_vocabulary_round_trip_and_unknown_words():
    vocab = WordVocabulary(["b", "a", "b"])
    assert vocab.words == ("[MASK]", "a", "b") and len(vocab) == 3
    assert vocab.encode(["b", "[MASK]", "a"]).tolist() == [2, 0, 1]
    with pytest.raises(ValueError, match=r"not in the vocabulary: \['z'\]"):
        vocab.encode(["a", "z"])


def test_masked_word_batch_hides_one_word_per_sentence():
    encoded = torch.randint(1, 9, (50, 6))
    tokens, targets = masked_word_batch(torch.Generator().manual_seed(0), encoded, batch_size=20)
    assert tokens.shape == targets.shape == (20, 6)
    assert ((tokens == 0).sum(1) == 1).all()
    assert ((targets != -100) == (tokens == 0)).all()
    hidden = targets[tokens == 0]
    assert (hidden >= 1).all()


def test_model_shapes_and_loss_falls():
    corpus = toy_corpus(num_sentences=300)
    vocab = WordVocabulary(w for s in corpus for w in s)
    encoded = torch.stack([vocab.encode(s) for s in corpus])
    torch.manual_seed(0)
    model = MaskedWordModel(len(vocab), context_length=6, d_model=16)
    logits, weights = model(encoded[:3], need_weights=True)
    assert logits.shape == (3, 6, len(vocab)) and weights.shape == (3, 1, 6, 6)
    result = train(model, lambda g: masked_word_batch(g, encoded), masked_word_loss,
                   steps=60, lr=0.01)
    assert result.final_loss < 0.8 * result.losses[0]


def test_masked_word_losses_hides_each_word_in_turn():
    """Against a loop over sentences and positions with log_softmax, and against
    masked_word_loss on a batch that hides one word per sentence."""
    corpus = toy_corpus(num_sentences=20, seed=4)
    vocab = WordVocabulary(w for s in corpus for w in s)
    encoded = torch.stack([vocab.encode(s) for s in corpus])
    torch.manual_seed(0)
    model = MaskedWordModel(len(vocab), context_length=6, d_model=16).eval()
    losses = masked_word_losses(model, encoded)
    assert losses.shape == (20, 6)
    with torch.no_grad():
        for s in (0, 7):
            for t in range(6):
                tokens = encoded[s].clone()
                tokens[t] = 0
                log_p = torch.log_softmax(model(tokens[None])[0, t], dim=-1)
                torch.testing.assert_close(losses[s, t], -log_p[encoded[s, t]])
    tokens, targets = encoded.clone(), torch.full_like(encoded, -100)
    tokens[:, 2], targets[:, 2] = 0, encoded[:, 2]  # the verb of every sentence hidden
    with torch.no_grad():
        torch.testing.assert_close(masked_word_loss(model, (tokens, targets)), losses[:, 2].mean())
    with pytest.raises(ValueError, match=r"\(num_sentences, num_tokens\)"):
        masked_word_losses(model, encoded[0])
