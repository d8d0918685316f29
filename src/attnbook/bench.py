"""A benchmark harness: every attention implementation, checked, then timed
(chapter 11).

Run it as ``python -m attnbook.bench`` (``--quick`` for the small shapes chapter 11
uses while the book builds, ``--json PATH`` to keep the rows, ``--device cuda``
on a GPU). Each :class:`Case` computes a reference output with PyTorch's
:func:`torch.nn.functional.scaled_dot_product_attention`; an implementation whose
output differs from it is reported, and not timed. The others are timed over
several repeats (median and range) and compared, as a ratio, with the case's
baseline, the fused kernel. Their peak memory is measured too:

- on the CPU, as the growth of the process's resident set during one call (the
  high-water mark ``VmHWM`` of Linux, reset just before the call, minus the
  resident set then), with glibc told to give every block of 64 KiB or more back
  to the system when it is freed, so that the resident set follows the tensors;
- on CUDA, as ``torch.cuda.max_memory_allocated()`` above the memory allocated
  before the call.

Both count the call's output and everything it allocates, not its inputs.
"""

import argparse
import contextlib
import ctypes
import datetime
import json
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

__all__ = ["Case", "default_cases", "format_table", "machine_info", "main", "peak_memory", "run",
           "sliding_window_attention", "sliding_window_cases"]

FUSED = "F.scaled_dot_product_attention"


@dataclass
class Case:
    """One comparison: several implementations of the same computation, one shape.

    Parameters
    ----------
    group : str
        What is compared, e.g. ``"MHA forward"``; rows of a group share a baseline.
    shape : str
        The shape, in words, for the table.
    setup : callable
        Called once, with no argument, when the case runs (so that its tensors
        exist only while it runs). Returns ``(reference, implementations)``:
        ``reference`` is a callable giving the correct output (a tensor or a tuple
        of tensors), or the name of one of the implementations whose output is
        taken as the reference; ``implementations`` maps names to callables with
        no argument that return the same kind of output.
    baseline : str
        The implementation the others are divided by (the fused kernel).
    repeats : int
        Timed calls per implementation, after one untimed call that checks the output;
        more (up to 100) where that many would take less than ``min_seconds``. The
        calls are made in rounds, one call of each implementation per round.
    min_seconds : float
        The least time spent timing each implementation (short calls are noisy).
    atol, rtol : float
        Tolerances of the check, as in :func:`torch.allclose` (0 and 0: equal).
    memory : bool
        Measure the peak memory of one more call (after every case is timed, so
        that the measurement's allocator settings change no timing).
    needs_bytes : dict, optional
        Memory an implementation needs, roughly; it is skipped (and says so) when
        the machine has less available.
    params : dict, optional
        Numbers that describe the shape (e.g. ``num_tokens``), copied into each row.
    references : dict, optional
        Implementations that compute another function than the case's reference,
        timed beside it (full causal attention beside windowed attention): each
        maps to a callable giving its own correct output, which it is checked
        against instead.

    Notes
    -----
    ``setup`` may also return a third element, a callable that takes an
    implementation's name after its checked call and returns a dict of numbers
    about it (e.g. the bytes its cache holds), copied into the row as ``notes``.

    Examples
    --------
    >>> import torch
    >>> import torch.nn.functional as F
    >>> from attnbook.bench import Case, run
    >>> q = k = v = torch.randn(1, 2, 8, 4, generator=torch.Generator().manual_seed(0))
    >>> case = Case("toy", "(1, 2, 8, 4)", lambda: (
    ...     lambda: F.scaled_dot_product_attention(q, k, v),
    ...     {"fused": lambda: F.scaled_dot_product_attention(q, k, v),
    ...      "no scaling": lambda: torch.softmax(q @ k.mT, -1) @ v}), baseline="fused",
    ...     repeats=2, memory=False)
    >>> [(row["implementation"], row["status"]) for row in run(cases=[case])]
    [('fused', 'ok'), ('no scaling', 'disagrees')]
    """

    group: str
    shape: str
    setup: object
    baseline: str = FUSED
    repeats: int = 5
    min_seconds: float = 0.05
    atol: float = 1e-4
    rtol: float = 1e-4
    memory: bool = True
    needs_bytes: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    references: dict = field(default_factory=dict)


