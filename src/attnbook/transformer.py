"""The Transformer block: attention, a feed-forward network, residual connections
and layer norm; an encoder block, a decoder block, today's decoder-only block
(RMSNorm, SwiGLU), and a small GPT (chapter 10)."""

import math

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_tokens, shape_str
from .cache import KVCache
from .multihead import MultiHeadAttention


class FeedForward(nn.Module):
    """The position-wise feed-forward network: ``d_model -> d_ff -> d_model``.

    The same two-layer network is applied to every token on its own, with a
    GELU between the layers and dropout on the output. Attention mixes the
    tokens; this network transforms each of them.

    Parameters
    ----------
    d_model : int
        Size of each token's vector, in and out.
    d_ff : int
        Size of the hidden layer (usually ``4 * d_model``).
    dropout : float
        Dropout probability on the output (``train()`` only).

    Attributes
    ----------
    linear1 : torch.nn.Linear
        ``d_model -> d_ff``.
    activation : torch.nn.GELU
        The exact GELU (GPT-2 uses its tanh approximation).
    linear2 : torch.nn.Linear
        ``d_ff -> d_model``.
    dropout : torch.nn.Dropout

    Examples
    --------
    >>> import torch
    >>> from attnbook import FeedForward
    >>> _ = torch.manual_seed(123)
    >>> ff = FeedForward(d_model=4, d_ff=16)
    >>> x = torch.randn(2, 3, 4)
    >>> ff(x).shape
    torch.Size([2, 3, 4])
    >>> torch.allclose(ff(x)[:, :1], ff(x[:, :1]))  # each token on its own
    True
    """

    def __init__(self, d_model, d_ff, dropout=0.0):
        super().__init__()
        self.d_model = d_model
        self.linear1 = nn.Linear(d_model, d_ff)
        self.activation = nn.GELU()
        self.linear2 = nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        """``x (..., num_tokens, d_model)`` -> the same shape."""
        check_tokens(x, self.d_model)
        hidden = self.activation(self.linear1(x))  # (..., num_tokens, d_ff)
        return self.dropout(self.linear2(hidden))  # (..., num_tokens, d_model)


class RMSNorm(nn.Module):
    """Root-mean-square layer normalization (Zhang & Sennrich, 2019).

    Each token's vector is divided by the root mean square of its features, then
    scaled feature by feature: ``x / sqrt(mean(x**2) + eps) * weight``. Unlike
    :class:`torch.nn.LayerNorm` it neither subtracts the mean nor adds a shift.
    The same numbers as ``torch.nn.RMSNorm`` with the same ``eps`` and weight.

    Parameters
    ----------
    d_model : int
        Size of each token's vector.
    eps : float
        Added to the mean square, against division by zero.

    Attributes
    ----------
    weight : torch.nn.Parameter of shape (d_model,)
        The learned scale, initialised to ones.

    Examples
    --------
    >>> import torch
    >>> from attnbook import RMSNorm
    >>> x = torch.tensor([[3.0, -4.0], [1.0, 1.0]])
    >>> RMSNorm(2)(x)  # the rms of (3, -4) is sqrt(12.5)
    tensor([[ 0.8485, -1.1314],
            [ 1.0000,  1.0000]], grad_fn=<MulBackward0>)
    """

    def __init__(self, d_model, eps=1e-6):
        super().__init__()
        self.d_model, self.eps = d_model, eps
        self.weight = nn.Parameter(torch.ones(d_model))

    def forward(self, x):
        """``x (..., d_model)`` -> the same shape."""
        if x.shape[-1:] != (self.d_model,):
            raise ValueError(f"expected x of shape (..., d_model={self.d_model}), got "
                             f"{shape_str(x.shape)}")
        rms = torch.sqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps)  # (..., 1)
        return x / rms * self.weight  # (..., d_model)


