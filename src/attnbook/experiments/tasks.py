"""Generated tasks: every batch is drawn from an explicit :class:`torch.Generator`."""

import torch


def lag_copy_batch(generator, batch_size=128, num_tokens=10, d_x=8, lags=(1, 2)):
    """A task that two attention heads can split between them.

    Each input token is a random vector ``x_t`` of size ``d_x`` followed by a
    one-hot encoding of its position ``t``. The target at position ``t`` is made
    of ``len(lags)`` equal slices: slice ``h`` copies the same slice of
    ``x_{t - lags[h]}`` (zero where that position does not exist). A causal
    multi-head attention layer with one head per lag solves it exactly, each head
    attending ``lags[h]`` tokens back.

    Parameters
    ----------
    generator : torch.Generator
    batch_size, num_tokens, d_x : int
        ``d_x`` must be divisible by ``len(lags)``.
    lags : tuple of int

    Returns
    -------
    inputs : torch.Tensor of shape (batch_size, num_tokens, d_x + num_tokens)
    targets : torch.Tensor of shape (batch_size, num_tokens, d_x)

    Examples
    --------
    >>> import torch
    >>> from attnbook.experiments import lag_copy_batch
    >>> inputs, targets = lag_copy_batch(torch.Generator().manual_seed(0), batch_size=2)
    >>> inputs.shape, targets.shape
    (torch.Size([2, 10, 18]), torch.Size([2, 10, 8]))
    >>> torch.equal(targets[:, 3, :4], inputs[:, 2, :4])  # slice 0: one token back
    True
    """
    if d_x % len(lags) != 0:
        raise ValueError(f"d_x must be divisible by len(lags): got d_x={d_x}, lags={lags}")
    if max(lags) >= num_tokens:
        raise ValueError(f"every lag must be < num_tokens={num_tokens}, got lags={lags}")
    x = torch.randn(batch_size, num_tokens, d_x, generator=generator)
    positions = torch.eye(num_tokens).expand(batch_size, num_tokens, num_tokens)
    targets = torch.zeros(batch_size, num_tokens, d_x)
    width = d_x // len(lags)
    for h, lag in enumerate(lags):
        features = slice(h * width, (h + 1) * width)
        targets[:, lag:, features] = x[:, :-lag, features]
    return torch.cat([x, positions], dim=-1), targets


#: Token ids shared by the sequence tasks: padding and the decoder's start token.
PAD_ID, BOS_ID = 0, 1


def reverse_batch(generator, batch_size=64, min_len=4, max_len=24, num_symbols=10):
    """Random symbol sequences and their reversals, one random length per batch.

    Symbols are the ids ``2 .. num_symbols + 1`` (0 and 1 are :data:`PAD_ID` and
    :data:`BOS_ID`), so the vocabulary size is ``num_symbols + 2``. All sequences of
    a batch have the same length, drawn uniformly from ``min_len .. max_len``, so
    no padding is needed.

    Parameters
    ----------
    generator : torch.Generator
    batch_size, min_len, max_len, num_symbols : int

    Returns
    -------
    src : torch.Tensor of shape (batch_size, num_tokens)
    tgt : torch.Tensor of shape (batch_size, num_tokens)
        ``src`` reversed along the tokens.

    Examples
    --------
    >>> import torch
    >>> from attnbook.experiments import reverse_batch
    >>> src, tgt = reverse_batch(torch.Generator().manual_seed(0), batch_size=2, max_len=6)
    >>> torch.equal(tgt, src.flip(1))
    True
    """
    if not 1 <= min_len <= max_len:
        raise ValueError(f"expected 1 <= min_len <= max_len, got min_len={min_len}, "
                         f"max_len={max_len}")
    num_tokens = int(torch.randint(min_len, max_len + 1, (1,), generator=generator))
    src = torch.randint(2, num_symbols + 2, (batch_size, num_tokens), generator=generator)
    return src, src.flip(1)


class HeldOutSplitMixin:
    """A generated data set of aligned tensors, with a held-out split and random batches.

    A class using it sets ``_tensors`` to a tuple of tensors whose first dimension
    indexes the examples, such as ``(inputs, labels)``.
    """

    _tensors = ()

    def __len__(self):
        return len(self._tensors[0])

    def split(self, num_test):
        """Index tensors ``(train, test)``: the last ``num_test`` examples are held out."""
        if not 0 < num_test < len(self):
            raise ValueError(f"num_test must be between 1 and {len(self) - 1}, got {num_test}")
        indices = torch.arange(len(self))
        return indices[:-num_test], indices[-num_test:]

    def batch(self, generator, indices, batch_size=64):
        """A random batch (one tensor per entry of ``_tensors``) drawn from ``indices``."""
        rows = indices[torch.randint(0, len(indices), (batch_size,), generator=generator)]
        return tuple(t[rows] for t in self._tensors)
