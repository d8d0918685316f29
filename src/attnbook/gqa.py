"""Grouped-query and multi-query attention: fewer key/value heads, a smaller
cache (chapter 11)."""

from torch import nn

from .multihead import MultiHeadAttention


class GroupedQueryAttention(MultiHeadAttention):
    """Multi-head attention whose query heads share ``num_kv_groups`` key/value heads.

    Query head ``h`` uses key/value head ``h // (num_heads // num_kv_groups)``
    (as :func:`torch.repeat_interleave`, like the ``enable_gqa`` option of
    :func:`torch.nn.functional.scaled_dot_product_attention`). With
    ``num_kv_groups == num_heads`` this is :class:`MultiHeadAttention`; with 1 it is
    multi-query attention. A :class:`attnbook.KVCache` then holds
    ``num_kv_groups`` heads instead of ``num_heads``. Everything else, ``forward``
    included, is inherited from :class:`MultiHeadAttention`.

    Parameters
    ----------
    d_in : int
        Size of each input token embedding.
    d_out : int
        Total output size, split over the query heads.
    context_length : int
        The most tokens an input (and a cache) may hold.
    num_heads : int
        Number of query heads; must divide ``d_out``.
    num_kv_groups : int
        Number of key/value heads; must divide ``num_heads``.
    dropout : float
        Dropout probability on the attention weights (``train()`` only).
    qkv_bias : bool
        Give the query, key and value projections a bias.
    causal : bool
        Mask future tokens.
    window : int, optional
        Sliding-window attention, as in :class:`attnbook.MultiHeadAttention`.

    Attributes
    ----------
    W_query : torch.nn.Linear
        ``d_in -> d_out``.
    W_key : torch.nn.Linear
        ``d_in -> num_kv_groups * head_dim``.
    W_value : torch.nn.Linear
        ``d_in -> num_kv_groups * head_dim``.
    out_proj : torch.nn.Linear
        ``d_out -> d_out``.
    mask : torch.Tensor of shape (context_length, context_length)
        Boolean buffer, True = may attend (with the window; all True when
        ``causal=False``).

    Examples
    --------
    >>> import torch
    >>> from attnbook import GroupedQueryAttention
    >>> _ = torch.manual_seed(123)
    >>> gqa = GroupedQueryAttention(d_in=6, d_out=8, context_length=5, num_heads=4,
    ...                             num_kv_groups=2)
    >>> gqa.W_query.weight.shape, gqa.W_key.weight.shape
    (torch.Size([8, 6]), torch.Size([4, 6]))
    >>> out, attn_weights = gqa(torch.rand(2, 5, 6), need_weights=True)
    >>> out.shape, attn_weights.shape
    (torch.Size([2, 5, 8]), torch.Size([2, 4, 5, 5]))
    """

    def __init__(self, d_in, d_out, context_length, num_heads, num_kv_groups, dropout=0.0,
                 qkv_bias=False, causal=True, window=None):
        if num_kv_groups < 1 or num_heads % num_kv_groups != 0:
            raise ValueError(f"num_heads must be divisible by num_kv_groups: got num_heads="
                             f"{num_heads}, num_kv_groups={num_kv_groups}")
        super().__init__(d_in, d_out, context_length, dropout, num_heads, qkv_bias, causal,
                         window)
        self.num_kv_groups = num_kv_groups
        self.W_key = nn.Linear(d_in, num_kv_groups * self.head_dim, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, num_kv_groups * self.head_dim, bias=qkv_bias)

    def to_torch(self):
        """Not available: :class:`torch.nn.MultiheadAttention` has no key/value groups."""
        raise ValueError("torch.nn.MultiheadAttention has one key/value head per query head; "
                         "compare with scaled_dot_product_attention(..., enable_gqa=True)")

    def _attend(self, queries, keys, values, attn_mask, num_cached, need_weights):
        """Repeat each key/value head for its group of query heads, then attend.

        ``keys`` and ``values`` have shape ``(batch, num_kv_groups, num_kv, head_dim)``;
        see :meth:`MultiHeadAttention._attend` for the rest.
        """
        group_size = self.num_heads // self.num_kv_groups
        keys = keys.repeat_interleave(group_size, dim=1)  # (batch, num_heads, num_kv, head_dim)
        values = values.repeat_interleave(group_size, dim=1)
        return super()._attend(queries, keys, values, attn_mask, num_cached, need_weights)
