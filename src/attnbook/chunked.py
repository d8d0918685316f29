"""Chunked attention with the online softmax: FlashAttention's algorithm in plain
PyTorch (chapter 11)."""

import math

import torch

from .scaled_dot import _check_qkv


def _attend_block(query, key, value, first_query, chunk_size):
    """Attention of one block of queries, reading the keys one chunk at a time.

    Every query keeps a running maximum ``m`` of its scores and a running
    normaliser ``total = sum exp(s - m)`` (the online softmax of Milakov &
    Gimelshein, 2018, which fuses the two into one pass), and also an
    unnormalised output ``acc = sum exp(s - m) v``, which makes the attention
    output itself single-pass (Rabe & Staats, 2021; Dao et al., 2022). When a chunk
    raises the maximum from ``m`` to ``m_new``, both sums are rescaled by
    ``exp(m - m_new)``. Only ``(block, chunk_size)`` scores exist at a time.

    Parameters
    ----------
    query : torch.Tensor of shape (..., block, d_k)
        Already multiplied by the scale.
    key : torch.Tensor of shape (..., num_keys, d_k)
    value : torch.Tensor of shape (..., num_keys, d_v)
    first_query : int or None
        The position of the block's first query for causal masking (key ``j``
        is visible to query ``i`` if ``j <= first_query + i``), or None.
    chunk_size : int

    Returns
    -------
    torch.Tensor of shape (..., block, d_v)
    """
    m = query.new_full((*query.shape[:-1], 1), float("-inf"))  # (..., block, 1)
    total = query.new_zeros((*query.shape[:-1], 1))  # (..., block, 1)
    acc = query.new_zeros((*query.shape[:-1], value.shape[-1]))  # (..., block, d_v)
    for start in range(0, key.shape[-2], chunk_size):
        chunk = slice(start, start + chunk_size)
        scores = query @ key[..., chunk, :].transpose(-2, -1)  # (..., block, chunk)
        if first_query is not None and start + scores.shape[-1] > first_query + 1:
            key_pos = torch.arange(start, start + scores.shape[-1], device=query.device)
            query_pos = torch.arange(first_query, first_query + query.shape[-2],
                                     device=query.device)
            scores.masked_fill_(key_pos > query_pos[:, None], float("-inf"))
        # the shift cancels in acc / total, so it needs no gradient
        m_new = torch.maximum(m, scores.detach().amax(dim=-1, keepdim=True))
        p = scores.sub_(m_new).exp_()  # (..., block, chunk), in place: no new matrix
        rescale = torch.exp(m - m_new)  # (..., block, 1)
        # total * rescale + p.sum(-1) and acc * rescale + p @ v, each in one pass
        total = torch.addcmul(p.sum(dim=-1, keepdim=True), total, rescale)
        acc = torch.addcmul(p @ value[..., chunk, :], acc, rescale)  # (..., block, d_v)
        m = m_new
    # the largest score contributes exp(0) = 1, so total >= 1 unless there are no
    # keys at all; then the output is zero, as in PyTorch
    return acc / total.clamp(min=1.0)


def chunked_attention(query, key, value, is_causal=False, scale=None, chunk_size=128):
    r"""Scaled dot-product attention that never holds the full score matrix.

    The queries are cut into blocks of ``chunk_size``; each block reads the keys
    and values in chunks of ``chunk_size`` and combines them with the online
    softmax, the tiling of FlashAttention (Dao et al., 2022) without a fused
    kernel. The result equals
    :func:`torch.nn.functional.scaled_dot_product_attention` up to rounding, while
    the largest intermediate is ``(..., chunk_size, chunk_size)`` instead of
    ``(..., num_queries, num_keys)``. Under ``is_causal``, chunks of keys that lie
    wholly in a block's future are skipped.

    Parameters
    ----------
    query : torch.Tensor of shape (..., num_queries, d_k)
    key : torch.Tensor of shape (..., num_keys, d_k)
    value : torch.Tensor of shape (..., num_keys, d_v)
    is_causal : bool
        Query ``i`` sees keys ``0 .. i``; needs ``num_queries == num_keys``.
    scale : float, optional
        Factor for the scores; defaults to ``1 / sqrt(d_k)``.
    chunk_size : int
        Queries per block and keys per chunk.

    Returns
    -------
    torch.Tensor of shape (..., num_queries, d_v)
        Zeros where there are no keys.

    Raises
    ------
    ValueError
        On shapes that do not fit, ``is_causal`` with ``num_queries != num_keys``,
        or a ``chunk_size`` below 1.

    Examples
    --------
    >>> import torch
    >>> import torch.nn.functional as F
    >>> from attnbook import chunked_attention
    >>> _ = torch.manual_seed(123)
    >>> q, k, v = torch.randn(2, 100, 8), torch.randn(2, 100, 8), torch.randn(2, 100, 4)
    >>> out = chunked_attention(q, k, v, is_causal=True, chunk_size=32)
    >>> out.shape
    torch.Size([2, 100, 4])
    >>> torch.allclose(out, F.scaled_dot_product_attention(q, k, v, is_causal=True), atol=1e-6)
    True
    """
    weights_shape = _check_qkv(query, key, value)
    num_queries, num_keys = query.shape[-2], key.shape[-2]
    if is_causal and num_queries != num_keys:
        raise ValueError(f"is_causal needs as many queries as keys: expected query "
                         f"(..., num_tokens, d_k) and key (..., num_tokens, d_k), got "
                         f"num_queries={num_queries}, num_keys={num_keys}")
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    output = query.new_empty(*weights_shape[:-1], value.shape[-1])  # (..., num_queries, d_v)
    for start in range(0, num_queries, chunk_size):
        stop = min(start + chunk_size, num_queries)
        visible = stop if is_causal else num_keys  # later keys are all in the future
        output[..., start:stop, :] = _attend_block(
            query[..., start:stop, :] * scale, key[..., :visible, :], value[..., :visible, :],
            start if is_causal else None, chunk_size)
    return output
