"""How the book states numbers: bounds rounded in the safe direction, shares beside uniform.

A sentence such as "within 0.005 of the original weights" is a bound: a reader may
rely on it. Rounding the measured 0.0054 to three decimals to print it would make
the sentence false. :func:`at_most` and :func:`at_least` round *outwards*, so the
printed number is a true bound for the measured one, and every bound the book glues
into its prose goes through one of them (``tests/test_chapters.py`` checks this).

A share of attention ("65% of the weight falls on the source") means little until
it stands beside what uniform attention over the same keys would put there:
:func:`share_with_uniform` returns both.
"""

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import torch

__all__ = ["at_least", "at_most", "share_with_uniform"]


def _round_outwards(value, digits, percent, rounding):
    if isinstance(value, torch.Tensor):
        value = value.detach()
    number = Decimal(repr(float(value)))  # the float's shortest repr, not its binary tail
    if percent:
        number *= 100
    quantum = Decimal(1).scaleb(-digits)
    return f"{number.quantize(quantum, rounding=rounding):,.{digits}f}"


def at_most(value, digits=2, *, percent=False):
    """``value`` rounded *up* to ``digits`` decimals, as text: safe after "at most".

    Use it for every upper bound in prose: "at most", "within", "below",
    "no more than", "never above".

    Parameters
    ----------
    value : float or torch.Tensor of shape ()
        The measured number.
    digits : int
        Decimals to print.
    percent : bool
        Print ``100 * value`` (the caller writes the ``%`` sign).

    Returns
    -------
    str
        The smallest number with ``digits`` decimals that is not below ``value``.

    Examples
    --------
    >>> at_most(0.0054, 3)
    '0.006'
    >>> at_most(0.0649)
    '0.07'
    >>> at_most(0.07)
    '0.07'
    >>> at_most(0.04251, 1, percent=True)
    '4.3'
    """
    return _round_outwards(value, digits, percent, ROUND_CEILING)


def at_least(value, digits=2, *, percent=False):
    """``value`` rounded *down* to ``digits`` decimals, as text: safe after "at least".

    Use it for every lower bound in prose: "at least", "above", "more than",
    "never below". A strict bound ("more than") also needs ``value`` to differ
    from the printed number: assert it where the two could be equal.

    Parameters
    ----------
    value : float or torch.Tensor of shape ()
        The measured number.
    digits : int
        Decimals to print.
    percent : bool
        Print ``100 * value`` (the caller writes the ``%`` sign).

    Returns
    -------
    str
        The largest number with ``digits`` decimals that is not above ``value``.

    Examples
    --------
    >>> at_least(0.967, 2, percent=True)
    '96.70'
    >>> at_least(0.9669, 1, percent=True)
    '96.6'
    >>> at_least(0.99996)
    '0.99'
    """
    return _round_outwards(value, digits, percent, ROUND_FLOOR)


def share_with_uniform(attn_weights, selected, allowed=None):
    """The share of attention on ``selected`` keys, and what uniform attention puts there.

    Parameters
    ----------
    attn_weights : torch.Tensor of shape (..., num_queries, num_keys)
        Attention weights; each row sums to one over its allowed keys.
    selected : torch.Tensor of shape (..., num_queries, num_keys), bool
        The keys whose share is measured, per query (broadcastable).
    allowed : torch.Tensor of shape (..., num_queries, num_keys), bool, optional
        The keys each query may attend to (``True`` = may attend; broadcastable),
        e.g. the causal or padding mask. Default: every key.

    Returns
    -------
    share : float
        The weight on ``selected`` keys, averaged over every query.
    uniform : float
        The same average for uniform attention over each query's allowed keys:
        the baseline the share is to be read against.

    Raises
    ------
    ValueError
        If the masks do not broadcast to ``attn_weights``' shape, or a query has
        no allowed key.

    Examples
    --------
    >>> w = torch.tensor([[0.7, 0.2, 0.1], [0.5, 0.5, 0.0]])
    >>> sel = torch.tensor([True, False, False]).expand(2, 3)
    >>> allowed = torch.tensor([[1, 1, 1], [1, 1, 0]]).bool()
    >>> share, uniform = share_with_uniform(w, sel, allowed)
    >>> round(share, 3), round(uniform, 3)
    (0.6, 0.417)
    """
    shape = attn_weights.shape
    if allowed is None:
        allowed = torch.ones(shape, dtype=torch.bool)
    try:
        selected = torch.broadcast_to(selected, shape).bool()
        allowed = torch.broadcast_to(allowed, shape).bool()
    except RuntimeError:
        raise ValueError(
            f"selected and allowed must broadcast to attn_weights' shape "
            f"(..., num_queries, num_keys) = {tuple(shape)}"
        ) from None
    counts = allowed.sum(-1)
    if (counts == 0).any():
        raise ValueError("every query needs at least one allowed key")
    share = (attn_weights * selected).sum(-1).mean()
    uniform = ((selected & allowed).sum(-1) / counts).mean()
    return float(share), float(uniform)
