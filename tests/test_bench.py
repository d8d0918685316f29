"""The benchmark harness: checks before it times, reports what disagrees.

Nothing here asserts on a timing; only on what is checked, reported and written.
"""

import dataclasses
import json

import pytest
import torch
import torch.nn.functional as F

from attnbook import bench


def toy_case(wrong=None, **kwargs):
    """SDPA against itself, a hand-written causal attention, and optionally a wrong one."""
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 2, 6, 4, generator=gen) for _ in range(3))
    mask = torch.ones(6, 6, dtype=torch.bool).tril()

    def by_hand():
        scores = (q @ k.mT / 2.0).masked_fill(~mask, float("-inf"))
        return torch.softmax(scores, dim=-1) @ v

    def setup():
        impls = {"fused": lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True),
                 "by hand": by_hand}
        if wrong is not None:
            impls["wrong"] = wrong(q, k, v)
        return (lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True)), impls

    kwargs = dict(baseline="fused", repeats=2, min_seconds=0.0, memory=False) | kwargs
    return bench.Case("toy", "(1, 2, 6, 4)", setup, **kwargs)


def no_causal_mask(q, k, v):
    return lambda: F.scaled_dot_product_attention(q, k, v)


def by_name(rows):
    return {row["implementation"]: row for row in rows}


def test_agreeing_implementations_are_timed_against_the_baseline():
    rows = by_name(bench.run(cases=[toy_case()]))
    for row in rows.values():
        assert row["status"] == "ok"
        assert row["max_abs_error"] < 1e-6
        assert row["repeats"] == 2
        assert row["min_s"] <= row["median_s"] <= row["max_s"]
    assert rows["fused"]["ratio"] == 1.0
    assert rows["by hand"]["ratio"] == pytest.approx(
        rows["by hand"]["median_s"] / rows["fused"]["median_s"])


def test_a_wrong_implementation_is_reported_not_timed():
    rows = by_name(bench.run(cases=[toy_case(wrong=no_causal_mask)]))
    wrong = rows["wrong"]
    assert wrong["status"] == "disagrees"
    assert wrong["max_abs_error"] > 1e-2
    assert wrong["median_s"] is None and wrong["repeats"] == 0 and wrong["ratio"] is None
    assert rows["by hand"]["status"] == "ok"
    assert "disagrees (max error" in bench.format_table(list(rows.values()))


def test_wrong_shape_disagrees():
    rows = by_name(bench.run(cases=[toy_case(wrong=lambda q, k, v: lambda: v[..., :5, :])]))
    assert rows["wrong"]["status"] == "disagrees"
    assert rows["wrong"]["max_abs_error"] == float("inf")


def test_reference_by_name_runs_first_and_must_exist():
    calls = []

    def setup():
        def first():
            calls.append("first")
            return torch.zeros(3)

        def second():
            calls.append("second")
            return torch.ones(3)

        return "second", {"first": first, "second": second}

    case = bench.Case("named", "(3,)", setup, baseline="second", repeats=1, min_seconds=0.0,
                      memory=False,
                      atol=0.0, rtol=0.0)
    rows = bench.run(cases=[case])
    assert calls[0] == "second"
    assert [r["implementation"] for r in rows] == ["first", "second"]  # table keeps its order
    assert [r["status"] for r in rows] == ["disagrees", "ok"]
    broken = bench.Case("named", "(3,)", lambda: ("third", {"first": torch.zeros}),
                        memory=False)
    with pytest.raises(ValueError, match="third"):
        bench.run(cases=[broken])


def test_an_implementation_too_large_for_the_machine_is_skipped():
    rows = by_name(bench.run(cases=[toy_case(needs_bytes={"by hand": 2**62})]))
    assert rows["by hand"]["status"].startswith("skipped: needs about")
    assert rows["by hand"]["median_s"] is None
    assert rows["fused"]["status"] == "ok"


def test_peak_memory_sees_a_torch_allocation():
    n = 10_000_000  # 40 MB of float32

    def allocate():
        return torch.ones(n)

    peak = bench.peak_memory(allocate)
    if peak is None:
        pytest.skip("peak memory is measured through Linux's /proc and glibc")
    assert 0.9 * 4 * n <= peak <= 1.5 * 4 * n
    assert bench.peak_memory(lambda: torch.ones(10)) < 4 * n / 10