# ---------------------------------------------------------------- measuring


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def _time_once(fn, device):
    _sync(device)
    start = time.perf_counter()
    out = fn()
    _sync(device)
    return time.perf_counter() - start, out


def _proc_status_kib(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


_MALLOC_READY = None


def _cpu_memory_ready():
    """Make freed blocks go back to the system (glibc); False where it cannot be done."""
    global _MALLOC_READY
    if _MALLOC_READY is None:
        try:
            libc = ctypes.CDLL("libc.so.6")
            m_trim_threshold, m_mmap_threshold = -1, -3
            ok = libc.mallopt(m_mmap_threshold, 64 * 1024) == 1
            ok = ok and libc.mallopt(m_trim_threshold, 64 * 1024) == 1
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            _proc_status_kib("VmHWM")
            _MALLOC_READY = libc if ok else False
        except (OSError, KeyError, AttributeError):
            _MALLOC_READY = False
    return _MALLOC_READY


def peak_memory(fn, device="cpu"):
    """Bytes that one call of ``fn`` holds at its peak, above what existed before.

    Parameters
    ----------
    fn : callable
        Called once with no argument; its output counts until it is returned.
    device : str or torch.device

    Returns
    -------
    int or None
        None where it cannot be measured (a CPU without Linux's ``/proc`` or glibc).
    """
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        out = fn()
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) - before
        del out
        return peak
    libc = _cpu_memory_ready()
    if not libc:
        return None
    libc.malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the high-water mark to the current resident set
    before = _proc_status_kib("VmRSS")
    out = fn()
    peak = _proc_status_kib("VmHWM") - before
    del out
    return max(peak, 0) * 1024


def _available_bytes(device):
    if torch.device(device).type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _as_tuple(out):
    return out if isinstance(out, tuple) else (out,)


def _max_error(out, ref):
    """Largest absolute difference over the tensors of two outputs (inf if shapes differ)."""
    out, ref = _as_tuple(out), _as_tuple(ref)
    if len(out) != len(ref) or any(a.shape != b.shape for a, b in zip(out, ref, strict=True)):
        return math.inf
    return max(((a.double() - b.double()).abs().max().item() if a.numel() else 0.0)
               for a, b in zip(out, ref, strict=True))


def _agrees(out, ref, atol, rtol):
    out, ref = _as_tuple(out), _as_tuple(ref)
    if len(out) != len(ref):
        return False
    for a, b in zip(out, ref, strict=True):
        if a.shape != b.shape:
            return False
        if atol == 0 and rtol == 0:
            if not torch.equal(a, b):
                return False
        elif not torch.allclose(a.double(), b.double(), atol=atol, rtol=rtol):
            return False
    return True


# ---------------------------------------------------------------- the cases


def _generator(seed):
    return torch.Generator().manual_seed(seed)


def _randn(*shape, seed, device):
    return torch.randn(*shape, generator=_generator(seed)).to(device)


