"""NumPy twins of the attention functions: the equations with nothing hidden.

Every function here mirrors a PyTorch function or module of :mod:`attnbook`
with the same semantics (bool masks: **True = may attend**; float masks are
added to the scores), written with plain :class:`numpy.ndarray` operations. The
tests check the PyTorch code against these, and the book uses them to show the
arithmetic step by step. Weight matrices are given in the orientation of the
equations, ``(d_in, d_out)``, so that a projection is ``x @ W``.
"""

import math

import numpy as np


def softmax(x, axis=-1):
    """Numerically stable softmax; a slice that is ``-inf`` everywhere gives zeros.

    Parameters
    ----------
    x : numpy.ndarray of shape (...)
    axis : int

    Returns
    -------
    numpy.ndarray of the same shape as x

    Examples
    --------
    >>> import numpy as np
    >>> from attnbook.reference import softmax
    >>> softmax(np.array([1.0, 2.0, 3.0])).round(4)
    array([0.09  , 0.2447, 0.6652])
    """
    x = np.asarray(x, dtype=float)
    if x.shape[axis] == 0:  # nothing to normalise (no keys)
        return np.zeros_like(x)
    x_max = np.max(x, axis=axis, keepdims=True)
    x_max = np.where(np.isfinite(x_max), x_max, 0.0)
    exp_x = np.exp(x - x_max)
    total = np.sum(exp_x, axis=axis, keepdims=True)
    return exp_x / np.where(total > 0, total, 1.0)


def simplified_self_attention(inputs):
    """Twin of :func:`attnbook.simplified_self_attention`.

    Parameters
    ----------
    inputs : numpy.ndarray of shape (..., num_tokens, d_in)

    Returns
    -------
    context_vecs : numpy.ndarray of shape (..., num_tokens, d_in)
    attn_weights : numpy.ndarray of shape (..., num_tokens, num_tokens)
    """
    inputs = np.asarray(inputs, dtype=float)
    attn_scores = inputs @ np.swapaxes(inputs, -1, -2)
    attn_weights = softmax(attn_scores, axis=-1)
    return attn_weights @ inputs, attn_weights


def causal_mask(num_tokens, num_keys=None, window=None, offset=0):
    """Twin of :func:`attnbook.causal_mask`: query ``i`` may see key ``j`` iff ``j <= i``
    (and ``i - j < window`` with a sliding window).

    Parameters
    ----------
    num_tokens : int
        Queries (rows).
    num_keys : int, optional
        Keys (columns); defaults to ``num_tokens``.
    window : int, optional
        Each query sees itself and the ``window - 1`` keys before it.
    offset : int
        The position of query 0 among the keys: 0 is the top-left alignment of
        :func:`attnbook.causal_mask`; ``num_keys - num_tokens`` the bottom-right
        one of a call with a cache (query ``i`` sits at position ``offset + i``).

    Returns
    -------
    numpy.ndarray of shape (num_tokens, num_keys) and dtype bool

    Examples
    --------
    >>> from attnbook.reference import causal_mask
    >>> causal_mask(2, 4, window=2, offset=2).astype(int)  # the last two rows of 4 x 4
    array([[0, 1, 1, 0],
           [0, 0, 1, 1]])
    """
    num_keys = num_tokens if num_keys is None else num_keys
    i = np.arange(num_tokens)[:, None] + offset  # the position of each query
    j = np.arange(num_keys)[None, :]  # the position of each key
    visible = j <= i
    if window is not None:
        visible &= i - j < window
    return visible


def _apply_attn_mask(attn_scores, attn_mask):
    if attn_mask is None:
        return attn_scores
    attn_mask = np.asarray(attn_mask)
    if attn_mask.dtype == bool:
        return np.where(attn_mask, attn_scores, -np.inf)
    return attn_scores + attn_mask


