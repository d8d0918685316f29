"""Generated text for a tiny language model: ISO dates followed by the same date in
words, "2035-08-16 = sixteenth of august twenty thirty five ." (chapter 10)."""

import numpy as np
import torch

from .dates import _DAYS_IN_MONTH, date_to_words
from .tasks import PAD_ID, HeldOutSplitMixin

_ISO_CHARS = set("0123456789-")


def _all_dates():
    """Every date from 1950-01-01 to 2049-12-31 without 29 February."""
    return [(year, month, day) for year in range(1950, 2050) for month in range(1, 13)
            for day in range(1, _DAYS_IN_MONTH[month - 1] + 1)]


class DateTextDataset(HeldOutSplitMixin):
    """Lines of text "source = target ." for distinct random dates, as token ids.

    The source is the ISO date, one token per character (10 tokens); ``=``
    separates it from the target, the date written out in words, one token per
    word, in the ``"day-month-year"`` style of
    :func:`attnbook.experiments.date_to_words`; ``.`` ends the line. A decoder-only
    language model trained on these lines translates a date when prompted with its
    first :attr:`prompt_length` tokens. Every date occurs at most once, so the
    last ``num_test`` lines of :meth:`split` share no date with the others.

    Parameters
    ----------
    num_dates : int
        At most 36,500 (the dates from 1950 to 2049).
    seed : int
        Seed of the NumPy generator that picks the dates.

    Attributes
    ----------
    dates : list of tuple of int
        ``(year, month, day)`` of every line.
    vocab : tuple of str
        The tokens; id 0 is ``<pad>`` (``PAD_ID``).
    tokens : torch.Tensor of shape (num_dates, max_len)
        The ids of every line, right-padded with ``PAD_ID``.
    prompt_length : int
        11: the ISO date and ``=``.

    Examples
    --------
    >>> from attnbook.experiments import DateTextDataset
    >>> data = DateTextDataset(num_dates=3, seed=0)
    >>> data.decode(data.tokens[0])
    '2013-09-11 = eleventh of september twenty thirteen .'
    >>> data.decode(data.tokens[0, :data.prompt_length])
    '2013-09-11 ='
    """

    prompt_length = 11

    def __init__(self, num_dates, seed=0):
        dates = _all_dates()
        if not 1 <= num_dates <= len(dates):
            raise ValueError(f"num_dates must be between 1 and {len(dates)}, got {num_dates}")
        rng = np.random.default_rng(seed)
        self.dates = [dates[i] for i in rng.choice(len(dates), size=num_dates, replace=False)]
        lines = [[*f"{y:04d}-{m:02d}-{d:02d}", "=", *date_to_words(y, m, d, "day-month-year"),
                  "."] for y, m, d in self.dates]
        self.vocab = ("<pad>", *sorted({token for line in lines for token in line}))
        self._index = {token: i for i, token in enumerate(self.vocab)}
        self.tokens = torch.full((num_dates, max(map(len, lines))), PAD_ID, dtype=torch.long)
        for i, line in enumerate(lines):
            self.tokens[i, :len(line)] = torch.tensor(self.encode(line))
        self._tensors = (self.tokens,)

    def encode(self, tokens):
        """The ids of a sequence of tokens (a ``ValueError`` names an unknown one)."""
        unknown = [t for t in tokens if t not in self._index]
        if unknown:
            raise ValueError(f"tokens not in the vocabulary: {unknown}")
        return [self._index[t] for t in tokens]

    def decode(self, ids):
        """Text of a row of ids, up to the first ``.`` or padding; the characters of
        the ISO date are joined without spaces."""
        text, previous = "", None
        for i in ids.tolist():
            if i == PAD_ID:
                break
            token = self.vocab[i]
            iso = token in _ISO_CHARS and previous in _ISO_CHARS
            text += token if previous is None or iso else " " + token
            previous = token
            if token == ".":
                break
        return text


def language_model_loss(model, batch):
    """Next-token cross-entropy of a language model, ignoring padding.

    Parameters
    ----------
    model : torch.nn.Module
        Maps ids ``(batch, num_tokens)`` to logits ``(batch, num_tokens, vocab_size)``,
        such as :class:`attnbook.GPTModel`.
    batch : tuple
        One tensor of token ids of shape ``(batch, num_tokens)``, as the ``batch``
        method of :class:`DateTextDataset` returns it.

    Returns
    -------
    torch.Tensor
        A scalar: the mean over every predicted token that is not padding.

    Examples
    --------
    >>> import torch
    >>> from attnbook import GPTModel
    >>> from attnbook.experiments import DateTextDataset, language_model_loss
    >>> data = DateTextDataset(num_dates=8)
    >>> _ = torch.manual_seed(0)
    >>> gpt = GPTModel(len(data.vocab), data.tokens.shape[1], d_model=16, num_layers=1,
    ...                num_heads=2)
    >>> loss = language_model_loss(gpt, (data.tokens,))
    >>> abs(loss.item() - torch.log(torch.tensor(len(data.vocab))).item()) < 0.1  # untrained
    True
    """
    (tokens,) = batch
    logits = model(tokens[:, :-1])  # (batch, num_tokens - 1, vocab_size)
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten(),
                                             ignore_index=PAD_ID)