def _split_heads(x, num_heads):
    batch, num_tokens, d = x.shape
    return x.view(batch, num_tokens, num_heads, d // num_heads).transpose(1, 2)


def _mha_setup(batch, num_tokens, d, num_heads, device, backward):
    """MultiHeadAttention, the bare composition and torch.nn.MultiheadAttention."""
    from .multihead import MultiHeadAttention

    def setup():
        torch.manual_seed(0)
        mha = MultiHeadAttention(d, d, num_tokens, num_heads=num_heads, qkv_bias=True)
        mha = mha.to(device).train(backward)
        torch_mha = mha.to_torch().to(device).train(backward)
        x0 = _randn(batch, num_tokens, d, seed=1, device=device)
        grad_out = _randn(batch, num_tokens, d, seed=2, device=device)
        mask = ~torch.ones(num_tokens, num_tokens, dtype=torch.bool, device=device).tril()

        def bare(x):  # three nn.Linear, the fused kernel, out_proj
            q, k, v = (_split_heads(lin(x), num_heads)
                       for lin in (mha.W_query, mha.W_key, mha.W_value))
            context_vec = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return mha.out_proj(context_vec.transpose(1, 2).reshape(x.shape))

        forwards = {
            f"bare composition ({FUSED})": bare,
            "MultiHeadAttention": mha,
            "MultiHeadAttention(need_weights=True)": lambda x: mha(x, need_weights=True)[0],
            "torch.nn.MultiheadAttention": lambda x: torch_mha(
                x, x, x, attn_mask=mask, is_causal=True, need_weights=False)[0],
        }
        params = [*mha.parameters(), *torch_mha.parameters()]

        def wrap(forward):
            if not backward:
                def run_forward():
                    with torch.no_grad():
                        return forward(x0)
                return run_forward

            def run_forward_backward():
                for p in params:
                    p.grad = None
                x = x0.detach().requires_grad_()
                out = forward(x)
                out.backward(grad_out)
                return out.detach(), x.grad

            return run_forward_backward

        implementations = {name: wrap(f) for name, f in forwards.items()}
        return implementations[f"bare composition ({FUSED})"], implementations

    return setup


def _attention_setup(batch, num_heads, num_tokens, head_dim, device, chunk_size=128):
    """F.scaled_dot_product_attention, chunked_attention and the explicit path, causal."""
    from . import scaled_dot

    def setup():
        shape = (batch, num_heads, num_tokens, head_dim)
        q, k, v = (_randn(*shape, seed=s, device=device) for s in (3, 4, 5))

        def fused():
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)

        implementations = {FUSED: fused}
        chunked = getattr(sys.modules["attnbook"], "chunked_attention", None)
        if chunked is not None:
            implementations[f"chunked_attention(chunk_size={chunk_size})"] = lambda: chunked(
                q, k, v, is_causal=True, chunk_size=chunk_size)
        implementations["attnbook.scaled_dot_product_attention (explicit)"] = lambda: (
            scaled_dot.scaled_dot_product_attention(q, k, v, is_causal=True)[0])

        def reference():
            with torch.no_grad():
                return fused()

        return reference, {name: torch.no_grad()(f) for name, f in implementations.items()}

    return setup


def _generation_setup(num_prompt, num_new, d, num_heads, num_layers, vocab_size, device):
    """GPTModel.generate with a KV cache and recomputing every step."""
    from .transformer import GPTModel

    def setup():
        torch.manual_seed(0)
        model = GPTModel(vocab_size, num_prompt + num_new, d, num_layers, num_heads,
                         qkv_bias=True).to(device).eval()
        prompt = torch.randint(vocab_size, (1, num_prompt), generator=_generator(6)).to(device)
        implementations = {
            "with KVCache": lambda: model.generate(prompt, num_new, use_cache=True),
            "recompute every step": lambda: model.generate(prompt, num_new, use_cache=False),
        }
        return "recompute every step", implementations

    return setup


