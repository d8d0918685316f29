"""attnbook: attention mechanisms from scratch, the tested code of the book.

The public names below follow the order in which the book builds them.
"""

from . import data, reference
from .additive import AdditiveAttention
from .cache import KVCache
from .causal import CausalAttention
from .chunked import chunked_attention
from .gqa import GroupedQueryAttention
from .multihead import MultiHeadAttention, MultiHeadAttentionWrapper
from .multiplicative import MultiplicativeAttention
from .positions import alibi_bias, apply_rope, sinusoidal_positions, t5_relative_buckets
from .scaled_dot import (
    SelfAttentionV1,
    SelfAttentionV2,
    apply_attn_mask,
    causal_mask,
    padding_mask,
    scaled_dot_product_attention,
)
from .simplified import simplified_self_attention, softmax, softmax_naive
from .transformer import (
    FeedForward,
    GPTModel,
    LlamaBlock,
    RMSNorm,
    SwiGLU,
    TransformerDecoderBlock,
    TransformerEncoderBlock,
    gpt2_small_config,
)

__version__ = "0.1.0"

__all__ = [
    "AdditiveAttention",
    "CausalAttention",
    "FeedForward",
    "GPTModel",
    "GroupedQueryAttention",
    "KVCache",
    "LlamaBlock",
    "MultiHeadAttention",
    "MultiHeadAttentionWrapper",
    "MultiplicativeAttention",
    "RMSNorm",
    "SelfAttentionV1",
    "SelfAttentionV2",
    "SwiGLU",
    "TransformerDecoderBlock",
    "TransformerEncoderBlock",
    "alibi_bias",
    "apply_attn_mask",
    "apply_rope",
    "causal_mask",
    "chunked_attention",
    "data",
    "gpt2_small_config",
    "padding_mask",
    "reference",
    "scaled_dot_product_attention",
    "simplified_self_attention",
    "sinusoidal_positions",
    "softmax",
    "softmax_naive",
    "t5_relative_buckets",
]
