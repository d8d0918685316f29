"""The application models and data sets of chapter 8, on tiny sizes."""

import numpy as np
import pytest
import torch

from attnbook.experiments import (
    AttentionPooling,
    DateDataset,
    DocumentDataset,
    SalienceModel,
    ShapesDataset,
    SoundClassifier,
    SoundDataset,
    VisionTransformer,
    classification_loss,
    date_to_words,
    train,
)
from attnbook.experiments.dates import year_words
from attnbook.experiments.speech import spectrogram


def losses(model_fn, data, steps=40, lr=0.01, seed=0):
    train_idx, _ = data.split(max(1, len(data) // 5))
    torch.manual_seed(seed)
    model = model_fn()
    return train(model, lambda g: data.batch(g, train_idx, batch_size=16),
                 classification_loss, steps=steps, lr=lr, seed=seed).losses


def falls(values):
    return np.mean(values[-5:]) < 0.8 * np.mean(values[:5])


# -- attention pooling ---------------------------------------------------------------

def test_attention_pooling_weights_and_mask():
    pool = AttentionPooling(d_in=4, d_attn=3)
    items = torch.randn(2, 5, 4)
    pooled, weights = pool(items)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2))
    torch.testing.assert_close(pooled, torch.einsum("bn,bnd->bd", weights, items))
    mask = torch.tensor([[True, True, False, False, False]] * 2)
    _, masked = pool(items, mask=mask)
    assert (masked[:, 2:] == 0).all()
    with pytest.raises(ValueError, match=r"items of shape \(batch, num_tokens, d_in=4\)"):
        pool(torch.randn(5, 4))


# -- dates ---------------------------------------------------------------------------

@pytest.mark.parametrize("year,words", [(1999, "nineteen ninety nine"), (1905, "nineteen oh five"),
                                        (2000, "two thousand"), (2007, "two thousand seven"),
                                        (2021, "twenty twenty one"), (1950, "nineteen fifty")])
def test_year_words(year, words):
    assert " ".join(year_words(year)) == words


def test_date_words_and_errors():
    assert " ".join(date_to_words(2001, 12, 30, "day-month-year")) == \
        "thirtieth of december two thousand one"
    assert " ".join(date_to_words(1962, 2, 13, "month-day-year")) == \
        "february thirteenth nineteen sixty two"
    with pytest.raises(ValueError, match="style must be"):
        date_to_words(2001, 1, 1, "iso")
    with pytest.raises(ValueError, match="between 1901 and 2099"):
        year_words(1800)


def test_date_dataset_round_trip_and_seed():
    data = DateDataset(50, seed=3)
    assert data.src.shape[0] == 50 and data.tgt.shape == (50, 10)
    for i in range(50):
        y, m, d = data.dates[i]
        assert data.decode_tgt(data.tgt[i]) == f"{y:04d}-{m:02d}-{d:02d}"
        assert data.decode_src(data.src[i]).split()[-1] in data.src_words
    assert torch.equal(DateDataset(50, seed=3).src, data.src)
    train_idx, test_idx = data.split(10)
    assert len(set(train_idx.tolist()) & set(test_idx.tolist())) == 0
    src, _tgt = data.batch(torch.Generator().manual_seed(0), train_idx, batch_size=8)
    assert (src[:, -1] != 0).any()  # trimmed to the longest row
    with pytest.raises(ValueError, match="num_test must be between 1 and 49"):
        data.split(50)


# -- summarisation -------------------------------------------------------------------

def test_documents_have_one_salient_sentence_of_their_topic():
    from attnbook.experiments.summarize import TOPICS

    data = DocumentDataset(20, seed=1)
    for d in range(20):
        topic_words = set(TOPICS[data.topic_names[int(data.topics[d])]])
        counts = [sum(w in topic_words for w in data.sentence(d, s).split()) for s in range(8)]
        assert counts[int(data.salient[d])] == 3
        assert sum(counts) == 3  # distractors come from other topics
    with pytest.raises(ValueError, match="salient_words"):
        DocumentDataset(2, salient_words=7)