def sliding_window_attention(query, key, value, window, block_size=None, scale=None):
    """Causal sliding-window attention that computes only the scores inside the window.

    The queries are cut into blocks of ``block_size`` tokens. The block that starts
    at query ``s`` needs only keys ``s - window + 1 .. s + block_size - 1``, a span of
    ``block_size + window - 1``, so the scores take ``num_tokens * (block_size +
    window - 1)`` numbers instead of ``num_tokens**2``, and the time grows as
    ``num_tokens * window``. A mask applied to full attention (what
    :class:`attnbook.MultiHeadAttention` does with ``window=``) gives the same
    numbers, but still computes every score.

    Parameters
    ----------
    query : torch.Tensor of shape (..., num_tokens, d_k)
    key : torch.Tensor of shape (..., num_tokens, d_k)
    value : torch.Tensor of shape (..., num_tokens, d_v)
    window : int
        Query ``i`` attends to keys ``i - window + 1 .. i`` (those that exist).
    block_size : int, optional
        Queries per block; ``window`` by default.
    scale : float, optional
        Factor for the scores; ``1 / sqrt(d_k)`` by default.

    Returns
    -------
    torch.Tensor of shape (..., num_tokens, d_v)
        The same as ``torch.nn.functional.scaled_dot_product_attention(query, key,
        value, attn_mask=attnbook.causal_mask(num_tokens, window=window))``.

    Raises
    ------
    ValueError
        If ``window`` or ``block_size`` is not an int of at least 1, or query,
        key and value do not have the same number of tokens.

    Examples
    --------
    >>> import torch
    >>> import torch.nn.functional as F
    >>> from attnbook import causal_mask
    >>> from attnbook.bench import sliding_window_attention
    >>> q, k, v = torch.randn(3, 2, 10, 4, generator=torch.Generator().manual_seed(0))
    >>> out = sliding_window_attention(q, k, v, window=3)
    >>> out.shape
    torch.Size([2, 10, 4])
    >>> torch.allclose(out, F.scaled_dot_product_attention(
    ...     q, k, v, attn_mask=causal_mask(10, window=3)), atol=1e-6)
    True
    """
    from .scaled_dot import check_window

    if window is None:
        raise ValueError("expected window to be an int >= 1, got None")
    check_window(window)
    block_size = window if block_size is None else block_size
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"expected block_size to be an int >= 1, got {block_size!r}")
    num_tokens = query.shape[-2]
    if key.shape[-2] != num_tokens or value.shape[-2] != num_tokens:
        raise ValueError(f"expected query, key and value with the same num_tokens (causal "
                         f"self-attention), got {tuple(query.shape)}, {tuple(key.shape)}, "
                         f"{tuple(value.shape)}")
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    num_blocks, span = -(-num_tokens // block_size), block_size + window - 1
    pad_end = num_blocks * block_size - num_tokens
    q = F.pad(query, (0, 0, 0, pad_end)).unflatten(-2, (num_blocks, block_size))
    # keys and values, window - 1 zeros in front: block b reads span tokens from b * block_size
    k = F.pad(key, (0, 0, window - 1, pad_end)).unfold(-2, span, block_size).mT
    v = F.pad(value, (0, 0, window - 1, pad_end)).unfold(-2, span, block_size).mT
    scores = q @ k.mT * scale  # (..., num_blocks, block_size, span)
    row = torch.arange(block_size, device=query.device)[:, None]  # query s + row
    col = torch.arange(span, device=query.device)  # key s - window + 1 + col
    first_key = torch.arange(num_blocks, device=query.device) * block_size - (window - 1)
    exists = (first_key[:, None] + col) >= 0  # (num_blocks, span): not the zeros in front
    allowed = (col >= row) & (col <= row + window - 1) & exists[:, None, :]
    weights = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)
    out = weights @ v  # (..., num_blocks, block_size, d_v)
    return out.flatten(-3, -2)[..., :num_tokens, :]  # (..., num_tokens, d_v)


def _window_setup(batch, num_heads, num_tokens, head_dim, window, device):
    """Windowed attention three ways, beside full causal attention (for its time)."""
    from . import scaled_dot

    def setup():
        shape = (batch, num_heads, num_tokens, head_dim)
        q, k, v = (_randn(*shape, seed=s, device=device) for s in (7, 8, 9))
        band = scaled_dot.causal_mask(num_tokens, window=window, device=device)
        implementations = {
            f"full causal ({FUSED}, is_causal)": lambda: F.scaled_dot_product_attention(
                q, k, v, is_causal=True),
            f"window as a mask ({FUSED})": lambda: F.scaled_dot_product_attention(
                q, k, v, attn_mask=band),
            "window as a mask (attnbook explicit)": lambda: (
                scaled_dot.scaled_dot_product_attention(q, k, v, attn_mask=band)[0]),
            "sliding_window_attention (blocks)": lambda: sliding_window_attention(
                q, k, v, window),
        }

        def reference():  # the windowed function, by PyTorch's kernel with the band mask
            with torch.no_grad():
                return F.scaled_dot_product_attention(q, k, v, attn_mask=band)

        return reference, {name: torch.no_grad()(f) for name, f in implementations.items()}

    return setup


