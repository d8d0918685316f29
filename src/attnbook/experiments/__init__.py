"""Small, seeded experiments of the book: generated tasks, models and one training loop.

Everything here runs on a CPU in seconds, draws every random number from an
explicit seed, and downloads nothing.
"""

from .tasks import lag_copy_batch
from .training import TrainingResult, train

__all__ = ["TrainingResult", "lag_copy_batch", "train"]
