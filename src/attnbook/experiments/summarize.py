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


class DocumentDataset(HeldOutSplitMixin):
    """Generated documents with one salient sentence each.

    A document has ``num_sentences`` sentences of ``sentence_len`` words. Its topic
    is one of :data:`TOPICS`; exactly one sentence, at a random position, carries
    ``salient_words`` words of that topic (the news); every other sentence is
    filler with one word of some *other* topic, a distractor. The headline of a
    document is its topic, and the extractive summary is the salient sentence.

    Parameters
    ----------
    num_docs : int
    num_sentences, sentence_len, salient_words : int
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
        Index of the salient sentence of every document.

    Examples
    --------
    >>> from attnbook.experiments import DocumentDataset
    >>> data = DocumentDataset(num_docs=3, seed=0)
    >>> data.docs.shape, data.topic_names[int(data.topics[0])]
    (torch.Size([3, 8, 6]), 'music')
    >>> data.sentence(0, int(data.salient[0]))
    'singer song album a people year'
    """

    def __init__(self, num_docs, num_sentences=8, sentence_len=6, salient_words=3, seed=0):
        if not 1 <= salient_words <= sentence_len:
            raise ValueError(f"expected 1 <= salient_words <= sentence_len={sentence_len}, "
                             f"got {salient_words}")
        rng = np.random.default_rng(seed)
        self.topic_names = tuple(TOPICS)
        topic_words = [TOPICS[t] for t in self.topic_names]
        self.words = (*FILLER, *(w for ws in topic_words for w in ws))
        index = {w: i for i, w in enumerate(self.words)}
        docs = np.empty((num_docs, num_sentences, sentence_len), dtype=np.int64)
        topics = rng.integers(len(topic_words), size=num_docs)
        salient = rng.integers(num_sentences, size=num_docs)
        for d in range(num_docs):
            for s in range(num_sentences):
                words = list(rng.choice(FILLER, size=sentence_len))
                if s == salient[d]:
                    chosen = rng.choice(topic_words[topics[d]], size=salient_words, replace=False)
                else:
                    other = rng.choice([t for t in range(len(topic_words)) if t != topics[d]])
                    chosen = [rng.choice(topic_words[other])]
                slots = rng.choice(sentence_len, size=len(chosen), replace=False)
                for slot, word in zip(slots, chosen, strict=True):
                    words[slot] = word
                docs[d, s] = [index[str(w)] for w in words]
        self.docs = torch.from_numpy(docs)
        self.topics = torch.from_numpy(topics)
        self.salient = torch.from_numpy(salient)
        self._tensors = (self.docs, self.topics)

    def sentence(self, doc, position):
        """The words of one sentence, joined by spaces."""
        return " ".join(self.words[i] for i in self.docs[doc, position].tolist())


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

    Examples
    --------
    >>> import torch
    >>> from attnbook.experiments import SalienceModel
    >>> model = SalienceModel(vocab_size=54, num_classes=4)
    >>> logits, weights = model(torch.randint(0, 54, (2, 8, 6)), need_weights=True)
    >>> logits.shape, weights.shape
    (torch.Size([2, 4]), torch.Size([2, 8]))
    """

    def __init__(self, vocab_size, num_classes, d_model=32):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)
        self.sentence_layer = nn.Sequential(nn.Linear(d_model, d_model), nn.Tanh())
        self.pool = AttentionPooling(d_model, d_model)
        self.classify = nn.Linear(d_model, num_classes)

    def forward(self, docs, need_weights=False):
        """Topic logits ``(batch, num_classes)`` of ``docs`` ``(batch, num_sentences, len)``."""
        if docs.dim() != 3:
            raise ValueError(f"expected docs of shape (batch, num_sentences, sentence_len), "
                             f"got {tuple(docs.shape)}")
        sentences = self.sentence_layer(self.embed(docs).mean(dim=2))  # (batch, n_sent, d)
        pooled, weights = self.pool(sentences)
        logits = self.classify(pooled)
        return (logits, weights) if need_weights else logits


def classification_loss(model, batch):
    """Cross-entropy of ``model(inputs)`` against integer labels: ``batch = (inputs, labels)``."""
    inputs, labels = batch
    return nn.functional.cross_entropy(model(inputs), labels)
