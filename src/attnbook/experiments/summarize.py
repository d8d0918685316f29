"""Extractive summarisation by attention: which sentence carries the news?"""

import numpy as np
import torch
from torch import nn

from .pooling import AttentionPooling
from .tasks import HeldOutSplitMixin

TOPICS = {
    "sport": ("goal", "match", "team", "coach", "league", "score"),
    "weather": ("rain", "storm", "wind", "cloud", "snow", "frost"),
    "finance": ("bank", "stock", "market", "price", "loan", "profit"),
    "music": ("song", "band", "guitar", "album", "concert", "singer"),
}
FILLER = ("the", "a", "of", "and", "to", "in", "was", "it", "on", "for", "with", "as", "at",
          "by", "this", "that", "from", "but", "or", "an", "day", "year", "people", "city",
          "time", "new", "said", "one", "two", "after")
NEGATIONS = ("not", "no", "never")


class DocumentDataset(HeldOutSplitMixin):
    """Generated documents in which counting topic words cannot find the news.

    A document has ``num_sentences`` sentences of ``sentence_len`` words, and
    every sentence carries ``topic_words`` distinct words of one topic of
    :data:`TOPICS` at random slots; the other slots are filler. In every sentence
    but one, one filler slot holds a negation (:data:`NEGATIONS`): that topic is
    denied. The one affirmative sentence, at a random position, is the news: its
    topic is the document's topic (the headline), and it is the extractive
    summary. The topics of the negated sentences are drawn from all topics, the
    document's own included, so neither the sentence with the most topic words
    (every sentence has as many) nor the topic with the most words in the
    document identifies the news (see :meth:`topic_word_counts`).

    Parameters
    ----------
    num_docs : int
    num_sentences, sentence_len, topic_words : int
        ``topic_words < sentence_len`` leaves a slot for the negation.
    seed : int
        Seed of the NumPy generator.

    Attributes
    ----------
    words : tuple of str
        The vocabulary; ``docs`` holds indices into it.
    topic_names : tuple of str
    docs : torch.Tensor of shape (num_docs, num_sentences, sentence_len)
    topics : torch.Tensor of shape (num_docs,)
    salient : torch.Tensor of shape (num_docs,)
        Index of the salient (affirmative) sentence of every document.

    Examples
    --------
    >>> from attnbook.experiments import DocumentDataset
    >>> data = DocumentDataset(num_docs=3, seed=0)
    >>> data.docs.shape, data.topic_names[int(data.topics[0])]
    (torch.Size([3, 8, 6]), 'music')
    >>> data.sentence(0, int(data.salient[0]))  # the affirmative sentence
    'that an concert singer band as'
    >>> data.sentence(0, 0)  # a negated one
    'of loan no time profit market'
    """

    def __init__(self, num_docs, num_sentences=8, sentence_len=6, topic_words=3, seed=0):
        if not 1 <= topic_words < sentence_len:
            raise ValueError(f"expected 1 <= topic_words < sentence_len={sentence_len}, "
                             f"got {topic_words}")
        rng = np.random.default_rng(seed)
        self.topic_names = tuple(TOPICS)
        self._topic_words = [TOPICS[t] for t in self.topic_names]
        self.words = (*FILLER, *NEGATIONS, *(w for ws in self._topic_words for w in ws))
        index = {w: i for i, w in enumerate(self.words)}
        num_topics = len(self.topic_names)
        docs = np.empty((num_docs, num_sentences, sentence_len), dtype=np.int64)
        topics = rng.integers(num_topics, size=num_docs)
        salient = rng.integers(num_sentences, size=num_docs)
        for d in range(num_docs):
            for s in range(num_sentences):
                words = [str(w) for w in rng.choice(FILLER, size=sentence_len)]
                topic = topics[d] if s == salient[d] else rng.integers(num_topics)
                chosen = [str(w) for w in rng.choice(self._topic_words[topic], size=topic_words,
                                                     replace=False)]
                if s != salient[d]:
                    chosen.append(str(rng.choice(NEGATIONS)))
                slots = rng.choice(sentence_len, size=len(chosen), replace=False)
                for slot, word in zip(slots, chosen, strict=True):
                    words[slot] = word
                docs[d, s] = [index[w] for w in words]
        self.docs = torch.from_numpy(docs)
        self.topics = torch.from_numpy(topics)
        self.salient = torch.from_numpy(salient)
        self._tensors = (self.docs, self.topics)

    def sentence(self, doc, position):
        """The words of one sentence, joined by spaces."""
        return " ".join(self.words[i] for i in self.docs[doc, position].tolist())

    def topic_word_counts(self):
        """How many words of each topic every sentence holds.

        Returns
        -------
        torch.Tensor of shape (num_docs, num_sentences, num_topics)
            The counts a keyword rule would use: ``counts.sum(-1).argmax(1)`` picks
            the sentence with the most topic words, ``counts.sum(1).argmax(1)`` the
            topic with the most words in the document.
        """
        topic_of = torch.full((len(self.words),), -1)
        for t, words in enumerate(self._topic_words):
            topic_of[[self.words.index(w) for w in words]] = t
        ids = topic_of[self.docs]  # (num_docs, num_sentences, sentence_len)
        return torch.stack([(ids == t).sum(-1) for t in range(len(self.topic_names))], dim=-1)


