import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from attnbook.plotting import plot_attention_heatmap


def test_heatmap_returns_figure_with_labels_and_values():
    weights = torch.tensor([[1.0, 0.0], [0.25, 0.75]])
    fig = plot_attention_heatmap(weights, ["a", "b"], title="t")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.images[0].get_array(), weights.numpy())
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert [t.get_text() for t in ax.texts] == ["1.00", "0.00", "0.25", "0.75"]
    assert ax.get_title() == "t"


def test_heatmap_draws_into_given_axes_without_colorbar():
    fig = Figure()
    ax = fig.add_subplot()
    assert plot_attention_heatmap(np.eye(3), ax=ax, colorbar=False) is fig
    assert len(fig.axes) == 1


def test_heatmap_skips_annotations_on_large_matrices():
    fig = plot_attention_heatmap(np.full((12, 12), 1 / 12))
    assert len(fig.axes[0].texts) == 0


def test_heatmap_rejects_batched_weights():
    with pytest.raises(ValueError, match=r"\(num_queries, num_keys\)"):
        plot_attention_heatmap(np.ones((2, 3, 3)))


def test_curves_one_line_per_series_with_log_axes():
    from attnbook.plotting import plot_curves

    fig = plot_curves([1, 2, 4], {"a": [1, 2, 3], "b": torch.tensor([3.0, 2.0, 1.0])},
                      logx=True, logy=True, xlabel="d_k")
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["a", "b"]
    np.testing.assert_array_equal(ax.get_lines()[1].get_ydata(), [3.0, 2.0, 1.0])
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_xlabel() == "d_k"


def test_curves_differ_by_marker_and_colour_blind_safe_colour():
    from matplotlib.colors import to_hex

    from attnbook.plotting import SERIES_COLORS, plot_curves, plot_seed_curves

    curves = {name: [1.0, 2.0, 3.0] for name in "abcdef"}
    fig = plot_curves([1, 2, 3], curves)
    lines = fig.axes[0].get_lines()
    assert len({line.get_marker() for line in lines}) == len(lines)
    assert len({to_hex(line.get_color()) for line in lines}) == len(lines)
    assert {to_hex(line.get_color()) for line in lines} <= set(SERIES_COLORS)
    assert not {"#2ca02c", "#d62728"} & {to_hex(line.get_color()) for line in lines}
    plot_curves([1, 2, 3], {"g": [1, 1, 1]}, ax=fig.axes[0])  # continues, no repeat
    assert fig.axes[0].get_lines()[-1].get_marker() not in {line.get_marker() for line in lines}
    fig = plot_seed_curves([1, 2], {name: [[0.1, 0.2]] for name in "abc"})
    seed_lines = fig.axes[0].get_lines()
    assert len({(line.get_marker(), to_hex(line.get_color())) for line in seed_lines}) == 3


def test_curves_reject_mismatched_lengths():
    from attnbook.plotting import plot_curves

    with pytest.raises(ValueError, match="curve 'a' has shape"):
        plot_curves([1, 2, 3], {"a": [1, 2]})


def test_heads_one_panel_per_head_shared_scale():
    from attnbook.plotting import plot_attention_heads

    weights = torch.rand(5, 3, 3)
    fig = plot_attention_heads(weights, ["a", "b", "c"], ncols=2)
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 5
    np.testing.assert_array_equal(panels[4].images[0].get_array(), weights[4].numpy())
    assert {p.images[0].get_clim() for p in panels} == {(0.0, float(weights.max()))}
    assert [t.get_text() for t in panels[0].get_yticklabels()] == ["a", "b", "c"]


def test_heads_reject_unbatched_weights():
    from attnbook.plotting import plot_attention_heads

    with pytest.raises(ValueError, match=r"\(num_heads, num_queries, num_keys\)"):
        plot_attention_heads(np.ones((3, 3)))


def test_image_attention_overlay_and_outline():
    from attnbook.plotting import plot_image_attention

    mask = np.zeros((8, 8), dtype=bool)
    mask[2:5, 2:5] = True
    fig = plot_image_attention(np.random.default_rng(0).random((8, 8)), np.eye(2), outline=mask)
    ax = fig.axes[0]
    assert len(ax.images) == 2 and ax.images[1].get_extent() == [0, 8, 8, 0]
    assert len(ax.collections) >= 1  # the contour
    with pytest.raises(ValueError, match=r"attention of shape \(grid_h, grid_w\)"):
        plot_image_attention(np.zeros((8, 8)), np.ones(4))