def _full_causal_reference(batch, num_heads, num_tokens, head_dim, device):
    """Full causal attention by another algorithm: chunked_attention (online softmax)."""
    from .chunked import chunked_attention

    def reference():
        shape = (batch, num_heads, num_tokens, head_dim)
        q, k, v = (_randn(*shape, seed=s, device=device) for s in (7, 8, 9))
        with torch.no_grad():
            return chunked_attention(q, k, v, is_causal=True, chunk_size=256)

    return reference


def _window_cache_setup(num_tokens, d, num_heads, num_layers, window, device):
    """Decoding one token at a time through windowed LlamaBlocks, plain or rolling cache."""
    from .cache import KVCache
    from .transformer import LlamaBlock

    def setup():
        torch.manual_seed(0)
        blocks = [LlamaBlock(d, num_heads, num_tokens, window=window).to(device).eval()
                  for _ in range(num_layers)]
        x = _randn(1, num_tokens, d, seed=10, device=device)
        held = {}

        def run(h, caches=None):
            for block, cache in zip(blocks, caches or [None] * len(blocks), strict=True):
                h = block(h, cache=cache)
            return h

        def decode(max_tokens, name):
            def go():
                caches = [KVCache(max_tokens=max_tokens) for _ in blocks]
                outs = [run(x[:, t:t + 1], caches) for t in range(num_tokens)]
                held[name] = sum(c.keys.numel() * c.keys.element_size()
                                 + c.values.numel() * c.values.element_size() for c in caches)
                return torch.cat(outs, dim=1)  # (1, num_tokens, d)
            return torch.no_grad()(go)

        implementations = {"KVCache()": decode(None, "KVCache()"),
                           f"KVCache(max_tokens={window})": decode(window,
                                                                 f"KVCache(max_tokens={window})")}

        def reference():  # one call of the windowed blocks on the whole sequence
            with torch.no_grad():
                return run(x)

        def notes(name):
            return {"cache bytes": held[name],
                    "cache bytes per token": held[name] / num_tokens}

        return reference, implementations, notes

    return setup


def sliding_window_cases(quick=False, device="cpu"):
    """The sliding-window groups: windowed against full causal attention, and its cache.

    ``"sliding window"``: at each length, causal attention with a window, as a
    mask on PyTorch's fused kernel, as a mask on the explicit path, and by
    :func:`sliding_window_attention`, each checked against the fused kernel with
    the band mask; full causal attention (checked against
    :func:`attnbook.chunked_attention`) is the baseline. ``"sliding-window
    cache"``: decoding a sequence one token at a time through two windowed
    blocks (:class:`attnbook.LlamaBlock`) with a plain :class:`attnbook.KVCache`
    and with a rolling one (``max_tokens=window``), each checked against one call
    on the whole sequence; the notes give the bytes the caches hold at the end.

    Parameters
    ----------
    quick : bool
        Small shapes (512 to 2,048 tokens, 4 heads, a window of 128; decoding
        512 and 1,024 tokens) instead of 2,048 to 8,192 tokens with 12 heads and
        a window of 512 (decoding 2,048 and 4,096 tokens at d 768).
    device : str or torch.device

    Returns
    -------
    list of Case
    """
    if quick:
        lengths, heads, window = (512, 1024, 2048), 4, 128
        decode = [dict(num_tokens=n, d=64, num_heads=4, num_layers=2, window=64)
                  for n in (512, 1024)]
        repeats = 3
    else:
        lengths, heads, window = (2048, 4096, 8192), 12, 512
        decode = [dict(num_tokens=n, d=768, num_heads=12, num_layers=2, window=512)
                  for n in (2048, 4096)]
        repeats = 3
    full = f"full causal ({FUSED}, is_causal)"
    cases = []
    for n in lengths:
        spec = dict(batch=1, num_heads=heads, num_tokens=n, head_dim=64)
        shape = f"batch 1, {heads} heads, {n} tokens, head_dim 64, window {window}"
        scores = heads * n * n * 4
        cases.append(Case("sliding window", shape,
                          _window_setup(**spec, window=window, device=device), baseline=full,
                          repeats=repeats, params={**spec, "window": window},
                          needs_bytes={"window as a mask (attnbook explicit)": 4 * scores},
                          references={full: _full_causal_reference(**spec, device=device)}))
    for spec in decode:
        shape = ("{num_tokens} tokens one at a time, d {d}, {num_heads} heads, {num_layers} "
                 "blocks, window {window}").format(**spec)
        cases.append(Case("sliding-window cache", shape,
                          _window_cache_setup(**spec, device=device), baseline="KVCache()",
                          repeats=repeats, min_seconds=0.0, params=spec))
    return cases


