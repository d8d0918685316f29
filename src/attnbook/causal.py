"""Causal (masked) self-attention with dropout (chapter 5)."""

from torch import nn

from ._checks import check_tokens
from .scaled_dot import causal_mask, scaled_dot_product_attention


class CausalAttention(nn.Module):
    """Self-attention in which token ``i`` sees only tokens ``0 .. i``.

    The mask is a registered buffer: it follows the module to another device,
    stays boolean when the module changes dtype, is not a trainable parameter,
    and (``persistent=False``) is not saved in ``state_dict()``. ``-inf`` is put
    in the masked scores *before* the softmax, so the weights of each row sum to
    1 over the visible tokens.

    Parameters
    ----------
    d_in : int
        Size of each input token embedding.
    d_out : int
        Size of queries, keys, values and of the output.
    context_length : int
        The most tokens an input may have (the size of the mask buffer).
    dropout : float
        Dropout probability on the attention weights, active in ``train()`` only.
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
    mask : torch.Tensor of shape (context_length, context_length)
        Boolean buffer from :func:`attnbook.causal_mask`: True = may attend.

    Examples
    --------
    >>> import torch
    >>> from attnbook import CausalAttention
    >>> from attnbook.data import journey_embeddings
    >>> _ = torch.manual_seed(123)
    >>> batch = torch.stack((journey_embeddings(), journey_embeddings()))
    >>> ca = CausalAttention(d_in=3, d_out=2, context_length=6)
    >>> context_vecs, attn_weights = ca(batch, need_weights=True)
    >>> context_vecs.shape
    torch.Size([2, 6, 2])
    >>> attn_weights[0, :3, :3]  # zero above the diagonal
    tensor([[1.0000, 0.0000, 0.0000],
            [0.4833, 0.5167, 0.0000],
            [0.3190, 0.3408, 0.3402]], grad_fn=<SliceBackward0>)
    """

    def __init__(self, d_in, d_out, context_length, dropout=0.0, qkv_bias=False):
        super().__init__()
        self.d_in, self.d_out, self.context_length = d_in, d_out, context_length
        self.dropout = dropout
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.register_buffer("mask", causal_mask(context_length), persistent=False)

    def forward(self, x, need_weights=False):
        """Attend causally over the tokens of ``x``.

        Parameters
        ----------
        x : torch.Tensor of shape (batch, num_tokens, d_in)
            ``num_tokens <= context_length``.
        need_weights : bool
            Also return the attention weights.

        Returns
        -------
        context_vec : torch.Tensor of shape (batch, num_tokens, d_out)
        attn_weights : torch.Tensor of shape (batch, num_tokens, num_tokens)
            Only if ``need_weights``; zero above the diagonal.
        """
        check_tokens(x, self.d_in, batched=True, context_length=self.context_length)
        num_tokens = x.shape[1]
        context_vec, attn_weights = scaled_dot_product_attention(
            self.W_query(x), self.W_key(x), self.W_value(x),
            attn_mask=self.mask[:num_tokens, :num_tokens],
            dropout_p=self.dropout if self.training else 0.0,
        )
        return (context_vec, attn_weights) if need_weights else context_vec
