"""The running example of the lecture: "Your journey starts with one step"."""

import numpy as np
import torch

#: The six tokens of the running example, in order.
JOURNEY_TOKENS = ("Your", "journey", "starts", "with", "one", "step")

_JOURNEY_EMBEDDINGS = (
    (0.43, 0.15, 0.89),  # Your     (x^1)
    (0.55, 0.87, 0.66),  # journey  (x^2)
    (0.57, 0.85, 0.64),  # starts   (x^3)
    (0.22, 0.58, 0.33),  # with     (x^4)
    (0.77, 0.25, 0.10),  # one      (x^5)
    (0.05, 0.80, 0.55),  # step     (x^6)
)


def journey_embeddings(dtype=torch.float32):
    """Return the 3-dimensional embeddings of :data:`JOURNEY_TOKENS`.

    Parameters
    ----------
    dtype : torch.dtype
        The floating-point type of the result.

    Returns
    -------
    torch.Tensor of shape (6, 3)
        Row ``i`` embeds ``JOURNEY_TOKENS[i]``; a new tensor on every call.

    Examples
    --------
    >>> from attnbook.data import JOURNEY_TOKENS, journey_embeddings
    >>> inputs = journey_embeddings()
    >>> inputs.shape
    torch.Size([6, 3])
    >>> JOURNEY_TOKENS[1], inputs[1]
    ('journey', tensor([0.5500, 0.8700, 0.6600]))
    """
    return torch.tensor(_JOURNEY_EMBEDDINGS, dtype=dtype)


#: The sentence of the chapter on the "self" in self-attention.
CAT_TOKENS = ("The", "cat", "sat", "on", "the", "mat")

_ANIMALS = ("cat", "dog", "bird", "fox", "mouse")
_PLACES = ("mat", "rug", "nest", "den", "hole")  # the habitual place of each animal
_VERBS = ("sat", "lay", "slept", "stood", "waited")
_PREPOSITIONS = ("on", "under", "near", "by")


def toy_corpus(num_sentences=3000, seed=0, habit=0.9):
    """Sentences "the ANIMAL VERB PREPOSITION the PLACE" from a small grammar.

    Words are drawn independently, except for one dependency: with probability
    ``habit`` the place is the animal's habitual place (the cat's is the mat, the
    dog's the rug, the bird's the nest, the fox's the den, the mouse's the hole),
    otherwise any place. Predicting a hidden place therefore requires looking at
    the animal, and nothing else helps.

    Parameters
    ----------
    num_sentences : int
    seed : int
        Seed of the NumPy generator that picks the words.
    habit : float
        Probability that the place is the animal's habitual one.

    Returns
    -------
    list of tuple of str
        Six lower-case words per sentence.

    Examples
    --------
    >>> from attnbook.data import toy_corpus
    >>> toy_corpus(num_sentences=2, seed=3)
    [('the', 'mouse', 'sat', 'on', 'the', 'hole'), ('the', 'mouse', 'sat', 'on', 'the', 'hole')]
    """
    rng = np.random.default_rng(seed)
    sentences = []
    for _ in range(num_sentences):
        animal = int(rng.integers(len(_ANIMALS)))
        place = animal if rng.random() < habit else int(rng.integers(len(_PLACES)))
        sentences.append(("the", _ANIMALS[animal], str(rng.choice(_VERBS)),
                          str(rng.choice(_PREPOSITIONS)), "the", _PLACES[place]))
    return sentences


def cooccurrence_embeddings(sentences, dim=6, window=2):
    """Word vectors from co-occurrence counts: PPMI followed by a truncated SVD.

    Counts how often two words occur within ``window`` positions of each other,
    turns the counts into positive pointwise mutual information, and keeps the
    ``dim`` leading singular directions, scaled by the square roots of their
    singular values. Rows are normalised to unit length, so dot products are
    cosine similarities.

    Parameters
    ----------
    sentences : sequence of sequence of str
    dim : int
        Size of the vectors; at most the vocabulary size.
    window : int
        How many positions on each side count as context.

    Returns
    -------
    dict of str to numpy.ndarray
        One vector of shape ``(dim,)`` per word (words are lower-cased).

    Examples
    --------
    >>> from attnbook.data import cooccurrence_embeddings, toy_corpus
    >>> vectors = cooccurrence_embeddings(toy_corpus(), dim=6)
    >>> vectors["cat"].shape
    (6,)
    >>> bool(vectors["cat"] @ vectors["dog"] > vectors["cat"] @ vectors["on"])
    True
    """
    vocab = sorted({w.lower() for s in sentences for w in s})
    if not 1 <= dim <= len(vocab):
        raise ValueError(f"dim must be between 1 and the vocabulary size {len(vocab)}, "
                         f"got {dim}")
    index = {w: i for i, w in enumerate(vocab)}
    counts = np.zeros((len(vocab), len(vocab)))
    for sentence in sentences:
        ids = [index[w.lower()] for w in sentence]
        for i, a in enumerate(ids):
            for b in ids[max(0, i - window):i] + ids[i + 1:i + 1 + window]:
                counts[a, b] += 1.0
    total = counts.sum()
    expected = counts.sum(1, keepdims=True) * counts.sum(0, keepdims=True) / total
    with np.errstate(divide="ignore"):
        ppmi = np.maximum(np.log(counts / expected), 0.0)
    u, s, _ = np.linalg.svd(ppmi)
    vectors = u[:, :dim] * np.sqrt(s[:dim])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return {w: vectors[i] for w, i in index.items()}
