"""The key-value cache: decoding one token at a time without recomputing the
past (chapter 11)."""

import torch

from ._checks import shape_str


class KVCache:
    """Keys and values of the tokens seen so far, for incremental decoding.

    Pass it as ``cache=`` to :class:`attnbook.MultiHeadAttention` or
    :class:`attnbook.GroupedQueryAttention`: each call appends the keys and values
    of its tokens and attends over everything cached, so a prompt followed by
    one token per step gives the same outputs as one call on the whole
    sequence. A causal module places query ``i`` of a call at absolute position
    ``len(cache) + i`` (bottom-right alignment). One cache serves one module.

    Attributes
    ----------
    keys : torch.Tensor of shape (batch, num_kv_heads, len(cache), head_dim) or None
        The cached keys (None while empty).
    values : torch.Tensor of shape (batch, num_kv_heads, len(cache), head_dim) or None
        The cached values (None while empty).

    Examples
    --------
    >>> import torch
    >>> from attnbook import KVCache, MultiHeadAttention
    >>> _ = torch.manual_seed(123)
    >>> mha = MultiHeadAttention(d_in=3, d_out=4, context_length=8, num_heads=2)
    >>> x = torch.randn(1, 5, 3)
    >>> cache = KVCache()
    >>> prompt_out = mha(x[:, :3], cache=cache)
    >>> step_outs = [mha(x[:, i:i + 1], cache=cache) for i in (3, 4)]
    >>> len(cache), cache.keys.shape
    (5, torch.Size([1, 2, 5, 2]))
    >>> piecewise = torch.cat([prompt_out, *step_outs], dim=1)
    >>> torch.allclose(piecewise, mha(x), atol=1e-6)
    True
    """

    def __init__(self):
        self.keys = self.values = None

    def __len__(self):
        return 0 if self.keys is None else self.keys.shape[-2]

    def reset(self):
        """Empty the cache (to start a new sequence)."""
        self.keys = self.values = None

    def check(self, keys, values):
        """Check that new ``keys`` and ``values`` fit the cached ones.

        Parameters
        ----------
        keys : torch.Tensor of shape (batch, num_kv_heads, num_new, head_dim)
        values : torch.Tensor of shape (batch, num_kv_heads, num_new, head_dim)
        """
        ok = keys.dim() == 4 and values.shape == keys.shape
        expected = "(batch, num_kv_heads, num_new, head_dim)"
        if ok and self.keys is not None:
            batch, heads, _, head_dim = self.keys.shape
            ok = keys.shape[:2] == (batch, heads) and keys.shape[3] == head_dim
            expected = f"(batch={batch}, num_kv_heads={heads}, num_new, head_dim={head_dim})"
        if not ok:
            raise ValueError(f"expected keys and values of shape {expected} (the cache holds "
                             f"{len(self)} tokens), got {shape_str(keys.shape)} and "
                             f"{shape_str(values.shape)}")

    def append(self, keys, values):
        """Append new keys and values; return everything cached.

        Parameters
        ----------
        keys : torch.Tensor of shape (batch, num_kv_heads, num_new, head_dim)
        values : torch.Tensor of shape (batch, num_kv_heads, num_new, head_dim)

        Returns
        -------
        keys : torch.Tensor of shape (batch, num_kv_heads, len(cache), head_dim)
        values : torch.Tensor of shape (batch, num_kv_heads, len(cache), head_dim)
            ``len(cache)`` counts the new tokens too.
        """
        self.check(keys, values)
        if self.keys is not None:
            keys = torch.cat((self.keys, keys), dim=-2)  # (batch, heads, len(cache), head_dim)
            values = torch.cat((self.values, values), dim=-2)
        self.keys, self.values = keys, values
        return keys, values
