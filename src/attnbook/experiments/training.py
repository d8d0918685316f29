"""One training loop for every experiment of the book."""

import math
import sys
import time
from dataclasses import dataclass, field

import torch


@dataclass
class TrainingResult:
    """What :func:`train` measured.

    Attributes
    ----------
    losses : list of float
        The training loss of every step.
    seconds : float
        Wall-clock time of the loop.
    """

    losses: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def final_loss(self):
        """Mean loss of the last 10% of the steps (at least one)."""
        tail = self.losses[-max(1, len(self.losses) // 10):]
        return sum(tail) / len(tail)


class _Progress:
    """A one-line progress report on stderr, redrawn at most twice a second."""

    def __init__(self, total, enabled):
        self.total, self.enabled, self.last = total, enabled, 0.0

    def update(self, step, loss):
        now = time.perf_counter()
        if self.enabled and (now - self.last > 0.5 or step == self.total):
            self.last = now
            width = len(str(self.total))
            sys.stderr.write(f"\rstep {step:>{width}}/{self.total}  loss {loss:.4f}")
            if step == self.total:
                sys.stderr.write("\n")
            sys.stderr.flush()


def train(model, make_batch, loss_fn, *, steps, lr=1e-2, seed=0, grad_clip=1.0,
          weight_decay=0.0, progress=None, callback=None):
    """Train ``model`` with Adam on freshly generated batches.

    Parameters
    ----------
    model : torch.nn.Module
        Trained in place; left in evaluation mode.
    make_batch : callable
        ``make_batch(generator)`` returns one batch (any object ``loss_fn`` takes),
        drawing its random numbers from the :class:`torch.Generator` it is given.
    loss_fn : callable
        ``loss_fn(model, batch)`` returns a scalar loss tensor.
    steps : int
        Number of optimisation steps (one new batch each).
    lr : float
        Learning rate; it decays along a cosine to 5% of this value.
    seed : int
        Seeds the batch generator, and the global generator (for initialisation
        done inside ``loss_fn`` and dropout) inside :func:`torch.random.fork_rng`,
        so the caller's random state is left as it was.
    grad_clip : float or None
        Clip the gradient norm to this value.
    weight_decay : float
        AdamW weight decay.
    progress : bool, optional
        Report the step and loss on stderr. By default only when stderr is a
        terminal, so nothing is printed in notebooks, the book or CI logs.
    callback : callable, optional
        ``callback(step, model)`` is called after every optimisation step (``step``
        counts from 1), with the model in training mode: a learning curve of a
        held-out measure, say. It should evaluate under ``torch.no_grad()``,
        draw no random numbers from the global generator, and leave the model's
        weights and mode as it found them. Its time counts in ``seconds``.

    Returns
    -------
    TrainingResult

    Examples
    --------
    >>> import torch
    >>> from attnbook.experiments import train
    >>> model = torch.nn.Linear(1, 1)
    >>> def make_batch(g):
    ...     x = torch.randn(32, 1, generator=g)
    ...     return x, 3 * x + 1
    >>> def loss_fn(model, batch):
    ...     x, y = batch
    ...     return torch.nn.functional.mse_loss(model(x), y)
    >>> result = train(model, make_batch, loss_fn, steps=300, lr=0.1)
    >>> round(model.weight.item(), 2), round(model.bias.item(), 2)
    (3.0, 1.0)
    """
    if steps < 1:
        raise ValueError(f"steps must be a positive number, got {steps}")
    if progress is None:
        progress = sys.stderr.isatty()
    report = _Progress(steps, progress)
    generator = torch.Generator().manual_seed(seed)
    result = TrainingResult()
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / steps))
        )
        model.train()
        for step in range(1, steps + 1):
            loss = loss_fn(model, make_batch(generator))
            optimizer.zero_grad()
            loss.backward()
            if grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            schedule.step()
            result.losses.append(loss.item())
            report.update(step, result.losses[-1])
            if callback is not None:
                callback(step, model)
    model.eval()
    result.seconds = time.perf_counter() - start
    return result
