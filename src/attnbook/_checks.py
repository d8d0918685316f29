"""Input checks shared by the attention functions and modules.

Every check raises a :class:`ValueError` that names the expected shape, and runs
before any arithmetic.
"""

import torch


def shape_str(shape):
    """Format a shape as ``(a, b, c)`` for error messages (a 1-tuple as ``(a,)``)."""
    return str(tuple(shape))


def check_tokens(x, d_in, name="x", *, batched=False, context_length=None):
    """Check a token tensor of shape ``(..., num_tokens, d_in)``.

    Parameters
    ----------
    x : torch.Tensor
        The tensor to check.
    d_in : int or None
        The required size of the last dimension, or None for any size.
    name : str
        The argument's name, used in the message.
    batched : bool
        If True, require exactly ``(batch, num_tokens, d_in)``.
    context_length : int or None
        If given, the largest allowed ``num_tokens``.
    """
    expected = "(batch, num_tokens, d_in)" if batched else "(..., num_tokens, d_in)"
    if d_in is not None:
        expected = expected.replace("d_in", f"d_in={d_in}")
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"expected {name} to be a torch.Tensor of shape {expected}, "
                         f"got {type(x).__name__}")
    rank_ok = x.dim() == 3 if batched else x.dim() >= 2
    if not rank_ok or (d_in is not None and x.shape[-1] != d_in):
        raise ValueError(f"expected {name} of shape {expected}, "
                         f"got {shape_str(x.shape)}")
    if context_length is not None and x.shape[-2] > context_length:
        raise ValueError(
            f"expected {name} of shape {expected} with num_tokens <= "
            f"context_length={context_length}, got num_tokens={x.shape[-2]}"
        )


def check_divisible(d_out, num_heads):
    """Check that ``d_out`` splits into ``num_heads`` heads of equal size."""
    if num_heads < 1 or d_out % num_heads != 0:
        raise ValueError(
            f"d_out must be divisible by num_heads: got d_out={d_out}, "
            f"num_heads={num_heads} (head_dim = d_out // num_heads)"
        )


def check_key_value(key, value):
    """Check that ``key`` and ``value`` have the same number of tokens."""
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(
            "key and value must have the same number of tokens: expected key "
            "(..., num_keys, d_k) and value (..., num_keys, d_v), got "
            f"{shape_str(key.shape)} and {shape_str(value.shape)}"
        )


def weights_shape(query, key, value):
    """Shape ``(*batch, num_queries, num_keys)`` of the attention weights."""
    try:
        batch = torch.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])
    except RuntimeError:
        raise ValueError(
            "the batch dimensions of query, key and value do not broadcast: got "
            f"{shape_str(query.shape)}, {shape_str(key.shape)}, {shape_str(value.shape)}"
        ) from None
    return torch.Size((*batch, query.shape[-2], key.shape[-2]))


def check_attn_mask(attn_mask, scores_shape):
    """Check that a bool or float mask broadcasts to the attention weights."""
    if attn_mask is None:
        return
    if not (attn_mask.dtype == torch.bool or attn_mask.is_floating_point()):
        raise ValueError(f"attn_mask must be bool or floating-point, got {attn_mask.dtype}")
    try:
        shape = torch.broadcast_shapes(attn_mask.shape, scores_shape)
    except RuntimeError:
        shape = None
    if shape != scores_shape:
        raise ValueError(
            f"attn_mask of shape {shape_str(attn_mask.shape)} does not broadcast to "
            f"the attention weights' shape (..., num_queries, num_keys) = "
            f"{shape_str(scores_shape)}"
        )


def check_bool_mask(attn_mask, expected, names):
    """Check a boolean mask that must broadcast to the shape ``expected``.

    Parameters
    ----------
    attn_mask : torch.Tensor or None
        The mask (None passes).
    expected : torch.Size
        The full shape, e.g. ``(batch, num_heads, num_queries, num_kv)``.
    names : str
        The names of the dimensions of ``expected``, for the message.
    """
    if attn_mask is None:
        return
    if not isinstance(attn_mask, torch.Tensor) or attn_mask.dtype != torch.bool:
        raise ValueError(f"expected attn_mask to be a bool tensor broadcastable to "
                         f"{names} = {shape_str(expected)} (True = may attend), got "
                         f"{getattr(attn_mask, 'dtype', type(attn_mask).__name__)}")
    try:
        shape = torch.broadcast_shapes(attn_mask.shape, expected)
    except RuntimeError:
        shape = None
    if shape != expected:
        raise ValueError(f"attn_mask of shape {shape_str(attn_mask.shape)} does not broadcast "
                         f"to {names} = {shape_str(expected)}")
