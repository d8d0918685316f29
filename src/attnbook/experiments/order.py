"""A task that needs order, and a small attention model that takes a position scheme
(chapter 9).

The task: repeat the token ``lag`` places back. Every sequence holds distinct
symbols in a random order, so a causal attention layer without positions, which
sees the tokens up to its own as a set, can only guess (see
:func:`order_blind_accuracy`).
"""

import torch
from torch import nn

from .._checks import check_divisible
from ..positions import alibi_bias, apply_rope, sinusoidal_positions
from ..scaled_dot import causal_mask, scaled_dot_product_attention

#: The position schemes :class:`OrderModel` accepts.
SCHEMES = ("none", "sinusoidal", "learned", "rope", "alibi")


def held_out(tokens, fraction=4):
    """Which sequences belong to the held-out set: a fixed hash of each row.

    A sequence is held out when its hash is divisible by ``fraction``, so about
    ``1 / fraction`` of all sequences are, whatever batch or seed drew them:
    training batches and held-out batches never share a sequence.

    Parameters
    ----------
    tokens : torch.Tensor of shape (batch, num_tokens)
        Non-negative integer symbols.
    fraction : int

    Returns
    -------
    torch.Tensor of shape (batch,) and dtype torch.bool
    """
    prime = 2_147_483_647  # 2**31 - 1
    h = torch.zeros(tokens.shape[0], dtype=torch.int64)
    for column in tokens.T.to(torch.int64):
        h = (h * 1_000_003 + column + 1) % prime
    return h % fraction == 0


