import pytest
import torch
from torch import nn

from attnbook import (
    FeedForward,
    GPTModel,
    KVCache,
    LlamaBlock,
    RMSNorm,
    SwiGLU,
    TransformerDecoderBlock,
    TransformerEncoderBlock,
    causal_mask,
    gpt2_small_config,
    padding_mask,
    reference,
)
from attnbook.experiments import VisionTransformer

D_MODEL, NUM_HEADS, D_FF = 12, 3, 20


# -- copying weights by hand (independent of to_torch) ------------------------------

@torch.no_grad()
def _copy_common(block, layer):
    layer.linear1.load_state_dict(block.feed_forward.linear1.state_dict())
    layer.linear2.load_state_dict(block.feed_forward.linear2.state_dict())
    for name in ("norm1", "norm2", "norm3"):
        if hasattr(block, name):
            getattr(layer, name).load_state_dict(getattr(block, name).state_dict())


# -- FeedForward -------------------------------------------------------------------------

def test_feed_forward_is_linear_gelu_linear_per_token():
    ff = FeedForward(D_MODEL, D_FF).eval()
    x = torch.randn(2, 5, D_MODEL)
    w1, b1 = ff.linear1.weight, ff.linear1.bias
    w2, b2 = ff.linear2.weight, ff.linear2.bias
    expected = torch.nn.functional.gelu(x @ w1.T + b1) @ w2.T + b2
    torch.testing.assert_close(ff(x), expected)
    assert w1.shape == (D_FF, D_MODEL) and w2.shape == (D_MODEL, D_FF)
    torch.testing.assert_close(ff(x[:, 2:3]), ff(x)[:, 2:3])  # position-wise


def test_feed_forward_dropout_only_in_training():
    ff = FeedForward(D_MODEL, D_FF, dropout=0.5)
    x = torch.randn(4, 6, D_MODEL)
    assert not torch.allclose(ff.train()(x), ff.eval()(x))
    assert (ff.train()(x) == 0).float().mean() > 0.3
    torch.testing.assert_close(ff.eval()(x), ff.eval()(x))


def test_feed_forward_rejects_wrong_size():
    with pytest.raises(ValueError, match=r"d_in=12"):
        FeedForward(D_MODEL, D_FF)(torch.randn(2, 5, 7))


# -- encoder block -----------------------------------------------------------------------

@pytest.mark.parametrize("norm_first", [True, False])
def test_encoder_block_equals_torch_encoder_layer_with_padding(norm_first):
    block = TransformerEncoderBlock(D_MODEL, NUM_HEADS, context_length=8, d_ff=D_FF,
                                    qkv_bias=True, norm_first=norm_first).eval()
    layer = block.to_torch()
    x = torch.randn(3, 8, D_MODEL)
    lengths = torch.tensor([8, 5, 1])
    real = padding_mask(lengths, 8)                              # True = a real token
    out, weights = block(x, attn_mask=real[:, None, None, :], need_weights=True)
    expected = layer(x, src_key_padding_mask=~real)              # PyTorch: True = ignore
    torch.testing.assert_close(out[real], expected[real], atol=1e-5, rtol=1e-5)
    assert weights[~real[:, None, None, :].expand_as(weights)].abs().max() == 0
    torch.testing.assert_close(block(x, attn_mask=real[:, None, None, :]), out, atol=1e-5,
                               rtol=1e-5)  # fused path = explicit path


@pytest.mark.parametrize("norm_first", [True, False])
def test_encoder_block_without_mask_equals_torch(norm_first):
    block = TransformerEncoderBlock(D_MODEL, NUM_HEADS, context_length=6, d_ff=D_FF,
                                    qkv_bias=True, norm_first=norm_first).eval()
    x = torch.randn(2, 6, D_MODEL)
    torch.testing.assert_close(block(x), block.to_torch()(x), atol=1e-5, rtol=1e-5)


def test_causal_encoder_block_equals_torch_with_causal_mask_and_cache():
    block = TransformerEncoderBlock(D_MODEL, NUM_HEADS, context_length=7, d_ff=D_FF,
                                    qkv_bias=True, causal=True).eval()
    x = torch.randn(2, 7, D_MODEL)
    full = block(x)
    expected = block.to_torch()(x, src_mask=~causal_mask(7))
    torch.testing.assert_close(full, expected, atol=1e-5, rtol=1e-5)
    cache = KVCache()
    pieces = [block(x[:, :4], cache=cache)] + [block(x[:, i:i + 1], cache=cache)
                                                for i in range(4, 7)]
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-5, rtol=1e-5)