def test_spectrogram_attention_and_bars():
    from attnbook.plotting import plot_bars, plot_spectrogram_attention

    weights = np.linspace(0, 1, 10)
    fig = plot_spectrogram_attention(np.zeros((10, 4)), weights, frame_seconds=0.5,
                                     events=weights > 0.5)
    np.testing.assert_allclose(fig.axes[-1].get_lines()[0].get_ydata(), weights)
    assert fig.axes[0].get_xlabel() == "time (s)"
    with pytest.raises(ValueError, match=r"weights of shape \(num_frames,\)"):
        plot_spectrogram_attention(np.zeros((10, 4)), np.ones(9))
    fig = plot_bars(["a", "b", "c"], [0.1, 0.7, 0.2], highlight=1)
    colors = [p.get_facecolor() for p in fig.axes[0].patches]
    assert colors[1] != colors[0] and colors[0] == colors[2]
    with pytest.raises(ValueError, match="one value per label"):
        plot_bars(["a"], [0.1, 0.2])


def test_attention_grid_one_scale_and_errors():
    from attnbook.plotting import plot_attention_grid

    fig = plot_attention_grid([np.eye(3) * 0.5, np.full((2, 4), 0.25)],
                              [["a", "b", "c"], ["x", "y"]], [None, list("pqrs")],
                              titles=["one", "two"])
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.images[0].get_clim() for ax in panels] == [(0.0, 0.5), (0.0, 0.5)]
    assert len(fig.axes) == 3  # two panels and one colour bar
    with pytest.raises(ValueError, match=r"\(num_queries, num_keys\)"):
        plot_attention_grid([np.ones(3)])


def test_image_attention_grid_shares_the_scale():
    from attnbook.plotting import plot_image_attention, plot_image_attention_grid

    attention = np.stack([np.eye(2) * 0.2, np.eye(2) * 0.8])
    fig = plot_image_attention_grid(np.zeros((2, 8, 8)), attention, titles=["a", "b"],
                                    outlines=np.ones((2, 8, 8), dtype=bool))
    assert [ax.images[1].get_clim() for ax in fig.axes[:2]] == [(0.0, 0.8), (0.0, 0.8)]
    assert fig.axes[-1].get_ylabel() == "attention weight"  # the colour bar
    alone = plot_image_attention(np.zeros((8, 8)), np.eye(2) * 0.2)
    assert alone.axes[0].images[1].get_clim() == (0.0, 0.2)
    with pytest.raises(ValueError, match=r"\(num_images, height, width\)"):
        plot_image_attention_grid(np.zeros((8, 8)), attention)


def test_spectrogram_attention_in_hz_and_grid_scales():
    from attnbook.plotting import plot_spectrogram_attention, plot_spectrogram_attention_grid

    spec = np.arange(40.0).reshape(10, 4)
    fig = plot_spectrogram_attention(spec, np.full(10, 0.1), bin_hz=500.0)
    assert fig.axes[0].get_ylabel() == "frequency (Hz)"
    assert fig.axes[0].images[0].get_extent()[3] == 2000.0  # 4 bins of 500 Hz
    assert any(ax.get_xlabel() == "log magnitude" for ax in fig.axes)  # the colour bar
    specs = np.stack([spec, 2 * spec])
    weights = np.stack([np.full(10, 0.1), np.eye(10)[2]])
    fig = plot_spectrogram_attention_grid(specs, weights, titles=["a", "b"], bin_hz=500.0)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.images[0].get_clim() for ax in panels] == [(0.0, 78.0), (0.0, 78.0)]
    tops = [ax.get_ylim()[1] for ax in fig.axes if ax.get_ylabel() == "attention weight"]
    np.testing.assert_allclose(tops, [1.1, 1.1])
    with pytest.raises(ValueError, match=r"\(num_clips, num_frames\)"):
        plot_spectrogram_attention_grid(specs, weights[:, :5])


def test_heatmap_text_colour_follows_the_shared_scale():
    # Weights of at most 0.3 drawn on a scale up to 1 are dark cells: white text.
    weights = np.array([[0.3, 0.1], [0.1, 0.3]])
    fig = plot_attention_heatmap(weights, vmax=1.0)
    assert {t.get_color() for t in fig.axes[0].texts} == {"white"}
    fig = plot_attention_heatmap(weights)  # own scale: the 0.3 cells are the brightest
    assert [t.get_color() for t in fig.axes[0].texts] == ["black", "white", "white", "black"]


def test_attention_heads_label_query_and_key_axes():
    from attnbook.plotting import plot_attention_heads

    fig = plot_attention_heads(np.full((2, 3, 3), 1 / 3), ncols=2)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [(ax.get_xlabel(), ax.get_ylabel()) for ax in panels] == [("key", "query")] * 2
    fig = plot_attention_heads(np.full((2, 3, 3), 1 / 3), xlabel="source", ylabel="target")
    assert {ax.get_xlabel() for ax in fig.axes if ax.get_title()} == {"source"}


