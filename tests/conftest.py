import pytest
import torch
from hypothesis import settings

settings.register_profile("attnbook", deadline=None, max_examples=40, derandomize=True)
settings.load_profile("attnbook")


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same random state."""
    torch.manual_seed(0)


def assert_close(actual, expected, **kwargs):
    """torch.testing.assert_close that also accepts NumPy arrays as expected."""
    expected = torch.as_tensor(expected, dtype=actual.dtype)
    torch.testing.assert_close(actual, expected, **kwargs)
