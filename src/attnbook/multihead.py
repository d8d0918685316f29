"""Multi-head attention: a wrapper of stacked heads, then the efficient version
with weight splits (chapter 6)."""

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_bool_mask, check_divisible, check_tokens, shape_str
from .causal import CausalAttention
from .scaled_dot import causal_mask, check_window, scaled_dot_product_attention


class MultiHeadAttentionWrapper(nn.Module):
    """Multi-head attention as ``num_heads`` separate :class:`CausalAttention` heads.

    Each head maps ``d_in -> head_dim = d_out // num_heads``; their outputs are
    concatenated to ``d_out`` features and mixed by ``out_proj``. It computes the
    same function as :class:`MultiHeadAttention` (copy the weights to see it).

    Parameters
    ----------
    d_in : int
        Size of each input token embedding.
    d_out : int
        Total output size, split over the heads.
    context_length : int
        The most tokens an input may have.
    dropout : float
        Dropout probability on the attention weights (``train()`` only).
    num_heads : int
        Number of heads; must divide ``d_out``.
    qkv_bias : bool
        Give the query, key and value projections a bias.

    Attributes
    ----------
    heads : torch.nn.ModuleList
        ``num_heads`` instances of ``CausalAttention(d_in, head_dim, ...)``.
    out_proj : torch.nn.Linear
        ``d_out -> d_out``.

    Examples
    --------
    >>> import torch
    >>> from attnbook import MultiHeadAttentionWrapper
    >>> _ = torch.manual_seed(123)
    >>> mha = MultiHeadAttentionWrapper(d_in=3, d_out=4, context_length=6, num_heads=2)
    >>> out, attn_weights = mha(torch.rand(2, 6, 3), need_weights=True)
    >>> out.shape, attn_weights.shape
    (torch.Size([2, 6, 4]), torch.Size([2, 2, 6, 6]))
    """

    def __init__(self, d_in, d_out, context_length, dropout=0.0, num_heads=2,
                 qkv_bias=False):
        super().__init__()
        check_divisible(d_out, num_heads)
        self.d_in, self.d_out, self.num_heads = d_in, d_out, num_heads
        self.heads = nn.ModuleList(
            CausalAttention(d_in, d_out // num_heads, context_length, dropout, qkv_bias)
            for _ in range(num_heads)
        )
        self.out_proj = nn.Linear(d_out, d_out)

    @torch.no_grad()
    def load_from(self, mha):
        """Copy the weights of an efficient :class:`MultiHeadAttention` into the heads.

        Head ``h`` receives rows ``h * head_dim .. (h + 1) * head_dim - 1`` of each
        projection (the features the efficient class's view gives to head ``h``);
        ``out_proj`` is copied whole. Afterwards both modules compute the same
        function.

        Parameters
        ----------
        mha : MultiHeadAttention
            With the same ``d_in``, ``d_out``, ``num_heads`` and ``qkv_bias``.

        Returns
        -------
        MultiHeadAttentionWrapper
            ``self``.
        """
        if (mha.d_in, mha.d_out, mha.num_heads) != (self.d_in, self.d_out, self.num_heads):
            raise ValueError(
                f"expected a MultiHeadAttention with (d_in, d_out, num_heads) = "
                f"{(self.d_in, self.d_out, self.num_heads)}, got "
                f"{(mha.d_in, mha.d_out, mha.num_heads)}"
            )
        for h, head in enumerate(self.heads):
            rows = slice(h * mha.head_dim, (h + 1) * mha.head_dim)
            for name in ("W_query", "W_key", "W_value"):
                source, target = getattr(mha, name), getattr(head, name)
                target.weight.copy_(source.weight[rows])
                if (source.bias is None) != (target.bias is None):
                    raise ValueError("qkv_bias differs between the two modules")
                if source.bias is not None:
                    target.bias.copy_(source.bias[rows])
        self.out_proj.load_state_dict(mha.out_proj.state_dict())
        return self

    def forward(self, x, need_weights=False):
        """Run every head on ``x``, concatenate, project.

        Parameters
        ----------
        x : torch.Tensor of shape (batch, num_tokens, d_in)
        need_weights : bool
            Also return the attention weights of every head.

        Returns
        -------
        output : torch.Tensor of shape (batch, num_tokens, d_out)
        attn_weights : torch.Tensor of shape (batch, num_heads, num_tokens, num_tokens)
            Only if ``need_weights``.
        """
        outputs, weights = zip(*(head(x, need_weights=True) for head in self.heads), strict=True)
        output = self.out_proj(torch.cat(outputs, dim=-1))  # (batch, num_tokens, d_out)
        if need_weights:
            return output, torch.stack(weights, dim=1)  # (batch, num_heads, n, n)
        return output


class MultiHeadAttention(nn.Module):
    """Multi-head attention with one projection per role, split into heads.

    One ``nn.Linear(d_in, d_out)`` computes the queries of all heads at once; a
    view splits its ``d_out`` features into ``num_heads`` chunks of ``head_dim``,
    so head ``h`` uses output features ``h * head_dim .. (h + 1) * head_dim - 1``.

    Parameters
    ----------
    d_in : int
        Size of each input token embedding.
    d_out : int
        Total output size, split over the heads.
    context_length : int
        The most tokens an input may have.
    dropout : float
        Dropout probability on the attention weights (``train()`` only).
    num_heads : int
        Number of heads; must divide ``d_out``.
    qkv_bias : bool
        Give the query, key and value projections a bias.
    causal : bool
        Mask future tokens; ``False`` gives bidirectional self-attention (as in
        an encoder or a Vision Transformer).
    window : int, optional
        Sliding-window attention (needs ``causal=True``): each query attends to
        itself and the ``window - 1`` tokens before it, on the fused and the
        explicit path alike; with a cache, counted from the query's position
        after the cached tokens. None: full causal attention.

    Attributes
    ----------
    W_query : torch.nn.Linear
        ``d_in -> d_out``.
    W_key : torch.nn.Linear
        ``d_in -> d_out``.
    W_value : torch.nn.Linear
        ``d_in -> d_out``.
    out_proj : torch.nn.Linear
        ``d_out -> d_out``.
    mask : torch.Tensor of shape (context_length, context_length)
        Boolean buffer, True = may attend: :func:`attnbook.causal_mask` with the
        window (all True when ``causal=False``).

    Examples
    --------
    >>> import torch
    >>> from attnbook import MultiHeadAttention
    >>> _ = torch.manual_seed(123)
    >>> mha = MultiHeadAttention(d_in=3, d_out=4, context_length=6, num_heads=2)
    >>> out, attn_weights = mha(torch.rand(2, 6, 3), need_weights=True)
    >>> out.shape, attn_weights.shape
    (torch.Size([2, 6, 4]), torch.Size([2, 2, 6, 6]))
    >>> local = MultiHeadAttention(d_in=3, d_out=4, context_length=6, num_heads=2, window=2)
    >>> (local(torch.rand(2, 6, 3), need_weights=True)[1][0, 0] > 0).int()
    tensor([[1, 0, 0, 0, 0, 0],
            [1, 1, 0, 0, 0, 0],
            [0, 1, 1, 0, 0, 0],
            [0, 0, 1, 1, 0, 0],
            [0, 0, 0, 1, 1, 0],
            [0, 0, 0, 0, 1, 1]], dtype=torch.int32)
    """

    def __init__(self, d_in, d_out, context_length, dropout=0.0, num_heads=2,
                 qkv_bias=False, causal=True, window=None):
        super().__init__()
        check_divisible(d_out, num_heads)
        check_window(window)
        if window is not None and not causal:
            raise ValueError(f"window={window} needs causal=True: a sliding window counts the "
                             f"tokens before each query")
        self.d_in, self.d_out, self.context_length = d_in, d_out, context_length
        self.num_heads, self.head_dim = num_heads, d_out // num_heads
        self.dropout, self.causal, self.window = dropout, causal, window
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)
        mask = causal_mask(context_length, window=window)
        self.register_buffer("mask", mask if causal else torch.ones_like(mask),
                             persistent=False)

    @torch.no_grad()
    def to_torch(self):
        """The same function as a :class:`torch.nn.MultiheadAttention` module.

        PyTorch's module needs queries of size ``embed_dim``, so this requires
        ``d_in == d_out``. Its boolean ``attn_mask`` has the opposite polarity
        (``True`` = may *not* attend): call it with ``attn_mask=~causal_mask(n)``
        (``~causal_mask(n, window=window)`` for a sliding window, no mask when
        ``causal=False``).

        Returns
        -------
        torch.nn.MultiheadAttention
            ``batch_first=True``, with copied weights and biases (zero input biases
            when ``qkv_bias=False``), in evaluation mode if this module is.
        """
        if self.d_in != self.d_out:
            raise ValueError(f"torch.nn.MultiheadAttention needs d_in == d_out, got "
                             f"d_in={self.d_in}, d_out={self.d_out}")
        torch_mha = nn.MultiheadAttention(self.d_out, self.num_heads, dropout=self.dropout,
                                          bias=True, batch_first=True)
        projections = (self.W_query, self.W_key, self.W_value)
        torch_mha.in_proj_weight.copy_(torch.cat([p.weight for p in projections]))
        torch_mha.in_proj_bias.copy_(torch.cat([
            p.bias if p.bias is not None else torch.zeros(self.d_out) for p in projections
        ]))
        torch_mha.out_proj.load_state_dict(self.out_proj.state_dict())
        return torch_mha.train(self.training)

    def _split_heads(self, x):
        batch, num_tokens, features = x.shape
        x = x.view(batch, num_tokens, features // self.head_dim, self.head_dim)
        return x.transpose(1, 2)  # (batch, num_heads, num_tokens, head_dim)

    def _check_inputs(self, x, context, attn_mask, cache):
        """Check every argument of :meth:`forward`; return the key/value source."""
        check_tokens(x, self.d_in, batched=True, context_length=self.context_length)
        if context is not None:
            if self.causal:
                raise ValueError("context (cross-attention) needs a module built with "
                                 "causal=False: keys from another sequence have no causal order")
            check_tokens(context, self.d_in, "context", batched=True,
                         context_length=self.context_length)
            if context.shape[0] != x.shape[0]:
                raise ValueError(f"expected context of shape (batch={x.shape[0]}, num_kv, "
                                 f"d_in={self.d_in}), got {shape_str(context.shape)}")
        source = x if context is None else context
        num_cached = 0 if cache is None else len(cache)
        max_tokens = None if cache is None else cache.max_tokens
        if max_tokens is not None and (self.window is None or max_tokens < self.window - 1):
            raise ValueError(f"a rolling KVCache(max_tokens={max_tokens}) drops keys this module "
                             f"still attends to: expected a module with a window of at most "
                             f"max_tokens + 1 = {max_tokens + 1} tokens, got window={self.window}")
        num_kv = num_cached + source.shape[1]
        if num_kv > self.context_length:
            raise ValueError(f"the cache holds {num_cached} tokens and this call adds "
                             f"{source.shape[1]}: {num_kv} > context_length={self.context_length}")
        check_bool_mask(attn_mask, torch.Size((x.shape[0], self.num_heads, x.shape[1], num_kv)),
                        "(batch, num_heads, num_queries, num_kv)")
        return source

    def _attend(self, queries, keys, values, attn_mask, num_cached, need_weights):
        """Attention of every head, fused unless the weights are wanted.

        Parameters
        ----------
        queries : torch.Tensor of shape (batch, num_heads, num_queries, head_dim)
        keys : torch.Tensor of shape (batch, num_heads, num_kv, head_dim)
        values : torch.Tensor of shape (batch, num_heads, num_kv, head_dim)
        attn_mask : torch.Tensor or None
            Bool, broadcastable to ``(batch, num_heads, num_queries, num_kv)``.
        num_cached : int
            How many of the keys come from a cache: with ``causal=True``, query
            ``i`` sits at position ``num_cached + i`` (bottom-right alignment), and
            its window, if any, ends there.
        need_weights : bool
            Run :func:`attnbook.scaled_dot_product_attention` and return its
            weights; otherwise PyTorch's fused kernel, and None.

        Returns
        -------
        context_vec : torch.Tensor of shape (batch, num_heads, num_queries, head_dim)
        attn_weights : torch.Tensor of shape (batch, num_heads, num_queries, num_kv) or None
        """
        num_kv = keys.shape[-2]
        dropout_p = self.dropout if self.training else 0.0
        if (not need_weights and self.causal and self.window is None and attn_mask is None
                and num_cached == 0):
            return F.scaled_dot_product_attention(queries, keys, values, dropout_p=dropout_p,
                                                  is_causal=True), None  # the fastest kernel
        if self.causal:
            causal = self.mask[num_cached:num_kv, :num_kv]  # (num_queries, num_kv), windowed
            attn_mask = causal if attn_mask is None else attn_mask & causal
        if need_weights:
            return scaled_dot_product_attention(queries, keys, values, attn_mask=attn_mask,
                                                dropout_p=dropout_p)
        context_vec = F.scaled_dot_product_attention(queries, keys, values, attn_mask=attn_mask,
                                                     dropout_p=dropout_p)
        if attn_mask is not None:  # a query that may attend to nothing gets zeros, never NaN
            context_vec = context_vec.masked_fill(~attn_mask.any(-1, keepdim=True), 0.0)
        return context_vec, None

    def forward(self, x, context=None, attn_mask=None, need_weights=False, cache=None):
        """Attend from the tokens of ``x`` with all heads at once.

        Parameters
        ----------
        x : torch.Tensor of shape (batch, num_queries, d_in)
            The tokens that ask (the queries); ``num_queries <= context_length``.
        context : torch.Tensor of shape (batch, num_kv, d_in), optional
            The tokens that answer (keys and values): cross-attention. Defaults to
            ``x`` (self-attention); needs ``causal=False``.
        attn_mask : torch.Tensor, optional
            Bool, broadcastable to ``(batch, num_heads, num_queries, num_kv)``,
            **True = may attend**; combined (AND) with the causal mask (and its
            window). For padding: ``padding_mask(lengths, num_kv)[:, None, None, :]``.
        need_weights : bool
            Also return the attention weights of every head (the explicit path of
            :func:`attnbook.scaled_dot_product_attention`); otherwise PyTorch's
            fused :func:`torch.nn.functional.scaled_dot_product_attention` runs.
        cache : attnbook.KVCache, optional
            Appends this call's keys and values and attends over all cached ones;
            ``num_kv`` then counts the cached tokens too, and must not exceed
            ``context_length``. A rolling cache (``max_tokens``) needs a sliding
            window of at most ``max_tokens + 1`` tokens; it holds at most
            ``max_tokens``, so generation may then go on past ``context_length``
            as long as ``max_tokens`` plus the tokens of one call fit in it.

        Returns
        -------
        output : torch.Tensor of shape (batch, num_queries, d_out)
        attn_weights : torch.Tensor of shape (batch, num_heads, num_queries, num_kv)
            Only if ``need_weights``. A query that may attend to no key gets zero
            weights and a zero context vector, never NaN.

        Notes
        -----
        Keys and values have ``num_kv_heads`` heads: ``num_heads`` here, fewer in
        :class:`attnbook.GroupedQueryAttention`, which inherits this method.
        """
        source = self._check_inputs(x, context, attn_mask, cache)
        batch, num_queries, _ = x.shape
        queries = self._split_heads(self.W_query(x))  # (batch, num_heads, num_queries, head_dim)
        keys = self._split_heads(self.W_key(source))  # (batch, num_kv_heads, num_new, head_dim)
        values = self._split_heads(self.W_value(source))
        num_cached = 0
        if cache is not None:
            num_cached = len(cache)
            keys, values = cache.append(keys, values)  # (batch, num_kv_heads, num_kv, head_dim)
        context_vec, attn_weights = self._attend(queries, keys, values, attn_mask, num_cached,
                                                 need_weights)
        context_vec = context_vec.transpose(1, 2)  # (batch, num_queries, num_heads, head_dim)
        context_vec = context_vec.reshape(batch, num_queries, self.d_out)
        output = self.out_proj(context_vec)  # (batch, num_queries, d_out)
        return (output, attn_weights) if need_weights else output
