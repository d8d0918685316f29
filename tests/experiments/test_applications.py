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


def test_date_dataset_dates_are_distinct_and_valid():
    import datetime

    data = DateDataset(3000, seed=0)
    assert len(set(data.dates)) == 3000  # so no held-out date occurs in training
    train_idx, test_idx = data.split(500)
    train_src = {tuple(data.src[i].tolist()) for i in train_idx.tolist()}
    assert not any(tuple(data.src[i].tolist()) in train_src for i in test_idx.tolist())
    for year, month, day in data.dates:
        assert 1950 <= year <= 2049 and datetime.date(year, month, day).day == day
        assert (month, day) != (2, 29)
    with pytest.raises(ValueError, match="num_dates must be between 1 and 36500"):
        DateDataset(36501)


def test_date_dataset_fields_name_the_words_of_each_field():
    from attnbook.experiments.dates import FIELDS, MONTHS, TARGET_POSITIONS, word_fields

    data = DateDataset(300, seed=1)
    assert data.src_fields.shape == data.src.shape
    assert ((data.src_fields == -1) | (data.src != 0)).all()  # padding has no field
    for i in range(300):
        words = data.decode_src(data.src[i]).split()
        fields = [FIELDS[f] if f >= 0 else None for f in data.src_fields[i, :len(words)].tolist()]
        assert (words[0] in MONTHS) == bool(data.month_first[i])
        assert [w for w, f in zip(words, fields, strict=True) if f is None] in ([], ["of"])
        assert [w for w, f in zip(words, fields, strict=True) if f == "month"] == \
            [MONTHS[data.dates[i][1] - 1]]
        year_part = [w for w, f in zip(words, fields, strict=True) if f == "year"]
        assert year_part == year_words(data.dates[i][0]) == words[-len(year_part):]
        iso = data.decode_tgt(data.tgt[i])
        for field, position in TARGET_POSITIONS.items():
            value = data.dates[i][("year", "month", "day").index(field)]
            assert int("".join(iso[p] for p in position)) == value
    assert word_fields(2001, 12, 30, "day-month-year") == ["day", None, "month", "year", "year",
                                                          "year"]
    with pytest.raises(ValueError, match="style must be"):
        word_fields(2001, 1, 1, "iso")


# -- summarisation -------------------------------------------------------------------

def test_documents_defeat_word_counts():
    from attnbook.experiments.summarize import NEGATIONS, TOPICS

    data = DocumentDataset(40, seed=1)
    counts = data.topic_word_counts()
    assert counts.shape == (40, 8, 4)
    assert (counts.sum(-1) == 3).all()  # every sentence has as many topic words
    negations = {data.words.index(w) for w in NEGATIONS}
    for d in range(40):
        affirmative = [s for s in range(8)
                       if not negations & set(data.docs[d, s].tolist())]
        assert affirmative == [int(data.salient[d])]
        topic_words = set(TOPICS[data.topic_names[int(data.topics[d])]])
        assert set(data.sentence(d, affirmative[0]).split()) & topic_words
        assert counts[d, affirmative[0], int(data.topics[d])] == 3
    # negated sentences also talk about the document's own topic, sometimes
    negated_topics = counts.argmax(-1)[torch.arange(8) != data.salient[:, None]]
    assert set(negated_topics.tolist()) == {0, 1, 2, 3}
    with pytest.raises(ValueError, match="topic_words"):
        DocumentDataset(2, topic_words=6)


def test_salience_model_learns_and_is_seeded():
    data = DocumentDataset(200, seed=0)
    model_fn = lambda: SalienceModel(len(data.words), 4, d_model=16)  # noqa: E731
    first = losses(model_fn, data, steps=80, lr=0.03)
    assert first == losses(model_fn, data, steps=80, lr=0.03)
    assert falls(first)
    with pytest.raises(ValueError, match=r"\(batch, num_sentences, sentence_len\)"):
        model_fn()(data.docs[0])


def test_salience_model_mean_pooling_baseline():
    data = DocumentDataset(4, seed=0)
    model = SalienceModel(len(data.words), 4, d_model=8, pooling="mean")
    logits, weights = model(data.docs, need_weights=True)
    torch.testing.assert_close(weights, torch.full((4, 8), 1 / 8))
    sentences = model.sentence_layer(model.embed(data.docs).mean(2))
    torch.testing.assert_close(logits, model.classify(sentences.mean(1)))
    with pytest.raises(ValueError, match="pooling must be"):
        SalienceModel(10, 4, pooling="max")


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


def test_sound_never_reaches_the_first_and_last_two_frames():
    data = SoundDataset(600, seed=0)
    events = data.event_frames
    assert not events[:, :2].any() and not events[:, -2:].any()
    assert events[:, 2].any() and events[:, -3].any()  # but it can come right next to them
    # in the samples as well: the STFT frames at the edges see noise only
    quiet = SoundDataset(40, seed=3, noise=0.0)
    assert (quiet.spectrograms[:, :2] == np.log(1e-3)).all()
    assert (quiet.spectrograms[:, -2:] == np.log(1e-3)).all()
    assert (quiet.spectrograms[:, 2:-2] > np.log(1e-3)).any()