class SwiGLU(nn.Module):
    """The gated feed-forward network of LLaMA-style blocks (Shazeer, 2020).

    Two projections of the token, ``gate`` and ``up``, are multiplied feature by
    feature, the gate through a SiLU (``x * sigmoid(x)``, also called Swish), and
    ``down`` projects the product back: ``down(silu(gate(x)) * up(x))``. With
    three matrices instead of two, ``d_ff`` of about ``8/3 * d_model`` gives it the
    parameters of a :class:`FeedForward` with ``4 * d_model``.

    Parameters
    ----------
    d_model : int
        Size of each token's vector, in and out.
    d_ff : int
        Size of the hidden (gated) layer.
    bias : bool
        Give the three projections a bias (LLaMA has none).

    Attributes
    ----------
    gate : torch.nn.Linear
        ``d_model -> d_ff``, through the SiLU.
    up : torch.nn.Linear
        ``d_model -> d_ff``.
    down : torch.nn.Linear
        ``d_ff -> d_model``.

    Examples
    --------
    >>> import torch
    >>> from attnbook import SwiGLU
    >>> _ = torch.manual_seed(123)
    >>> ff = SwiGLU(d_model=6, d_ff=16)
    >>> x = torch.randn(2, 3, 6)
    >>> ff(x).shape
    torch.Size([2, 3, 6])
    >>> sum(p.numel() for p in ff.parameters())  # 3 * 6 * 16
    288
    """

    def __init__(self, d_model, d_ff, bias=False):
        super().__init__()
        self.d_model = d_model
        self.gate = nn.Linear(d_model, d_ff, bias=bias)
        self.up = nn.Linear(d_model, d_ff, bias=bias)
        self.down = nn.Linear(d_ff, d_model, bias=bias)

    def forward(self, x):
        """``x (..., num_tokens, d_model)`` -> the same shape."""
        check_tokens(x, self.d_model)
        hidden = F.silu(self.gate(x)) * self.up(x)  # (..., num_tokens, d_ff)
        return self.down(hidden)  # (..., num_tokens, d_model)


def _copy_feed_forward_and_norms(block, layer, norms):
    """Copy a block's feed-forward network and layer norms into a PyTorch layer."""
    layer.linear1.load_state_dict(block.feed_forward.linear1.state_dict())
    layer.linear2.load_state_dict(block.feed_forward.linear2.state_dict())
    for name in norms:
        getattr(layer, name).load_state_dict(getattr(block, name).state_dict())


