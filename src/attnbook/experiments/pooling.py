"""Attention pooling: one learned query reads a set of vectors."""

import torch
from torch import nn

from .._checks import check_tokens
from ..scaled_dot import scaled_dot_product_attention


class AttentionPooling(nn.Module):
    """Summarise ``(batch, num_items, d_in)`` vectors into ``(batch, d_in)``.

    A learned query vector scores every item's key (a projection of the item) with
    scaled dot-product attention, and the result is the weighted average of the
    items. The weights say which items the summary was read from.

    Parameters
    ----------
    d_in : int
        Size of each item.
    d_attn : int
        Size of the query and the keys.

    Attributes
    ----------
    query : torch.nn.Parameter of shape (d_attn,)
    W_key : torch.nn.Linear
        ``d_in -> d_attn``.

    Examples
    --------
    >>> import torch
    >>> from attnbook.experiments import AttentionPooling
    >>> pooled, weights = AttentionPooling(d_in=5, d_attn=4)(torch.randn(2, 7, 5))
    >>> pooled.shape, weights.shape
    (torch.Size([2, 5]), torch.Size([2, 7]))
    """

    def __init__(self, d_in, d_attn):
        super().__init__()
        self.d_in = d_in
        self.query = nn.Parameter(torch.randn(d_attn) / d_attn**0.5)
        self.W_key = nn.Linear(d_in, d_attn)

    def forward(self, items, mask=None):
        """Pool ``items`` of shape ``(batch, num_items, d_in)``.

        Parameters
        ----------
        items : torch.Tensor of shape (batch, num_items, d_in)
        mask : torch.Tensor of shape (batch, num_items), optional
            Bool, True for items that may be read.

        Returns
        -------
        pooled : torch.Tensor of shape (batch, d_in)
        attn_weights : torch.Tensor of shape (batch, num_items)
        """
        check_tokens(items, self.d_in, "items", batched=True)
        query = self.query.expand(items.shape[0], 1, -1)  # (batch, 1, d_attn)
        attn_mask = None if mask is None else mask.unsqueeze(1)  # (batch, 1, num_items)
        pooled, attn_weights = scaled_dot_product_attention(
            query, self.W_key(items), items, attn_mask=attn_mask)
        return pooled.squeeze(1), attn_weights.squeeze(1)
