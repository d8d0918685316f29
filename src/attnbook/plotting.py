"""Figures of the book. Every helper takes data and an optional ``ax``, returns
the :class:`matplotlib.figure.Figure`, and touches no global state (no pyplot)."""

import numpy as np
from matplotlib.figure import Figure

# Okabe and Ito's colour-blind-safe palette (black is kept for baselines), with one
# marker per series as well, so that no two lines differ by their colour alone.
SERIES_COLORS = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#999999")
SERIES_MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def _series_style(index):
    """Colour and marker of the ``index``-th series of a line plot."""
    return (SERIES_COLORS[index % len(SERIES_COLORS)],
            SERIES_MARKERS[index % len(SERIES_MARKERS)])


def _axes(ax, figsize):
    if ax is not None:
        return ax
    return Figure(figsize=figsize, layout="constrained").add_subplot()


def _to_numpy(x):
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


def plot_attention_heatmap(attn_weights, row_labels=None, col_labels=None, *, ax=None,
                           title=None, annotate=None, cmap="viridis", colorbar=True,
                           xlabel="key", ylabel="query", colorbar_label="attention weight",
                           vmax=None):
    """Draw a matrix of attention weights, one row per query.

    Parameters
    ----------
    attn_weights : torch.Tensor or numpy.ndarray of shape (num_queries, num_keys)
    row_labels : sequence of str, optional
        Labels of the queries (rows).
    col_labels : sequence of str, optional
        Labels of the keys (columns); default ``row_labels``.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure if None.
    title : str, optional
    annotate : bool, optional
        Write each weight in its cell; by default when the matrix is at most 10x10.
    cmap : str
    colorbar : bool
    xlabel, ylabel : str
    colorbar_label : str
        Label of the colour bar (say, "may attend" when drawing a mask).
    vmax : float, optional
        Weight drawn in the brightest colour; default the largest weight (pass the
        same value to several panels to share their scale).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from attnbook import simplified_self_attention
    >>> from attnbook.data import JOURNEY_TOKENS, journey_embeddings
    >>> from attnbook.plotting import plot_attention_heatmap
    >>> _, attn_weights = simplified_self_attention(journey_embeddings())
    >>> fig = plot_attention_heatmap(attn_weights, JOURNEY_TOKENS)
    >>> len(fig.axes)  # the heatmap and its colour bar
    2
    """
    weights = _to_numpy(attn_weights)
    if weights.ndim != 2:
        raise ValueError(f"expected attn_weights of shape (num_queries, num_keys), "
                         f"got {weights.shape}")
    col_labels = row_labels if col_labels is None else col_labels
    ax = _axes(ax, figsize=(min(0.6 * weights.shape[1] + 2.2, 7.5),
                            min(0.5 * weights.shape[0] + 1.2, 6.0)))
    vmax = max(float(weights.max()), 1e-12) if vmax is None else vmax
    image = ax.imshow(weights, cmap=cmap, vmin=0.0, vmax=vmax)
    if row_labels is not None:
        ax.set_yticks(range(weights.shape[0]), labels=row_labels)
    if col_labels is not None:
        ax.set_xticks(range(weights.shape[1]), labels=col_labels, rotation=45, ha="right")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if annotate is None:
        annotate = max(weights.shape) <= 10
    if annotate:
        threshold = 0.6 * vmax  # dark text on bright cells of the (possibly shared) scale
        for (i, j), w in np.ndenumerate(weights):
            ax.text(j, i, f"{w:.2f}", ha="center", va="center", fontsize=8,
                    color="black" if w > threshold else "white")
    if title:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, label=colorbar_label)
    return ax.figure