class TransformerEncoderBlock(nn.Module):
    """Self-attention and a feed-forward network, each with a residual connection
    and layer norm.

    Pre-norm (``norm_first=True``, GPT-2, the Vision Transformer) normalises the
    input of each sublayer and adds the sublayer's output to the unnormalised
    stream: ``x + attention(norm1(x))``, then ``x + feed_forward(norm2(x))``.
    Post-norm (``norm_first=False``, the original Transformer) normalises after
    the addition: ``norm1(x + attention(x))``, then ``norm2(x + feed_forward(x))``.
    With ``causal=True`` it is the block of a decoder-only model such as GPT: a
    decoder block without cross-attention.

    Parameters
    ----------
    d_model : int
        Size of each token's vector.
    num_heads : int
        Number of attention heads; must divide ``d_model``.
    context_length : int
        The most tokens an input may have.
    d_ff : int, optional
        Hidden size of the feed-forward network; ``4 * d_model`` by default.
    dropout : float
        Dropout on the attention weights and on each sublayer's output.
    qkv_bias : bool
        Give the query, key and value projections a bias.
    norm_first : bool
        Pre-norm (True) or post-norm (False).
    causal : bool
        Mask future tokens in self-attention.

    Attributes
    ----------
    norm1 : torch.nn.LayerNorm
    attention : MultiHeadAttention
        ``MultiHeadAttention(d_model, d_model, context_length, ...)``.
    norm2 : torch.nn.LayerNorm
    feed_forward : FeedForward
    dropout : torch.nn.Dropout
        On the attention's output.

    Examples
    --------
    >>> import torch
    >>> from attnbook import TransformerEncoderBlock, padding_mask
    >>> _ = torch.manual_seed(123)
    >>> block = TransformerEncoderBlock(d_model=8, num_heads=2, context_length=5)
    >>> x = torch.randn(2, 5, 8)
    >>> mask = padding_mask(torch.tensor([5, 3]), 5)[:, None, None, :]  # second: 2 pads
    >>> out, attn_weights = block(x, attn_mask=mask, need_weights=True)
    >>> out.shape, attn_weights.shape
    (torch.Size([2, 5, 8]), torch.Size([2, 2, 5, 5]))
    >>> attn_weights[1, :, :, 3:].abs().max().item()  # nobody attends to the padding
    0.0
    """

    def __init__(self, d_model, num_heads, context_length, d_ff=None, dropout=0.0,
                 qkv_bias=False, norm_first=True, causal=False):
        super().__init__()
        self.d_model, self.norm_first = d_model, norm_first
        self.norm1 = nn.LayerNorm(d_model)
        self.attention = MultiHeadAttention(d_model, d_model, context_length, dropout,
                                            num_heads, qkv_bias, causal=causal)
        self.norm2 = nn.LayerNorm(d_model)
        self.feed_forward = FeedForward(d_model, d_ff or 4 * d_model, dropout)
        self.dropout = nn.Dropout(dropout)

    @torch.no_grad()
    def to_torch(self):
        """The same function as a ``torch.nn.TransformerEncoderLayer``.

        Call the copy with ``batch_first`` tensors and PyTorch's mask polarity
        (``True`` = may *not* attend): ``src_key_padding_mask=~padding_mask(...)``,
        and ``src_mask=~causal_mask(n)`` if this block is causal.

        Returns
        -------
        torch.nn.TransformerEncoderLayer
            With copied weights (zero query, key and value biases when
            ``qkv_bias=False``), exact GELU, in evaluation mode if this block is.
        """
        layer = nn.TransformerEncoderLayer(
            self.d_model, self.attention.num_heads, self.feed_forward.linear1.out_features,
            dropout=self.dropout.p, activation="gelu", layer_norm_eps=self.norm1.eps,
            batch_first=True, norm_first=self.norm_first)
        layer.self_attn.load_state_dict(self.attention.to_torch().state_dict())
        _copy_feed_forward_and_norms(self, layer, ("norm1", "norm2"))
        return layer.train(self.training)

    def residual_projections(self):
        """The layers whose outputs are added to the residual stream.

        Returns
        -------
        tuple of torch.nn.Linear
            ``attention.out_proj`` and ``feed_forward.linear2``.
        """
        return self.attention.out_proj, self.feed_forward.linear2

    def _self_attention(self, x, attn_mask, need_weights, cache):
        out = self.attention(x, attn_mask=attn_mask, need_weights=need_weights, cache=cache)
        out, attn_weights = out if need_weights else (out, None)
        return self.dropout(out), attn_weights

    def forward(self, x, attn_mask=None, need_weights=False, cache=None):
        """Transform the tokens of ``x``.

        Parameters
        ----------
        x : torch.Tensor of shape (batch, num_tokens, d_model)
        attn_mask : torch.Tensor, optional
            Bool, broadcastable to ``(batch, num_heads, num_tokens, num_tokens)``,
            **True = may attend** (for padding: ``padding_mask(lengths,
            num_tokens)[:, None, None, :]``).
        need_weights : bool
            Also return the attention weights.
        cache : attnbook.KVCache, optional
            Passed to the self-attention (incremental decoding, ``causal=True``).

        Returns
        -------
        output : torch.Tensor of shape (batch, num_tokens, d_model)
        attn_weights : torch.Tensor of shape (batch, num_heads, num_tokens, num_kv)
            Only if ``need_weights``.
        """
        check_tokens(x, self.d_model, batched=True)
        if self.norm_first:
            out, attn_weights = self._self_attention(self.norm1(x), attn_mask, need_weights, cache)
            x = x + out
            x = x + self.feed_forward(self.norm2(x))
        else:
            out, attn_weights = self._self_attention(x, attn_mask, need_weights, cache)
            x = self.norm1(x + out)
            x = self.norm2(x + self.feed_forward(x))
        return (x, attn_weights) if need_weights else x  # (batch, num_tokens, d_model)


