"""Scaled dot-product attention, its masks, and self-attention with trainable
weights (chapter 4)."""

import math

import torch
from torch import nn

from ._checks import (
    check_attn_mask,
    check_key_value,
    check_tokens,
    shape_str,
    weights_shape,
)
from .simplified import softmax


def check_window(window):
    """Check a sliding window: None (no window) or an int ``window >= 1``."""
    if window is None:
        return
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"expected window to be None or an int >= 1 (each query sees itself "
                         f"and the window - 1 tokens before it), got {window!r}")


def causal_mask(num_tokens, num_keys=None, device=None, window=None):
    """Boolean causal mask: query ``i`` may attend to keys ``0 .. i``.

    Parameters
    ----------
    num_tokens : int
        Number of queries (rows).
    num_keys : int, optional
        Number of keys (columns); defaults to ``num_tokens``. As in PyTorch's
        ``is_causal``, the diagonal starts at the top-left corner.
    device : torch.device, optional
        Where to create the mask.
    window : int, optional
        Sliding-window attention: query ``i`` may also see no key more than
        ``window - 1`` positions back, so it attends to key ``j`` iff
        ``j <= i`` and ``i - j < window`` (itself and the ``window - 1`` keys
        before it). None: every earlier key.

    Returns
    -------
    torch.Tensor of shape (num_tokens, num_keys) and dtype torch.bool
        ``True`` on and below the diagonal (within the window): **True = may
        attend**.

    Raises
    ------
    ValueError
        If ``window`` is not None or an int of at least 1.

    Examples
    --------
    >>> from attnbook import causal_mask
    >>> causal_mask(3)
    tensor([[ True, False, False],
            [ True,  True, False],
            [ True,  True,  True]])
    >>> causal_mask(4, window=2).int()  # itself and one token back
    tensor([[1, 0, 0, 0],
            [1, 1, 0, 0],
            [0, 1, 1, 0],
            [0, 0, 1, 1]], dtype=torch.int32)
    """
    check_window(window)
    num_keys = num_tokens if num_keys is None else num_keys
    ones = torch.ones(num_tokens, num_keys, dtype=torch.bool, device=device)
    mask = torch.tril(ones)  # j <= i
    if window is not None:
        mask &= torch.triu(ones, diagonal=1 - window)  # j - i >= 1 - window: i - j < window
    return mask


def padding_mask(lengths, num_tokens):
    """Boolean padding mask: which positions of each sequence hold a real token.

    Sequences of different lengths are batched by padding them at the end to
    ``num_tokens``; no query should attend to the padding.

    Parameters
    ----------
    lengths : torch.Tensor of shape (batch,)
        The number of real tokens of each sequence (an integer dtype),
        ``0 <= lengths <= num_tokens``.
    num_tokens : int
        The padded length.

    Returns
    -------
    torch.Tensor of shape (batch, num_tokens) and dtype torch.bool
        ``True`` at a real token (**True = may attend**). As an attention mask
        over the keys of every query and head: ``mask[:, None, None, :]``.

    Raises
    ------
    ValueError
        If ``lengths`` is not a 1-D integer tensor, or a length is below 0 or
        above ``num_tokens``.

    Examples
    --------
    >>> import torch
    >>> from attnbook import padding_mask
    >>> padding_mask(torch.tensor([3, 1]), num_tokens=4)
    tensor([[ True,  True,  True, False],
            [ True, False, False, False]])
    """
    lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1 or lengths.is_floating_point() or lengths.is_complex() \
            or lengths.dtype == torch.bool:
        raise ValueError(f"expected lengths to be an integer tensor of shape (batch,), got "
                         f"dtype {lengths.dtype} and shape {shape_str(lengths.shape)}")
    if len(lengths) and (lengths.min() < 0 or lengths.max() > num_tokens):
        raise ValueError(f"expected 0 <= lengths <= num_tokens={num_tokens}, got "
                         f"{lengths.tolist()}")
    positions = torch.arange(num_tokens, device=lengths.device)  # (num_tokens,)
    return positions < lengths[:, None]  # (batch, num_tokens)


