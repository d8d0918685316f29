"""A tiny Vision Transformer on generated images of shapes."""

import numpy as np
import torch
from torch import nn

from .._checks import check_tokens
from ..transformer import TransformerEncoderBlock
from .tasks import HeldOutSplitMixin

SHAPE_CLASSES = ("square", "disc", "triangle", "cross")


class ShapesDataset(HeldOutSplitMixin):
    """Grey images of one shape, at a random place and size, in noise.

    Parameters
    ----------
    num_images : int
    image_size : int
        Height and width in pixels.
    seed : int
    noise : float
        Standard deviation of the Gaussian pixel noise (shapes have intensity 1).

    Attributes
    ----------
    images : torch.Tensor of shape (num_images, 1, image_size, image_size)
    labels : torch.Tensor of shape (num_images,)
        Indices into :data:`SHAPE_CLASSES`.
    masks : torch.Tensor of shape (num_images, image_size, image_size)
        True on the pixels of the shape.

    Examples
    --------
    >>> from attnbook.experiments import ShapesDataset
    >>> data = ShapesDataset(num_images=3, image_size=24, seed=0)
    >>> data.images.shape, data.masks[0].any().item()
    (torch.Size([3, 1, 24, 24]), True)
    """

    def __init__(self, num_images, image_size=24, seed=0, noise=0.3):
        if image_size < 12:
            raise ValueError(f"image_size must be at least 12 pixels, got {image_size}")
        rng = np.random.default_rng(seed)
        yy, xx = np.mgrid[0:image_size, 0:image_size] + 0.5
        labels = rng.integers(len(SHAPE_CLASSES), size=num_images)
        masks = np.zeros((num_images, image_size, image_size), dtype=bool)
        for i, label in enumerate(labels):
            half = rng.uniform(0.15, 0.25) * image_size
            cy, cx = rng.uniform(half + 1, image_size - half - 1, size=2)
            dy, dx = yy - cy, xx - cx
            shape = SHAPE_CLASSES[label]
            if shape == "square":
                masks[i] = (np.abs(dy) <= half * 0.85) & (np.abs(dx) <= half * 0.85)
            elif shape == "disc":
                masks[i] = dy**2 + dx**2 <= half**2
            elif shape == "triangle":  # apex up: width grows linearly from top to bottom
                masks[i] = (np.abs(dy) <= half) & (np.abs(dx) <= (dy + half) / 2)
            else:
                arm = max(half / 3, 1.0)
                masks[i] = ((np.abs(dy) <= half) & (np.abs(dx) <= arm)) | \
                           ((np.abs(dx) <= half) & (np.abs(dy) <= arm))
        images = masks + noise * rng.standard_normal(masks.shape)
        self.images = torch.from_numpy(images.astype(np.float32)).unsqueeze(1)
        self.labels = torch.from_numpy(labels)
        self.masks = torch.from_numpy(masks)
        self._tensors = (self.images, self.labels)