@pytest.mark.parametrize("backward", [False, True])
def test_multi_head_cases_agree_at_a_tiny_shape(backward):
    setup = bench._mha_setup(batch=2, num_tokens=7, d=12, num_heads=3, device="cpu",
                             backward=backward)
    case = bench.Case("mha", "tiny", setup, baseline=f"bare composition ({bench.FUSED})",
                      repeats=1, atol=1e-5, rtol=1e-5)
    rows = bench.run(cases=[case])
    assert len(rows) == 4
    assert all(row["status"] == "ok" for row in rows), rows
    if backward:  # the check covers the gradient with respect to the input
        _, impls = setup()
        _, grad = impls["MultiHeadAttention"]()
        assert grad.shape == (2, 7, 12) and grad.abs().sum() > 0


def test_attention_and_generation_cases_agree_at_a_tiny_shape():
    cases = [
        bench.Case("attention", "tiny", bench._attention_setup(
            batch=1, num_heads=2, num_tokens=10, head_dim=4, device="cpu", chunk_size=3),
            repeats=1),
        bench.Case("generation", "tiny", bench._generation_setup(
            num_prompt=5, num_new=4, d=8, num_heads=2, num_layers=1, vocab_size=11,
            device="cpu"), baseline="with KVCache", repeats=1, atol=0.0, rtol=0.0,
            memory=False),
    ]
    rows = bench.run(cases=cases)
    assert {row["implementation"] for row in rows} >= {
        bench.FUSED, "attnbook.scaled_dot_product_attention (explicit)", "with KVCache",
        "recompute every step"}
    assert all(row["status"] == "ok" for row in rows), rows


def test_default_cases_cover_the_targets_of_issue_9():
    full = {(c.group, c.shape) for c in bench.default_cases(quick=False)}
    assert ("MHA forward", "batch 8, 1024 tokens, d 768, 12 heads, causal") in full
    assert ("MHA forward+backward", "batch 8, 1024 tokens, d 768, 12 heads, causal") in full
    assert ("attention", "batch 8, 12 heads, 1024 tokens, head_dim 64, causal") in full
    assert ("peak memory", "batch 1, 12 heads, 8192 tokens, head_dim 64, causal") in full
    assert any(group == "generation" and shape.startswith("768-token prompt + 256 new")
               for group, shape in full)
    quick = bench.default_cases(quick=True)
    assert {c.group for c in quick} >= {"MHA forward", "attention against length", "generation"}


def test_main_writes_json_and_prints_the_table(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench, "default_cases", lambda quick, device, sliding_window: [
        toy_case(wrong=no_causal_mask, memory=True)])
    path = tmp_path / "bench.json"
    assert bench.main(["--quick", "--json", str(path)]) == 1  # one implementation disagrees
    out, err = capsys.readouterr()
    assert err == ""  # progress goes to a terminal only
    assert "torch: " + torch.__version__ in out and "x baseline" in out
    data = json.loads(path.read_text())
    assert data["quick"] is True
    assert data["machine"]["torch"] == torch.__version__
    assert data["machine"]["cpu_cores"] >= 1
    statuses = {row["implementation"]: row["status"] for row in data["rows"]}
    assert statuses == {"fused": "ok", "by hand": "ok", "wrong": "disagrees"}


def test_cuda_without_a_device_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit):
        bench.main(["--device", "cuda"])


def test_only_runs_the_named_groups(monkeypatch, capsys):
    monkeypatch.setattr(bench, "default_cases", lambda quick, device, sliding_window: [
        toy_case(), dataclasses.replace(toy_case(wrong=no_causal_mask), group="other")])
    assert bench.main(["--only", "toy"]) == 0  # the disagreeing case did not run
    assert "toy" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        bench.main(["--only", "nonexistent"])


# -- the sliding-window groups ---------------------------------------------------------------

