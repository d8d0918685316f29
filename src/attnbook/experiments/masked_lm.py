"""A one-layer masked-word model: which words does a hidden word need to look at?"""

import torch
from torch import nn

from ..multihead import MultiHeadAttention


class WordVocabulary:
    """Maps words to ids and back; id 0 is the ``[MASK]`` token.

    Parameters
    ----------
    words : iterable of str

    Examples
    --------
    >>> from attnbook.experiments import WordVocabulary
    >>> vocab = WordVocabulary(["the", "cat", "the"])
    >>> vocab.words, vocab.encode(["the", "cat"]).tolist()
    (('[MASK]', 'cat', 'the'), [2, 1])
    """

    MASK = "[MASK]"

    def __init__(self, words):
        self.words = (self.MASK, *sorted(set(words) - {self.MASK}))
        self.index = {w: i for i, w in enumerate(self.words)}

    def __len__(self):
        return len(self.words)

    def encode(self, sentence):
        """Ids of the words of ``sentence``: a ``torch.Tensor`` of shape ``(len(sentence),)``."""
        unknown = [w for w in sentence if w not in self.index]
        if unknown:
            raise ValueError(f"words not in the vocabulary: {unknown}")
        return torch.tensor([self.index[w] for w in sentence])


class MaskedWordModel(nn.Module):
    """Token and position embeddings, one bidirectional attention layer, a readout.

    The readout sees the masked position's own embedding plus the attention
    output (a residual connection), so whatever it knows about the hidden word
    must come through attention.

    Parameters
    ----------
    vocab_size : int
    context_length : int
    d_model : int
    num_heads : int

    Examples
    --------
    >>> import torch
    >>> from attnbook.experiments import MaskedWordModel
    >>> model = MaskedWordModel(vocab_size=10, context_length=6)
    >>> logits, attn_weights = model(torch.randint(0, 10, (2, 6)), need_weights=True)
    >>> logits.shape, attn_weights.shape
    (torch.Size([2, 6, 10]), torch.Size([2, 1, 6, 6]))
    """

    def __init__(self, vocab_size, context_length, d_model=32, num_heads=1):
        super().__init__()
        self.token_embed = nn.Embedding(vocab_size, d_model)
        self.pos_embed = nn.Embedding(context_length, d_model)
        self.attention = MultiHeadAttention(d_model, d_model, context_length,
                                            num_heads=num_heads, causal=False)
        self.readout = nn.Linear(d_model, vocab_size)

    def forward(self, tokens, need_weights=False):
        """Logits ``(batch, num_tokens, vocab_size)`` for every position.

        Parameters
        ----------
        tokens : torch.Tensor of shape (batch, num_tokens)
        need_weights : bool
            Also return the attention weights ``(batch, num_heads, n, n)``.
        """
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.token_embed(tokens) + self.pos_embed(positions)  # (batch, n, d_model)
        out, attn_weights = self.attention(x, need_weights=True)
        logits = self.readout(x + out)
        return (logits, attn_weights) if need_weights else logits


def masked_word_batch(generator, encoded, batch_size=128):
    """Sentences with one random word replaced by ``[MASK]`` (id 0).

    Parameters
    ----------
    generator : torch.Generator
    encoded : torch.Tensor of shape (num_sentences, num_tokens)
        The corpus as word ids.
    batch_size : int

    Returns
    -------
    tokens : torch.Tensor of shape (batch_size, num_tokens)
        With one position per row set to 0.
    targets : torch.Tensor of shape (batch_size, num_tokens)
        The hidden word at the masked position, -100 (ignored) elsewhere.
    """
    rows = torch.randint(0, encoded.shape[0], (batch_size,), generator=generator)
    tokens = encoded[rows].clone()
    position = torch.randint(0, tokens.shape[1], (batch_size,), generator=generator)
    targets = torch.full_like(tokens, -100)
    batch_index = torch.arange(batch_size)
    targets[batch_index, position] = tokens[batch_index, position]
    tokens[batch_index, position] = 0
    return tokens, targets


def masked_word_loss(model, batch):
    """Cross-entropy at the masked positions."""
    tokens, targets = batch
    return nn.functional.cross_entropy(model(tokens).flatten(0, 1), targets.flatten())


@torch.no_grad()
def masked_word_losses(model, encoded):
    """The loss of every word of every sentence, hidden alone.

    Each position of each sentence is replaced by ``[MASK]`` (id 0) in turn, the
    other words left as they are, and the cross-entropy of the hidden word is
    recorded: an exact evaluation over a corpus, with no sampling of positions.

    Parameters
    ----------
    model : MaskedWordModel
    encoded : torch.Tensor of shape (num_sentences, num_tokens)
        The corpus as word ids.

    Returns
    -------
    torch.Tensor of shape (num_sentences, num_tokens)
        Entry ``[s, t]``: the loss, in nats, of word ``t`` of sentence ``s``.
        Its mean is what :func:`masked_word_loss` estimates from random batches.

    Examples
    --------
    >>> import torch
    >>> from attnbook.experiments import MaskedWordModel, masked_word_losses
    >>> _ = torch.manual_seed(0)
    >>> model = MaskedWordModel(vocab_size=10, context_length=6).eval()
    >>> masked_word_losses(model, torch.randint(1, 10, (4, 6))).shape
    torch.Size([4, 6])
    """
    if encoded.dim() != 2:
        raise ValueError(f"expected encoded of shape (num_sentences, num_tokens), "
                         f"got {tuple(encoded.shape)}")
    losses = []
    for position in range(encoded.shape[1]):
        tokens = encoded.clone()
        tokens[:, position] = 0  # [MASK]
        logits = model(tokens)[:, position]  # (num_sentences, vocab_size)
        losses.append(nn.functional.cross_entropy(logits, encoded[:, position],
                                                  reduction="none"))
    return torch.stack(losses, dim=1)  # (num_sentences, num_tokens)