def scaled_dot_product_attention(query, key, value, attn_mask=None, is_causal=False,
                                 scale=None):
    """Twin of :func:`attnbook.scaled_dot_product_attention` (without dropout).

    Parameters
    ----------
    query : numpy.ndarray of shape (..., num_queries, d_k)
    key : numpy.ndarray of shape (..., num_keys, d_k)
    value : numpy.ndarray of shape (..., num_keys, d_v)
    attn_mask : numpy.ndarray, optional
        Bool (True = may attend) or float (added), broadcastable to
        ``(..., num_queries, num_keys)``.
    is_causal : bool
    scale : float, optional
        Defaults to ``1 / sqrt(d_k)``.

    Returns
    -------
    context_vec : numpy.ndarray of shape (..., num_queries, d_v)
    attn_weights : numpy.ndarray of shape (..., num_queries, num_keys)
    """
    query, key, value = (np.asarray(a, dtype=float) for a in (query, key, value))
    if is_causal:
        attn_mask = causal_mask(query.shape[-2], key.shape[-2])
    if scale is None:
        scale = 1.0 / np.sqrt(query.shape[-1])
    attn_scores = query @ np.swapaxes(key, -1, -2) * scale
    attn_weights = softmax(_apply_attn_mask(attn_scores, attn_mask), axis=-1)
    return attn_weights @ value, attn_weights


def self_attention(x, W_query, W_key, W_value, attn_mask=None):
    """Self-attention with trainable weights (twin of SelfAttentionV1/V2).

    Parameters
    ----------
    x : numpy.ndarray of shape (..., num_tokens, d_in)
    W_query, W_key, W_value : numpy.ndarray of shape (d_in, d_out)
    attn_mask : numpy.ndarray, optional
        As in :func:`scaled_dot_product_attention`.

    Returns
    -------
    context_vec : numpy.ndarray of shape (..., num_tokens, d_out)
    attn_weights : numpy.ndarray of shape (..., num_tokens, num_tokens)
    """
    x = np.asarray(x, dtype=float)
    return scaled_dot_product_attention(x @ W_query, x @ W_key, x @ W_value, attn_mask)


def multi_head_attention(x, W_query, W_key, W_value, W_out, b_out, num_heads,
                         causal=True, window=None):
    """Twin of :class:`attnbook.MultiHeadAttention` (without dropout and biases
    of the query, key and value projections).

    Parameters
    ----------
    x : numpy.ndarray of shape (batch, num_tokens, d_in)
    W_query, W_key, W_value : numpy.ndarray of shape (d_in, d_out)
    W_out : numpy.ndarray of shape (d_out, d_out)
    b_out : numpy.ndarray of shape (d_out,)
    num_heads : int
    causal : bool
    window : int, optional
        Sliding window of the causal mask (see :func:`causal_mask`).

    Returns
    -------
    output : numpy.ndarray of shape (batch, num_tokens, d_out)
    attn_weights : numpy.ndarray of shape (batch, num_heads, num_tokens, num_tokens)
    """
    x = np.asarray(x, dtype=float)
    batch, num_tokens, _ = x.shape
    d_out = W_query.shape[1]
    head_dim = d_out // num_heads

    def split(t):  # (batch, num_tokens, d_out) -> (batch, num_heads, num_tokens, head_dim)
        return t.reshape(batch, num_tokens, num_heads, head_dim).transpose(0, 2, 1, 3)

    mask = causal_mask(num_tokens, window=window) if causal else None
    context_vec, attn_weights = scaled_dot_product_attention(
        split(x @ W_query), split(x @ W_key), split(x @ W_value), mask
    )
    context_vec = context_vec.transpose(0, 2, 1, 3).reshape(batch, num_tokens, d_out)
    return context_vec @ W_out + b_out, attn_weights