class SalienceModel(nn.Module):
    """Headline classifier that reads a document through attention pooling.

    Each sentence becomes the mean of its word embeddings, passed through a
    small layer; :class:`AttentionPooling` reads the sentences, and a linear layer
    predicts the topic from what it read. Trained only on topics, the pooling
    weights learn which sentence carries the news: the extractive summary.

    Parameters
    ----------
    vocab_size, num_classes : int
    d_model : int
    pooling : str
        ``"attention"``, or ``"mean"`` for the baseline without attention: the
        plain average of the sentence vectors (uniform weights, no query).

    Examples
    --------
    >>> import torch
    >>> from attnbook.experiments import SalienceModel
    >>> model = SalienceModel(vocab_size=57, num_classes=4)
    >>> logits, weights = model(torch.randint(0, 57, (2, 8, 6)), need_weights=True)
    >>> logits.shape, weights.shape
    (torch.Size([2, 4]), torch.Size([2, 8]))
    """

    def __init__(self, vocab_size, num_classes, d_model=32, pooling="attention"):
        super().__init__()
        if pooling not in ("attention", "mean"):
            raise ValueError(f"pooling must be 'attention' or 'mean', got {pooling!r}")
        self.embed = nn.Embedding(vocab_size, d_model)
        self.sentence_layer = nn.Sequential(nn.Linear(d_model, d_model), nn.Tanh())
        self.pool = AttentionPooling(d_model, d_model) if pooling == "attention" else None
        self.classify = nn.Linear(d_model, num_classes)

    def forward(self, docs, need_weights=False):
        """Topic logits ``(batch, num_classes)`` of ``docs`` ``(batch, num_sentences, len)``."""
        if docs.dim() != 3:
            raise ValueError(f"expected docs of shape (batch, num_sentences, sentence_len), "
                             f"got {tuple(docs.shape)}")
        sentences = self.sentence_layer(self.embed(docs).mean(dim=2))  # (batch, n_sent, d)
        if self.pool is None:
            weights = torch.full(sentences.shape[:2], 1 / sentences.shape[1])  # (batch, n_sent)
            pooled = sentences.mean(dim=1)
        else:
            pooled, weights = self.pool(sentences)
        logits = self.classify(pooled)
        return (logits, weights) if need_weights else logits


def classification_loss(model, batch):
    """Cross-entropy of ``model(inputs)`` against integer labels: ``batch = (inputs, labels)``."""
    inputs, labels = batch
    return nn.functional.cross_entropy(model(inputs), labels)
