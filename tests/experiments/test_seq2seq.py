import pytest
import torch

from attnbook.experiments import Seq2Seq, greedy_accuracy, reverse_batch, seq2seq_loss, train


@pytest.mark.parametrize("attention", [False, True])
def test_shapes(attention):
    model = Seq2Seq(12, 9, d_embed=8, d_hidden=16, attention=attention, d_attn=8)
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


def test_generate_matches_teacher_forcing_on_its_own_outputs():
    torch.manual_seed(0)
    model = Seq2Seq(12, 12, d_embed=8, d_hidden=16).eval()
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
    model = Seq2Seq(5, 5, d_hidden=8)
    with pytest.raises(ValueError, match=r"src of shape \(batch, num_tokens\)"):
        model(torch.randint(0, 5, (7,)), torch.randint(0, 5, (1, 3)))
    with pytest.raises(ValueError, match=r"dtype torch\.long"):
        model(torch.rand(2, 3), torch.randint(0, 5, (2, 3)))