def copy_back_batch(generator, batch_size=64, min_len=4, max_len=8, num_symbols=48, lag=1,
                    split="train"):
    """Sequences of distinct symbols; the target of token ``i`` is token ``i - lag``.

    Every row is a random arrangement of ``num_tokens`` different symbols, so the
    symbols alone do not say which one came ``lag`` places earlier: a model that
    reads its own token and the set of tokens up to it (a causal attention layer
    without positions) can do no better than guess among the ``i`` others, see
    :func:`order_blind_accuracy`. All rows of a batch have one length, drawn
    uniformly from ``min_len .. max_len``. Rows are kept only if they fall on the
    requested side of :func:`held_out`.

    Parameters
    ----------
    generator : torch.Generator
    batch_size, min_len, max_len : int
        ``lag < min_len <= max_len <= num_symbols``.
    num_symbols : int
        Symbols are ``0 .. num_symbols - 1``.
    lag : int
    split : str
        ``"train"`` or ``"test"``: the side of :func:`held_out` to draw from.

    Returns
    -------
    tokens : torch.Tensor of shape (batch_size, num_tokens) and dtype torch.int64
    targets : torch.Tensor of shape (batch_size, num_tokens) and dtype torch.int64
        ``tokens`` shifted right by ``lag``; the first ``lag`` positions, which
        have no target, hold ``-100`` (ignored by
        :func:`torch.nn.functional.cross_entropy`).

    Examples
    --------
    >>> import torch
    >>> from attnbook.experiments import copy_back_batch
    >>> tokens, targets = copy_back_batch(torch.Generator().manual_seed(0), batch_size=1,
    ...                                   min_len=5, max_len=5, num_symbols=10)
    >>> torch.equal(targets[:, 1:], tokens[:, :-1]), targets[0, 0].item()
    (True, -100)
    """
    if not 0 < lag < min_len <= max_len <= num_symbols:
        raise ValueError(f"expected 0 < lag < min_len <= max_len <= num_symbols, got lag={lag}, "
                         f"min_len={min_len}, max_len={max_len}, num_symbols={num_symbols}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    n = int(torch.randint(min_len, max_len + 1, (1,), generator=generator))
    rows = []
    while sum(len(r) for r in rows) < batch_size:
        draw = torch.rand(batch_size, num_symbols, generator=generator).argsort(dim=1)[:, :n]
        rows.append(draw[held_out(draw) == (split == "test")])
    tokens = torch.cat(rows)[:batch_size]
    targets = torch.full_like(tokens, -100)
    targets[:, lag:] = tokens[:, :-lag]
    return tokens, targets


def order_blind_accuracy(num_tokens, lag=1):
    """The best accuracy on :func:`copy_back_batch` of anything that sees, at position
    ``i``, only its own token and the set of tokens ``0 .. i``.

    The target is then equally likely to be any of the ``i`` other tokens, so the
    best guess is right with probability ``1 / i``; averaged over the positions
    ``lag .. num_tokens - 1`` that have a target.

    Parameters
    ----------
    num_tokens, lag : int

    Returns
    -------
    float

    Examples
    --------
    >>> from attnbook.experiments import order_blind_accuracy
    >>> round(order_blind_accuracy(4), 4)  # (1 + 1/2 + 1/3) / 3
    0.6111
    """
    return sum(1.0 / i for i in range(lag, num_tokens)) / (num_tokens - lag)


class PositionalSelfAttention(nn.Module):
    """Multi-head self-attention that applies a position scheme to queries and keys.

    ``"rope"`` rotates each head's queries and keys with :func:`~attnbook.apply_rope`;
    ``"alibi"`` adds :func:`~attnbook.alibi_bias` to the scores (symmetric,
    ``-slope * |i - j|``, unless ``causal``); the other schemes act on the input
    embeddings, outside this layer, which then computes plain attention.

    Parameters
    ----------
    d_model : int
    num_heads : int
    scheme : str
        One of :data:`SCHEMES`.
    causal : bool
    alibi_scale : float
        Multiplies every ALiBi slope (1: the paper's slopes); changes the slopes
        without changing the number of heads.

    Attributes
    ----------
    W_query : torch.nn.Linear
        ``d_model -> d_model``.
    W_key : torch.nn.Linear
        ``d_model -> d_model``.
    W_value : torch.nn.Linear
        ``d_model -> d_model``.
    out_proj : torch.nn.Linear
        ``d_model -> d_model``.

    Examples
    --------
    >>> import torch
    >>> from attnbook.experiments import PositionalSelfAttention
    >>> _ = torch.manual_seed(0)
    >>> attn = PositionalSelfAttention(d_model=16, num_heads=2, scheme="rope")
    >>> out, weights = attn(torch.randn(3, 5, 16), need_weights=True)
    >>> out.shape, weights.shape
    (torch.Size([3, 5, 16]), torch.Size([3, 2, 5, 5]))
    """

    def __init__(self, d_model, num_heads, scheme="none", causal=True, alibi_scale=1.0):
        super().__init__()
        check_divisible(d_model, num_heads)
        if scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
        if not alibi_scale > 0:
            raise ValueError(f"alibi_scale must be positive, got {alibi_scale}")
        self.num_heads, self.head_dim = num_heads, d_model // num_heads
        self.scheme, self.causal, self.alibi_scale = scheme, causal, alibi_scale
        self.W_query = nn.Linear(d_model, d_model, bias=False)
        self.W_key = nn.Linear(d_model, d_model, bias=False)
        self.W_value = nn.Linear(d_model, d_model, bias=False)
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, x, need_weights=False):
        """``x (batch, num_tokens, d_model)`` -> ``(batch, num_tokens, d_model)``
        (and the weights ``(batch, num_heads, num_tokens, num_tokens)``)."""
        b, n, d = x.shape
        q, k, v = (layer(x).view(b, n, self.num_heads, self.head_dim).transpose(1, 2)
                   for layer in (self.W_query, self.W_key, self.W_value))
        # q, k, v: (batch, num_heads, num_tokens, head_dim)
        mask = causal_mask(n, device=x.device) if self.causal else None
        if self.scheme == "rope":
            q, k = apply_rope(q), apply_rope(k)
        elif self.scheme == "alibi":
            mask = self.alibi_scale * alibi_bias(self.num_heads, n, causal=self.causal)
            mask = mask.to(x.device)
        context_vec, weights = scaled_dot_product_attention(q, k, v, attn_mask=mask)
        out = self.out_proj(context_vec.transpose(1, 2).reshape(b, n, d))  # (b, n, d_model)
        return (out, weights) if need_weights else out