def additive_attention(query, key, value, W_query, W_key, w_v, attn_mask=None):
    r"""Twin of :class:`attnbook.AdditiveAttention`: scores
    :math:`\tanh(q W_q + k W_k)\, w_v` for row vectors :math:`q, k`.

    Parameters
    ----------
    query : numpy.ndarray of shape (..., num_queries, d_query)
    key : numpy.ndarray of shape (..., num_keys, d_key)
    value : numpy.ndarray of shape (..., num_keys, d_v)
    W_query : numpy.ndarray of shape (d_query, d_a)
        :math:`W_q` (``AdditiveAttention.W_query.weight.T``).
    W_key : numpy.ndarray of shape (d_key, d_a)
        :math:`W_k` (``AdditiveAttention.W_key.weight.T``).
    w_v : numpy.ndarray of shape (d_a,)
        :math:`w_v` (``AdditiveAttention.w_v.weight[0]``).
    attn_mask : numpy.ndarray, optional
        As in :func:`scaled_dot_product_attention`.

    Returns
    -------
    context_vec : numpy.ndarray of shape (..., num_queries, d_v)
    attn_weights : numpy.ndarray of shape (..., num_queries, num_keys)

    Examples
    --------
    >>> import numpy as np
    >>> from attnbook.reference import additive_attention
    >>> keys = np.array([[0.0, 0.0], [1.0, -1.0]])
    >>> _, attn_weights = additive_attention(np.array([[0.5, 0.5]]), keys, np.eye(2),
    ...                                      np.eye(2), np.eye(2), np.array([1.0, -1.0]))
    >>> attn_weights.round(4)  # scores 0 and tanh(1.5) - tanh(-0.5)
    array([[0.2031, 0.7969]])
    """
    query, key, value = (np.asarray(a, dtype=float) for a in (query, key, value))
    hidden = np.tanh((query @ W_query)[..., :, None, :]  # (..., num_queries, num_keys, d_a)
                     + (key @ W_key)[..., None, :, :])
    attn_scores = hidden @ w_v  # (..., num_queries, num_keys)
    attn_weights = softmax(_apply_attn_mask(attn_scores, attn_mask), axis=-1)
    return attn_weights @ value, attn_weights


def multiplicative_attention(query, key, value, W, attn_mask=None):
    r"""Twin of :class:`attnbook.MultiplicativeAttention`: scores :math:`q W k^\top`
    for row vectors :math:`q, k`.

    Parameters
    ----------
    query : numpy.ndarray of shape (..., num_queries, d_query)
    key : numpy.ndarray of shape (..., num_keys, d_key)
    value : numpy.ndarray of shape (..., num_keys, d_v)
    W : numpy.ndarray of shape (d_query, d_key)
        :math:`W` (``MultiplicativeAttention.W_key.weight``).
    attn_mask : numpy.ndarray, optional
        As in :func:`scaled_dot_product_attention`.

    Returns
    -------
    context_vec : numpy.ndarray of shape (..., num_queries, d_v)
    attn_weights : numpy.ndarray of shape (..., num_queries, num_keys)

    Examples
    --------
    >>> import numpy as np
    >>> from attnbook.reference import multiplicative_attention
    >>> W = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 2.0]])  # (d_query=2, d_key=3)
    >>> keys = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    >>> _, attn_weights = multiplicative_attention(np.array([[0.0, 1.0]]), keys, np.eye(2), W)
    >>> attn_weights.round(4)  # scores 0 and 2
    array([[0.1192, 0.8808]])
    """
    query, key = np.asarray(query, dtype=float), np.asarray(key, dtype=float)
    attn_scores = query @ W @ np.swapaxes(key, -1, -2)  # (..., num_queries, num_keys)
    attn_weights = softmax(_apply_attn_mask(attn_scores, attn_mask), axis=-1)
    return attn_weights @ value, attn_weights


def sinusoidal_positions(num_positions, d_model):
    """Twin of :func:`attnbook.sinusoidal_positions`, one formula per column.

    Parameters
    ----------
    num_positions, d_model : int

    Returns
    -------
    numpy.ndarray of shape (num_positions, d_model)
    """
    pe = np.zeros((num_positions, d_model))
    for p in range(num_positions):
        for c in range(d_model):
            i = c // 2  # columns 2i (sine) and 2i + 1 (cosine) share a frequency
            angle = p / 10000.0 ** (2 * i / d_model)
            pe[p, c] = np.sin(angle) if c % 2 == 0 else np.cos(angle)
    return pe


