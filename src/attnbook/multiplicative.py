"""Multiplicative ("general") attention of Luong et al. (chapter 7)."""

from torch import nn

from ._checks import check_tokens
from .scaled_dot import scaled_dot_product_attention


class MultiplicativeAttention(nn.Module):
    r"""Luong's "general" score :math:`q^\top W k`: a bilinear form between
    queries and keys, so that they may have different sizes.

    Parameters
    ----------
    d_query : int
        Size of each query.
    d_key : int
        Size of each key.
    dropout : float
        Dropout probability on the attention weights (``train()`` only).

    Attributes
    ----------
    W_key : torch.nn.Linear
        ``d_key -> d_query``, no bias: the matrix :math:`W` applied to the keys.

    Examples
    --------
    >>> import torch
    >>> from attnbook import MultiplicativeAttention
    >>> _ = torch.manual_seed(123)
    >>> attention = MultiplicativeAttention(d_query=4, d_key=3)
    >>> context_vec, attn_weights = attention(torch.rand(1, 4), torch.rand(5, 3), torch.rand(5, 2))
    >>> context_vec.shape, attn_weights.shape
    (torch.Size([1, 2]), torch.Size([1, 5]))
    """

    def __init__(self, d_query, d_key, dropout=0.0):
        super().__init__()
        self.d_query, self.d_key, self.dropout = d_query, d_key, dropout
        self.W_key = nn.Linear(d_key, d_query, bias=False)

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
        return scaled_dot_product_attention(
            query, self.W_key(key), value, attn_mask=attn_mask, scale=1.0,
            dropout_p=self.dropout if self.training else 0.0,
        )
