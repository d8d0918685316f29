"""Multiplicative ("general") attention of Luong et al. (chapter 7)."""

from torch import nn

from ._checks import check_tokens
from .scaled_dot import scaled_dot_product_attention


class MultiplicativeAttention(nn.Module):
    r"""Luong's "general" score :math:`e(q, k) = q W k^\top`: a bilinear form
    between a query and a key (row vectors), with
    :math:`W \in \mathbb{R}^{d_q \times d_k}`, so that they may have different
    sizes. It is a dot product after projecting the keys: :math:`q (k W^\top)^\top`.

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
        ``d_key -> d_query``, no bias, applied to the keys: :math:`W` is
        ``W_key.weight``, of shape ``(d_query, d_key)``.

    Notes
    -----
    The scores are not scaled. At PyTorch's default initialisation the entries
    of :math:`W` are uniform in :math:`\pm 1/\sqrt{d_k}`, with variance
    :math:`1/(3 d_k)`, so for queries and keys with independent unit-variance
    entries :math:`\operatorname{Var}(q W k^\top) = d_q / 3`: like the unscaled
    dot product, the score grows with the size and the softmax saturates
    (see :ref:`chap-scoring`). Dividing by :math:`\sqrt{d_q}` undoes it:
    ``scaled_dot_product_attention(query, self.W_key(key), value)``.

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