def test_sound_classifier_mean_pooling_baseline():
    torch.manual_seed(0)
    attention = SoundClassifier(129, 4)
    torch.manual_seed(0)
    mean = SoundClassifier(129, 4, pooling="mean")
    for name in ("conv", "frame_layer", "classify"):  # the same start but for the pooling
        for a, b in zip(getattr(attention, name).parameters(), getattr(mean, name).parameters(),
                        strict=True):
            assert torch.equal(a, b)
    assert sum(p.numel() for p in attention.parameters()) - \
        sum(p.numel() for p in mean.parameters()) == 32 + 32 * 32 + 32
    spec = torch.randn(3, 61, 129)
    logits, weights = mean(spec, need_weights=True)
    torch.testing.assert_close(weights, torch.full((3, 61), 1 / 61))
    # the same frame features as the attention model, averaged
    x = mean.freq_pool((spec - spec.mean(dim=(1, 2), keepdim=True)).unsqueeze(1))
    maps = torch.relu(mean.conv(x))
    features = torch.cat([maps.amax(-1), maps.mean(-1)], dim=1).transpose(1, 2)
    frames = torch.relu(mean.frame_layer(features))
    torch.testing.assert_close(logits, mean.classify(frames.mean(1)))
    with pytest.raises(ValueError, match="pooling must be"):
        SoundClassifier(129, 4, pooling="max")


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


def test_mean_mixing_is_attention_with_equal_scores():
    from attnbook import MultiHeadAttention
    from attnbook.experiments import MeanMixing

    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 8, context_length=6, num_heads=2, causal=False)
    with torch.no_grad():
        mha.W_query.weight.zero_()  # every score 0: uniform weights
    mixing = MeanMixing.from_attention(mha)
    x = torch.randn(3, 6, 8)
    expected, expected_weights = mha(x, need_weights=True)
    out, weights = mixing(x, need_weights=True)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(weights, expected_weights)
    torch.testing.assert_close(mixing(x), out)
    with pytest.raises(ValueError, match=r"x of shape \(batch, num_tokens, d_in=8\)"):
        mixing(torch.randn(6, 8))
    with pytest.raises(ValueError, match="no attn_mask"):
        mixing(x, attn_mask=torch.ones(6, 6, dtype=torch.bool))


def test_vision_transformer_mean_mixing_baseline():
    from attnbook.experiments import MeanMixing

    torch.manual_seed(0)
    vit = VisionTransformer(12, 4, 4, d_model=16, num_heads=2)
    state = torch.random.get_rng_state()
    torch.manual_seed(0)
    plain = VisionTransformer(12, 4, 4, d_model=16, num_heads=2, mixing="mean")
    assert torch.equal(torch.random.get_rng_state(), state)  # no extra random numbers
    assert all(isinstance(block.attention, MeanMixing) for block in plain.blocks)
    kept = dict(plain.named_parameters())
    missing = [name for name in dict(vit.named_parameters()) if name not in kept]
    assert sorted(missing) == sorted(f"blocks.{i}.attention.{w}.weight"
                                     for i in range(2) for w in ("W_query", "W_key"))
    for name, p in vit.named_parameters():
        if name in kept:
            assert torch.equal(p, kept[name]), name
    images = torch.randn(2, 1, 12, 12)
    logits, weights = plain(images, need_weights=True)
    assert logits.shape == (2, 4)
    torch.testing.assert_close(weights[0], torch.full((2, 2, 10, 10), 0.1))
    with pytest.raises(ValueError, match="mixing must be"):
        VisionTransformer(12, 4, 4, mixing="max")


def test_attention_rollout_against_a_loop():
    from attnbook.experiments.vision import attention_rollout

    gen = torch.Generator().manual_seed(0)
    weights = [torch.softmax(torch.randn(2, 3, 5, 5, generator=gen), -1) for _ in range(3)]
    expected = np.stack([np.eye(5)] * 2)
    for w in weights:  # NumPy, one image at a time
        mixed = 0.5 * np.eye(5) + 0.5 * w.numpy().mean(1)
        expected = np.stack([mixed[b] @ expected[b] for b in range(2)])
    rollout = attention_rollout(weights)
    np.testing.assert_allclose(rollout.numpy(), expected, atol=1e-6)
    torch.testing.assert_close(rollout.sum(-1), torch.ones(2, 5))
    torch.testing.assert_close(attention_rollout(weights[:1], residual=0.0),
                               weights[0].mean(1))
    vit = VisionTransformer(12, 4, 4, d_model=16, num_heads=2)
    _logits, vit_weights = vit(torch.randn(3, 1, 12, 12), need_weights=True)
    torch.testing.assert_close(vit.class_token_rollout(vit_weights).reshape(3, 9),
                               attention_rollout(vit_weights)[:, 0, 1:])
    with pytest.raises(ValueError, match="residual must be between 0 and 1"):
        attention_rollout(weights, residual=2.0)
    with pytest.raises(ValueError, match="num_tokens, num_tokens"):
        attention_rollout([weights[0], weights[1][:, :, :4, :4]])
    with pytest.raises(ValueError, match="non-empty"):
        attention_rollout([])