class TransformerDecoderBlock(nn.Module):
    """Causal self-attention, cross-attention to the encoder's output, and a
    feed-forward network, each with a residual connection and layer norm.

    The cross-attention takes its queries from the decoder's tokens and its keys
    and values from ``memory``, the encoder's output. Pre-norm
    (``norm_first=True``) normalises the input of each sublayer (not the
    memory); post-norm (``norm_first=False``) normalises after each addition, as
    ``torch.nn.TransformerDecoderLayer`` does.

    Parameters
    ----------
    d_model : int
        Size of each token's vector, in the decoder and in the memory.
    num_heads : int
        Number of heads of both attentions; must divide ``d_model``.
    context_length : int
        The most tokens the decoder's input, and the memory, may have.
    d_ff : int, optional
        Hidden size of the feed-forward network; ``4 * d_model`` by default.
    dropout : float
        Dropout on the attention weights and on each sublayer's output.
    qkv_bias : bool
        Give the query, key and value projections a bias.
    norm_first : bool
        Pre-norm (True) or post-norm (False).

    Attributes
    ----------
    norm1 : torch.nn.LayerNorm
    self_attention : MultiHeadAttention
        Causal.
    norm2 : torch.nn.LayerNorm
    cross_attention : MultiHeadAttention
        Not causal: every decoder token may read every memory token.
    norm3 : torch.nn.LayerNorm
    feed_forward : FeedForward
    dropout : torch.nn.Dropout
        On the output of both attentions.

    Examples
    --------
    >>> import torch
    >>> from attnbook import TransformerDecoderBlock, padding_mask
    >>> _ = torch.manual_seed(123)
    >>> block = TransformerDecoderBlock(d_model=8, num_heads=2, context_length=6)
    >>> x, memory = torch.randn(2, 4, 8), torch.randn(2, 6, 8)
    >>> memory_mask = padding_mask(torch.tensor([6, 2]), 6)[:, None, None, :]
    >>> out, self_w, cross_w = block(x, memory, memory_mask=memory_mask, need_weights=True)
    >>> out.shape, self_w.shape, cross_w.shape
    (torch.Size([2, 4, 8]), torch.Size([2, 2, 4, 4]), torch.Size([2, 2, 4, 6]))
    >>> cross_w[1, :, :, 2:].abs().max().item()  # the memory's padding is never read
    0.0
    """

    def __init__(self, d_model, num_heads, context_length, d_ff=None, dropout=0.0,
                 qkv_bias=False, norm_first=True):
        super().__init__()
        self.d_model, self.norm_first = d_model, norm_first
        self.norm1 = nn.LayerNorm(d_model)
        self.self_attention = MultiHeadAttention(d_model, d_model, context_length, dropout,
                                                 num_heads, qkv_bias, causal=True)
        self.norm2 = nn.LayerNorm(d_model)
        self.cross_attention = MultiHeadAttention(d_model, d_model, context_length, dropout,
                                                  num_heads, qkv_bias, causal=False)
        self.norm3 = nn.LayerNorm(d_model)
        self.feed_forward = FeedForward(d_model, d_ff or 4 * d_model, dropout)
        self.dropout = nn.Dropout(dropout)

    @torch.no_grad()
    def to_torch(self):
        """The same function as a ``torch.nn.TransformerDecoderLayer``.

        Call the copy with ``batch_first`` tensors and PyTorch's mask polarity
        (``True`` = may *not* attend): ``tgt_mask=~causal_mask(n)``,
        ``tgt_key_padding_mask=~padding_mask(...)`` and
        ``memory_key_padding_mask=~padding_mask(...)``.

        Returns
        -------
        torch.nn.TransformerDecoderLayer
            With copied weights (zero query, key and value biases when
            ``qkv_bias=False``), exact GELU, in evaluation mode if this block is.
        """
        layer = nn.TransformerDecoderLayer(
            self.d_model, self.self_attention.num_heads, self.feed_forward.linear1.out_features,
            dropout=self.dropout.p, activation="gelu", layer_norm_eps=self.norm1.eps,
            batch_first=True, norm_first=self.norm_first)
        layer.self_attn.load_state_dict(self.self_attention.to_torch().state_dict())
        layer.multihead_attn.load_state_dict(self.cross_attention.to_torch().state_dict())
        _copy_feed_forward_and_norms(self, layer, ("norm1", "norm2", "norm3"))
        return layer.train(self.training)

    def _attend(self, attention, x, context, attn_mask, need_weights, cache=None):
        out = attention(x, context=context, attn_mask=attn_mask, need_weights=need_weights,
                        cache=cache)
        out, attn_weights = out if need_weights else (out, None)
        return self.dropout(out), attn_weights

    def forward(self, x, memory, attn_mask=None, memory_mask=None, need_weights=False,
                cache=None):
        """Transform the decoder's tokens ``x``, reading the encoder's ``memory``.

        Parameters
        ----------
        x : torch.Tensor of shape (batch, num_tokens, d_model)
        memory : torch.Tensor of shape (batch, num_memory, d_model)
            The encoder's output.
        attn_mask : torch.Tensor, optional
            Bool, broadcastable to ``(batch, num_heads, num_tokens, num_tokens)``,
            True = may attend; combined with the causal mask.
        memory_mask : torch.Tensor, optional
            Bool, broadcastable to ``(batch, num_heads, num_tokens, num_memory)``,
            True = may attend (the memory's padding mask:
            ``padding_mask(lengths, num_memory)[:, None, None, :]``).
        need_weights : bool
            Also return the weights of both attentions.
        cache : attnbook.KVCache, optional
            Passed to the self-attention (incremental decoding).

        Returns
        -------
        output : torch.Tensor of shape (batch, num_tokens, d_model)
        self_weights : torch.Tensor of shape (batch, num_heads, num_tokens, num_kv)
            Only if ``need_weights``.
        cross_weights : torch.Tensor of shape (batch, num_heads, num_tokens, num_memory)
            Only if ``need_weights``.
        """
        check_tokens(x, self.d_model, batched=True)
        w = need_weights
        if self.norm_first:
            out, self_w = self._attend(self.self_attention, self.norm1(x), None, attn_mask, w,
                                       cache)
            x = x + out
            out, cross_w = self._attend(self.cross_attention, self.norm2(x), memory,
                                        memory_mask, w)
            x = x + out
            x = x + self.feed_forward(self.norm3(x))
        else:
            out, self_w = self._attend(self.self_attention, x, None, attn_mask, w, cache)
            x = self.norm1(x + out)
            out, cross_w = self._attend(self.cross_attention, x, memory, memory_mask, w)
            x = self.norm2(x + out)
            x = self.norm3(x + self.feed_forward(x))
        return (x, self_w, cross_w) if need_weights else x  # (batch, num_tokens, d_model)