def test_encoder_block_post_norm_output_is_normalised_and_pre_norm_is_not():
    x = 5 * torch.randn(2, 6, D_MODEL) + 3
    post = TransformerEncoderBlock(D_MODEL, NUM_HEADS, 6, norm_first=False).eval()(x)
    pre = TransformerEncoderBlock(D_MODEL, NUM_HEADS, 6, norm_first=True).eval()(x)
    torch.testing.assert_close(post.mean(-1), torch.zeros(2, 6), atol=1e-5, rtol=0)
    assert pre.mean(-1).abs().min() > 0.5   # the residual stream keeps the input's offset


def test_encoder_block_default_d_ff_and_errors():
    block = TransformerEncoderBlock(8, 2, context_length=4)
    assert block.feed_forward.linear1.out_features == 32
    with pytest.raises(ValueError, match="d_in=8"):
        block(torch.randn(1, 4, 6))
    with pytest.raises(ValueError, match="context_length=4"):
        block(torch.randn(1, 5, 8))
    with pytest.raises(ValueError, match="divisible"):
        TransformerEncoderBlock(8, 3, context_length=4)


def test_encoder_block_dropout_active_only_in_training():
    block = TransformerEncoderBlock(D_MODEL, NUM_HEADS, 6, dropout=0.3)
    x = torch.randn(2, 6, D_MODEL)
    assert not torch.allclose(block.train()(x), block.eval()(x))
    torch.testing.assert_close(block.eval()(x), block.eval()(x))


def test_to_torch_copies_settings_and_mode():
    block = TransformerEncoderBlock(D_MODEL, NUM_HEADS, 6, d_ff=D_FF, dropout=0.2,
                                    norm_first=False)
    layer = block.to_torch()
    assert layer.training and layer.norm_first is False and layer.dropout.p == 0.2
    assert layer.linear1.out_features == D_FF and not block.eval().to_torch().training
    decoder = TransformerDecoderBlock(D_MODEL, NUM_HEADS, 6, d_ff=D_FF).eval().to_torch()
    assert decoder.norm_first and not decoder.training
    torch.testing.assert_close(decoder.multihead_attn.in_proj_bias, torch.zeros(3 * D_MODEL))


def test_vision_transformer_uses_the_encoder_block():
    vit = VisionTransformer(image_size=12, patch_size=4, num_classes=3, d_model=16)
    assert all(isinstance(b, TransformerEncoderBlock) and b.norm_first for b in vit.blocks)
    assert vit.blocks[0].feed_forward.linear1.out_features == 32


# -- decoder block -----------------------------------------------------------------------

@pytest.mark.parametrize("norm_first", [True, False])
def test_decoder_block_equals_torch_decoder_layer(norm_first):
    block = TransformerDecoderBlock(D_MODEL, NUM_HEADS, context_length=9, d_ff=D_FF,
                                    qkv_bias=True, norm_first=norm_first).eval()
    layer = block.to_torch()
    x, memory = torch.randn(3, 6, D_MODEL), torch.randn(3, 9, D_MODEL)
    tgt_real = padding_mask(torch.tensor([6, 4, 2]), 6)
    mem_real = padding_mask(torch.tensor([9, 3, 7]), 9)
    out, self_w, cross_w = block(x, memory, attn_mask=tgt_real[:, None, None, :],
                                 memory_mask=mem_real[:, None, None, :], need_weights=True)
    expected = layer(x, memory, tgt_mask=~causal_mask(6), tgt_key_padding_mask=~tgt_real,
                     memory_key_padding_mask=~mem_real)
    torch.testing.assert_close(out[tgt_real], expected[tgt_real], atol=1e-5, rtol=1e-5)
    assert self_w.shape == (3, NUM_HEADS, 6, 6) and cross_w.shape == (3, NUM_HEADS, 6, 9)
    assert self_w.triu(1).abs().max() == 0                      # causal
    assert cross_w[1, :, :, 3:].abs().max() == 0                # memory padding never read
    fused = block(x, memory, attn_mask=tgt_real[:, None, None, :],
                  memory_mask=mem_real[:, None, None, :])
    torch.testing.assert_close(fused, out, atol=1e-5, rtol=1e-5)


