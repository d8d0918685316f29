import pytest
import torch

from attnbook.experiments import lag_copy_batch


def test_lag_copy_targets():
    inputs, targets = lag_copy_batch(torch.Generator().manual_seed(1), batch_size=3,
                                     num_tokens=6, d_x=6, lags=(1, 2, 3))
    assert inputs.shape == (3, 6, 12) and targets.shape == (3, 6, 6)
    x, positions = inputs[..., :6], inputs[..., 6:]
    assert torch.equal(positions[0], torch.eye(6))
    assert torch.equal(targets[:, 4, 0:2], x[:, 3, 0:2])
    assert torch.equal(targets[:, 4, 2:4], x[:, 2, 2:4])
    assert torch.equal(targets[:, 4, 4:6], x[:, 1, 4:6])
    assert (targets[:, 0] == 0).all() and (targets[:, 1, 2:] == 0).all()


def test_lag_copy_is_seeded():
    a = lag_copy_batch(torch.Generator().manual_seed(3))
    b = lag_copy_batch(torch.Generator().manual_seed(3))
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))


def test_lag_copy_errors():
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="d_x must be divisible by len"):
        lag_copy_batch(g, d_x=7)
    with pytest.raises(ValueError, match="every lag must be < num_tokens=4"):
        lag_copy_batch(g, num_tokens=4, lags=(1, 4))


def test_reverse_batch():
    from attnbook.experiments import reverse_batch

    g = torch.Generator().manual_seed(0)
    lengths = set()
    for _ in range(30):
        src, tgt = reverse_batch(g, batch_size=3, min_len=2, max_len=4, num_symbols=5)
        assert torch.equal(tgt, src.flip(1))
        assert src.min() >= 2 and src.max() <= 6
        lengths.add(src.shape[1])
    assert lengths == {2, 3, 4}
    with pytest.raises(ValueError, match="1 <= min_len <= max_len"):
        reverse_batch(g, min_len=5, max_len=4)
