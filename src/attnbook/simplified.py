"""Simplified self-attention: no trainable weights (chapter 3)."""

import torch

from ._checks import check_tokens


def softmax_naive(x, dim=-1):
    """Softmax straight from the formula, ``exp(x) / sum(exp(x))``.

    Shown for contrast only: :func:`torch.exp` overflows to ``inf`` for inputs
    above about 88 in float32, and ``inf / inf`` is NaN. Use :func:`softmax`.

    Parameters
    ----------
    x : torch.Tensor of shape (...)
    dim : int

    Returns
    -------
    torch.Tensor of the same shape as x

    Examples
    --------
    >>> import torch
    >>> from attnbook import softmax_naive
    >>> softmax_naive(torch.tensor([1.0, 2.0, 3.0]))
    tensor([0.0900, 0.2447, 0.6652])
    >>> softmax_naive(torch.tensor([1000.0, 1000.0]))
    tensor([nan, nan])
    """
    return torch.exp(x) / torch.exp(x).sum(dim=dim, keepdim=True)


def softmax(x, dim=-1):
    """Numerically stable softmax along ``dim``.

    Subtracting the maximum before :func:`torch.exp` leaves the result unchanged
    (the factor ``exp(-max)`` cancels) but keeps every exponent ``<= 0``, so
    nothing overflows. A slice that is ``-inf`` everywhere (a fully masked row)
    gives zeros instead of NaN.

    Parameters
    ----------
    x : torch.Tensor of shape (...)
        Scores; ``-inf`` marks positions that get zero weight.
    dim : int
        The dimension that sums to one.

    Returns
    -------
    torch.Tensor of the same shape as x
        Non-negative weights that sum to 1 along ``dim`` (or to 0 where the
        whole slice is ``-inf``).

    Examples
    --------
    >>> import torch
    >>> from attnbook import softmax
    >>> softmax(torch.tensor([1.0, 2.0, 3.0]))
    tensor([0.0900, 0.2447, 0.6652])
    >>> softmax(torch.tensor([1000.0, 1000.0]))  # naive exp(1000) overflows
    tensor([0.5000, 0.5000])
    >>> softmax(torch.tensor([-float("inf"), -float("inf")]))
    tensor([0., 0.])
    >>> softmax(torch.zeros(2, 0)).shape
    torch.Size([2, 0])
    """
    if x.shape[dim] == 0:  # nothing to normalise (no keys): as torch.softmax
        return torch.zeros_like(x)
    x_max = x.amax(dim=dim, keepdim=True)
    x_max = torch.where(torch.isfinite(x_max), x_max, torch.zeros_like(x_max))
    exp_x = torch.exp(x - x_max)
    total = exp_x.sum(dim=dim, keepdim=True)
    return exp_x / torch.where(total > 0, total, torch.ones_like(total))


def simplified_self_attention(inputs):
    """Self-attention with no trainable weights.

    Every token is a query, a key and a value at once: the attention scores are
    the dot products of the inputs with each other, the weights their softmax
    over each row, and each context vector the weighted sum of all inputs.

    Parameters
    ----------
    inputs : torch.Tensor of shape (..., num_tokens, d_in)
        Token embeddings; leading dimensions are batch dimensions.

    Returns
    -------
    context_vecs : torch.Tensor of shape (..., num_tokens, d_in)
        Row ``i`` is ``sum_j attn_weights[i, j] * inputs[j]``.
    attn_weights : torch.Tensor of shape (..., num_tokens, num_tokens)
        Row ``i`` holds the weights of query ``i`` over all tokens; rows sum to 1.

    Raises
    ------
    ValueError
        If ``inputs`` is not of shape ``(..., num_tokens, d_in)``.

    Examples
    --------
    >>> from attnbook import simplified_self_attention
    >>> from attnbook.data import journey_embeddings
    >>> context_vecs, attn_weights = simplified_self_attention(journey_embeddings())
    >>> context_vecs.shape, attn_weights.shape
    (torch.Size([6, 3]), torch.Size([6, 6]))
    >>> context_vecs[1]  # the context vector of "journey"
    tensor([0.4419, 0.6515, 0.5683])
    """
    check_tokens(inputs, None, "inputs")
    attn_scores = inputs @ inputs.transpose(-2, -1)  # (..., num_tokens, num_tokens)
    attn_weights = softmax(attn_scores, dim=-1)
    context_vecs = attn_weights @ inputs  # (..., num_tokens, d_in)
    return context_vecs, attn_weights