def default_cases(quick=False, device="cpu", sliding_window=None):
    """The cases of issue 9 (full) or their small versions (``quick``).

    Full: multi-head attention at GPT-2's shape (forward, forward+backward);
    attention alone at 1,024 tokens; attention against length; peak memory at
    8,192 tokens; generating 256 tokens after a 768-token prompt. Quick: the same
    comparisons at small shapes, attention against length up to 1,024 tokens,
    and generation after prompts of several lengths (no separate memory case:
    the longest length of the sweep is it).

    Parameters
    ----------
    quick : bool
        Small shapes that run in seconds on one CPU thread.
    device : str or torch.device
    sliding_window : bool, optional
        Add :func:`sliding_window_cases`; by default only to the full run (the
        quick run is what chapter 11 times while the book builds).

    Returns
    -------
    list of Case
    """
    if sliding_window is None:
        sliding_window = not quick
    if quick:
        mha = dict(batch=2, num_tokens=256, d=256, num_heads=4)
        attention = dict(batch=2, num_heads=4, num_tokens=512, head_dim=64)
        lengths, sweep_heads, memory = (64, 128, 256, 512, 1024), 4, None
        model = dict(d=128, num_heads=4, num_layers=1, vocab_size=64)
        generation = [dict(num_prompt=p, num_new=16, **model) for p in (32, 64, 128, 256)]
        repeats, gen_repeats = 3, 5
    else:
        mha = dict(batch=8, num_tokens=1024, d=768, num_heads=12)
        attention = dict(batch=8, num_heads=12, num_tokens=1024, head_dim=64)
        lengths, sweep_heads = (256, 512, 1024, 2048, 4096), 12
        memory = dict(batch=1, num_heads=12, num_tokens=8192, head_dim=64)
        model = dict(d=768, num_heads=12, num_layers=1, vocab_size=512)
        generation = [dict(num_prompt=768, num_new=256, **model)]
        repeats, gen_repeats = 5, 3
    mha_shape = "batch {batch}, {num_tokens} tokens, d {d}, {num_heads} heads, causal".format(
        **mha)
    baseline = f"bare composition ({FUSED})"
    cases = [
        Case("MHA forward", mha_shape, _mha_setup(**mha, device=device, backward=False),
             baseline=baseline, repeats=repeats, params=mha),
        Case("MHA forward+backward", mha_shape, _mha_setup(**mha, device=device, backward=True),
             baseline=baseline, repeats=repeats, atol=1e-3, rtol=1e-3, params=mha),
    ]

    def attention_case(group, spec, reps=repeats):
        shape = "batch {batch}, {num_heads} heads, {num_tokens} tokens, head_dim {head_dim}, " \
                "causal".format(**spec)
        scores = spec["batch"] * spec["num_heads"] * spec["num_tokens"] ** 2 * 4
        return Case(group, shape, _attention_setup(**spec, device=device), repeats=reps,
                    needs_bytes={"attnbook.scaled_dot_product_attention (explicit)": 4 * scores},
                    params=spec)

    cases.append(attention_case("attention", attention))
    cases += [attention_case("attention against length",
                             dict(batch=1, num_heads=sweep_heads, num_tokens=n, head_dim=64))
              for n in lengths]
    if memory is not None:
        cases.append(attention_case("peak memory", memory, reps=1))
    for spec in generation:
        shape = ("{num_prompt}-token prompt + {num_new} new, d {d}, {num_heads} heads, "
                 "{num_layers} block, vocab {vocab_size}").format(**spec)
        cases.append(Case("generation", shape, _generation_setup(**spec, device=device),
                          baseline="with KVCache", repeats=gen_repeats, atol=0.0, rtol=0.0,
                          memory=False, params=spec))
    if sliding_window:
        cases += sliding_window_cases(quick, device)
    return cases


