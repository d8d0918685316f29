"""Small, seeded experiments of the book: generated tasks, models and one training loop.

Everything here runs on a CPU in seconds, draws every random number from an
explicit seed, and downloads nothing.
"""

from .seq2seq import Seq2Seq, greedy_accuracy, seq2seq_loss
from .tasks import BOS_ID, PAD_ID, lag_copy_batch, reverse_batch
from .training import TrainingResult, train

__all__ = [
    "BOS_ID",
    "PAD_ID",
    "Seq2Seq",
    "TrainingResult",
    "greedy_accuracy",
    "lag_copy_batch",
    "reverse_batch",
    "seq2seq_loss",
    "train",
]