def plot_curves(x, curves, *, ax=None, xlabel=None, ylabel=None, title=None, logx=False,
                logy=False, markers=True):
    """Draw one line per named series over a shared x axis.

    Parameters
    ----------
    x : sequence of float
        The shared x values.
    curves : dict
        Maps each legend label (a str) to its y values, a sequence of floats as
        long as ``x``.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure if None.
    xlabel, ylabel, title : str, optional
    logx, logy : bool
        Logarithmic axes (base 2 for x, 10 for y).
    markers : bool
        Mark every data point, with a different marker for each series (colours
        come from a colour-blind-safe palette).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from attnbook.plotting import plot_curves
    >>> fig = plot_curves([1, 2, 4], {"linear": [1, 2, 4], "flat": [1, 1, 1]}, logx=True)
    >>> [line.get_label() for line in fig.axes[0].get_lines()]
    ['linear', 'flat']
    """
    x = _to_numpy(x)
    ax = _axes(ax, figsize=(6.0, 3.6))
    first = len(ax.get_lines())  # a second call on the same axes continues the styles
    for index, (label, y) in enumerate(curves.items(), start=first):
        y = _to_numpy(y)
        if y.shape != x.shape:
            raise ValueError(f"curve {label!r} has shape {y.shape}, expected {x.shape} like x")
        color, marker = _series_style(index)
        ax.plot(x, y, color=color, marker=marker if markers else None, markersize=4,
                label=label)
    if logx:
        ax.set_xscale("log", base=2)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel or "")
    ax.set_ylabel(ylabel or "")
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return ax.figure