@pytest.mark.parametrize("num_tokens", [1, 5, 12, 13])
@pytest.mark.parametrize("window,block_size", [(1, None), (3, None), (3, 2), (4, 5), (20, None)])
def test_sliding_window_attention_equals_sdpa_with_the_band_mask(num_tokens, window, block_size):
    from attnbook import causal_mask

    gen = torch.Generator().manual_seed(num_tokens)
    q, k = torch.randn(2, 3, num_tokens, 4, generator=gen), torch.randn(2, 3, num_tokens, 4,
                                                                        generator=gen)
    v = torch.randn(2, 3, num_tokens, 6, generator=gen)  # d_v != d_k
    out = bench.sliding_window_attention(q, k, v, window, block_size=block_size)
    expected = F.scaled_dot_product_attention(q, k, v,
                                              attn_mask=causal_mask(num_tokens, window=window))
    assert out.shape == (2, 3, num_tokens, 6)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_sliding_window_attention_errors():
    q = torch.randn(1, 4, 2)
    with pytest.raises(ValueError, match="expected window to be an int >= 1, got None"):
        bench.sliding_window_attention(q, q, q, None)
    with pytest.raises(ValueError, match="expected window to be None or an int >= 1"):
        bench.sliding_window_attention(q, q, q, 0)
    with pytest.raises(ValueError, match="expected block_size to be an int >= 1"):
        bench.sliding_window_attention(q, q, q, 2, block_size=0)
    with pytest.raises(ValueError, match="the same num_tokens"):
        bench.sliding_window_attention(q, torch.randn(1, 5, 2), torch.randn(1, 5, 2), 2)


def test_sliding_window_cases_agree_at_a_tiny_shape_and_report_the_cache():
    full = f"full causal ({bench.FUSED}, is_causal)"
    spec = dict(batch=1, num_heads=2, num_tokens=20, head_dim=4)
    cases = [
        bench.Case("sliding window", "tiny", bench._window_setup(**spec, window=6, device="cpu"),
                   baseline=full, repeats=1, memory=False,
                   references={full: bench._full_causal_reference(**spec, device="cpu")}),
        bench.Case("sliding-window cache", "tiny", bench._window_cache_setup(
            num_tokens=11, d=8, num_heads=2, num_layers=2, window=3, device="cpu"),
            baseline="KVCache()", repeats=1, memory=False),
    ]
    rows = by_name(bench.run(cases=cases))
    assert all(row["status"] == "ok" for row in rows.values()), rows
    assert rows[full]["ratio"] == 1.0 and rows[full]["max_abs_error"] < 1e-5
    # the caches' bytes: 2 blocks x keys and values x tokens x d x 4 bytes
    assert rows["KVCache()"]["notes"]["cache bytes"] == 2 * 2 * 11 * 8 * 4
    assert rows["KVCache(max_tokens=3)"]["notes"]["cache bytes"] == 2 * 2 * 3 * 8 * 4
    assert "cache bytes per token" in bench.format_table(list(rows.values()))


def test_an_implementation_is_checked_against_its_own_reference():
    """Full causal attention is not the windowed function: checked against the windowed
    reference it disagrees, against its own it agrees."""
    full = f"full causal ({bench.FUSED}, is_causal)"
    spec = dict(batch=1, num_heads=2, num_tokens=20, head_dim=4)
    setup = bench._window_setup(**spec, window=6, device="cpu")
    plain = bench.Case("sliding window", "tiny", setup, baseline=full, repeats=1, memory=False)
    assert by_name(bench.run(cases=[plain]))[full]["status"] == "disagrees"
    wrong = bench.Case("sliding window", "tiny", setup, baseline=full, repeats=1, memory=False,
                       references={full: lambda: torch.zeros(1, 2, 20, 4)})
    assert by_name(bench.run(cases=[wrong]))[full]["status"] == "disagrees"


def test_sliding_window_groups_cover_2k_to_8k_tokens_in_the_full_run_only():
    full = [c for c in bench.default_cases(quick=False) if c.group.startswith("sliding")]
    lengths = sorted(c.params["num_tokens"] for c in full if c.group == "sliding window")
    assert lengths == [2048, 4096, 8192]
    assert {c.group for c in full} == {"sliding window", "sliding-window cache"}
    assert not [c for c in bench.default_cases(quick=True) if c.group.startswith("sliding")]
    quick = bench.default_cases(quick=True, sliding_window=True)
    assert {c.group for c in quick} >= {"sliding window", "sliding-window cache"}