def test_salience_model_learns_and_is_seeded():
    data = DocumentDataset(200, seed=0)
    model_fn = lambda: SalienceModel(len(data.words), 4, d_model=16)  # noqa: E731
    first = losses(model_fn, data, steps=80, lr=0.03)
    assert first == losses(model_fn, data, steps=80, lr=0.03)
    assert falls(first)
    with pytest.raises(ValueError, match=r"\(batch, num_sentences, sentence_len\)"):
        model_fn()(data.docs[0])


# -- speech --------------------------------------------------------------------------

def test_spectrogram_finds_a_tone_and_rejects_short_audio():
    t = np.arange(4000) / 8000
    spec = spectrogram(np.sin(2 * np.pi * 2000 * t))
    assert spec.shape == (30, 129) and spec.dtype == np.float32
    assert (spec.argmax(axis=1) == 64).all()  # 2000 Hz = bin 64 of 256 at 8 kHz
    with pytest.raises(ValueError, match="num_samples >= n_fft=256"):
        spectrogram(np.zeros(100))


def test_sound_dataset_marks_the_sound():
    data = SoundDataset(12, seed=2)
    spec, events = data.spectrograms, data.event_frames
    assert spec.shape == (12, 61, 129) and events.shape == (12, 61)
    assert events.any(1).all() and not events.all(1).any()
    # the frames with the sound carry more energy than the frames without
    energy = spec.exp().sum(-1)
    inside = (energy * events).sum(1) / events.sum(1)
    outside = (energy * ~events).sum(1) / (~events).sum(1)
    assert (inside > outside).all()


def test_sound_classifier_learns_and_checks_input():
    data = SoundDataset(16, seed=0)
    fixed = (data.spectrograms, data.labels)

    def run():
        torch.manual_seed(0)
        return train(SoundClassifier(129, 4), lambda g: fixed, classification_loss,
                     steps=60, lr=0.03).losses

    first = run()
    assert first == run()
    assert falls(first)  # it can fit a fixed batch
    with pytest.raises(ValueError, match=r"num_bins=129\), got \(2, 61, 100\)"):
        SoundClassifier(129, 4)(torch.randn(2, 61, 100))


# -- vision --------------------------------------------------------------------------

def test_shapes_dataset():
    data = ShapesDataset(40, image_size=16, seed=0)
    assert data.images.shape == (40, 1, 16, 16) and data.masks.any((1, 2)).all()
    assert set(data.labels.tolist()) == {0, 1, 2, 3}
    assert torch.equal(ShapesDataset(40, image_size=16, seed=0).images, data.images)
    with pytest.raises(ValueError, match="at least 12 pixels"):
        ShapesDataset(2, image_size=8)


def test_vision_transformer_learns_and_class_token_map():
    data = ShapesDataset(120, image_size=12, seed=0)
    model_fn = lambda: VisionTransformer(12, 4, 4, d_model=16, num_heads=2)  # noqa: E731
    first = losses(model_fn, data, steps=80, lr=0.01)
    assert first == losses(model_fn, data, steps=80, lr=0.01)
    assert falls(first)
    vit = model_fn()
    _logits, weights = vit(data.images[:3], need_weights=True)
    attention_map = vit.class_token_attention(weights)
    assert attention_map.shape == (3, 3, 3)
    torch.testing.assert_close(attention_map.sum((1, 2)) + weights[-1][:, :, 0, 0].mean(1),
                               torch.ones(3))


def test_vision_transformer_errors():
    with pytest.raises(ValueError, match="image_size must be divisible by patch_size"):
        VisionTransformer(10, 4, 2)
    with pytest.raises(ValueError, match=r"images of shape \(batch, 1, 12, 12\)"):
        VisionTransformer(12, 4, 2)(torch.randn(2, 12, 12))