def apply_rope(x, positions=None, base=10000.0):
    """Twin of :func:`attnbook.apply_rope`: multiply each token by its rotation matrix.

    Builds RoFormer's block-diagonal matrix ``R_m`` (one 2x2 rotation by
    ``m * theta_i`` per pair of features ``(2i, 2i + 1)``) and computes ``R_m x_m``.

    Parameters
    ----------
    x : numpy.ndarray of shape (..., num_tokens, head_dim)
    positions : numpy.ndarray of shape (num_tokens,), optional
        Defaults to ``0 .. num_tokens - 1``.
    base : float

    Returns
    -------
    numpy.ndarray of the same shape as x
    """
    x = np.asarray(x, dtype=float)
    num_tokens, head_dim = x.shape[-2:]
    positions = np.arange(num_tokens) if positions is None else np.asarray(positions)
    out = np.empty_like(x)
    for t, m in enumerate(positions):
        R = np.zeros((head_dim, head_dim))
        for i in range(head_dim // 2):
            a = m * base ** (-2 * i / head_dim)
            R[2 * i:2 * i + 2, 2 * i:2 * i + 2] = [[np.cos(a), -np.sin(a)],
                                                   [np.sin(a), np.cos(a)]]
        out[..., t, :] = x[..., t, :] @ R.T
    return out


def alibi_bias(num_heads, num_tokens, causal=True):
    """Twin of :func:`attnbook.alibi_bias`: ``-slope_h * (i - j)``, ``-inf`` above the
    diagonal if ``causal``, else ``-slope_h * |i - j|``.

    Parameters
    ----------
    num_heads, num_tokens : int
    causal : bool

    Returns
    -------
    numpy.ndarray of shape (num_heads, num_tokens, num_tokens)
    """
    bias = np.zeros((num_heads, num_tokens, num_tokens))
    for h in range(num_heads):
        slope = 2.0 ** (-8.0 * (h + 1) / num_heads)
        for i in range(num_tokens):
            for j in range(num_tokens):
                if j <= i:
                    bias[h, i, j] = -slope * (i - j)
                else:
                    bias[h, i, j] = -np.inf if causal else -slope * (j - i)
    return bias


def t5_relative_buckets(num_queries, num_keys=None, num_buckets=32, max_distance=128,
                        bidirectional=False):
    """Twin of :func:`attnbook.t5_relative_buckets`, one pair at a time.

    Parameters
    ----------
    num_queries : int
    num_keys : int, optional
    num_buckets, max_distance : int
    bidirectional : bool

    Returns
    -------
    numpy.ndarray of shape (num_queries, num_keys) and dtype numpy.int64
    """
    num_keys = num_queries if num_keys is None else num_keys
    per_direction = num_buckets // 2 if bidirectional else num_buckets
    max_exact = per_direction // 2
    buckets = np.zeros((num_queries, num_keys), dtype=np.int64)
    for i in range(num_queries):
        for j in range(num_keys):
            offset, bucket = j - i, 0
            if bidirectional:
                bucket = per_direction if offset > 0 else 0
                distance = abs(offset)
            else:
                distance = max(-offset, 0)
            if distance < max_exact:
                bucket += distance
            else:
                # in float32, as T5's code (and the PyTorch version) computes it
                f32 = np.float32
                spread = np.log(f32(distance) / f32(max_exact)) / f32(
                    math.log(max_distance / max_exact))
                bucket += min(max_exact + int(spread * f32(per_direction - max_exact)),
                              per_direction - 1)
            buckets[i, j] = bucket
    return buckets


def online_softmax(x, chunk_size=1):
    """Softmax over the last axis, its maximum and normaliser in one streaming pass
    (Milakov & Gimelshein, 2018).

    The normaliser ``sum_j exp(x_j - m)`` is accumulated chunk by chunk with a
    running maximum ``m``: when a chunk raises the maximum from ``m`` to ``m'``,
    the sum so far is rescaled by ``exp(m - m')``. A second pass then divides each
    ``exp(x_j - m)`` by it. The result equals :func:`softmax`; a row that is
    ``-inf`` everywhere gives zeros.

    Parameters
    ----------
    x : numpy.ndarray of shape (..., n)
    chunk_size : int
        How many entries each step reads (1: the paper's element-by-element loop).

    Returns
    -------
    numpy.ndarray of shape (..., n)

    Examples
    --------
    >>> import numpy as np
    >>> from attnbook.reference import online_softmax
    >>> online_softmax(np.array([1.0, 2.0, 3.0])).round(4)
    array([0.09  , 0.2447, 0.6652])
    """
    x = np.asarray(x, dtype=float)
    m = np.full((*x.shape[:-1], 1), -np.inf)  # running maximum
    total = np.zeros((*x.shape[:-1], 1))  # running sum of exp(x - m)
    for start in range(0, x.shape[-1], chunk_size):
        chunk = x[..., start:start + chunk_size]
        m, shift, rescale = _running_max(m, chunk)
        total = total * rescale + np.exp(chunk - shift).sum(axis=-1, keepdims=True)
    shift = np.where(np.isfinite(m), m, 0.0)
    return np.exp(x - shift) / np.where(total > 0, total, 1.0)


def _running_max(m, scores):
    """One step of the online softmax's running maximum.

    Returns the new maximum ``m_new``, the finite value to subtract from the
    scores (0 where all are ``-inf``), and ``exp(m - m_new)``, the factor that
    rescales the sums accumulated so far.
    """
    m_new = np.maximum(m, scores.max(axis=-1, keepdims=True))
    shift = np.where(np.isfinite(m_new), m_new, 0.0)
    return m_new, shift, np.exp(m - shift)


def chunked_attention(query, key, value, is_causal=False, scale=None, chunk_size=128):
    """Twin of :func:`attnbook.chunked_attention`: the online softmax over key chunks.

    Every query keeps a running maximum ``m``, a running normaliser ``l`` and an
    unnormalised output ``acc``; each chunk of keys rescales them by
    ``exp(m - m_new)`` and adds its own terms. Only ``(num_queries, chunk_size)``
    scores exist at a time.

    Parameters
    ----------
    query : numpy.ndarray of shape (..., num_queries, d_k)
    key : numpy.ndarray of shape (..., num_keys, d_k)
    value : numpy.ndarray of shape (..., num_keys, d_v)
    is_causal : bool
        Query ``i`` sees keys ``0 .. i`` (needs ``num_queries == num_keys``).
    scale : float, optional
        Defaults to ``1 / sqrt(d_k)``.
    chunk_size : int

    Returns
    -------
    numpy.ndarray of shape (..., num_queries, d_v)
    """
    query, key, value = (np.asarray(a, dtype=float) for a in (query, key, value))
    if scale is None:
        scale = 1.0 / np.sqrt(query.shape[-1])
    num_queries = query.shape[-2]
    batch = np.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])
    m = np.full((*batch, num_queries, 1), -np.inf)
    total = np.zeros((*batch, num_queries, 1))
    acc = np.zeros((*batch, num_queries, value.shape[-1]))
    for start in range(0, key.shape[-2], chunk_size):
        k, v = key[..., start:start + chunk_size, :], value[..., start:start + chunk_size, :]
        scores = query @ np.swapaxes(k, -1, -2) * scale  # (..., num_queries, chunk)
        if is_causal:
            keys_at = np.arange(start, start + k.shape[-2])
            scores = np.where(keys_at <= np.arange(num_queries)[:, None], scores, -np.inf)
        m, shift, rescale = _running_max(m, scores)
        p = np.exp(scores - shift)
        total = total * rescale + p.sum(axis=-1, keepdims=True)
        acc = acc * rescale + p @ v
    return acc / np.where(total > 0, total, 1.0)


