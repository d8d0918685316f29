"""A generated translation task: dates written out in words -> ISO dates.

"twenty first of march nineteen ninety nine" -> "1999-03-21". The target puts the
year first, the source puts it last (in both of its word orders), so a model has to
learn a non-monotonic alignment.
"""

import numpy as np
import torch

from .tasks import BOS_ID, PAD_ID, HeldOutSplitMixin

MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december")
_UNITS = ("", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_TEENS = ("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
          "seventeen", "eighteen", "nineteen")
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_ORDINAL_UNITS = ("", "first", "second", "third", "fourth", "fifth", "sixth", "seventh",
                  "eighth", "ninth")
_ORDINAL_TEENS = ("tenth", "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth",
                  "sixteenth", "seventeenth", "eighteenth", "nineteenth")
_ORDINAL_TENS = {20: "twentieth", 30: "thirtieth"}
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
FIELDS = ("year", "month", "day")
#: The characters of each field in the target ``YYYY-MM-DD``.
TARGET_POSITIONS = {"year": [0, 1, 2, 3], "month": [5, 6], "day": [8, 9]}


def _cardinal(n):
    """Words of 1 <= n <= 99."""
    if n < 10:
        return [_UNITS[n]]
    if n < 20:
        return [_TEENS[n - 10]]
    return [_TENS[n // 10]] + ([_UNITS[n % 10]] if n % 10 else [])


def _ordinal(n):
    """Words of the ordinal of 1 <= n <= 31."""
    if n < 10:
        return [_ORDINAL_UNITS[n]]
    if n < 20:
        return [_ORDINAL_TEENS[n - 10]]
    if n % 10 == 0:
        return [_ORDINAL_TENS[n]]
    return [_TENS[n // 10], _ORDINAL_UNITS[n % 10]]


def year_words(year):
    """Words of a year between 1901 and 2099, as spoken: "nineteen ninety nine"."""
    if not 1901 <= year <= 2099:
        raise ValueError(f"expected a year between 1901 and 2099, got {year}")
    if year < 2000:
        return ["nineteen", *_cardinal(year - 1900)] if year % 100 >= 10 else \
               ["nineteen", "oh", *_cardinal(year % 100)]
    if year < 2010:
        return ["two", "thousand", *_cardinal(year - 2000)] if year > 2000 else ["two", "thousand"]
    return ["twenty", *_cardinal(year - 2000)]


def word_fields(year, month, day, style):
    """The field each word of :func:`date_to_words` writes.

    Returns
    -------
    list of str or None
        One entry per word: ``"year"``, ``"month"``, ``"day"``, or None for
        "of", which writes no digit.

    Examples
    --------
    >>> from attnbook.experiments.dates import word_fields
    >>> word_fields(1999, 3, 21, "day-month-year")
    ['day', 'day', None, 'month', 'year', 'year', 'year']
    """
    year_part = ["year"] * len(year_words(year))
    day_part = ["day"] * len(_ordinal(day))
    if style == "day-month-year":
        return [*day_part, None, "month", *year_part]
    if style == "month-day-year":
        return ["month", *day_part, *year_part]
    raise ValueError(f"style must be 'day-month-year' or 'month-day-year', got {style!r}")


def date_to_words(year, month, day, style):
    """Write a date out in words.

    Parameters
    ----------
    year, month, day : int
    style : str
        ``"day-month-year"`` ("twenty first of march nineteen ninety nine") or
        ``"month-day-year"`` ("march twenty first nineteen ninety nine").

    Returns
    -------
    list of str

    Examples
    --------
    >>> from attnbook.experiments.dates import date_to_words
    >>> " ".join(date_to_words(1999, 3, 21, "day-month-year"))
    'twenty first of march nineteen ninety nine'
    >>> " ".join(date_to_words(2007, 11, 2, "month-day-year"))
    'november second two thousand seven'
    """
    if style == "day-month-year":
        return [*_ordinal(day), "of", MONTHS[month - 1], *year_words(year)]
    if style == "month-day-year":
        return [MONTHS[month - 1], *_ordinal(day), *year_words(year)]
    raise ValueError(f"style must be 'day-month-year' or 'month-day-year', got {style!r}")


class DateDataset(HeldOutSplitMixin):
    """Pairs of dates in words and ISO dates, as padded token-id tensors.

    The dates are distinct: they are drawn without replacement from the 36,500
    days of 1950-01-01 to 2049-12-31 (no 29 February), every day equally likely,
    and each is written in one of the two styles of :func:`date_to_words` at
    random. Since no date occurs twice, a held-out split (:meth:`split`) shares no
    example and no date with the training set.

    Parameters
    ----------
    num_dates : int
        At most 36,500.
    seed : int
        Seed of the NumPy generator.

    Attributes
    ----------
    src_words : tuple of str
        Source vocabulary; ids 0 and 1 are ``<pad>`` and ``<bos>``.
    tgt_chars : tuple of str
        Target vocabulary: ``<pad>``, ``<bos>``, the digits and ``-``.
    src : torch.Tensor of shape (num_dates, max_src_len)
        Source ids, right-padded with :data:`PAD_ID`.
    tgt : torch.Tensor of shape (num_dates, 10)
        Target ids of ``YYYY-MM-DD``.
    dates : list of tuple of int
        ``(year, month, day)`` of every pair.
    src_fields : torch.Tensor of shape (num_dates, max_src_len)
        For every source word, the index into :data:`FIELDS` (year, month, day)
        of the field it writes; -1 for "of" and for padding.
    month_first : torch.Tensor of shape (num_dates,)
        True for the sources written ``"month-day-year"``.

    Examples
    --------
    >>> from attnbook.experiments import DateDataset
    >>> data = DateDataset(num_dates=5, seed=0)
    >>> data.decode_src(data.src[0]), data.decode_tgt(data.tgt[0])
    ('september tenth twenty thirteen', '2013-09-10')
    """

    def __init__(self, num_dates, seed=0):
        days_per_year = sum(_DAYS_IN_MONTH)
        if not 1 <= num_dates <= 100 * days_per_year:
            raise ValueError(f"num_dates must be between 1 and {100 * days_per_year} (distinct "
                             f"dates of 1950-2049), got {num_dates}")
        rng = np.random.default_rng(seed)
        month_starts = np.cumsum((0, *_DAYS_IN_MONTH))
        words, fields, self.dates = [], [], []
        styles = ("day-month-year", "month-day-year")
        for index in rng.choice(100 * days_per_year, size=num_dates, replace=False):
            year, day_of_year = 1950 + int(index) // days_per_year, int(index) % days_per_year
            month = int(np.searchsorted(month_starts, day_of_year, side="right"))
            day = day_of_year - int(month_starts[month - 1]) + 1
            self.dates.append((year, month, day))
            style = styles[int(rng.integers(2))]
            words.append(date_to_words(year, month, day, style))
            fields.append(word_fields(year, month, day, style))
        vocab = sorted({w for sentence in words for w in sentence})
        self.src_words = ("<pad>", "<bos>", *vocab)
        self.tgt_chars = ("<pad>", "<bos>", *"0123456789-")
        self._src_index = {w: i for i, w in enumerate(self.src_words)}
        self._tgt_index = {c: i for i, c in enumerate(self.tgt_chars)}
        max_len = max(len(w) for w in words)
        self.src = torch.full((num_dates, max_len), PAD_ID, dtype=torch.long)
        self.src_fields = torch.full((num_dates, max_len), -1, dtype=torch.long)
        for i, sentence in enumerate(words):
            self.src[i, :len(sentence)] = torch.tensor([self._src_index[w] for w in sentence])
            self.src_fields[i, :len(sentence)] = torch.tensor(
                [-1 if f is None else FIELDS.index(f) for f in fields[i]])
        self.month_first = torch.tensor([f[0] == "month" for f in fields])
        self.tgt = torch.tensor([[self._tgt_index[c] for c in f"{y:04d}-{m:02d}-{d:02d}"]
                                 for y, m, d in self.dates])
        self._tensors = (self.src, self.tgt)

    def batch(self, generator, indices, batch_size=64):
        """A random batch ``(src, tgt)`` from ``indices``; the source is trimmed to its
        longest row."""
        src, tgt = super().batch(generator, indices, batch_size)
        return src[:, :int((src != PAD_ID).sum(1).max())], tgt

    def decode_src(self, ids):
        """The words of a source row, padding removed, joined by spaces."""
        return " ".join(self.src_words[i] for i in ids.tolist() if i not in (PAD_ID, BOS_ID))

    def decode_tgt(self, ids):
        """The characters of a target row, padding removed."""
        return "".join(self.tgt_chars[i] for i in ids.tolist() if i not in (PAD_ID, BOS_ID))