def apply_attn_mask(attn_scores, attn_mask):
    """Apply a mask to attention scores, with PyTorch's conventions.

    Parameters
    ----------
    attn_scores : torch.Tensor of shape (..., num_queries, num_keys)
        Raw scores.
    attn_mask : torch.Tensor or None
        Broadcastable to ``attn_scores``. A bool mask keeps the scores where it is
        ``True`` (may attend) and sets the rest to ``-inf``; a float mask is added.

    Returns
    -------
    torch.Tensor of the same shape as attn_scores
    """
    if attn_mask is None:
        return attn_scores
    if attn_mask.dtype == torch.bool:
        return attn_scores.masked_fill(~attn_mask, float("-inf"))
    return attn_scores + attn_mask


def _check_qkv(query, key, value):
    """Check shapes and return the shape of the attention weights."""
    for name, t in (("query", query), ("key", key), ("value", value)):
        check_tokens(t, None, name)
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(
            "query and key must have the same feature size d_k: expected query "
            "(..., num_queries, d_k) and key (..., num_keys, d_k), got "
            f"{shape_str(query.shape)} and {shape_str(key.shape)}"
        )
    check_key_value(key, value)
    return weights_shape(query, key, value)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None):
    r"""Scaled dot-product attention that also returns the attention weights.

    Computes :math:`\mathrm{softmax}(QK^\top \cdot \mathrm{scale} + M)\,V` with the
    semantics of :func:`torch.nn.functional.scaled_dot_product_attention`.

    Parameters
    ----------
    query : torch.Tensor of shape (..., num_queries, d_k)
    key : torch.Tensor of shape (..., num_keys, d_k)
    value : torch.Tensor of shape (..., num_keys, d_v)
    attn_mask : torch.Tensor, optional
        Broadcastable to ``(..., num_queries, num_keys)``. Bool: **True = may
        attend**. Float: added to the scores.
    dropout_p : float
        Probability of zeroing an attention weight (the survivors are scaled by
        ``1 / (1 - dropout_p)``); applied whenever it is positive, as in PyTorch.
    is_causal : bool
        Apply :func:`causal_mask`; cannot be combined with ``attn_mask``.
    scale : float, optional
        Factor for the scores; defaults to ``1 / sqrt(d_k)``.

    Returns
    -------
    context_vec : torch.Tensor of shape (..., num_queries, d_v)
    attn_weights : torch.Tensor of shape (..., num_queries, num_keys)
        Rows sum to 1 (before dropout); a fully masked row is all zeros, and so
        is its context vector, never NaN.

    Raises
    ------
    ValueError
        On shapes that do not fit, a mask that does not broadcast, or
        ``attn_mask`` together with ``is_causal``.

    Examples
    --------
    >>> import torch
    >>> from attnbook import scaled_dot_product_attention
    >>> _ = torch.manual_seed(123)
    >>> query, key, value = torch.randn(2, 4, 8), torch.randn(2, 5, 8), torch.randn(2, 5, 3)
    >>> context_vec, attn_weights = scaled_dot_product_attention(query, key, value)
    >>> context_vec.shape, attn_weights.shape
    (torch.Size([2, 4, 3]), torch.Size([2, 4, 5]))
    >>> attn_weights.sum(dim=-1)
    tensor([[1.0000, 1.0000, 1.0000, 1.0000],
            [1.0000, 1.0000, 1.0000, 1.0000]])
    """
    scores_shape = _check_qkv(query, key, value)
    if is_causal and attn_mask is not None:
        raise ValueError("pass either attn_mask or is_causal=True, not both")
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"dropout_p must be in [0, 1), got {dropout_p}")
    check_attn_mask(attn_mask, scores_shape)
    if is_causal:
        attn_mask = causal_mask(query.shape[-2], key.shape[-2], device=query.device)
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1])

    attn_scores = query @ key.transpose(-2, -1) * scale  # (..., num_queries, num_keys)
    attn_weights = softmax(apply_attn_mask(attn_scores, attn_mask), dim=-1)
    if dropout_p > 0.0:
        attn_weights = torch.nn.functional.dropout(attn_weights, p=dropout_p)
    context_vec = attn_weights @ value  # (..., num_queries, d_v)
    return context_vec, attn_weights