def kv_cache_attention(query, key, value, cached_keys=None, cached_values=None, causal=True,
                       scale=None, window=None, max_tokens=None):
    """One decoding step with a key-value cache (twin of a call with ``cache=``).

    The new keys and values are appended to the cached ones; with ``causal``,
    query ``i`` sits at position ``num_cached + i`` and sees keys
    ``0 .. num_cached + i`` (the causal mask aligned bottom-right), the last
    ``window`` of them with a sliding window. A rolling cache then keeps the last
    ``max_tokens`` keys and values.

    Parameters
    ----------
    query : numpy.ndarray of shape (..., num_new, d_k)
    key : numpy.ndarray of shape (..., num_new, d_k)
    value : numpy.ndarray of shape (..., num_new, d_v)
    cached_keys : numpy.ndarray of shape (..., num_cached, d_k), optional
    cached_values : numpy.ndarray of shape (..., num_cached, d_v), optional
    causal : bool
    scale : float, optional
    window : int, optional
    max_tokens : int, optional

    Returns
    -------
    context_vec : numpy.ndarray of shape (..., num_new, d_v)
    keys : numpy.ndarray of shape (..., num_cached + num_new, d_k)
        The cache after the step (its last ``max_tokens`` tokens, if given).
    values : numpy.ndarray of shape (..., num_cached + num_new, d_v)
    """
    keys, values = np.asarray(key, dtype=float), np.asarray(value, dtype=float)
    if cached_keys is not None:
        keys = np.concatenate([cached_keys, keys], axis=-2)
        values = np.concatenate([cached_values, values], axis=-2)
    num_new, num_kv = np.shape(query)[-2], keys.shape[-2]
    mask = causal_mask(num_new, num_kv, window, offset=num_kv - num_new) if causal else None
    context_vec, _ = scaled_dot_product_attention(query, keys, values, mask, scale=scale)
    if max_tokens is not None:
        keys, values = keys[..., -max_tokens:, :], values[..., -max_tokens:, :]
    return context_vec, keys, values


