"""Additive (Bahdanau) attention (chapter 7)."""

import torch
from torch import nn

from ._checks import check_attn_mask, check_key_value, check_tokens, weights_shape
from .scaled_dot import apply_attn_mask
from .simplified import softmax


class AdditiveAttention(nn.Module):
    r"""Additive attention of Bahdanau et al. (2014).

    The score of a query :math:`q` and a key :math:`k` (row vectors) is a network
    with one hidden layer of size :math:`d_a`,
    :math:`e(q, k) = \tanh(q W_q + k W_k)\, w_v` with
    :math:`W_q \in \mathbb{R}^{d_q \times d_a}`,
    :math:`W_k \in \mathbb{R}^{d_k \times d_a}` and
    :math:`w_v \in \mathbb{R}^{d_a}`, so queries and keys may have different
    sizes. All query--key pairs together need a ``(..., num_queries, num_keys,
    d_a)`` intermediate tensor.

    Parameters
    ----------
    d_query : int
        Size of each query.
    d_key : int
        Size of each key.
    d_hidden : int
        Size :math:`d_a` of the hidden layer of the scoring network (the
        argument keeps its name; the book writes :math:`d_a`, since :math:`h`
        is the number of heads).
    dropout : float
        Dropout probability on the attention weights (``train()`` only).

    Attributes
    ----------
    W_query : torch.nn.Linear
        ``d_query -> d_a``, no bias: :math:`W_q` is ``W_query.weight.T``.
    W_key : torch.nn.Linear
        ``d_key -> d_a``, no bias: :math:`W_k` is ``W_key.weight.T``.
    w_v : torch.nn.Linear
        ``d_a -> 1``, no bias: :math:`w_v` is ``w_v.weight[0]``.

    Examples
    --------
    >>> import torch
    >>> from attnbook import AdditiveAttention
    >>> _ = torch.manual_seed(123)
    >>> attention = AdditiveAttention(d_query=4, d_key=3, d_hidden=8)
    >>> query, key, value = torch.rand(2, 1, 4), torch.rand(2, 5, 3), torch.rand(2, 5, 6)
    >>> context_vec, attn_weights = attention(query, key, value)
    >>> context_vec.shape, attn_weights.shape
    (torch.Size([2, 1, 6]), torch.Size([2, 1, 5]))
    """

    def __init__(self, d_query, d_key, d_hidden, dropout=0.0):
        super().__init__()
        self.d_query, self.d_key, self.dropout = d_query, d_key, dropout
        self.W_query = nn.Linear(d_query, d_hidden, bias=False)
        self.W_key = nn.Linear(d_key, d_hidden, bias=False)
        self.w_v = nn.Linear(d_hidden, 1, bias=False)

    def forward(self, query, key, value, attn_mask=None):
        """Score every query against every key, and average the values.

        Parameters
        ----------
        query : torch.Tensor of shape (..., num_queries, d_query)
        key : torch.Tensor of shape (..., num_keys, d_key)
        value : torch.Tensor of shape (..., num_keys, d_v)
        attn_mask : torch.Tensor, optional
            Broadcastable to ``(..., num_queries, num_keys)``; bool True = may
            attend, float = added to the scores.

        Returns
        -------
        context_vec : torch.Tensor of shape (..., num_queries, d_v)
        attn_weights : torch.Tensor of shape (..., num_queries, num_keys)
        """
        check_tokens(query, self.d_query, "query")
        check_tokens(key, self.d_key, "key")
        check_tokens(value, None, "value")
        check_key_value(key, value)
        check_attn_mask(attn_mask, weights_shape(query, key, value))
        q = self.W_query(query).unsqueeze(-2)  # (..., num_queries, 1, d_a)
        k = self.W_key(key).unsqueeze(-3)  # (..., 1, num_keys, d_a)
        attn_scores = self.w_v(torch.tanh(q + k)).squeeze(-1)  # (..., n_q, n_k)
        attn_weights = softmax(apply_attn_mask(attn_scores, attn_mask), dim=-1)
        if self.training and self.dropout > 0.0:
            attn_weights = torch.nn.functional.dropout(attn_weights, p=self.dropout)
        context_vec = attn_weights @ value  # (..., num_queries, d_v)
        return context_vec, attn_weights