class SelfAttentionV1(nn.Module):
    """Self-attention with the weight matrices as plain parameters.

    Parameters
    ----------
    d_in : int
        Size of each input token embedding.
    d_out : int
        Size of queries, keys, values and of the output.

    Attributes
    ----------
    W_query : torch.nn.Parameter of shape (d_in, d_out)
        Initialised uniformly in [0, 1), as in the lecture.
    W_key : torch.nn.Parameter of shape (d_in, d_out)
        Initialised uniformly in [0, 1), as in the lecture.
    W_value : torch.nn.Parameter of shape (d_in, d_out)
        Initialised uniformly in [0, 1), as in the lecture.

    Examples
    --------
    >>> import torch
    >>> from attnbook import SelfAttentionV1
    >>> from attnbook.data import journey_embeddings
    >>> _ = torch.manual_seed(123)
    >>> sa_v1 = SelfAttentionV1(d_in=3, d_out=2)
    >>> sa_v1(journey_embeddings()).shape
    torch.Size([6, 2])
    """

    def __init__(self, d_in, d_out):
        super().__init__()
        self.d_in, self.d_out = d_in, d_out
        self.W_query = nn.Parameter(torch.rand(d_in, d_out))
        self.W_key = nn.Parameter(torch.rand(d_in, d_out))
        self.W_value = nn.Parameter(torch.rand(d_in, d_out))

    def forward(self, x, need_weights=False):
        """Attend over the tokens of ``x``.

        Parameters
        ----------
        x : torch.Tensor of shape (..., num_tokens, d_in)
        need_weights : bool
            Also return the attention weights.

        Returns
        -------
        context_vec : torch.Tensor of shape (..., num_tokens, d_out)
        attn_weights : torch.Tensor of shape (..., num_tokens, num_tokens)
            Only if ``need_weights``.
        """
        check_tokens(x, self.d_in)
        keys = x @ self.W_key  # (..., num_tokens, d_out)
        queries = x @ self.W_query
        values = x @ self.W_value
        attn_scores = queries @ keys.transpose(-2, -1)  # (..., num_tokens, num_tokens)
        attn_weights = softmax(attn_scores / keys.shape[-1] ** 0.5, dim=-1)
        context_vec = attn_weights @ values  # (..., num_tokens, d_out)
        return (context_vec, attn_weights) if need_weights else context_vec


class SelfAttentionV2(nn.Module):
    """Self-attention with :class:`torch.nn.Linear` projections.

    ``nn.Linear`` stores its weight transposed, as ``(d_out, d_in)``, and brings a
    better initialisation than :class:`SelfAttentionV1`'s uniform one.

    Parameters
    ----------
    d_in : int
        Size of each input token embedding.
    d_out : int
        Size of queries, keys, values and of the output.
    qkv_bias : bool
        Give the three projections a bias.

    Attributes
    ----------
    W_query : torch.nn.Linear
        ``d_in -> d_out``.
    W_key : torch.nn.Linear
        ``d_in -> d_out``.
    W_value : torch.nn.Linear
        ``d_in -> d_out``.

    Examples
    --------
    >>> import torch
    >>> from attnbook import SelfAttentionV2
    >>> from attnbook.data import journey_embeddings
    >>> _ = torch.manual_seed(789)
    >>> sa_v2 = SelfAttentionV2(d_in=3, d_out=2)
    >>> context_vec, attn_weights = sa_v2(journey_embeddings(), need_weights=True)
    >>> context_vec.shape, attn_weights.shape
    (torch.Size([6, 2]), torch.Size([6, 6]))
    """

    def __init__(self, d_in, d_out, qkv_bias=False):
        super().__init__()
        self.d_in, self.d_out = d_in, d_out
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)

    def forward(self, x, need_weights=False):
        """Attend over the tokens of ``x``.

        Parameters
        ----------
        x : torch.Tensor of shape (..., num_tokens, d_in)
        need_weights : bool
            Also return the attention weights.

        Returns
        -------
        context_vec : torch.Tensor of shape (..., num_tokens, d_out)
        attn_weights : torch.Tensor of shape (..., num_tokens, num_tokens)
            Only if ``need_weights``.
        """
        check_tokens(x, self.d_in)
        context_vec, attn_weights = scaled_dot_product_attention(
            self.W_query(x), self.W_key(x), self.W_value(x)
        )
        return (context_vec, attn_weights) if need_weights else context_vec
