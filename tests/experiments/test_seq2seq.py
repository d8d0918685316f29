import numpy as np
import pytest
import torch

from attnbook.experiments import Seq2Seq, greedy_accuracy, reverse_batch, seq2seq_loss, train


@pytest.mark.parametrize("placement", ["luong", "bahdanau"])
@pytest.mark.parametrize("attention", [False, True])
def test_shapes(attention, placement):
    model = Seq2Seq(12, 9, d_embed=8, d_hidden=16, attention=attention, d_attn=8,
                    placement=placement)
    src, tgt = torch.randint(2, 12, (3, 7)), torch.randint(2, 9, (3, 5))
    logits, weights = model(src, tgt)
    assert logits.shape == (3, 5, 9)
    if attention:
        assert weights.shape == (3, 5, 7)
        torch.testing.assert_close(weights.sum(-1), torch.ones(3, 5))
    else:
        assert weights is None
    tokens, gen_weights = model.generate(src, 4)
    assert tokens.shape == (3, 4) and tokens.dtype == torch.long
    assert (gen_weights is None) != attention


@pytest.mark.parametrize("placement", ["luong", "bahdanau"])
def test_generate_matches_teacher_forcing_on_its_own_outputs(placement):
    torch.manual_seed(0)
    model = Seq2Seq(12, 12, d_embed=8, d_hidden=16, placement=placement).eval()
    src = torch.randint(2, 12, (2, 6))
    tokens, gen_weights = model.generate(src, 5)
    logits, weights = model(src, tokens)  # the decoder reads [bos, tokens[:-1]]
    assert torch.equal(logits.argmax(-1), tokens)
    torch.testing.assert_close(weights, gen_weights)


def test_loss_falls_and_same_seed_same_result():
    def run():
        torch.manual_seed(0)
        model = Seq2Seq(12, 12, d_embed=8, d_hidden=16, d_attn=8)
        return train(model, lambda g: reverse_batch(g, batch_size=16, max_len=6),
                     seq2seq_loss, steps=30, lr=0.02).losses

    first, second = run(), run()
    assert first == second
    assert sum(first[-5:]) / 5 < 0.9 * sum(first[:5]) / 5


def test_greedy_accuracy_ignores_padding():
    torch.manual_seed(0)
    model = Seq2Seq(12, 12, d_embed=8, d_hidden=16)
    src = torch.randint(2, 12, (4, 5))
    tokens, _ = model.generate(src, 5)
    tgt = tokens.clone()
    tgt[:, -2:] = 0  # padding: not counted
    assert greedy_accuracy(model, src, tgt) == (1.0, 1.0)
    tgt[0, 0] = (tokens[0, 0] + 1 - 2) % 10 + 2  # one wrong token of 12 relevant
    token_acc, exact = greedy_accuracy(model, src, tgt)
    assert token_acc == pytest.approx(11 / 12) and exact == 0.75


def test_bad_configuration_and_input():
    with pytest.raises(ValueError, match="d_hidden must be even"):
        Seq2Seq(5, 5, d_hidden=15)
    with pytest.raises(ValueError, match="placement must be 'luong' or 'bahdanau'"):
        Seq2Seq(5, 5, placement="input")
    model = Seq2Seq(5, 5, d_hidden=8)
    with pytest.raises(ValueError, match=r"src of shape \(batch, num_tokens\)"):
        model(torch.randint(0, 5, (7,)), torch.randint(0, 5, (1, 3)))
    with pytest.raises(ValueError, match=r"dtype torch\.long"):
        model(torch.rand(2, 3), torch.randint(0, 5, (2, 3)))


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _gru_step(x, state, W_ih, W_hh, b_ih, b_hh):
    """One step of the GRU equations of torch.nn.GRUCell's documentation, in NumPy."""
    d = state.shape[-1]
    gi, gh = x @ W_ih.T + b_ih, state @ W_hh.T + b_hh
    r = _sigmoid(gi[:, :d] + gh[:, :d])
    z = _sigmoid(gi[:, d:2 * d] + gh[:, d:2 * d])
    n = np.tanh(gi[:, 2 * d:] + r * gh[:, 2 * d:])
    return (1 - z) * n + z * state