def test_decoder_block_reads_memory_and_ignores_its_padding_and_the_future():
    block = TransformerDecoderBlock(D_MODEL, NUM_HEADS, context_length=8, d_ff=D_FF).eval()
    x, memory = torch.randn(1, 5, D_MODEL), torch.randn(1, 8, D_MODEL)
    mask = padding_mask(torch.tensor([5]), 8)[:, None, None, :]
    out = block(x, memory, memory_mask=mask)
    changed_padding = memory.clone()
    changed_padding[:, 5:] = 100.0
    torch.testing.assert_close(block(x, changed_padding, memory_mask=mask), out)
    changed_real = memory.clone()
    changed_real[:, 0] += 1.0
    assert not torch.allclose(block(x, changed_real, memory_mask=mask), out)
    changed_future = x.clone()
    changed_future[:, 3:] = 0.0
    torch.testing.assert_close(block(changed_future, memory, memory_mask=mask)[:, :3],
                               out[:, :3])


def test_decoder_block_cache_gives_the_full_result():
    block = TransformerDecoderBlock(D_MODEL, NUM_HEADS, context_length=8, d_ff=D_FF).eval()
    x, memory = torch.randn(2, 6, D_MODEL), torch.randn(2, 8, D_MODEL)
    cache = KVCache()
    pieces = [block(x[:, :3], memory, cache=cache)]
    pieces += [block(x[:, i:i + 1], memory, cache=cache) for i in range(3, 6)]
    torch.testing.assert_close(torch.cat(pieces, 1), block(x, memory), atol=1e-5, rtol=1e-5)


def test_decoder_block_rejects_wrong_memory():
    block = TransformerDecoderBlock(8, 2, context_length=4)
    with pytest.raises(ValueError, match="d_in=8"):
        block(torch.randn(1, 3, 8), torch.randn(1, 4, 5))


# -- GPT ---------------------------------------------------------------------------------

def small_gpt(**kwargs):
    torch.manual_seed(1)
    config = dict(vocab_size=17, context_length=24, d_model=16, num_layers=3, num_heads=4)
    return GPTModel(**{**config, **kwargs}).eval()


