"""attnbook: attention mechanisms from scratch, the tested code of the book.

The public names below follow the order in which the book builds them.
"""

from . import data, reference
from .additive import AdditiveAttention
from .causal import CausalAttention
from .multihead import MultiHeadAttention, MultiHeadAttentionWrapper
from .multiplicative import MultiplicativeAttention
from .scaled_dot import (
    SelfAttentionV1,
    SelfAttentionV2,
    apply_attn_mask,
    causal_mask,
    scaled_dot_product_attention,
)
from .simplified import simplified_self_attention, softmax, softmax_naive

__version__ = "0.1.0"

__all__ = [
    "AdditiveAttention",
    "CausalAttention",
    "MultiHeadAttention",
    "MultiHeadAttentionWrapper",
    "MultiplicativeAttention",
    "SelfAttentionV1",
    "SelfAttentionV2",
    "apply_attn_mask",
    "causal_mask",
    "data",
    "reference",
    "scaled_dot_product_attention",
    "simplified_self_attention",
    "softmax",
    "softmax_naive",
]