class MeanMixing(nn.Module):
    """Self-attention with every weight fixed to ``1 / num_tokens``: mean pooling.

    Each token receives ``out_proj(mean_j(x_j W_v))``, the same vector for every
    token: what a :class:`attnbook.MultiHeadAttention` with the same value and
    output projections computes when all its scores are equal. There are no query
    and key projections, so nothing depends on which token looks at which: the
    baseline without attention of a Transformer block (chapter 8).

    Parameters
    ----------
    d_model : int
        Size of each token's vector.
    num_heads : int
        Only for the shape of the returned weights.

    Attributes
    ----------
    W_value : torch.nn.Linear
        ``d_model -> d_model``, no bias.
    out_proj : torch.nn.Linear
        ``d_model -> d_model``.

    Examples
    --------
    >>> import torch
    >>> from attnbook.experiments.vision import MeanMixing
    >>> out, weights = MeanMixing(d_model=4, num_heads=2)(torch.randn(3, 5, 4), need_weights=True)
    >>> out.shape, weights.shape, weights[0, 0, 0, 0].item()
    (torch.Size([3, 5, 4]), torch.Size([3, 2, 5, 5]), 0.2)
    """

    def __init__(self, d_model, num_heads):
        super().__init__()
        self.d_model, self.num_heads = d_model, num_heads
        self.W_value = nn.Linear(d_model, d_model, bias=False)
        self.out_proj = nn.Linear(d_model, d_model)

    @classmethod
    def from_attention(cls, attention):
        """A :class:`MeanMixing` with copies of ``attention``'s ``W_value`` and
        ``out_proj`` (a :class:`attnbook.MultiHeadAttention` without value bias);
        draws no random numbers."""
        d_model = attention.out_proj.out_features
        with torch.random.fork_rng(devices=[]):
            mixing = cls(d_model, attention.num_heads)
        mixing.load_state_dict({"W_value.weight": attention.W_value.weight,
                                "out_proj.weight": attention.out_proj.weight,
                                "out_proj.bias": attention.out_proj.bias})
        return mixing

    def forward(self, x, attn_mask=None, need_weights=False, cache=None):
        """Mix ``x`` of shape ``(batch, num_tokens, d_model)`` by its mean.

        ``attn_mask`` and ``cache`` are accepted for the signature of
        :class:`attnbook.MultiHeadAttention` and must be None. With
        ``need_weights``, also returns the uniform weights, of shape
        ``(batch, num_heads, num_tokens, num_tokens)``.
        """
        check_tokens(x, self.d_model, batched=True)
        if attn_mask is not None or cache is not None:
            raise ValueError("MeanMixing takes no attn_mask and no cache")
        mean = self.W_value(x).mean(dim=1, keepdim=True)  # (batch, 1, d_model)
        out = self.out_proj(mean).expand_as(x)  # (batch, num_tokens, d_model)
        if not need_weights:
            return out
        batch, num_tokens, _ = x.shape
        weights = x.new_full((batch, self.num_heads, num_tokens, num_tokens), 1 / num_tokens)
        return out, weights


class VisionTransformer(nn.Module):
    """A Vision Transformer (Dosovitskiy et al., 2020), small enough for a CPU.

    The image is cut into ``patch_size x patch_size`` patches, each embedded by one
    linear map (a strided convolution); a learned class token is put in front,
    learned position embeddings are added, and ``num_layers`` pre-norm encoder
    blocks follow (:class:`attnbook.TransformerEncoderBlock`: bidirectional
    attention, a feed-forward network of ``2 * d_model``). The class token's
    final state is classified.

    Parameters
    ----------
    image_size, patch_size : int
        ``image_size`` must be divisible by ``patch_size``.
    num_classes : int
    d_model, num_heads, num_layers : int
    in_channels : int
    mixing : str
        ``"attention"``, or ``"mean"`` for the baseline without attention: every
        block's self-attention replaced by :class:`MeanMixing` (uniform weights:
        each token receives the mean of all tokens' values), built from the same
        initial value and output projections, so for the same seed the two models
        start from the same weights except the query and key projections.

    Examples
    --------
    >>> import torch
    >>> from attnbook.experiments import VisionTransformer
    >>> vit = VisionTransformer(image_size=24, patch_size=4, num_classes=4)
    >>> logits, weights = vit(torch.randn(2, 1, 24, 24), need_weights=True)
    >>> logits.shape, len(weights), weights[-1].shape  # 36 patches + the class token
    (torch.Size([2, 4]), 2, torch.Size([2, 4, 37, 37]))
    """

    def __init__(self, image_size, patch_size, num_classes, d_model=32, num_heads=4,
                 num_layers=2, in_channels=1, mixing="attention"):
        super().__init__()
        if mixing not in ("attention", "mean"):
            raise ValueError(f"mixing must be 'attention' or 'mean', got {mixing!r}")
        if image_size % patch_size:
            raise ValueError(f"image_size must be divisible by patch_size: got "
                             f"image_size={image_size}, patch_size={patch_size}")
        self.image_size, self.patch_size, self.in_channels = image_size, patch_size, in_channels
        self.grid = image_size // patch_size
        num_tokens = self.grid**2 + 1
        self.patch_embed = nn.Conv2d(in_channels, d_model, patch_size, stride=patch_size)
        self.class_token = nn.Parameter(torch.zeros(1, 1, d_model))
        self.pos_embed = nn.Parameter(0.02 * torch.randn(1, num_tokens, d_model))
        self.blocks = nn.ModuleList(
            TransformerEncoderBlock(d_model, num_heads, num_tokens, d_ff=2 * d_model)
            for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, num_classes)
        if mixing == "mean":
            for block in self.blocks:
                block.attention = MeanMixing.from_attention(block.attention)

    def forward(self, images, need_weights=False):
        """Class logits ``(batch, num_classes)``; with ``need_weights``, also one
        ``(batch, num_heads, num_tokens, num_tokens)`` weight tensor per block."""
        expected = (self.in_channels, self.image_size, self.image_size)
        if images.dim() != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(f"expected images of shape (batch, {', '.join(map(str, expected))}),"
                             f" got {tuple(images.shape)}")
        patches = self.patch_embed(images).flatten(2).transpose(1, 2)  # (batch, grid², d)
        cls = self.class_token.expand(images.shape[0], -1, -1)
        x = torch.cat([cls, patches], dim=1) + self.pos_embed  # (batch, grid² + 1, d)
        weights = []
        for block in self.blocks:
            x, w = block(x, need_weights=True)
            weights.append(w)
        logits = self.head(self.norm(x[:, 0]))
        return (logits, weights) if need_weights else logits

    def class_token_attention(self, weights):
        """Attention of the class token over the patches in the last block, averaged over
        heads: ``(batch, grid, grid)``, from the ``weights`` that ``forward`` returned."""
        last = weights[-1][:, :, 0, 1:].mean(dim=1)  # (batch, grid²)
        return last.reshape(-1, self.grid, self.grid)

    def class_token_rollout(self, weights, residual=0.5):
        """The class token's row of :func:`attention_rollout` over the patches:
        ``(batch, grid, grid)``, from the ``weights`` that ``forward`` returned."""
        flow = attention_rollout(weights, residual)[:, 0, 1:]  # (batch, grid²)
        return flow.reshape(-1, self.grid, self.grid)