class LlamaBlock(nn.Module):
    """The decoder-only block of LLaMA-style models: RMSNorm, SwiGLU, no biases.

    A pre-norm block like GPT-2's (:class:`TransformerEncoderBlock` with
    ``causal=True``), with three changes made since: :class:`RMSNorm` instead of
    layer norm, the gated :class:`SwiGLU` feed-forward network with ``d_ff`` of
    about ``8/3 * d_model`` instead of a GELU network with ``4 * d_model``, and
    no bias in any linear layer. (LLaMA also rotates queries and keys by their
    position, :func:`attnbook.apply_rope`; here positions are left to the model,
    so that only the block differs.)

    Parameters
    ----------
    d_model : int
        Size of each token's vector.
    num_heads : int
        Number of attention heads; must divide ``d_model``.
    context_length : int
        The most tokens an input (and a cache) may have.
    d_ff : int, optional
        Hidden size of the SwiGLU network; ``8 * d_model // 3`` by default.
    dropout : float
        Dropout on the attention weights and on each sublayer's output.
    window : int, optional
        Sliding-window attention (Mistral): each token sees itself and the
        ``window - 1`` tokens before it.

    Attributes
    ----------
    norm1 : RMSNorm
    attention : MultiHeadAttention
        Causal, without biases (its ``out_proj`` too).
    norm2 : RMSNorm
    feed_forward : SwiGLU
    dropout : torch.nn.Dropout
        On each sublayer's output.

    Examples
    --------
    >>> import torch
    >>> from attnbook import LlamaBlock
    >>> _ = torch.manual_seed(123)
    >>> block = LlamaBlock(d_model=12, num_heads=3, context_length=5)
    >>> block.feed_forward.down.in_features, block(torch.randn(2, 5, 12)).shape
    (32, torch.Size([2, 5, 12]))
    >>> any(name.endswith("bias") for name, _ in block.named_parameters())
    False
    """

    def __init__(self, d_model, num_heads, context_length, d_ff=None, dropout=0.0,
                 window=None):
        super().__init__()
        self.d_model = d_model
        self.norm1 = RMSNorm(d_model)
        self.attention = MultiHeadAttention(d_model, d_model, context_length, dropout,
                                            num_heads, qkv_bias=False, window=window)
        self.attention.out_proj = nn.Linear(d_model, d_model, bias=False)  # no bias anywhere
        self.norm2 = RMSNorm(d_model)
        self.feed_forward = SwiGLU(d_model, d_ff or 8 * d_model // 3)
        self.dropout = nn.Dropout(dropout)

    def residual_projections(self):
        """The layers whose outputs are added to the residual stream.

        Returns
        -------
        tuple of torch.nn.Linear
            ``attention.out_proj`` and ``feed_forward.down``.
        """
        return self.attention.out_proj, self.feed_forward.down

    def forward(self, x, attn_mask=None, need_weights=False, cache=None):
        """Transform the tokens ``x``: ``x + attention(norm1(x))``, then
        ``x + feed_forward(norm2(x))``.

        Parameters
        ----------
        x : torch.Tensor of shape (batch, num_tokens, d_model)
        attn_mask : torch.Tensor, optional
            Bool, broadcastable to ``(batch, num_heads, num_tokens, num_kv)``,
            **True = may attend**; combined with the causal mask.
        need_weights : bool
            Also return the attention weights.
        cache : attnbook.KVCache, optional
            Passed to the attention (incremental decoding).

        Returns
        -------
        output : torch.Tensor of shape (batch, num_tokens, d_model)
        attn_weights : torch.Tensor of shape (batch, num_heads, num_tokens, num_kv)
            Only if ``need_weights``.
        """
        check_tokens(x, self.d_model, batched=True)
        out = self.attention(self.norm1(x), attn_mask=attn_mask, need_weights=need_weights,
                             cache=cache)
        out, attn_weights = out if need_weights else (out, None)
        x = x + self.dropout(out)
        x = x + self.dropout(self.feed_forward(self.norm2(x)))
        return (x, attn_weights) if need_weights else x  # (batch, num_tokens, d_model)


def gpt2_small_config():
    """The configuration of GPT-2 small (Radford et al., 2019), for :class:`GPTModel`.

    A vocabulary of 50,257 byte-pair tokens, 1,024 positions, 12 pre-norm
    blocks of 12 heads over ``d_model = 768``, ``d_ff = 4 * 768``, biases on the
    query, key and value projections, the output head tied to the token
    embedding, and GPT-2's initialisation (``gpt2_init``). Built with these
    arguments, :class:`GPTModel` has GPT-2 small's 124,439,808 parameters. The
    dropout of 0.1 is that of Hugging Face's ``GPT2Config`` (and of the GPT-1
    paper): OpenAI's released GPT-2 code has no dropout, and the GPT-2 paper
    gives none.

    Returns
    -------
    dict
        Keyword arguments of :class:`GPTModel`.

    Examples
    --------
    >>> import torch
    >>> from attnbook import GPTModel, gpt2_small_config
    >>> with torch.device("meta"):  # shapes only: no memory, no weights
    ...     gpt2 = GPTModel(**gpt2_small_config())
    >>> sum(p.numel() for p in gpt2.parameters())
    124439808
    """
    return dict(vocab_size=50257, context_length=1024, d_model=768, num_layers=12,
                num_heads=12, d_ff=4 * 768, dropout=0.1, qkv_bias=True, tie_weights=True,
                gpt2_init=True)


class GPTModel(nn.Module):
    """A decoder-only language model in the style of GPT-2.

    Token and learned position embeddings are added, pass through
    ``num_layers`` causal pre-norm blocks (:class:`TransformerEncoderBlock` with
    ``causal=True``) and a final layer norm, and a linear head turns each
    token's vector into logits over the vocabulary: at position ``t``, the
    scores of the token at ``t + 1``. With ``block="llama"`` the blocks are
    :class:`LlamaBlock` and the final norm an :class:`RMSNorm`; nothing else
    changes.

    Every weight matrix and embedding is drawn from normal(0, 0.02) and every
    bias is zero, the standard deviation of GPT-2's released code. GPT-2 differs
    in two more places, which ``gpt2_init=True`` adds: its code draws the
    position table with 0.01, and its paper scales the weights of the residual
    layers by 1/sqrt(N), N the number of residual layers: here (as in Hugging
    Face's and nanoGPT's GPT-2) the two projections of each block whose outputs
    are added to the residual stream, drawn with ``0.02 / sqrt(2 * num_layers)``.

    Parameters
    ----------
    vocab_size : int
    context_length : int
        The most tokens a sequence may have (the number of position embeddings).
    d_model : int
    num_layers : int
    num_heads : int
    d_ff : int, optional
        Hidden size of the feed-forward networks; ``4 * d_model`` by default.
    dropout : float
        On the embeddings, the attention weights and each sublayer's output.
    qkv_bias : bool
    tie_weights : bool
        Share one matrix between the token embedding and the output head (as
        GPT-2 does); otherwise the head has its own ``vocab_size x d_model``.
    block : str
        ``"gpt2"``: :class:`TransformerEncoderBlock` (GELU, layer norm, biases), or
        ``"llama"``: :class:`LlamaBlock` (SwiGLU, RMSNorm, no biases: ``qkv_bias``
        must be False).
    gpt2_init : bool
        Draw the position table with standard deviation 0.01 and each block's
        :meth:`~TransformerEncoderBlock.residual_projections` with
        ``0.02 / sqrt(2 * num_layers)``.

    Attributes
    ----------
    token_embedding : torch.nn.Embedding
        ``vocab_size x d_model``.
    position_embedding : torch.nn.Embedding
        ``context_length x d_model``.
    dropout : torch.nn.Dropout
    blocks : torch.nn.ModuleList
        ``num_layers`` of ``TransformerEncoderBlock(..., norm_first=True, causal=True)``
        (or of :class:`LlamaBlock`).
    final_norm : torch.nn.LayerNorm or RMSNorm
    head : torch.nn.Linear
        ``d_model -> vocab_size``, no bias.

    Examples
    --------
    >>> import torch
    >>> from attnbook import GPTModel
    >>> _ = torch.manual_seed(123)
    >>> gpt = GPTModel(vocab_size=10, context_length=8, d_model=16, num_layers=2,
    ...                num_heads=2).eval()
    >>> prompt = torch.tensor([[1, 2, 3]])
    >>> gpt(prompt).shape  # (batch, num_tokens, vocab_size)
    torch.Size([1, 3, 10])
    >>> out = gpt.generate(prompt, max_new_tokens=5)
    >>> out.shape, torch.equal(out, gpt.generate(prompt, max_new_tokens=5, use_cache=False))
    (torch.Size([1, 8]), True)
    """

    def __init__(self, vocab_size, context_length, d_model, num_layers, num_heads, d_ff=None,
                 dropout=0.0, qkv_bias=False, tie_weights=True, block="gpt2", gpt2_init=False):
        super().__init__()
        if block not in ("gpt2", "llama") or (block == "llama" and qkv_bias):
            raise ValueError(f"expected block='gpt2', or block='llama' with qkv_bias=False, got "
                             f"block={block!r}, qkv_bias={qkv_bias}")
        self.vocab_size, self.context_length = vocab_size, context_length
        self.token_embedding = nn.Embedding(vocab_size, d_model)
        self.position_embedding = nn.Embedding(context_length, d_model)
        self.dropout = nn.Dropout(dropout)
        if block == "gpt2":
            self.blocks = nn.ModuleList(
                TransformerEncoderBlock(d_model, num_heads, context_length, d_ff, dropout,
                                        qkv_bias, norm_first=True, causal=True)
                for _ in range(num_layers)
            )
            self.final_norm = nn.LayerNorm(d_model)
        else:
            self.blocks = nn.ModuleList(
                LlamaBlock(d_model, num_heads, context_length, d_ff, dropout)
                for _ in range(num_layers)
            )
            self.final_norm = RMSNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        self.apply(self._init_weights)
        if gpt2_init:  # the rest of GPT-2's initialisation
            nn.init.normal_(self.position_embedding.weight, mean=0.0, std=0.01)
            for layer in (layer for b in self.blocks for layer in b.residual_projections()):
                nn.init.normal_(layer.weight, mean=0.0, std=0.02 / math.sqrt(2 * num_layers))
        if tie_weights:
            self.head.weight = self.token_embedding.weight

    @staticmethod
    def _init_weights(module):
        """normal(0, 0.02) for every weight matrix and embedding, zero biases."""
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, token_ids, caches=None, need_weights=False):
        """Next-token logits for every position of ``token_ids``.

        Parameters
        ----------
        token_ids : torch.Tensor of shape (batch, num_tokens)
            Token ids (an integer dtype).
        caches : list of attnbook.KVCache, optional
            One per block. The tokens then continue the cached ones: their
            positions start at ``caches[0].num_seen``.
        need_weights : bool
            Also return the attention weights of every block.

        Returns
        -------
        logits : torch.Tensor of shape (batch, num_tokens, vocab_size)
        attn_weights : list of torch.Tensor of shape (batch, num_heads, num_tokens, num_kv)
            One per block, first block first; only if ``need_weights``.
        """
        start = 0 if caches is None else caches[0].num_seen
        if token_ids.dim() != 2 or token_ids.is_floating_point():
            raise ValueError(f"expected token_ids of shape (batch, num_tokens) and an integer "
                             f"dtype, got {shape_str(token_ids.shape)} of {token_ids.dtype}")
        if start + token_ids.shape[1] > self.context_length:
            raise ValueError(f"expected at most context_length={self.context_length} tokens, "
                             f"got {start} cached + {token_ids.shape[1]} new")
        positions = torch.arange(start, start + token_ids.shape[1], device=token_ids.device)
        x = self.token_embedding(token_ids) + self.position_embedding(positions)
        x = self.dropout(x)  # (batch, num_tokens, d_model)
        attn_weights = []
        for i, block in enumerate(self.blocks):
            x = block(x, need_weights=need_weights, cache=None if caches is None else caches[i])
            if need_weights:
                x, weights = x
                attn_weights.append(weights)
        logits = self.head(self.final_norm(x))  # (batch, num_tokens, vocab_size)
        return (logits, attn_weights) if need_weights else logits

    @torch.no_grad()
    def generate(self, token_ids, max_new_tokens, use_cache=True):
        """Continue ``token_ids`` greedily (the most likely next token, each step).

        Call it on a model in evaluation mode (``model.eval()``).

        Parameters
        ----------
        token_ids : torch.Tensor of shape (batch, num_prompt)
            The prompt; ``num_prompt + max_new_tokens <= context_length``.
        max_new_tokens : int
        use_cache : bool
            Keep every block's keys and values in a :class:`attnbook.KVCache` and
            feed only the newest token each step; otherwise run the whole
            sequence again each step. Both give the same tokens.

        Returns
        -------
        torch.Tensor of shape (batch, num_prompt + max_new_tokens)
            The prompt followed by the generated tokens.
        """
        if token_ids.shape[-1] + max_new_tokens > self.context_length:
            raise ValueError(f"the prompt's {token_ids.shape[-1]} tokens plus max_new_tokens="
                             f"{max_new_tokens} exceed context_length={self.context_length}")
        caches = [KVCache() for _ in self.blocks] if use_cache else None
        new_ids = token_ids
        for _ in range(max_new_tokens):
            logits = self(new_ids, caches) if use_cache else self(token_ids)
            new_ids = logits[:, -1].argmax(dim=-1, keepdim=True)  # (batch, 1)
            token_ids = torch.cat([token_ids, new_ids], dim=1)
        return token_ids