class OrderModel(nn.Module):
    """A small causal attention model with a choice of position scheme: one logit per
    symbol at every position.

    Token embeddings (plus sinusoidal or learned position embeddings, for those
    schemes) go through ``num_layers`` pre-norm residual layers of
    :class:`PositionalSelfAttention` and a feed-forward network, then a layer norm
    and a linear layer to ``num_symbols`` logits.

    Parameters
    ----------
    num_symbols : int
        Vocabulary size.
    scheme : str
        One of :data:`SCHEMES`.
    d_model, num_heads, num_layers : int
    max_len : int
        Rows of the learned (``"learned"``) and sinusoidal tables; longer inputs
        raise ``ValueError``. A learned row is trained only if some training
        sequence reaches its position.
    causal : bool
    alibi_scale : float
        Passed to :class:`PositionalSelfAttention`: multiplies the ALiBi slopes.

    Examples
    --------
    >>> import torch
    >>> from attnbook.experiments import OrderModel
    >>> _ = torch.manual_seed(0)
    >>> model = OrderModel(num_symbols=10, scheme="alibi")
    >>> model(torch.randint(0, 10, (3, 7))).shape
    torch.Size([3, 7, 10])
    """

    def __init__(self, num_symbols, scheme="none", d_model=32, num_heads=4, num_layers=1,
                 max_len=64, causal=True, alibi_scale=1.0):
        super().__init__()
        if scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
        self.scheme, self.max_len = scheme, max_len
        self.embed = nn.Embedding(num_symbols, d_model)
        if scheme == "learned":
            self.pos_embed = nn.Embedding(max_len, d_model)
        if scheme == "sinusoidal":
            self.register_buffer("pe", sinusoidal_positions(max_len, d_model), persistent=False)
        self.layers = nn.ModuleList(nn.ModuleDict({
            "norm1": nn.LayerNorm(d_model),
            "attn": PositionalSelfAttention(d_model, num_heads, scheme, causal, alibi_scale),
            "norm2": nn.LayerNorm(d_model),
            "ff": nn.Sequential(nn.Linear(d_model, 2 * d_model), nn.GELU(),
                                nn.Linear(2 * d_model, d_model)),
        }) for _ in range(num_layers))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, num_symbols)

    def forward(self, tokens, need_weights=False):
        """``tokens (batch, num_tokens)`` -> logits ``(batch, num_tokens, num_symbols)``;
        with ``need_weights``, also a list of the attention weights of every layer,
        each ``(batch, num_heads, num_tokens, num_tokens)``."""
        if tokens.dim() != 2 or tokens.shape[1] > self.max_len:
            raise ValueError(f"expected tokens of shape (batch, num_tokens) with num_tokens <= "
                             f"max_len={self.max_len}, got {tuple(tokens.shape)}")
        n = tokens.shape[1]
        x = self.embed(tokens)  # (batch, num_tokens, d_model)
        if self.scheme == "learned":
            x = x + self.pos_embed.weight[:n]
        elif self.scheme == "sinusoidal":
            x = x + self.pe[:n]
        weights = []
        for layer in self.layers:
            attn_out, w = layer["attn"](layer["norm1"](x), need_weights=True)
            x = x + attn_out
            x = x + layer["ff"](layer["norm2"](x))
            weights.append(w)
        logits = self.head(self.norm(x))  # (batch, num_tokens, num_symbols)
        return (logits, weights) if need_weights else logits


def token_loss(model, batch):
    """Cross-entropy over every position with a target: ``batch = (tokens, targets)``."""
    tokens, targets = batch
    logits = model(tokens)
    return nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)


def token_accuracy(model, tokens, targets):
    """Share of the positions with a target (not ``-100``) whose largest logit is the target."""
    with torch.no_grad():
        predicted = model(tokens).argmax(dim=-1)
    has_target = targets != -100
    return (predicted == targets)[has_target].float().mean().item()