def plot_attention_heads(attn_weights, row_labels=None, col_labels=None, *, axes=None,
                         ncols=4, titles=None, xlabel="key", ylabel="query"):
    """Draw the attention weights of every head side by side, on a shared colour scale.

    Parameters
    ----------
    attn_weights : torch.Tensor or numpy.ndarray of shape (num_heads, num_queries, num_keys)
        The weights of one sequence, such as ``weights[0]`` of a multi-head module.
    row_labels, col_labels : sequence of str, optional
        As in :func:`plot_attention_heatmap`.
    axes : sequence of matplotlib.axes.Axes, optional
        One per head; a new figure with ``ncols`` columns if None.
    ncols : int
        Columns of the new figure.
    titles : sequence of str, optional
        One per head; default "head 0", "head 1", ...
    xlabel, ylabel : str
        Axis labels of every panel (columns are keys, rows are queries).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from attnbook.plotting import plot_attention_heads
    >>> fig = plot_attention_heads(np.full((3, 4, 4), 0.25), ncols=2)
    >>> [ax.get_title() for ax in fig.axes if ax.get_title()]
    ['head 0', 'head 1', 'head 2']
    """
    weights = _to_numpy(attn_weights)
    if weights.ndim != 3:
        raise ValueError(f"expected attn_weights of shape (num_heads, num_queries, num_keys), "
                         f"got {weights.shape}")
    num_heads = weights.shape[0]
    if axes is None:
        nrows = -(-num_heads // ncols)
        fig = Figure(figsize=(2.9 * min(ncols, num_heads), 2.9 * nrows), layout="constrained")
        grid = fig.subplots(nrows, min(ncols, num_heads), squeeze=False).ravel()
        for ax in grid[num_heads:]:
            ax.set_axis_off()
        axes = grid[:num_heads]
    vmax = max(float(weights.max()), 1e-12)
    titles = titles or [f"head {h}" for h in range(num_heads)]
    for h, ax in enumerate(axes):
        plot_attention_heatmap(weights[h], row_labels, col_labels, ax=ax, title=titles[h],
                               annotate=False, colorbar=False, vmax=vmax, xlabel=xlabel,
                               ylabel=ylabel)
    image = axes[-1].images[-1]
    figure = axes[0].figure
    figure.colorbar(image, ax=list(axes), label="attention weight", shrink=0.8)
    return figure


def plot_image_attention(image, attention, *, ax=None, title=None, alpha=0.45, cmap="magma",
                         outline=None, vmax=None):
    """Overlay a coarse attention map (one value per patch) on an image.

    Parameters
    ----------
    image : torch.Tensor or numpy.ndarray of shape (height, width)
    attention : torch.Tensor or numpy.ndarray of shape (grid_h, grid_w)
        Stretched over the whole image, one cell per patch.
    ax : matplotlib.axes.Axes, optional
    title : str, optional
    alpha : float
        Opacity of the attention map.
    cmap : str
    outline : torch.Tensor or numpy.ndarray of shape (height, width), optional
        A boolean mask (say, of the object) drawn as a cyan contour.
    vmax : float, optional
        Weight drawn in the brightest colour (the darkest is 0); default the
        largest weight of ``attention`` (pass one value to several panels to share
        their scale).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from attnbook.plotting import plot_image_attention
    >>> fig = plot_image_attention(np.zeros((8, 8)), np.eye(2))
    >>> len(fig.axes[0].images)  # the image and the attention map
    2
    """
    image, attention = _to_numpy(image), _to_numpy(attention)
    if image.ndim != 2 or attention.ndim != 2:
        raise ValueError(f"expected image of shape (height, width) and attention of shape "
                         f"(grid_h, grid_w), got {image.shape} and {attention.shape}")
    ax = _axes(ax, figsize=(3.2, 3.2))
    height, width = image.shape
    extent = (0, width, height, 0)
    ax.imshow(image, cmap="gray", extent=extent)
    vmax = max(float(attention.max()), 1e-12) if vmax is None else vmax
    ax.imshow(attention, cmap=cmap, alpha=alpha, extent=extent, interpolation="nearest",
              vmin=0.0, vmax=vmax)
    if outline is not None:
        outline = _to_numpy(outline).astype(float)
        centers_y, centers_x = np.arange(height) + 0.5, np.arange(width) + 0.5
        ax.contour(centers_x, centers_y, outline, levels=[0.5], colors="cyan", linewidths=1.0)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return ax.figure


def plot_spectrogram_attention(spec, weights, *, ax=None, frame_seconds=None, title=None,
                               events=None, bin_hz=None, colorbar=True, vmin=None, vmax=None,
                               weight_max=None):
    """A spectrogram with the attention weight of every frame drawn over it.

    Parameters
    ----------
    spec : torch.Tensor or numpy.ndarray of shape (num_frames, num_bins)
    weights : torch.Tensor or numpy.ndarray of shape (num_frames,)
    ax : matplotlib.axes.Axes, optional
    frame_seconds : float, optional
        Time between frames; the x axis is in seconds if given, frames otherwise.
    title : str, optional
    events : sequence of bool, optional
        Frames to mark as the true event (a bar under the plot).
    bin_hz : float, optional
        Width of a frequency bin (sample rate / FFT size); the y axis is in Hz if
        given, bins otherwise.
    colorbar : bool
        Draw a colour bar of the spectrogram's values (log magnitude).
    vmin, vmax : float, optional
        Spectrogram values drawn darkest and brightest; default its range.
    weight_max : float, optional
        Top of the attention axis; default 1.1 times the largest weight (pass one
        value to several panels to share their scale).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from attnbook.plotting import plot_spectrogram_attention
    >>> fig = plot_spectrogram_attention(np.zeros((10, 5)), np.full(10, 0.1))
    >>> [line.get_label() for line in fig.axes[-1].get_lines()]
    ['attention weight']
    """
    spec, weights = _to_numpy(spec), _to_numpy(weights)
    if spec.ndim != 2 or weights.shape != spec.shape[:1]:
        raise ValueError(f"expected spec of shape (num_frames, num_bins) and weights of shape "
                         f"(num_frames,), got {spec.shape} and {weights.shape}")
    ax = _axes(ax, figsize=(6.5, 3.0))
    step = frame_seconds or 1.0
    top = spec.shape[1] * (bin_hz or 1.0)
    times = (np.arange(len(weights)) + 0.5) * step
    image = ax.imshow(spec.T, origin="lower", aspect="auto", cmap="cividis", vmin=vmin,
                      vmax=vmax, extent=(0, len(weights) * step, 0, top))
    ax.set_xlabel("time (s)" if frame_seconds else "frame")
    ax.set_ylabel("frequency (Hz)" if bin_hz else "frequency bin")
    if colorbar:
        ax.figure.colorbar(image, ax=ax, label="log magnitude", location="bottom", shrink=0.6)
    if events is not None:
        events = np.asarray(_to_numpy(events), dtype=bool)
        ax.fill_between(times, 0, top * 0.04, where=events, color="white", step="mid",
                        label="true sound")
    twin = ax.twinx()
    twin.plot(times, weights, color="tab:orange", linewidth=1.8, label="attention weight")
    weight_max = max(float(weights.max()) * 1.1, 1e-12) if weight_max is None else weight_max
    twin.set_ylim(0, weight_max)
    twin.set_ylabel("attention weight", color="tab:orange")
    if title:
        ax.set_title(title, fontsize=10)
    return ax.figure


def plot_bars(labels, values, *, ax=None, highlight=None, xlabel=None, title=None):
    """Horizontal bars, one per labelled item, top to bottom in the given order.

    Parameters
    ----------
    labels : sequence of str
    values : sequence of float
    ax : matplotlib.axes.Axes, optional
    highlight : int, optional
        Index of a bar to draw in a second colour (say, the true answer).
    xlabel, title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from attnbook.plotting import plot_bars
    >>> fig = plot_bars(["a", "b"], [0.2, 0.8], highlight=1)
    >>> [round(float(p.get_width()), 1) for p in fig.axes[0].patches]
    [0.2, 0.8]
    """
    values = _to_numpy(values)
    if len(labels) != len(values):
        raise ValueError(f"expected one value per label, got {len(labels)} labels and "
                         f"{len(values)} values")
    ax = _axes(ax, figsize=(7.0, 0.35 * len(labels) + 1.0))
    colors = ["tab:orange" if i == highlight else "tab:blue" for i in range(len(values))]
    ax.barh(range(len(values)), values, color=colors)
    ax.set_yticks(range(len(values)), labels=labels, fontsize=8)
    ax.invert_yaxis()
    if xlabel:
        ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title, fontsize=10)
    return ax.figure