def test_bahdanau_placement_matches_the_equations():
    """Bahdanau et al.: c_i = attn(s_{i-1}, h), s_i = GRU([E y_{i-1}; c_i], s_{i-1}),
    logits W_o [s_i; c_i], with the GRU equations of torch.nn.GRUCell's documentation
    and the NumPy twin of additive attention, step by step in float64."""
    from attnbook.reference import additive_attention

    torch.manual_seed(0)
    model = Seq2Seq(12, 9, d_embed=6, d_hidden=10, d_attn=4, placement="bahdanau").double()
    src, tgt = torch.randint(2, 12, (3, 7)), torch.randint(2, 9, (3, 5))
    logits, weights = model(src, tgt)
    memory, hidden, _ = model.encode(src)
    h, state = memory.detach().numpy(), hidden[0].detach().numpy()

    def w(t):
        return t.detach().numpy()

    att, cell = model.attention, model.decoder
    W_ih, W_hh, b_ih, b_hh = w(cell.weight_ih), w(cell.weight_hh), w(cell.bias_ih), w(cell.bias_hh)
    y_prev = w(model.tgt_embed.weight)[torch.cat([torch.ones_like(tgt[:, :1]), tgt[:, :-1]], 1)]
    for i in range(tgt.shape[1]):
        context, alpha = additive_attention(state[:, None], h, h, w(att.W_query.weight).T,
                                            w(att.W_key.weight).T, w(att.w_v.weight)[0])
        context = context[:, 0]
        x = np.concatenate([y_prev[:, i], context], axis=-1)
        state = _gru_step(x, state, W_ih, W_hh, b_ih, b_hh)
        expected = np.concatenate([state, context], -1) @ w(model.readout.weight).T
        np.testing.assert_allclose(w(logits[:, i]), expected + w(model.readout.bias), atol=1e-10)
        np.testing.assert_allclose(w(weights[:, i]), alpha[:, 0], atol=1e-10)


def test_bahdanau_placement_never_attends_to_padding():
    torch.manual_seed(0)
    model = Seq2Seq(12, 12, d_embed=8, d_hidden=16, placement="bahdanau")
    src = torch.randint(2, 12, (2, 6))
    src[1, 4:] = 0
    _, weights = model(src, torch.randint(2, 12, (2, 3)))
    assert torch.all(weights[1, :, 4:] == 0) and torch.all(weights[0] > 0)


def test_summary_is_the_decoders_initial_state_with_padding():
    torch.manual_seed(0)
    model = Seq2Seq(12, 12, d_embed=8, d_hidden=16, attention=False, feed_summary=True)
    src = torch.randint(2, 12, (3, 7))
    src[1, 5:] = 0  # the forward half is read at each row's own last token
    src[2, 2:] = 0
    memory, hidden, memory_mask = model.encode(src)
    torch.testing.assert_close(model.summary(memory, memory_mask), hidden[0])
    assert not torch.allclose(model.summary(memory), hidden[0])  # padding ignored: differs


def test_feed_summary_matches_cho_et_al_equations():
    """Cho et al.: s_i = GRU([E y_{i-1}; c], s_{i-1}) from s_0 = c, logits W_o [s_i; c],
    with the GRU equations of torch.nn.GRU's documentation, step by step in float64."""
    torch.manual_seed(0)
    model = Seq2Seq(12, 9, d_embed=6, d_hidden=10, attention=False, feed_summary=True).double()
    src, tgt = torch.randint(2, 12, (3, 7)), torch.randint(2, 9, (3, 5))
    logits, weights = model(src, tgt)
    assert weights is None and model.decoder.input_size == 6 + 10
    _, hidden, _ = model.encode(src)
    c = hidden[0].detach().numpy()
    state = c.copy()

    def w(t):
        return t.detach().numpy()

    gru = model.decoder
    W_ih, W_hh = w(gru.weight_ih_l0), w(gru.weight_hh_l0)
    b_ih, b_hh = w(gru.bias_ih_l0), w(gru.bias_hh_l0)
    y_prev = w(model.tgt_embed.weight)[torch.cat([torch.ones_like(tgt[:, :1]), tgt[:, :-1]], 1)]
    for i in range(tgt.shape[1]):
        x = np.concatenate([y_prev[:, i], c], axis=-1)
        state = _gru_step(x, state, W_ih, W_hh, b_ih, b_hh)
        expected = np.concatenate([state, c], -1) @ w(model.readout.weight).T
        np.testing.assert_allclose(w(logits[:, i]), expected + w(model.readout.bias), atol=1e-10)


def test_feed_summary_generate_matches_teacher_forcing_and_needs_no_attention():
    torch.manual_seed(0)
    model = Seq2Seq(12, 12, d_embed=8, d_hidden=16, attention=False, feed_summary=True).eval()
    src = torch.randint(2, 12, (2, 6))
    src[1, 4:] = 0
    tokens, weights = model.generate(src, 5)
    assert weights is None
    assert torch.equal(model(src, tokens)[0].argmax(-1), tokens)
    with pytest.raises(ValueError, match="feed_summary=True needs attention=False"):
        Seq2Seq(12, 12, attention=True, feed_summary=True)
