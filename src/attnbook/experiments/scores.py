"""One translator, three scoring functions: the comparison of chapter 7, trained.

:func:`date_translator` builds the date translator of chapter 8 (a
:class:`~attnbook.experiments.Seq2Seq` with attention in Luong's placement)
with the additive, the general or the scaled dot-product score. Everything but
the scoring module is the same model, with the same initial weights for the
same seed, and each scoring module has about the same number of parameters.
"""

from torch import nn

from .._checks import check_tokens
from ..additive import AdditiveAttention
from ..multiplicative import MultiplicativeAttention
from ..scaled_dot import scaled_dot_product_attention
from .seq2seq import Seq2Seq

SCORES = ("additive", "general", "scaled dot-product")


class ProjectedDotProductAttention(nn.Module):
    r"""Scaled dot-product attention behind learned query and key projections.

    The score of a query :math:`q` and a key :math:`k` (row vectors) is
    :math:`e(q, k) = (q W_q)(k W_k)^\top / \sqrt{d_k}`, as in a Transformer's
    attention head (without a value projection: the values are averaged as
    they are). The projections let queries and keys have different sizes.

    Parameters
    ----------
    d_query : int
        Size of each query.
    d_key : int
        Size of each key.
    d_k : int
        Size of the projected queries and keys.

    Attributes
    ----------
    W_query : torch.nn.Linear
        ``d_query -> d_k``, no bias.
    W_key : torch.nn.Linear
        ``d_key -> d_k``, no bias.

    Examples
    --------
    >>> import torch
    >>> from attnbook.experiments.scores import ProjectedDotProductAttention
    >>> _ = torch.manual_seed(0)
    >>> attention = ProjectedDotProductAttention(d_query=4, d_key=3, d_k=2)
    >>> context_vec, attn_weights = attention(torch.rand(2, 1, 4), torch.rand(2, 5, 3),
    ...                                       torch.rand(2, 5, 6))
    >>> context_vec.shape, attn_weights.shape
    (torch.Size([2, 1, 6]), torch.Size([2, 1, 5]))
    """

    def __init__(self, d_query, d_key, d_k):
        super().__init__()
        self.d_query, self.d_key = d_query, d_key
        self.W_query = nn.Linear(d_query, d_k, bias=False)
        self.W_key = nn.Linear(d_key, d_k, bias=False)

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
        return scaled_dot_product_attention(self.W_query(query), self.W_key(key), value,
                                            attn_mask=attn_mask)


def scoring_module(score, d_query, d_key, d_attn):
    """An attention module with the named score, ``(query, key, value, attn_mask)`` in,
    ``(context_vec, attn_weights)`` out.

    Parameters
    ----------
    score : str
        One of :data:`SCORES`: ``"additive"`` (:class:`attnbook.AdditiveAttention`
        with ``d_hidden=d_attn``), ``"general"``
        (:class:`attnbook.MultiplicativeAttention`, unscaled, as Luong et al.
        wrote it) or ``"scaled dot-product"``
        (:class:`ProjectedDotProductAttention` with ``d_k=d_attn``).
    d_query, d_key : int
        Sizes of the queries and the keys.
    d_attn : int
        Hidden size of the additive score, projected size of the scaled dot
        product; the general score has none.

    Returns
    -------
    torch.nn.Module

    Examples
    --------
    >>> from attnbook.experiments.scores import SCORES, scoring_module
    >>> {s: sum(p.numel() for p in scoring_module(s, 64, 64, 32).parameters())
    ...  for s in SCORES}
    {'additive': 4128, 'general': 4096, 'scaled dot-product': 4096}
    """
    if score == "additive":
        return AdditiveAttention(d_query, d_key, d_hidden=d_attn)
    if score == "general":
        return MultiplicativeAttention(d_query, d_key)
    if score == "scaled dot-product":
        return ProjectedDotProductAttention(d_query, d_key, d_k=d_attn)
    raise ValueError(f"score must be one of {SCORES}, got {score!r}")


def date_translator(score, src_vocab_size, tgt_vocab_size, d_embed=32, d_hidden=64, d_attn=32):
    """The date translator of chapter 8 with the named scoring function.

    A :class:`~attnbook.experiments.Seq2Seq` with attention in Luong's placement
    (the query is the decoder's new state, the keys and values the encoder's
    states, both of size ``d_hidden``), whose attention module is replaced by
    :func:`scoring_module`. The replacement is drawn after every other weight,
    so the same global seed gives the same encoder, decoder and readout for
    every score.

    Parameters
    ----------
    score : str
        One of :data:`SCORES`.
    src_vocab_size, tgt_vocab_size, d_embed, d_hidden : int
        As for :class:`~attnbook.experiments.Seq2Seq`.
    d_attn : int
        As for :func:`scoring_module`.

    Returns
    -------
    Seq2Seq

    Examples
    --------
    >>> import torch
    >>> from attnbook.experiments.scores import date_translator
    >>> _ = torch.manual_seed(0)
    >>> model = date_translator("general", src_vocab_size=12, tgt_vocab_size=13)
    >>> type(model.attention).__name__
    'MultiplicativeAttention'
    >>> logits, attn_weights = model(torch.randint(2, 12, (4, 9)), torch.randint(2, 13, (4, 10)))
    >>> logits.shape, attn_weights.shape
    (torch.Size([4, 10, 13]), torch.Size([4, 10, 9]))
    """
    if score not in SCORES:
        raise ValueError(f"score must be one of {SCORES}, got {score!r}")
    model = Seq2Seq(src_vocab_size, tgt_vocab_size, d_embed=d_embed, d_hidden=d_hidden,
                    attention=True, d_attn=d_attn)
    if score != "additive":
        model.attention = scoring_module(score, d_hidden, d_hidden, d_attn)
    return model


__all__ = ["SCORES", "ProjectedDotProductAttention", "date_translator", "scoring_module"]