def rms_norm(x, weight, eps=1e-6):
    r"""Twin of :class:`attnbook.RMSNorm`: :math:`x / \sqrt{\mathrm{mean}(x^2) + \epsilon}
    \odot w` over the last axis (Zhang & Sennrich, 2019).

    Parameters
    ----------
    x : numpy.ndarray of shape (..., d_model)
    weight : numpy.ndarray of shape (d_model,)
    eps : float

    Returns
    -------
    numpy.ndarray of shape (..., d_model)

    Examples
    --------
    >>> import numpy as np
    >>> from attnbook.reference import rms_norm
    >>> rms_norm(np.array([3.0, -4.0]), np.ones(2), eps=0.0)  # rms = sqrt(12.5)
    array([ 0.84852814, -1.13137085])
    """
    x = np.asarray(x, dtype=float)
    rms = np.sqrt(np.mean(x**2, axis=-1, keepdims=True) + eps)
    return x / rms * weight


def silu(x):
    r""":math:`\mathrm{SiLU}(x) = x\,\sigma(x) = x / (1 + e^{-x})` (also called Swish)."""
    x = np.asarray(x, dtype=float)
    return x / (1.0 + np.exp(-x))


def swiglu(x, W_gate, W_up, W_down, b_gate=None, b_up=None, b_down=None):
    r"""Twin of :class:`attnbook.SwiGLU`: :math:`(\mathrm{SiLU}(x W_g) \odot x W_u)\, W_d`
    (Shazeer, 2020), with optional biases.

    Parameters
    ----------
    x : numpy.ndarray of shape (..., d_model)
    W_gate : numpy.ndarray of shape (d_model, d_ff)
        ``SwiGLU.gate.weight.T``.
    W_up : numpy.ndarray of shape (d_model, d_ff)
        ``SwiGLU.up.weight.T``.
    W_down : numpy.ndarray of shape (d_ff, d_model)
        ``SwiGLU.down.weight.T``.
    b_gate, b_up : numpy.ndarray of shape (d_ff,), optional
    b_down : numpy.ndarray of shape (d_model,), optional

    Returns
    -------
    numpy.ndarray of shape (..., d_model)

    Examples
    --------
    >>> import numpy as np
    >>> from attnbook.reference import swiglu
    >>> x = np.array([[1.0, 2.0]])
    >>> swiglu(x, np.eye(2), np.eye(2), np.ones((2, 1))).round(4)  # silu(1)*1 + silu(2)*2
    array([[4.2542]])
    """
    x = np.asarray(x, dtype=float)
    gate = x @ W_gate + (0.0 if b_gate is None else b_gate)  # (..., d_ff)
    up = x @ W_up + (0.0 if b_up is None else b_up)
    return (silu(gate) * up) @ W_down + (0.0 if b_down is None else b_down)