def attention_rollout(weights, residual=0.5):
    """Attention rollout (Abnar & Zuidema, 2020): which input tokens each final state
    was mixed from, through all blocks.

    After the first block a token's state is already a mixture of all tokens, so
    the last block's weights say which *states* were read, not which inputs.
    Rollout follows the mixing down: each block's weights, averaged over heads,
    are mixed with the identity for the residual connection,
    ``A = residual * I + (1 - residual) * mean_h(W)``, and the blocks are
    multiplied, ``R = A_L ... A_2 A_1``. It ignores the values, the feed-forward
    networks and the layer norms, so it estimates the flow of information rather
    than measuring it.

    Parameters
    ----------
    weights : sequence of torch.Tensor of shape (batch, num_heads, num_tokens, num_tokens)
        One tensor per block, first block first (what a model such as
        :class:`VisionTransformer` returns with ``need_weights=True``).
    residual : float
        Share of the identity (the residual path), between 0 and 1.

    Returns
    -------
    torch.Tensor of shape (batch, num_tokens, num_tokens)
        Row ``i`` spreads token ``i``'s final state over the input tokens; every
        row sums to 1.

    Examples
    --------
    >>> import torch
    >>> from attnbook.experiments.vision import attention_rollout
    >>> uniform = torch.full((1, 2, 3, 3), 1 / 3)  # 1 image, 2 heads, 3 tokens
    >>> attention_rollout([uniform, uniform])[0, 0]  # 2 blocks: (2/3)² + 2/36 = 1/2
    tensor([0.5000, 0.2500, 0.2500])
    """
    if not 0.0 <= residual <= 1.0:
        raise ValueError(f"residual must be between 0 and 1, got {residual}")
    if len(weights) == 0 or any(w.dim() != 4 or w.shape[-1] != w.shape[-2] or
                                w.shape != weights[0].shape for w in weights):
        raise ValueError("expected a non-empty sequence of weights, each of shape (batch, "
                         "num_heads, num_tokens, num_tokens), all alike; got "
                         f"{[tuple(w.shape) for w in weights]}")
    eye = torch.eye(weights[0].shape[-1])
    rollout = eye.expand(weights[0].shape[0], -1, -1)  # (batch, num_tokens, num_tokens)
    for w in weights:
        mixed = residual * eye + (1 - residual) * w.mean(dim=1)  # (batch, tokens, tokens)
        rollout = mixed @ rollout
    return rollout
