"""A GRU encoder–decoder, with or without additive (Bahdanau) attention."""

import torch
from torch import nn

from ..additive import AdditiveAttention
from .tasks import PAD_ID


class Seq2Seq(nn.Module):
    r"""GRU encoder–decoder for token sequences, with or without attention.

    A bidirectional GRU encoder turns the source into one state per token,
    :math:`h_j = [\overrightarrow{h}_j; \overleftarrow{h}_j]`, and the decoder
    starts from the last state of each direction,
    :math:`s_0 = [\overrightarrow{h}_T; \overleftarrow{h}_1]`.

    Without attention (``attention=False``) the decoder sees the source only
    through :math:`c = s_0`, a single vector of size ``d_hidden`` whatever the
    length of the source (the bottleneck of :cite:t:`sutskever2014` and
    :cite:t:`cho2014`). By default :math:`c` is only the initial state, as in
    :cite:t:`sutskever2014`: :math:`s_i = \mathrm{GRU}(y_{i-1} E, s_{i-1})`,
    logits :math:`s_i W_o`. With ``feed_summary=True`` it also enters every
    step, as in :cite:t:`cho2014` (and the RNNencdec baseline of
    :cite:t:`bahdanau2014`): :math:`s_i = \mathrm{GRU}([y_{i-1} E; c], s_{i-1})`,
    logits :math:`[s_i; c] W_o`, the decoder of Bahdanau's placement with the
    fixed :math:`c` in place of :math:`c_i`.

    With attention, :class:`attnbook.AdditiveAttention` scores a query against
    all encoder states :math:`h_j` (keys and values) and returns the context
    vector :math:`c_i`. Where the query comes from, and where :math:`c_i` goes,
    is set by ``placement``:

    - ``"luong"`` (the default): the query is the decoder's *new* state and
      the context enters only the output layer, as in :cite:t:`luong2015`:
      :math:`s_i = \mathrm{GRU}(y_{i-1} E, s_{i-1})`,
      :math:`c_i = \mathrm{attn}(s_i, h)`, logits :math:`[s_i; c_i] W_o`.
      Teacher forcing runs the decoder over the whole target in one call.
    - ``"bahdanau"``: the query is the *previous* state and the context is
      part of the GRU's input, as in :cite:t:`bahdanau2014`:
      :math:`c_i = \mathrm{attn}(s_{i-1}, h)`,
      :math:`s_i = \mathrm{GRU}([y_{i-1} E; c_i], s_{i-1})`, logits
      :math:`[s_i; c_i] W_o`. The decoder steps one token at a time
      (:class:`torch.nn.GRUCell`). Bahdanau et al. also start from
      :math:`\tanh(\overleftarrow{h}_1 W_s)` and add :math:`y_{i-1} E` and a
      maxout layer to the readout; this model keeps the readout linear.

    Parameters
    ----------
    src_vocab_size, tgt_vocab_size : int
        Vocabulary sizes, special tokens included.
    d_embed : int
        Size of the token embeddings.
    d_hidden : int
        Size of the decoder state and of each encoder state (two directions of
        ``d_hidden // 2``); must be even.
    attention : bool
        Use attention over the encoder states.
    d_attn : int
        Hidden size of the additive scoring network.
    bos_id : int
        Target token that starts decoding.
    placement : str
        Where attention sits in the decoder, ``"luong"`` or ``"bahdanau"`` (see
        above); ignored without attention.
    feed_summary : bool
        Without attention, feed the summary :math:`c = s_0` to every decoder
        step and to the readout (Cho et al.'s decoder); needs ``attention=False``.

    Attributes
    ----------
    decoder : torch.nn.GRU or torch.nn.GRUCell
        A :class:`~torch.nn.GRUCell` of input size ``d_embed + d_hidden`` for
        Bahdanau's placement, a :class:`~torch.nn.GRU` of input size
        ``d_embed + d_hidden`` with ``feed_summary``, otherwise a
        :class:`~torch.nn.GRU` of input size ``d_embed``.
    attention : attnbook.AdditiveAttention or None
        Scores decoder states (queries) against encoder states (keys and values).

    Examples
    --------
    >>> import torch
    >>> from attnbook.experiments import Seq2Seq
    >>> _ = torch.manual_seed(0)
    >>> model = Seq2Seq(src_vocab_size=12, tgt_vocab_size=12, attention=True)
    >>> logits, attn_weights = model(torch.randint(2, 12, (4, 9)), torch.randint(2, 12, (4, 7)))
    >>> logits.shape, attn_weights.shape
    (torch.Size([4, 7, 12]), torch.Size([4, 7, 9]))
    >>> model = Seq2Seq(12, 12, attention=True, placement="bahdanau")  # Bahdanau's
    >>> logits, attn_weights = model(torch.randint(2, 12, (4, 9)), torch.randint(2, 12, (4, 7)))
    >>> type(model.decoder).__name__, attn_weights.shape
    ('GRUCell', torch.Size([4, 7, 9]))
    >>> model = Seq2Seq(12, 12, attention=False, feed_summary=True)  # Cho et al.'s
    >>> logits, attn_weights = model(torch.randint(2, 12, (4, 9)), torch.randint(2, 12, (4, 7)))
    >>> model.decoder.input_size, logits.shape, attn_weights
    (96, torch.Size([4, 7, 12]), None)
    """

    def __init__(self, src_vocab_size, tgt_vocab_size, d_embed=32, d_hidden=64,
                 attention=True, d_attn=32, bos_id=1, placement="luong", feed_summary=False):
        super().__init__()
        if d_hidden % 2:
            raise ValueError(f"d_hidden must be even (two encoder directions), got {d_hidden}")
        if placement not in ("luong", "bahdanau"):
            raise ValueError(f"placement must be 'luong' or 'bahdanau', got {placement!r}")
        if feed_summary and attention:
            raise ValueError("feed_summary=True needs attention=False (attention reads c_i)")
        self.bos_id, self.placement, self.feed_summary = bos_id, placement, feed_summary
        self.src_embed = nn.Embedding(src_vocab_size, d_embed)
        self.tgt_embed = nn.Embedding(tgt_vocab_size, d_embed)
        # Bidirectional encoder, as in Bahdanau et al.: each state sees both sides.
        self.encoder = nn.GRU(d_embed, d_hidden // 2, batch_first=True, bidirectional=True)
        if attention and placement == "bahdanau":  # the context c_i is part of the input
            self.decoder = nn.GRUCell(d_embed + d_hidden, d_hidden)
        else:  # with feed_summary, the fixed summary c is part of the input
            d_input = d_embed + d_hidden if feed_summary else d_embed
            self.decoder = nn.GRU(d_input, d_hidden, batch_first=True)
        self.attention = AdditiveAttention(d_hidden, d_hidden, d_attn) if attention else None
        self.readout = nn.Linear(2 * d_hidden if attention or feed_summary else d_hidden,
                                 tgt_vocab_size)

    def _check(self, tokens, name):
        if tokens.dim() != 2 or tokens.dtype != torch.long:
            raise ValueError(f"expected {name} of shape (batch, num_tokens) and dtype "
                             f"torch.long, got {tuple(tokens.shape)} {tokens.dtype}")

    def encode(self, src):
        """Encode ``src`` (right-padded with ``PAD_ID``, 0).

        Returns
        -------
        memory : torch.Tensor of shape (batch, src_len, d_hidden)
            Encoder states (zero at padding).
        hidden : torch.Tensor of shape (1, batch, d_hidden)
            The decoder's initial state: the last states of both directions,
            taken at each row's own length.
        memory_mask : torch.Tensor of shape (batch, 1, src_len)
            True where the source is not padding: where the decoder may attend.
        """
        self._check(src, "src")
        memory_mask = (src != PAD_ID).unsqueeze(1)
        lengths = memory_mask.sum(dim=-1).squeeze(1)
        if (lengths == 0).any():
            raise ValueError("every source row needs at least one token that is not padding")
        packed = nn.utils.rnn.pack_padded_sequence(
            self.src_embed(src), lengths.cpu(), batch_first=True, enforce_sorted=False)
        memory, last = self.encoder(packed)  # last: (2, batch, d_hidden // 2)
        memory, _ = nn.utils.rnn.pad_packed_sequence(memory, batch_first=True,
                                                     total_length=src.shape[1])
        return memory, torch.cat([last[0], last[1]], dim=-1).unsqueeze(0), memory_mask

    def decode_step(self, tgt_in, memory, hidden, memory_mask=None):
        """Run the decoder over ``tgt_in`` from ``hidden``; return logits, weights, hidden.

        ``tgt_in`` has shape ``(batch, t)``, ``hidden`` ``(1, batch, d_hidden)``.
        ``memory_mask`` of shape ``(batch, 1, src_len)`` is True where the source is
        not padding: the decoder may attend there only.
        """
        if self.attention is not None and self.placement == "bahdanau":
            return self.bahdanau_steps(tgt_in, memory, hidden, memory_mask)
        inputs = self.tgt_embed(tgt_in)  # (batch, t, d_embed)
        if self.feed_summary:  # Cho et al.: the summary c enters every step and the readout
            c = self.summary(memory, memory_mask).unsqueeze(1)  # (batch, 1, d_hidden)
            c = c.expand(-1, inputs.shape[1], -1)  # (batch, t, d_hidden)
            states, hidden = self.decoder(torch.cat([inputs, c], dim=-1), hidden)
            return self.readout(torch.cat([states, c], dim=-1)), None, hidden
        states, hidden = self.decoder(inputs, hidden)  # (batch, t, d_hidden)
        if self.attention is None:
            return self.readout(states), None, hidden
        context, attn_weights = self.attention(states, memory, memory, attn_mask=memory_mask)
        logits = self.readout(torch.cat([states, context], dim=-1))  # attn: (batch, t, src_len)
        return logits, attn_weights, hidden

    @staticmethod
    def summary(memory, memory_mask=None):
        r"""The summary :math:`c = [\overrightarrow{h}_T; \overleftarrow{h}_1]`, from ``memory``.

        Parameters
        ----------
        memory : torch.Tensor of shape (batch, src_len, d_hidden)
            Encoder states, as :meth:`encode` returns them.
        memory_mask : torch.Tensor of shape (batch, 1, src_len), optional
            True where the source is not padding; default: no padding.

        Returns
        -------
        torch.Tensor of shape (batch, d_hidden)
            The forward half at each row's last token and the backward half at
            its first: the decoder's initial state :math:`s_0`.
        """
        batch, src_len, d_hidden = memory.shape
        if memory_mask is None:
            last = torch.full((batch,), src_len - 1, device=memory.device)
        else:
            last = memory_mask.sum(dim=-1).squeeze(1) - 1
        half = d_hidden // 2
        forward = memory[torch.arange(batch, device=memory.device), last, :half]
        return torch.cat([forward, memory[:, 0, half:]], dim=-1)  # (batch, d_hidden)

    def bahdanau_steps(self, tgt_in, memory, hidden, memory_mask=None):
        """Bahdanau's placement, one token at a time: query s_{i-1}, c_i into the GRU.

        Same arguments and results as :meth:`decode_step`.
        """
        state, logits, weights = hidden[0], [], []  # s_{i-1}: (batch, d_hidden)
        for y_prev in self.tgt_embed(tgt_in).unbind(1):  # (batch, d_embed)
            context, attn_weights = self.attention(state.unsqueeze(1), memory, memory,
                                                   attn_mask=memory_mask)  # (batch, 1, d_hidden)
            context = context.squeeze(1)  # c_i: (batch, d_hidden)
            state = self.decoder(torch.cat([y_prev, context], dim=-1), state)  # s_i
            logits.append(self.readout(torch.cat([state, context], dim=-1)))
            weights.append(attn_weights)  # (batch, 1, src_len)
        return torch.stack(logits, dim=1), torch.cat(weights, dim=1), state.unsqueeze(0)

    def forward(self, src, tgt):
        """Teacher forcing: predict ``tgt`` from ``src`` and the shifted ``tgt``.

        Parameters
        ----------
        src : torch.Tensor of shape (batch, src_len)
            Source token ids, right-padded with 0; padding is skipped by the
            encoder and never attended to.
        tgt : torch.Tensor of shape (batch, tgt_len)
            Target token ids (no start token); the decoder reads
            ``[bos, tgt[:, :-1]]``.

        Returns
        -------
        logits : torch.Tensor of shape (batch, tgt_len, tgt_vocab_size)
        attn_weights : torch.Tensor of shape (batch, tgt_len, src_len) or None
        """
        self._check(tgt, "tgt")
        memory, hidden, memory_mask = self.encode(src)
        bos = torch.full_like(tgt[:, :1], self.bos_id)
        logits, attn_weights, _ = self.decode_step(torch.cat([bos, tgt[:, :-1]], 1), memory,
                                                   hidden, memory_mask)
        return logits, attn_weights

    @torch.no_grad()
    def generate(self, src, max_len):
        """Greedy decoding of ``max_len`` tokens, each fed back as the next input.

        Returns
        -------
        tokens : torch.Tensor of shape (batch, max_len)
        attn_weights : torch.Tensor of shape (batch, max_len, src_len) or None
        """
        memory, hidden, memory_mask = self.encode(src)
        token = torch.full((src.shape[0], 1), self.bos_id, dtype=torch.long, device=src.device)
        tokens, weights = [], []
        for _ in range(max_len):
            logits, attn_weights, hidden = self.decode_step(token, memory, hidden, memory_mask)
            token = logits.argmax(dim=-1)  # (batch, 1)
            tokens.append(token)
            weights.append(attn_weights)
        tokens = torch.cat(tokens, dim=1)
        return tokens, (None if self.attention is None else torch.cat(weights, dim=1))


def seq2seq_loss(model, batch):
    """Cross-entropy of a :class:`Seq2Seq` model under teacher forcing.

    Parameters
    ----------
    model : Seq2Seq
    batch : tuple of torch.Tensor
        ``(src, tgt)`` of shapes ``(batch, src_len)`` and ``(batch, tgt_len)``;
        target positions equal to ``PAD_ID`` (0) are ignored.

    Returns
    -------
    torch.Tensor
        The mean loss per target token, a scalar.
    """
    src, tgt = batch
    logits, _ = model(src, tgt)
    return nn.functional.cross_entropy(logits.flatten(0, 1), tgt.flatten(), ignore_index=PAD_ID)


def greedy_accuracy(model, src, tgt):
    """Accuracy of greedy decoding: the model's own outputs are fed back.

    Parameters
    ----------
    model : Seq2Seq
    src : torch.Tensor of shape (batch, src_len)
    tgt : torch.Tensor of shape (batch, tgt_len)

    Returns
    -------
    token_accuracy : float
        Fraction of target tokens (padding excluded) predicted correctly.
    exact_match : float
        Fraction of sequences predicted entirely correctly.
    """
    tokens, _ = model.generate(src, tgt.shape[1])
    relevant, matches = tgt != PAD_ID, tokens == tgt
    token_accuracy = (matches & relevant).sum() / relevant.sum()
    return token_accuracy.item(), (matches | ~relevant).all(dim=1).float().mean().item()