# ---------------------------------------------------------------- running


def machine_info(device="cpu"):
    """Where the numbers come from: cores, threads, torch version, device, date.

    Returns
    -------
    dict
    """
    info = {
        "date": datetime.date.today().isoformat(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
    }
    if torch.device(device).type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _run_case(case, device, repeats, progress):
    reference, implementations, *rest = case.setup()
    notes = rest[0] if rest else None
    order = list(implementations)
    ref_out = None
    if isinstance(reference, str):  # that implementation runs first and gives the reference
        if reference not in implementations:
            raise ValueError(f"case {case.group!r}: the reference {reference!r} is not one of "
                             f"its implementations {order}")
        order.remove(reference)
        order.insert(0, reference)
    else:
        ref_out = reference()
    rows, counts = {}, {}
    for name in order:  # check each implementation (and warm it up)
        fn = implementations[name]
        progress(f"{case.group} [{case.shape}]: checking {name}")
        row = dict(group=case.group, implementation=name, shape=case.shape,
                   params=dict(case.params), baseline=case.baseline, status="ok",
                   max_abs_error=None, median_s=None, min_s=None, max_s=None, repeats=0,
                   ratio=None, peak_bytes=None, notes={})
        rows[name] = row
        needs, available = case.needs_bytes.get(name), _available_bytes(device)
        if needs is not None and available is not None and needs > available:
            row["status"] = (f"skipped: needs about {needs / 2**30:.1f} GiB, "
                             f"{available / 2**30:.1f} GiB available")
            continue
        seconds, out = _time_once(fn, device)  # the check, and a warm-up
        if ref_out is None:
            ref_out = out
        own_ref = case.references[name]() if name in case.references else ref_out
        row["max_abs_error"] = _max_error(out, own_ref)
        if notes is not None:
            row["notes"] = dict(notes(name))
        if not _agrees(out, own_ref, case.atol, case.rtol):
            row["status"] = "disagrees"
            continue
        del out, own_ref
        counts[name] = repeats or max(
            case.repeats, min(100, math.ceil(case.min_seconds / max(seconds, 1e-6))))
    # timed in rounds, each implementation once per round (in alternating order), so
    # that a burst of load from elsewhere on the machine hits them all alike
    times = {name: [] for name in counts}
    for round_ in range(max(counts.values(), default=0)):
        progress(f"{case.group} [{case.shape}]: round {round_ + 1}")
        for name in (list(counts) if round_ % 2 == 0 else list(counts)[::-1]):
            if len(times[name]) < counts[name]:
                times[name].append(_time_once(implementations[name], device)[0])
    for name, t in times.items():
        rows[name].update(median_s=statistics.median(t), min_s=min(t), max_s=max(t),
                          repeats=len(t))
    base = rows.get(case.baseline)
    for row in rows.values():
        if base and base["median_s"] and row["median_s"]:
            row["ratio"] = row["median_s"] / base["median_s"]
    return [rows[name] for name in implementations]


def _measure_memory(case, rows, device, progress):
    """Fill in ``peak_bytes`` of the rows of ``case`` that were checked and timed."""
    _, implementations, *_ = case.setup()
    for row in rows:
        if row["median_s"] is not None:
            progress(f"peak memory: {case.group} [{case.shape}]: {row['implementation']}")
            row["peak_bytes"] = peak_memory(implementations[row["implementation"]], device)


def run(quick=False, device="cpu", repeats=None, cases=None, progress=None):
    """Check, then time, every implementation of every case.

    Parameters
    ----------
    quick : bool
        Use the small shapes of :func:`default_cases` (a few seconds).
    device : str or torch.device
    repeats : int, optional
        Timed calls per implementation, instead of each case's own number.
    cases : list of Case, optional
        Instead of :func:`default_cases`.
    progress : callable, optional
        Called with a line of text before each implementation runs.

    Returns
    -------
    list of dict
        One row per implementation and case: ``group``, ``implementation``,
        ``shape``, ``baseline``, ``status`` (``"ok"``, ``"disagrees"`` or why it
        was skipped), ``max_abs_error`` (against the reference), ``median_s``,
        ``min_s``, ``max_s``, ``repeats``, ``ratio`` (median over the baseline's)
        and ``peak_bytes``; times and memory are None when not measured; ``notes``,
        numbers a case reports about an implementation (or an empty dict).
    """
    if cases is None:
        cases = default_cases(quick, device)
    progress = progress or (lambda line: None)
    rows = []
    for i, case in enumerate(cases, 1):
        progress(f"case {i}/{len(cases)}")
        rows.append(_run_case(case, device, repeats, progress))
    for case, case_rows in zip(cases, rows, strict=True):
        if case.memory:
            _measure_memory(case, case_rows, device, progress)
    return [row for case_rows in rows for row in case_rows]


def _format_bytes(n):
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return None  # unreachable


def _format_note(key, value):
    if "bytes" in key:
        return _format_bytes(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:.3g}"


def format_table(rows):
    """A plain-text table of :func:`run`'s rows.

    Parameters
    ----------
    rows : list of dict

    Returns
    -------
    str
    """
    header = ("group", "implementation", "shape", "median", "range", "x baseline", "peak memory")
    with_notes = any(r.get("notes") for r in rows)
    if with_notes:
        header += ("notes",)
    lines = []
    for r in rows:
        if r["median_s"] is None:
            timing = (r["status"] if r["status"] != "ok" else "not timed", "", "")
            if r["status"] == "disagrees":
                timing = (f"disagrees (max error {r['max_abs_error']:.2g})", "", "")
        else:
            timing = (f"{r['median_s'] * 1e3:.1f} ms",
                      f"{r['min_s'] * 1e3:.1f}-{r['max_s'] * 1e3:.1f} ms",
                      f"{r['ratio']:.2f}" if r["ratio"] is not None else "-")
        line = (r["group"], r["implementation"], r["shape"], *timing,
                _format_bytes(r["peak_bytes"]))
        if with_notes:
            line += (", ".join(f"{k} {_format_note(k, v)}" for k, v in r.get("notes", {}).items()),)
        lines.append(line)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines, strict=True)]

    def fmt(cells):
        return " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([fmt(header), "-+-".join("-" * w for w in widths)] + [fmt(x) for x in lines])


