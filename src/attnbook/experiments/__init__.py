"""Small, seeded experiments of the book: generated tasks, models and one training loop.

Everything here runs on a CPU in seconds, draws every random number from an
explicit seed, and downloads nothing.
"""

from .masked_lm import (
    MaskedWordModel,
    WordVocabulary,
    masked_word_batch,
    masked_word_loss,
)
from .seq2seq import Seq2Seq, greedy_accuracy, seq2seq_loss
from .tasks import BOS_ID, PAD_ID, lag_copy_batch, reverse_batch
from .training import TrainingResult, train

__all__ = [
    "BOS_ID",
    "PAD_ID",
    "MaskedWordModel",
    "Seq2Seq",
    "TrainingResult",
    "WordVocabulary",
    "greedy_accuracy",
    "lag_copy_batch",
    "masked_word_batch",
    "masked_word_loss",
    "reverse_batch",
    "seq2seq_loss",
    "train",
]
