"""Small, seeded experiments of the book: generated tasks, models and one training loop.

Everything here runs on a CPU in seconds, draws every random number from an
explicit seed, and downloads nothing.
"""

from .date_text import DateTextDataset, language_model_loss
from .dates import DateDataset, date_to_words
from .masked_lm import (
    MaskedWordModel,
    WordVocabulary,
    masked_word_batch,
    masked_word_loss,
    masked_word_losses,
)
from .order import (
    SCHEMES,
    OrderModel,
    PositionalSelfAttention,
    copy_back_batch,
    held_out,
    order_blind_accuracy,
    token_accuracy,
    token_loss,
)
from .pooling import AttentionPooling
from .scores import SCORES, ProjectedDotProductAttention, date_translator, scoring_module
from .seq2seq import Seq2Seq, greedy_accuracy, seq2seq_loss
from .speech import SOUND_CLASSES, SoundClassifier, SoundDataset, spectrogram
from .summarize import DocumentDataset, SalienceModel, classification_loss
from .tasks import BOS_ID, PAD_ID, lag_copy_batch, reverse_batch
from .training import TrainingResult, train
from .vision import (
    SHAPE_CLASSES,
    MeanMixing,
    ShapesDataset,
    VisionTransformer,
    attention_rollout,
)

__all__ = [
    "BOS_ID",
    "PAD_ID",
    "SCHEMES",
    "SCORES",
    "SHAPE_CLASSES",
    "SOUND_CLASSES",
    "AttentionPooling",
    "DateDataset",
    "DateTextDataset",
    "DocumentDataset",
    "MaskedWordModel",
    "MeanMixing",
    "OrderModel",
    "PositionalSelfAttention",
    "ProjectedDotProductAttention",
    "SalienceModel",
    "Seq2Seq",
    "ShapesDataset",
    "SoundClassifier",
    "SoundDataset",
    "TrainingResult",
    "VisionTransformer",
    "WordVocabulary",
    "attention_rollout",
    "classification_loss",
    "copy_back_batch",
    "date_to_words",
    "date_translator",
    "greedy_accuracy",
    "held_out",
    "lag_copy_batch",
    "language_model_loss",
    "masked_word_batch",
    "masked_word_loss",
    "masked_word_losses",
    "order_blind_accuracy",
    "reverse_batch",
    "scoring_module",
    "seq2seq_loss",
    "spectrogram",
    "token_accuracy",
    "token_loss",
    "train",
]