def main(argv=None):
    """``python -m attnbook.bench``: print the table (and write JSON with ``--json``)."""
    parser = argparse.ArgumentParser(prog="python -m attnbook.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small shapes: a few seconds")
    parser.add_argument("--json", metavar="PATH", help="also write machine and rows as JSON")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--repeats", type=int, help="timed calls per implementation")
    parser.add_argument("--only", action="append", metavar="GROUP",
                        help="run only this group of cases (repeatable), e.g. 'MHA forward'")
    args = parser.parse_args(argv)
    if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    show = sys.stderr.isatty()

    def progress(line):
        if show:
            print(f"\r\033[K{line}"[:200], end="", file=sys.stderr, flush=True)

    machine = machine_info(args.device)
    started = time.perf_counter()
    cases = default_cases(args.quick, args.device, sliding_window=True)
    if args.only:
        unknown = set(args.only) - {case.group for case in cases}
        if unknown:
            parser.error(f"--only: no group {sorted(unknown)}; the groups are "
                         f"{sorted({case.group for case in cases})}")
        cases = [case for case in cases if case.group in args.only]
    rows = run(args.quick, args.device, args.repeats, cases=cases, progress=progress)
    if show:
        print("\r\033[K", end="", file=sys.stderr, flush=True)
    machine["seconds"] = round(time.perf_counter() - started, 1)
    print(", ".join(f"{k}: {v}" for k, v in machine.items()))
    print(format_table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "quick": args.quick, "rows": rows}, f, indent=1)
    return 0 if all(r["status"] != "disagrees" for r in rows) else 1


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