def plot_attention_grid(attn_weights, row_labels=None, col_labels=None, *, titles=None,
                        ncols=2, xlabel="key", ylabel="query", figsize=None):
    """Several attention matrices, possibly of different shapes, on one colour scale.

    Parameters
    ----------
    attn_weights : sequence of torch.Tensor or numpy.ndarray of shape (num_queries, num_keys)
        One matrix per panel.
    row_labels, col_labels : sequence of (sequence of str or None), optional
        One list of labels per panel, as in :func:`plot_attention_heatmap`.
    titles : sequence of str, optional
    ncols : int
        Panels per row; each column is as wide as its widest matrix.
    xlabel, ylabel : str
    figsize : tuple of float, optional
        Default: from the sizes of the matrices.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per matrix, all from 0 to the largest weight, and one colour bar.

    Examples
    --------
    >>> import numpy as np
    >>> from attnbook.plotting import plot_attention_grid
    >>> fig = plot_attention_grid([np.eye(3), np.full((2, 4), 0.25)], titles=["a", "b"])
    >>> [ax.images[0].get_clim() for ax in fig.axes if ax.get_title()]
    [(0.0, 1.0), (0.0, 1.0)]
    """
    matrices = [_to_numpy(w) for w in attn_weights]
    if not matrices or any(m.ndim != 2 for m in matrices):
        raise ValueError(f"expected a non-empty sequence of weights of shape (num_queries, "
                         f"num_keys), got shapes {[m.shape for m in matrices]}")
    n = len(matrices)
    row_labels = row_labels or [None] * n
    col_labels = col_labels or [None] * n
    titles = titles or [None] * n
    nrows, ncols = -(-n // ncols), min(ncols, n)
    # columns as wide as their widest matrix, so that square cells leave no gaps
    widths = [max(m.shape[1] for m in matrices[c::ncols]) for c in range(ncols)]
    heights = [max(m.shape[0] for m in matrices[r * ncols:(r + 1) * ncols]) for r in range(nrows)]
    fig = Figure(figsize=figsize or (0.33 * sum(widths) + 1.3 * ncols + 1.1,
                                     0.33 * sum(heights) + 1.7 * nrows),
                 layout="constrained")
    grid = fig.subplots(nrows, ncols, squeeze=False, width_ratios=widths).ravel()
    for ax in grid[n:]:
        ax.set_axis_off()
    vmax = max(max(float(m.max()) for m in matrices), 1e-12)
    for ax, m, rows, cols, title in zip(grid, matrices, row_labels, col_labels, titles,
                                        strict=False):
        plot_attention_heatmap(m, rows, cols, ax=ax, title=title, annotate=False,
                               colorbar=False, vmax=vmax, xlabel=xlabel, ylabel=ylabel)
    fig.colorbar(grid[0].images[0], ax=list(grid[:n]), label="attention weight", shrink=0.8)
    return fig


def plot_image_attention_grid(images, attention, *, titles=None, outlines=None, ncols=4,
                              alpha=0.45, cmap="magma"):
    """Several images with their attention maps, on one colour scale with one colour bar.

    Parameters
    ----------
    images : torch.Tensor or numpy.ndarray of shape (num_images, height, width)
    attention : torch.Tensor or numpy.ndarray of shape (num_images, grid_h, grid_w)
    titles : sequence of str, optional
    outlines : torch.Tensor or numpy.ndarray of shape (num_images, height, width), optional
        Boolean masks drawn as contours, as in :func:`plot_image_attention`.
    ncols : int
    alpha : float
    cmap : str

    Returns
    -------
    matplotlib.figure.Figure
        One panel per image, attention from 0 to the largest weight of all, and
        one colour bar.

    Examples
    --------
    >>> import numpy as np
    >>> from attnbook.plotting import plot_image_attention_grid
    >>> fig = plot_image_attention_grid(np.zeros((2, 8, 8)), np.stack([np.eye(2), 0.5 * np.eye(2)]))
    >>> [ax.images[1].get_clim() for ax in fig.axes[:2]]
    [(0.0, 1.0), (0.0, 1.0)]
    """
    images, attention = _to_numpy(images), _to_numpy(attention)
    if images.ndim != 3 or attention.ndim != 3 or len(images) != len(attention):
        raise ValueError(f"expected images of shape (num_images, height, width) and attention "
                         f"of shape (num_images, grid_h, grid_w), got {images.shape} and "
                         f"{attention.shape}")
    n = len(images)
    titles = titles or [None] * n
    nrows = -(-n // ncols)
    fig = Figure(figsize=(2.6 * min(ncols, n) + 1.0, 2.6 * nrows), layout="constrained")
    grid = fig.subplots(nrows, min(ncols, n), squeeze=False).ravel()
    for ax in grid[n:]:
        ax.set_axis_off()
    vmax = max(float(attention.max()), 1e-12)
    for i in range(n):
        outline = None if outlines is None else outlines[i]
        plot_image_attention(images[i], attention[i], ax=grid[i], title=titles[i],
                             alpha=alpha, cmap=cmap, outline=outline, vmax=vmax)
    fig.colorbar(grid[0].images[1], ax=list(grid[:n]), label="attention weight", shrink=0.8)
    return fig


def plot_spectrogram_attention_grid(specs, weights, *, titles=None, events=None,
                                    frame_seconds=None, bin_hz=None, ncols=2):
    """Several spectrograms with their attention weights, on shared scales.

    Parameters
    ----------
    specs : torch.Tensor or numpy.ndarray of shape (num_clips, num_frames, num_bins)
    weights : torch.Tensor or numpy.ndarray of shape (num_clips, num_frames)
    titles : sequence of str, optional
    events : sequence of (sequence of bool), optional
        One per clip, as in :func:`plot_spectrogram_attention`.
    frame_seconds, bin_hz : float, optional
        As in :func:`plot_spectrogram_attention`.
    ncols : int

    Returns
    -------
    matplotlib.figure.Figure
        One panel per clip: every spectrogram on one colour scale (one colour bar),
        every attention axis from 0 to 1.1 times the largest weight of all.

    Examples
    --------
    >>> import numpy as np
    >>> from attnbook.plotting import plot_spectrogram_attention_grid
    >>> fig = plot_spectrogram_attention_grid(np.zeros((2, 10, 5)), np.full((2, 10), 0.1))
    >>> [round(float(ax.get_ylim()[1]), 2) for ax in fig.axes
    ...  if ax.get_ylabel() == "attention weight"]
    [0.11, 0.11]
    """
    specs, weights = _to_numpy(specs), _to_numpy(weights)
    if specs.ndim != 3 or weights.shape != specs.shape[:2]:
        raise ValueError(f"expected specs of shape (num_clips, num_frames, num_bins) and "
                         f"weights of shape (num_clips, num_frames), got {specs.shape} and "
                         f"{weights.shape}")
    n = len(specs)
    titles = titles or [None] * n
    nrows = -(-n // ncols)
    fig = Figure(figsize=(5.5 * min(ncols, n), 2.8 * nrows + 0.8), layout="constrained")
    grid = fig.subplots(nrows, min(ncols, n), squeeze=False).ravel()
    for ax in grid[n:]:
        ax.set_axis_off()
    vmin, vmax = float(specs.min()), float(specs.max())
    weight_max = max(float(weights.max()) * 1.1, 1e-12)
    for i in range(n):
        plot_spectrogram_attention(specs[i], weights[i], ax=grid[i], title=titles[i],
                                   events=None if events is None else events[i],
                                   frame_seconds=frame_seconds, bin_hz=bin_hz, colorbar=False,
                                   vmin=vmin, vmax=vmax, weight_max=weight_max)
    fig.colorbar(grid[0].images[0], ax=list(grid[:n]), label="log magnitude",
                 location="bottom", shrink=0.6)
    return fig


def plot_matrix(values, *, ax=None, xlabel=None, ylabel=None, title=None, cmap="cividis",
                colorbar=True, colorbar_label=None, vmin=None, vmax=None):
    """Draw a matrix of signed values (position encodings, score biases) as an image.

    Unlike :func:`plot_attention_heatmap`, the colour scale is not anchored at 0,
    and entries that are ``-inf`` or NaN (a masked bias) are left blank.

    Parameters
    ----------
    values : torch.Tensor or numpy.ndarray of shape (num_rows, num_cols)
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure if None.
    xlabel, ylabel, title : str, optional
    cmap : str
    colorbar : bool
    colorbar_label : str, optional
    vmin, vmax : float, optional
        The ends of the colour scale; default the smallest and largest finite value
        (pass the same values to several panels to share their scale).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from attnbook.plotting import plot_matrix
    >>> fig = plot_matrix(np.array([[0.0, -np.inf], [-1.0, 0.0]]), colorbar_label="bias")
    >>> fig.axes[0].images[0].get_clim()
    (-1.0, 0.0)
    """
    values = _to_numpy(values).astype(float)
    if values.ndim != 2:
        raise ValueError(f"expected values of shape (num_rows, num_cols), got {values.shape}")
    finite = np.isfinite(values)
    shown = np.where(finite, values, np.nan)
    if vmin is None:
        vmin = float(shown[finite].min()) if finite.any() else 0.0
    if vmax is None:
        vmax = float(shown[finite].max()) if finite.any() else 1.0
    ax = _axes(ax, figsize=(6.0, 3.6))
    image = ax.imshow(shown, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto",
                      interpolation="nearest")
    ax.set_xlabel(xlabel or "")
    ax.set_ylabel(ylabel or "")
    if title:
        ax.set_title(title, fontsize=10)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, label=colorbar_label or "")
    return ax.figure


def plot_seed_curves(x, runs, *, ax=None, baseline=None, baseline_label="baseline",
                     vline=None, vline_label=None, xlabel=None, ylabel=None, title=None):
    """Draw the mean over seeds of each named series, with the band from the lowest
    to the highest seed, and an optional baseline and vertical marker.

    Parameters
    ----------
    x : sequence of float
        The shared x values.
    runs : dict
        Maps each legend label (a str) to an array of shape (num_seeds, len(x)).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure if None.
    baseline : float or sequence of float, optional
        Drawn as a dashed black line: a constant, or one value per x.
    baseline_label : str
    vline : float, optional
        An x value to mark with a dotted vertical line (say, the longest training
        sequence).
    vline_label : str, optional
    xlabel, ylabel, title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from attnbook.plotting import plot_seed_curves
    >>> fig = plot_seed_curves([1, 2], {"a": [[0.5, 0.7], [0.6, 0.9]]}, baseline=0.5)
    >>> fig.axes[0].get_lines()[0].get_ydata().round(2).tolist()  # the mean of 2 seeds
    [0.55, 0.8]
    """
    x = _to_numpy(x).astype(float)
    ax = _axes(ax, figsize=(6.4, 3.8))
    for index, (label, values) in enumerate(runs.items(), start=len(ax.get_lines())):
        values = _to_numpy(values).astype(float)
        if values.ndim != 2 or values.shape[1] != len(x):
            raise ValueError(f"runs[{label!r}] has shape {values.shape}, expected "
                             f"(num_seeds, {len(x)})")
        color, marker = _series_style(index)
        (line,) = ax.plot(x, values.mean(axis=0), color=color, marker=marker, markersize=4,
                          label=f"{label} ({values.shape[0]} seeds)")
        ax.fill_between(x, values.min(axis=0), values.max(axis=0), color=line.get_color(),
                        alpha=0.2, linewidth=0)
    if baseline is not None:
        base = np.broadcast_to(_to_numpy(baseline).astype(float), x.shape)
        ax.plot(x, base, linestyle="--", color="black", label=baseline_label)
    if vline is not None:
        ax.axvline(vline, linestyle=":", color="gray", label=vline_label)
    ax.set_xlabel(xlabel or "")
    ax.set_ylabel(ylabel or "")
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return ax.figure


REFERENCE_STYLES = (("black", "--"), ("#555555", ":"), ("#555555", "-."))


def plot_measurements(x, curves, *, ranges=None, references=None, ax=None, xlabel=None,
                      ylabel=None, title=None, logx=False, logy=False):
    """Draw measured series, each with the band its repeated measurements span,
    beside dashed reference lines (formulas, exact sizes) to read them against.

    Parameters
    ----------
    x : sequence of float
        The shared x values.
    curves : dict
        Maps each legend label (a str) to its central values (say, the medians of
        repeated measurements), a sequence of floats as long as ``x``.
    ranges : dict, optional
        Maps labels of ``curves`` to ``(low, high)``, two sequences as long as
        ``x``: the lowest and the highest measurement at each x, drawn as a band.
    references : dict, optional
        Maps legend labels to values as long as ``x`` (NaN where the line should
        not be drawn), drawn in black and grey with dashes and no markers.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure if None.
    xlabel, ylabel, title : str, optional
    logx, logy : bool
        Logarithmic axes (base 2 for x, 10 for y).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If a series is not as long as ``x``, a range names no curve, or a range's
        low lies above its high.

    Examples
    --------
    >>> from attnbook.plotting import plot_measurements
    >>> fig = plot_measurements([1, 2, 4], {"time": [1.0, 2.1, 4.3]},
    ...                         ranges={"time": ([0.9, 2.0, 4.0], [1.2, 2.5, 5.0])},
    ...                         references={"linear": [1, 2, 4]}, logx=True)
    >>> [line.get_label() for line in fig.axes[0].get_lines()]
    ['time', 'linear']
    >>> len(fig.axes[0].collections)  # one band
    1
    """
    x = _to_numpy(x).astype(float)
    ranges, references = ranges or {}, references or {}

    def series(label, y):
        y = _to_numpy(y).astype(float)
        if y.shape != x.shape:
            raise ValueError(f"{label!r} has shape {y.shape}, expected {x.shape} like x")
        return y

    unknown = set(ranges) - set(curves)
    if unknown:
        raise ValueError(f"ranges {sorted(unknown)} name no curve; the curves are {list(curves)}")
    ax = _axes(ax, figsize=(6.4, 3.8))
    for index, (label, y) in enumerate(curves.items(), start=len(ax.get_lines())):
        color, marker = _series_style(index)
        ax.plot(x, series(label, y), color=color, marker=marker, markersize=4, label=label)
        if label in ranges:
            low, high = (series(f"{label} (range)", v) for v in ranges[label])
            if (low > high).any():
                raise ValueError(f"range of {label!r}: low above high at x = {x[low > high]}")
            ax.fill_between(x, low, high, color=color, alpha=0.2, linewidth=0)
    for index, (label, y) in enumerate(references.items()):
        color, linestyle = REFERENCE_STYLES[index % len(REFERENCE_STYLES)]
        ax.plot(x, series(label, y), color=color, linestyle=linestyle, linewidth=1.2,
                label=label)
    if logx:
        ax.set_xscale("log", base=2)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel or "")
    ax.set_ylabel(ylabel or "")
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return ax.figure


def plot_masks(masks, *, titles=None, ncols=4, xlabel="key", ylabel="query", panel_size=2.4):
    """Boolean attention masks side by side: a dark cell where a query may attend.

    Parameters
    ----------
    masks : sequence of torch.Tensor or numpy.ndarray of shape (num_queries, num_keys), bool
        ``True`` = may attend, as in :func:`attnbook.causal_mask`.
    titles : sequence of str, optional
        One per mask; each title is followed by the number of pairs the mask
        allows, out of all of them.
    ncols : int
        Panels per row.
    xlabel, ylabel : str
    panel_size : float
        Width and height of one panel, in inches.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If a mask is not two-dimensional, or there are not as many titles as masks.

    Examples
    --------
    >>> import torch
    >>> from attnbook.plotting import plot_masks
    >>> fig = plot_masks([torch.ones(4, 4).tril().bool()], titles=["causal"])
    >>> print(fig.axes[0].get_title())
    causal
    10 of 16 pairs
    """
    masks = [_to_numpy(m).astype(bool) for m in masks]
    for m in masks:
        if m.ndim != 2:
            raise ValueError(f"expected masks of shape (num_queries, num_keys), got {m.shape}")
    titles = [""] * len(masks) if titles is None else list(titles)
    if len(titles) != len(masks):
        raise ValueError(f"expected {len(masks)} titles, one per mask, got {len(titles)}")
    ncols = min(ncols, len(masks))
    nrows = -(-len(masks) // ncols)
    fig = Figure(figsize=(panel_size * ncols, panel_size * nrows + 0.3), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, m, title in zip(axes, masks, titles, strict=False):
        ax.imshow(m, cmap="Greys", vmin=0, vmax=1.4, interpolation="nearest")
        ax.set_title(f"{title}\n{int(m.sum()):,} of {m.size:,} pairs".lstrip("\n"), fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes[len(masks):]:
        ax.set_axis_off()
    return fig
