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
