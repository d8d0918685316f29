"""Where is position? Sinusoidal, rotary and ALiBi positions (chapter 9).

Self-attention without positions treats its input as a set. These three
functions give it an order: :func:`sinusoidal_positions` is added to the token
embeddings (Vaswani et al., 2017), :func:`apply_rope` rotates queries and keys
(Su et al., RoFormer), and :func:`alibi_bias` is added to the attention scores
(Press et al., 2022).
"""

import math

import torch

from ._checks import shape_str


def _check_size(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def sinusoidal_positions(num_positions, d_model):
    r"""The sinusoidal position encodings of the original Transformer.

    .. math::

        PE_{p, 2i} = \sin\!\big(p / 10000^{2i/d_\text{model}}\big), \qquad
        PE_{p, 2i+1} = \cos\!\big(p / 10000^{2i/d_\text{model}}\big).

    Parameters
    ----------
    num_positions : int
        Number of positions ``p = 0 .. num_positions - 1`` (rows).
    d_model : int
        Size of each encoding (columns); an odd ``d_model`` ends with a sine.

    Returns
    -------
    torch.Tensor of shape (num_positions, d_model)
        Added to token embeddings of the same size.

    Examples
    --------
    >>> from attnbook import sinusoidal_positions
    >>> pe = sinusoidal_positions(num_positions=50, d_model=8)
    >>> pe.shape
    torch.Size([50, 8])
    >>> pe[0]  # position 0: sin 0 = 0, cos 0 = 1
    tensor([0., 1., 0., 1., 0., 1., 0., 1.])
    """
    _check_size("num_positions", num_positions)
    _check_size("d_model", d_model)
    position = torch.arange(num_positions, dtype=torch.float64)[:, None]  # (num_positions, 1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)  # 2i = 0, 2, 4, ...
    angle = position / 10000.0 ** (two_i / d_model)  # (num_positions, ceil(d_model / 2))
    pe = torch.zeros(num_positions, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : d_model // 2])
    return pe.to(torch.get_default_dtype())


def rope_angles(positions, head_dim, base=10000.0):
    r"""The rotation angles :math:`m\,\theta_i` of rotary embeddings.

    Parameters
    ----------
    positions : torch.Tensor of shape (...)
        Positions ``m`` (integers or floats).
    head_dim : int
        Even size of the vectors to rotate.
    base : float
        :math:`\theta_i = \text{base}^{-2i/\text{head\_dim}}`, ``i = 0 .. head_dim/2 - 1``.

    Returns
    -------
    torch.Tensor of shape (..., head_dim // 2) and dtype torch.float64

    Examples
    --------
    >>> import torch
    >>> from attnbook.positions import rope_angles
    >>> rope_angles(torch.tensor([0, 1, 2]), head_dim=4, base=100.0)
    tensor([[0.0000, 0.0000],
            [1.0000, 0.1000],
            [2.0000, 0.2000]], dtype=torch.float64)
    """
    if head_dim % 2 != 0 or head_dim < 2:
        raise ValueError(f"rotary embeddings rotate pairs of features: expected an even "
                         f"head_dim, got head_dim={head_dim}")
    theta = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    return torch.as_tensor(positions, dtype=torch.float64)[..., None] * theta


def apply_rope(x, positions=None, base=10000.0):
    r"""Rotary position embedding (RoPE): rotate each pair of features by its angle.

    Uses the pairing of the RoFormer paper, features ``(2i, 2i + 1)`` side by
    side (as in Meta's Llama code; GPT-NeoX and Hugging Face pair ``i`` with
    ``i + head_dim / 2`` instead, the same rotation of permuted features). At
    position ``m`` pair ``i`` is rotated by the angle :math:`m\,\theta_i`,
    :math:`\theta_i = \text{base}^{-2i/\text{head\_dim}}`:

    .. math::

        \begin{pmatrix} x'_{2i} \\ x'_{2i+1} \end{pmatrix} =
        \begin{pmatrix} \cos m\theta_i & -\sin m\theta_i \\
                        \sin m\theta_i & \cos m\theta_i \end{pmatrix}
        \begin{pmatrix} x_{2i} \\ x_{2i+1} \end{pmatrix}.

    A rotation keeps every vector's norm, and
    :math:`(R_m q) \cdot (R_n k) = q \cdot R_{n - m} k` depends on the positions
    only through the offset :math:`m - n`.

    Parameters
    ----------
    x : torch.Tensor of shape (..., num_tokens, head_dim)
        Queries or keys, one head per slice (such as ``(batch, num_heads,
        num_tokens, head_dim)``); ``head_dim`` must be even.
    positions : torch.Tensor of shape (num_tokens,), optional
        The position of each token, or any shape that broadcasts to
        ``x.shape[:-1]``; defaults to ``0 .. num_tokens - 1``.
    base : float
        The base of the angles' geometric progression.

    Returns
    -------
    torch.Tensor of the same shape and dtype as x

    Raises
    ------
    ValueError
        If ``x`` has fewer than two dimensions, ``head_dim`` is odd, or
        ``positions`` does not broadcast to ``(..., num_tokens)``.

    Examples
    --------
    >>> import torch
    >>> from attnbook import apply_rope
    >>> x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])  # (num_tokens, head_dim)
    >>> apply_rope(x)  # token m is rotated by m radians
    tensor([[ 1.0000,  0.0000],
            [ 0.5403,  0.8415],
            [-0.4161,  0.9093]])
    """
    if not isinstance(x, torch.Tensor) or x.dim() < 2 or x.shape[-1] % 2 != 0:
        got = shape_str(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"expected x of shape (..., num_tokens, head_dim) with an even "
                         f"head_dim, got {got}")
    num_tokens, head_dim = x.shape[-2:]
    if positions is None:
        positions = torch.arange(num_tokens)
    positions = torch.as_tensor(positions, device=x.device)
    try:
        torch.broadcast_shapes(positions.shape, x.shape[:-1])
        ok = positions.dim() >= 1 and positions.shape[-1] == num_tokens
    except RuntimeError:
        ok = False
    if not ok:
        raise ValueError(f"expected positions of shape (num_tokens,) = ({num_tokens},) or "
                         f"broadcastable to {shape_str(x.shape[:-1])}, got "
                         f"{shape_str(positions.shape)}")
    angle = rope_angles(positions, head_dim, base)  # (..., num_tokens, head_dim / 2)
    cos, sin = torch.cos(angle).to(x.dtype), torch.sin(angle).to(x.dtype)
    x_even, x_odd = x[..., 0::2], x[..., 1::2]  # (..., num_tokens, head_dim / 2) each
    rotated = torch.stack((x_even * cos - x_odd * sin, x_even * sin + x_odd * cos), dim=-1)
    return rotated.flatten(-2)  # (..., num_tokens, head_dim), pairs interleaved again


def alibi_slopes(num_heads):
    r"""The ALiBi slopes :math:`2^{-8h/\text{num\_heads}}`, ``h = 1 .. num_heads``.

    Parameters
    ----------
    num_heads : int

    Returns
    -------
    torch.Tensor of shape (num_heads,)

    Examples
    --------
    >>> from attnbook.positions import alibi_slopes
    >>> alibi_slopes(4)
    tensor([0.2500, 0.0625, 0.0156, 0.0039])
    """
    _check_size("num_heads", num_heads)
    h = torch.arange(1, num_heads + 1, dtype=torch.float64)
    return (2.0 ** (-8.0 * h / num_heads)).to(torch.get_default_dtype())


def alibi_bias(num_heads, num_tokens, causal=True):
    r"""Attention with Linear Biases (ALiBi): a distance penalty per head.

    Head ``h`` adds :math:`-m_h\,(i - j)` to the score of query ``i`` and key
    ``j <= i``, with slope :math:`m_h = 2^{-8h/\text{num\_heads}}`, ``h = 1 ..
    num_heads``: the geometric sequence Press et al. (2022) use when
    ``num_heads`` is a power of two (for other head counts they interpolate
    between two such sequences instead; here the formula is used as it is).

    Parameters
    ----------
    num_heads : int
    num_tokens : int
    causal : bool
        If True (the paper's decoder), keys ``j > i`` get ``-inf``: the bias
        includes the causal mask. If False (an encoder), the bias is symmetric,
        :math:`-m_h\,|i - j|`.

    Returns
    -------
    torch.Tensor of shape (num_heads, num_tokens, num_tokens)
        A float mask, added to the attention scores: pass it as ``attn_mask`` to
        :func:`attnbook.scaled_dot_product_attention` (it broadcasts over the
        batch of ``(batch, num_heads, num_tokens, head_dim)`` queries).

    Examples
    --------
    >>> from attnbook import alibi_bias
    >>> alibi_bias(num_heads=2, num_tokens=3)[0]  # slope 2^-4
    tensor([[ 0.0000,    -inf,    -inf],
            [-0.0625,  0.0000,    -inf],
            [-0.1250, -0.0625,  0.0000]])
    """
    _check_size("num_heads", num_heads)
    _check_size("num_tokens", num_tokens)
    i = torch.arange(num_tokens)[:, None]
    j = torch.arange(num_tokens)[None, :]
    offset = j - i if causal else -(i - j).abs()  # -(i - j) (integers: no -0.0 on the diagonal)
    bias = alibi_slopes(num_heads)[:, None, None] * offset  # (num_heads, num_tokens, num_tokens)
    if causal:
        bias = bias.masked_fill(j > i, -math.inf)
    return bias


def t5_relative_buckets(num_queries, num_keys=None, num_buckets=32, max_distance=128,
                        bidirectional=False):
    r"""T5's relative-position buckets: which learned bias each query–key pair uses.

    T5 (Raffel et al., 2020) adds to every score a learned scalar per head, looked
    up by the *bucket* of the offset ``j - i`` between key ``j`` and query ``i``:
    small distances get a bucket each, larger ones share logarithmically wider
    buckets, spaced so that bucket ``num_buckets`` would begin at ``max_distance``;
    so the last bucket holds every distance from somewhat below ``max_distance``
    on (113 with the defaults).
    With ``bidirectional`` (T5's encoder) half of the buckets are for keys
    after the query; otherwise (its decoder) keys after the query share bucket 0
    with the query itself (the causal mask hides them anyway). The same rule as
    ``_relative_position_bucket`` in T5's reference code.

    Parameters
    ----------
    num_queries : int
    num_keys : int, optional
        Default ``num_queries``.
    num_buckets : int
        Buckets in all (both directions, when ``bidirectional``); at least 2
        (4 when ``bidirectional``).
    max_distance : int
        Where the logarithmic spacing would open one bucket more than there are;
        above the exact range.
    bidirectional : bool

    Returns
    -------
    torch.Tensor of shape (num_queries, num_keys) and dtype torch.int64
        The bucket of each pair: index a learned ``(num_buckets, num_heads)`` table
        with it to get the bias, ``table[buckets].permute(2, 0, 1)`` of shape
        ``(num_heads, num_queries, num_keys)``.

    Raises
    ------
    ValueError
        If a size is not positive, or ``max_distance`` does not exceed the range
        of exact buckets.

    Examples
    --------
    >>> from attnbook.positions import t5_relative_buckets
    >>> t5_relative_buckets(200)[-1, [199, 198, 184, 183, 168, 136, 72, 0]].tolist()
    [0, 1, 15, 16, 21, 26, 31, 31]
    """
    num_keys = num_queries if num_keys is None else num_keys
    _check_size("num_queries", num_queries)
    _check_size("num_keys", num_keys)
    per_direction = num_buckets // 2 if bidirectional else num_buckets
    max_exact = per_direction // 2
    if max_exact < 1 or max_distance <= max_exact:
        raise ValueError(f"expected num_buckets >= {4 if bidirectional else 2} and max_distance "
                         f"> num_buckets // {4 if bidirectional else 2}, got "
                         f"num_buckets={num_buckets}, max_distance={max_distance}")
    offset = torch.arange(num_keys)[None, :] - torch.arange(num_queries)[:, None]  # j - i
    if bidirectional:
        buckets = (offset > 0).long() * per_direction
        distance = offset.abs()
    else:
        buckets = torch.zeros_like(offset)
        distance = (-offset).clamp(min=0)
    # log-spaced buckets for max_exact <= distance < max_distance (clamp: log of 0 unused)
    log_ratio = (torch.log(distance.clamp(min=1).float() / max_exact)
                 / math.log(max_distance / max_exact))
    large = max_exact + (log_ratio * (per_direction - max_exact)).long()
    large = large.clamp(max=per_direction - 1)
    return buckets + torch.where(distance < max_exact, distance, large)