def test_gpt_equals_a_stack_of_torch_encoder_layers():
    gpt = small_gpt(qkv_bias=True, d_ff=24)
    layers = []
    for block in gpt.blocks:
        layer = nn.TransformerEncoderLayer(16, 4, 24, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        with torch.no_grad():
            layer.self_attn.load_state_dict(block.attention.to_torch().state_dict())
            _copy_common(block, layer)
        layers.append(layer.eval())
    tokens = torch.randint(0, 17, (2, 10))
    x = gpt.token_embedding(tokens) + gpt.position_embedding.weight[:10]
    for layer in layers:
        x = layer(x, src_mask=~causal_mask(10))
    expected = gpt.final_norm(x) @ gpt.token_embedding.weight.T   # the tied head
    torch.testing.assert_close(gpt(tokens), expected, atol=1e-5, rtol=1e-5)


def test_gpt_need_weights_gives_causal_weights_of_every_block():
    gpt = small_gpt()
    tokens = torch.randint(0, 17, (2, 9))
    logits, weights = gpt(tokens, need_weights=True)
    torch.testing.assert_close(logits, gpt(tokens), atol=1e-5, rtol=1e-5)
    assert len(weights) == 3 and weights[0].shape == (2, 4, 9, 9)
    assert all(w.triu(1).abs().max() == 0 for w in weights)
    torch.testing.assert_close(weights[-1].sum(-1), torch.ones(2, 4, 9))


def test_gpt_tied_and_untied_heads():
    tied, untied = small_gpt(), small_gpt(tie_weights=False)
    assert tied.head.weight is tied.token_embedding.weight
    assert untied.head.weight is not untied.token_embedding.weight
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(untied) - count(tied) == 17 * 16


def test_gpt_cache_forward_equals_full_forward():
    gpt = small_gpt()
    tokens = torch.randint(0, 17, (2, 12))
    caches = [KVCache() for _ in gpt.blocks]
    pieces = [gpt(tokens[:, :5], caches)] + [gpt(tokens[:, i:i + 1], caches) for i in range(5, 12)]
    torch.testing.assert_close(torch.cat(pieces, 1), gpt(tokens), atol=1e-5, rtol=1e-5)
    assert len(caches[0]) == 12


def test_gpt_generate_same_tokens_with_and_without_cache():
    gpt = small_gpt()
    prompt = torch.randint(0, 17, (3, 4))
    cached = gpt.generate(prompt, max_new_tokens=20, use_cache=True)
    plain = gpt.generate(prompt, max_new_tokens=20, use_cache=False)
    assert cached.shape == (3, 24)
    assert torch.equal(cached[:, :4], prompt)
    assert torch.equal(cached, plain)
    # greedy: each new token is the argmax of the logits over the sequence before it
    logits = gpt(plain[:, :-1])
    assert torch.equal(logits[:, 3:].argmax(-1), plain[:, 4:])


def test_gpt_errors():
    gpt = small_gpt()
    with pytest.raises(ValueError, match="context_length=24"):
        gpt.generate(torch.zeros(1, 20, dtype=torch.long), max_new_tokens=5)
    with pytest.raises(ValueError, match="context_length=24"):
        gpt(torch.zeros(1, 25, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(batch, num_tokens\)"):
        gpt(torch.zeros(1, 2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(batch, num_tokens\)"):
        gpt(torch.zeros(1, 4))


def test_gpt2_small_has_124_million_parameters_on_the_meta_device():
    config = gpt2_small_config()
    with torch.device("meta"):
        gpt2 = GPTModel(**config)
    assert all(p.is_meta for p in gpt2.parameters())
    vocab, ctx, d, layers = 50257, 1024, 768, 12
    # by hand: per block two layer norms, Q/K/V/out projections with biases, the MLP
    per_block = 2 * 2 * d + 4 * (d * d + d) + (d * 4 * d + 4 * d) + (4 * d * d + d)
    expected = vocab * d + ctx * d + layers * per_block + 2 * d   # + final norm; tied head
    assert expected == 124_439_808
    assert sum(p.numel() for p in gpt2.parameters()) == expected
    with torch.device("meta"):
        untied = GPTModel(**{**config, "tie_weights": False})
    assert sum(p.numel() for p in untied.parameters()) == expected + vocab * d


# -- RMSNorm, SwiGLU and the LLaMA-style block (DESIGN Part 3) ------------------------------

@pytest.mark.parametrize("eps", [1e-6, 1e-2])
def test_rms_norm_equals_torch_rms_norm_with_the_same_weight(eps):
    norm = RMSNorm(D_MODEL, eps=eps)
    assert torch.equal(norm.weight, torch.ones(D_MODEL))  # initialised to ones
    with torch.no_grad():
        norm.weight.normal_()
    theirs = nn.RMSNorm(D_MODEL, eps=eps)
    theirs.load_state_dict(norm.state_dict())
    x = 3 * torch.randn(2, 5, D_MODEL) + 1
    torch.testing.assert_close(norm(x), theirs(x))
    torch.testing.assert_close(norm(x[0, 0]), theirs(x[0, 0]))  # any leading shape
    x64 = x.double()
    torch.testing.assert_close(norm.double()(x64), torch.from_numpy(reference.rms_norm(
        x64.numpy(), norm.weight.detach().numpy(), eps=eps)))


def test_rms_norm_keeps_the_mean_and_rejects_wrong_size():
    x = torch.tensor([[1.0, 2.0, 3.0]])  # mean 2: layer norm would remove it, RMSNorm keeps it
    out = RMSNorm(3, eps=0.0)(x)
    torch.testing.assert_close(out, x / (14 / 3) ** 0.5)
    assert out.pow(2).mean().item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"expected x of shape \(\.\.\., d_model=3\), got "
                                         r"\(2, 4\)"):
        RMSNorm(3)(torch.randn(2, 4))


@pytest.mark.parametrize("bias", [False, True])
def test_swiglu_is_the_gated_formula(bias):
    ff = SwiGLU(D_MODEL, D_FF, bias=bias)
    assert ff.gate.weight.shape == ff.up.weight.shape == (D_FF, D_MODEL)
    assert ff.down.weight.shape == (D_MODEL, D_FF)
    assert (ff.gate.bias is not None) == bias
    x = torch.randn(2, 5, D_MODEL)
    g, u = x @ ff.gate.weight.T, x @ ff.up.weight.T
    if bias:
        g, u = g + ff.gate.bias, u + ff.up.bias
    expected = (g * torch.sigmoid(g) * u) @ ff.down.weight.T
    if bias:
        expected = expected + ff.down.bias
    torch.testing.assert_close(ff(x), expected)
    torch.testing.assert_close(ff(x[:, 1:2]), ff(x)[:, 1:2])  # position-wise
    ff64 = ff.double()
    W = {name: getattr(ff64, name) for name in ("gate", "up", "down")}
    twin = reference.swiglu(x.double().numpy(), *(W[n].weight.detach().T.numpy() for n in W),
                            *((W[n].bias.detach().numpy() for n in W) if bias else ()))
    torch.testing.assert_close(ff64(x.double()), torch.from_numpy(twin))
    with pytest.raises(ValueError, match="d_in=12"):
        ff(torch.randn(2, 5, 7).double())


def test_swiglu_with_eight_thirds_has_the_parameters_of_a_gelu_network():
    d = 768
    gelu, swiglu = FeedForward(d, 4 * d), SwiGLU(d, 8 * d // 3)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(swiglu) == 3 * d * (8 * d // 3) == 8 * d * d
    assert count(gelu) == 8 * d * d + 5 * d  # its biases


def test_llama_block_is_pre_norm_rms_swiglu_without_biases():
    block = LlamaBlock(D_MODEL, NUM_HEADS, context_length=8).eval()
    assert isinstance(block.norm1, RMSNorm) and isinstance(block.feed_forward, SwiGLU)
    assert block.feed_forward.gate.out_features == 8 * D_MODEL // 3
    assert not [n for n, _ in block.named_parameters() if n.endswith("bias")]
    d, d_ff = D_MODEL, 8 * D_MODEL // 3
    assert sum(p.numel() for p in block.parameters()) == 4 * d * d + 3 * d * d_ff + 2 * d
    x = torch.randn(2, 8, D_MODEL)
    h = x + block.attention(block.norm1(x))
    expected = h + block.feed_forward(block.norm2(h))
    torch.testing.assert_close(block(x), expected)
    out, weights = block(x, need_weights=True)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    assert weights.shape == (2, NUM_HEADS, 8, 8) and weights.triu(1).abs().max() == 0
    assert block.residual_projections() == (block.attention.out_proj, block.feed_forward.down)
    with pytest.raises(ValueError, match="d_in=12"):
        block(torch.randn(2, 8, 5))


def test_llama_block_with_window_and_rolling_cache_runs_past_context_length():
    short = LlamaBlock(D_MODEL, NUM_HEADS, context_length=5, window=3).eval()
    long = LlamaBlock(D_MODEL, NUM_HEADS, context_length=16, window=3).eval()
    long.load_state_dict(short.state_dict())
    x = torch.randn(1, 16, D_MODEL)
    cache = KVCache(max_tokens=3)
    outs = [short(x[:, i:i + 1], cache=cache) for i in range(16)]
    torch.testing.assert_close(torch.cat(outs, 1), long(x), atol=1e-5, rtol=1e-5)
    assert len(cache) == 3 and cache.num_seen == 16


def test_gpt_with_llama_blocks():
    gpt = small_gpt(block="llama")
    assert all(isinstance(b, LlamaBlock) for b in gpt.blocks)
    assert isinstance(gpt.final_norm, RMSNorm)
    tokens = torch.randint(0, 17, (2, 12))
    caches = [KVCache() for _ in gpt.blocks]
    pieces = [gpt(tokens[:, :5], caches)] + [gpt(tokens[:, i:i + 1], caches) for i in range(5, 12)]
    torch.testing.assert_close(torch.cat(pieces, 1), gpt(tokens), atol=1e-5, rtol=1e-5)
    prompt = tokens[:, :4]
    assert torch.equal(gpt.generate(prompt, 15), gpt.generate(prompt, 15, use_cache=False))
    d, d_ff = 16, 8 * 16 // 3
    per_block = 4 * d * d + 3 * d * d_ff + 2 * d
    assert sum(p.numel() for p in gpt.parameters()) == 17 * d + 24 * d + 3 * per_block + d
    with pytest.raises(ValueError, match="block='llama' with qkv_bias=False"):
        small_gpt(block="llama", qkv_bias=True)
    with pytest.raises(ValueError, match="got block='bert'"):
        small_gpt(block="bert")


@pytest.mark.parametrize("block", ["gpt2", "llama"])
def test_gpt2_init_scales_the_residual_projections_and_the_position_table(block):
    torch.manual_seed(0)
    kwargs = dict(vocab_size=300, context_length=256, d_model=96, num_layers=8, num_heads=4,
                  block=block)
    plain, gpt2 = GPTModel(**kwargs), GPTModel(**kwargs, gpt2_init=True)
    for model, pos_std, res_std in ((plain, 0.02, 0.02), (gpt2, 0.01, 0.02 / 4)):  # sqrt(16)
        assert model.position_embedding.weight.std().item() == pytest.approx(pos_std, rel=0.05)
        assert model.token_embedding.weight.std().item() == pytest.approx(0.02, rel=0.05)
        residual = [layer for b in model.blocks for layer in b.residual_projections()]
        others = [model.blocks[0].attention.W_query, model.blocks[-1].attention.W_value]
        assert len(residual) == 16
        for layer in residual:
            assert layer.weight.std().item() == pytest.approx(res_std, rel=0.1)
        for layer in others:
            assert layer.weight.std().item() == pytest.approx(0.02, rel=0.1)
    assert gpt2_small_config()["gpt2_init"] is True
