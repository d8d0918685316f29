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

    With ``max_tokens=w`` the cache is a *rolling buffer*: after each call it
    keeps only the keys and values of the last ``w`` tokens, so ``len(cache) <= w``
    always, while :attr:`num_seen`, the absolute position of the next token, still
    counts every token appended since the last :meth:`reset`. That is all a module
    with a sliding window of ``w`` tokens (``window=w``) ever reads again: the
    next query sees itself and the ``w - 1`` tokens before it. Such a module,
    given a rolling cache, gives the same outputs as one call on the whole
    sequence, and can generate past its ``context_length`` (a module without a
    window, or with a window the cache cannot hold, refuses a rolling cache).

    Parameters
    ----------
    max_tokens : int, optional
        Keep the last ``max_tokens`` tokens only (an int of at least 1); None
        keeps every token.

    Attributes
    ----------
    keys : torch.Tensor of shape (batch, num_kv_heads, len(cache), head_dim) or None
        The cached keys (None while empty).
    values : torch.Tensor of shape (batch, num_kv_heads, len(cache), head_dim) or None
        The cached values (None while empty).
    max_tokens : int or None
    num_seen : int
        Tokens appended since the last reset: the absolute position of the next
        token. Equal to ``len(cache)`` without ``max_tokens``.

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

    A rolling cache for a module with a sliding window of 3 tokens:

    >>> windowed = MultiHeadAttention(d_in=3, d_out=4, context_length=8, num_heads=2,
    ...                               window=3)
    >>> rolling = KVCache(max_tokens=3)
    >>> outs = [windowed(x[:, i:i + 1], cache=rolling) for i in range(5)]
    >>> len(rolling), rolling.num_seen
    (3, 5)
    >>> torch.allclose(torch.cat(outs, dim=1), windowed(x), atol=1e-6)
    True
    """

    def __init__(self, max_tokens=None):
        if max_tokens is not None and (isinstance(max_tokens, bool)
                                       or not isinstance(max_tokens, int) or max_tokens < 1):
            raise ValueError(f"expected max_tokens to be None or an int >= 1, got {max_tokens!r}")
        self.max_tokens = max_tokens
        self.keys = self.values = None
        self.num_seen = 0

    def __len__(self):
        return 0 if self.keys is None else self.keys.shape[-2]

    def reset(self):
        """Empty the cache (to start a new sequence)."""
        self.keys = self.values = None
        self.num_seen = 0

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
        """Append new keys and values; return the cached ones followed by the new.

        Parameters
        ----------
        keys : torch.Tensor of shape (batch, num_kv_heads, num_new, head_dim)
        values : torch.Tensor of shape (batch, num_kv_heads, num_new, head_dim)

        Returns
        -------
        keys : torch.Tensor of shape (batch, num_kv_heads, num_cached + num_new, head_dim)
        values : torch.Tensor of shape (batch, num_kv_heads, num_cached + num_new, head_dim)
            Everything this call may attend to: the ``num_cached = len(cache)``
            tokens held before the call, then the new ones. Afterwards the cache
            holds them all, or, with ``max_tokens``, the last ``max_tokens`` of them.
        """
        self.check(keys, values)
        if self.keys is not None:
            keys = torch.cat((self.keys, keys), dim=-2)  # (batch, heads, num_kv, head_dim)
            values = torch.cat((self.values, values), dim=-2)
        self.num_seen += keys.shape[-2] - len(self)
        self.keys, self.values = keys, values
        if self.max_tokens is not None and keys.shape[-2] > self.max_tokens:
            # a copy: a view would keep the whole concatenation alive
            self.keys = keys[..., -self.max_tokens:, :].clone()  # (batch, heads, w, head_dim)
            self.values = values[..., -self.max_tokens:, :].clone()
        return keys, values
