import pytest
import torch

from attnbook import MultiHeadAttention
from attnbook.experiments import lag_copy_batch, train


def regression(g):
    x = torch.randn(16, 3, generator=g)
    return x, x @ torch.tensor([1.0, -2.0, 0.5])


def mse(model, batch):
    x, y = batch
    return torch.nn.functional.mse_loss(model(x).squeeze(-1), y)


def test_loss_falls_and_model_is_left_in_eval_mode():
    model = torch.nn.Linear(3, 1)
    result = train(model, regression, mse, steps=60, lr=0.1)
    assert len(result.losses) == 60
    assert result.final_loss < 0.1 * result.losses[0]
    assert not model.training
    assert result.seconds > 0


def test_same_seed_same_result_and_global_rng_untouched():
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Dropout(0.2),
                                    torch.nn.Linear(8, 1))
        runs.append(train(model, regression, mse, steps=20, seed=7).losses)
    assert runs[0] == runs[1]
    torch.manual_seed(123)
    assert torch.equal(torch.random.get_rng_state(), before)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Dropout(0.2), torch.nn.Linear(8, 1))
    assert train(model, regression, mse, steps=20, seed=8).losses != runs[0]


def test_progress_only_when_asked(capsys):
    train(torch.nn.Linear(3, 1), regression, mse, steps=5, progress=True)
    assert "step 5/5" in capsys.readouterr().err
    train(torch.nn.Linear(3, 1), regression, mse, steps=5, progress=False)
    assert capsys.readouterr().err == ""
    train(torch.nn.Linear(3, 1), regression, mse, steps=5)  # captured stderr is no terminal
    assert capsys.readouterr().err == ""


def test_bad_steps():
    with pytest.raises(ValueError, match="steps must be a positive number, got 0"):
        train(torch.nn.Linear(3, 1), regression, mse, steps=0)


def test_multihead_loss_falls_on_lag_copy():
    mha = MultiHeadAttention(8 + 10, 8, context_length=10, num_heads=2)

    def loss_fn(model, batch):
        inputs, targets = batch
        return ((model(inputs) - targets)[:, 2:] ** 2).mean()

    result = train(mha, lag_copy_batch, loss_fn, steps=150, lr=0.03)
    assert result.final_loss < 0.1 * result.losses[0]


@pytest.mark.parametrize("model_kind", ["gru", "attention"])
def test_the_printed_numbers_do_not_depend_on_the_thread_count(model_kind):
    """The book builds with one intra-op thread per chapter (conf.py); a reader's
    machine may use more. A training run gives the same losses, bit for bit, either way."""
    def make_batch(g):
        inputs, targets = lag_copy_batch(g, batch_size=64, num_tokens=12, d_x=16, lags=(1, 2))
        return inputs, targets

    def loss_fn(model, batch):
        inputs, targets = batch
        return torch.nn.functional.mse_loss(model(inputs), targets)

    def run(num_threads):
        previous = torch.get_num_threads()
        torch.set_num_threads(num_threads)
        try:
            torch.manual_seed(0)
            if model_kind == "gru":
                gru = torch.nn.GRU(28, 64, batch_first=True)
                model = torch.nn.Sequential(_FirstOutput(gru), torch.nn.Linear(64, 16))
            else:
                model = torch.nn.Sequential(MultiHeadAttention(28, 64, 12, num_heads=2),
                                            torch.nn.Linear(64, 16))
            return train(model, make_batch, loss_fn, steps=20, lr=1e-2).losses
        finally:
            torch.set_num_threads(previous)

    assert run(1) == run(2)


class _FirstOutput(torch.nn.Module):
    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, x):
        return self.rnn(x)[0]


def test_callback_sees_every_step_and_the_model_in_training_mode():
    seen = []

    def callback(step, model):
        seen.append((step, model.training, model.weight.detach().clone()))

    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    result = train(model, regression, mse, steps=12, lr=0.1, callback=callback)
    assert [step for step, _, _ in seen] == list(range(1, 13))
    assert all(training for _, training, _ in seen)
    assert torch.equal(seen[-1][2], model.weight.detach())  # after the step's update
    assert not torch.equal(seen[0][2], seen[-1][2])
    # the callback changes nothing else: the same losses as without it
    torch.manual_seed(0)
    again = train(torch.nn.Linear(3, 1), regression, mse, steps=12, lr=0.1)
    assert again.losses == result.losses