def test_matrix_signed_scale_and_blank_masked_entries():
    from attnbook.plotting import plot_matrix

    values = np.array([[0.0, -np.inf], [-2.0, 0.5]])
    fig = plot_matrix(values, xlabel="key", colorbar_label="bias")
    image = fig.axes[0].images[0]
    assert image.get_clim() == (-2.0, 0.5)
    shown = np.ma.filled(image.get_array(), np.nan)
    assert np.isnan(shown[0, 1]) and shown[1, 0] == -2.0
    assert fig.axes[0].get_xlabel() == "key" and len(fig.axes) == 2
    fig = plot_matrix(values, vmin=-5, vmax=5, colorbar=False)
    assert fig.axes[0].images[0].get_clim() == (-5.0, 5.0) and len(fig.axes) == 1
    with pytest.raises(ValueError, match=r"\(num_rows, num_cols\)"):
        plot_matrix(np.ones(3))


def test_seed_curves_mean_band_baseline_and_marker():
    from attnbook.plotting import plot_seed_curves

    runs = {"a": np.array([[0.2, 0.4, 0.6], [0.4, 0.8, 1.0]])}
    fig = plot_seed_curves([1, 2, 3], runs, baseline=[0.5, 0.3, 0.2], baseline_label="bound",
                           vline=2, vline_label="train")
    ax = fig.axes[0]
    lines = ax.get_lines()
    np.testing.assert_allclose(lines[0].get_ydata(), [0.3, 0.6, 0.8])
    np.testing.assert_allclose(lines[1].get_ydata(), [0.5, 0.3, 0.2])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a (2 seeds)", "bound", "train"]
    band = ax.collections[0].get_paths()[0].vertices
    assert band[:, 1].min() == 0.2 and band[:, 1].max() == 1.0
    with pytest.raises(ValueError, match=r"expected \(num_seeds, 3\)"):
        plot_seed_curves([1, 2, 3], {"a": [0.1, 0.2, 0.3]})


def test_measurements_band_references_and_bad_input():
    from attnbook.plotting import plot_measurements

    x = [64, 128, 256]
    fig = plot_measurements(x, {"a": [1.0, 2.0, 4.0], "b": [1.0, 1.0, 1.0]},
                            ranges={"a": ([0.5, 1.5, 3.0], [1.5, 2.5, 6.0])},
                            references={"n": [1.0, 2.0, np.nan], "n^2": [1.0, 4.0, 16.0]},
                            logx=True, logy=True, xlabel="tokens")
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["a", "b", "n", "n^2"]
    assert lines[2].get_linestyle() == "--" and lines[3].get_linestyle() == ":"
    assert lines[2].get_marker() in (None, "None", "") and lines[0].get_marker() == "o"
    assert np.isnan(lines[2].get_ydata()[2])
    assert len(ax.collections) == 1  # only "a" has a band
    band = ax.collections[0].get_paths()[0].vertices
    assert band[:, 1].min() == 0.5 and band[:, 1].max() == 6.0
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log" and ax.get_xlabel() == "tokens"
    with pytest.raises(ValueError, match=r"expected \(3,\) like x"):
        plot_measurements(x, {"a": [1.0, 2.0]})
    with pytest.raises(ValueError, match="name no curve"):
        plot_measurements(x, {"a": [1.0, 2.0, 3.0]}, ranges={"z": ([0, 0, 0], [1, 1, 1])})
    with pytest.raises(ValueError, match="low above high"):
        plot_measurements(x, {"a": [1.0, 2.0, 3.0]}, ranges={"a": ([2, 0, 0], [1, 1, 1])})


def test_masks_panels_titles_counts_and_bad_input():
    from attnbook.plotting import plot_masks

    causal = torch.ones(4, 4).tril().bool()
    band = causal & ~torch.ones(4, 4).tril(-2).bool()  # window of 2
    fig = plot_masks([causal, band.numpy(), np.eye(3, dtype=bool)], titles=["a", "b", "c"],
                     ncols=2)
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 3 and len(fig.axes) == 4  # a 2 x 2 grid, the last one empty
    assert [ax.get_title() for ax in panels] == ["a\n10 of 16 pairs", "b\n7 of 16 pairs",
                                                 "c\n3 of 9 pairs"]
    np.testing.assert_array_equal(panels[1].images[0].get_array(), band.numpy())
    assert not fig.axes[3].axison
    with pytest.raises(ValueError, match=r"\(num_queries, num_keys\)"):
        plot_masks([torch.ones(4, dtype=torch.bool)])
    with pytest.raises(ValueError, match="expected 2 titles"):
        plot_masks([causal, causal], titles=["only one"])
