"""The running example of the lecture: "Your journey starts with one step"."""

import torch

#: The six tokens of the running example, in order.
JOURNEY_TOKENS = ("Your", "journey", "starts", "with", "one", "step")

_JOURNEY_EMBEDDINGS = (
    (0.43, 0.15, 0.89),  # Your     (x^1)
    (0.55, 0.87, 0.66),  # journey  (x^2)
    (0.57, 0.85, 0.64),  # starts   (x^3)
    (0.22, 0.58, 0.33),  # with     (x^4)
    (0.77, 0.25, 0.10),  # one      (x^5)
    (0.05, 0.80, 0.55),  # step     (x^6)
)


def journey_embeddings(dtype=torch.float32):
    """Return the 3-dimensional embeddings of :data:`JOURNEY_TOKENS`.

    Parameters
    ----------
    dtype : torch.dtype
        The floating-point type of the result.

    Returns
    -------
    torch.Tensor of shape (6, 3)
        Row ``i`` embeds ``JOURNEY_TOKENS[i]``; a new tensor on every call.

    Examples
    --------
    >>> from attnbook.data import JOURNEY_TOKENS, journey_embeddings
    >>> inputs = journey_embeddings()
    >>> inputs.shape
    torch.Size([6, 3])
    >>> JOURNEY_TOKENS[1], inputs[1]
    ('journey', tensor([0.5500, 0.8700, 0.6600]))
    """
    return torch.tensor(_JOURNEY_EMBEDDINGS, dtype=dtype)
