"""The seq2seq reference against torch's own encoder-decoder: ``nn.Transformer(batch_first=True,
norm_first=False, dropout=0, activation="gelu")`` with the MiniTransformer's weights copied in,
forward and backward, with and without source padding. The embeddings and the output
projection (which nn.Transformer does not have) are copied into separate modules, so every
gradient is computed twice, independently. Compared in train() mode: in eval mode torch's
fast path returns zeros at padded source positions. Torch's boolean masks mean True = blocked.
"""

from __future__ import annotations

import copy

import pytest
import seq2seq
import torch
from torch import nn

TOL = {"rtol": 1e-9, "atol": 1e-10}
# nn.Transformer warns that odd head counts disable its nested-tensor fast path (eval only)
pytestmark = pytest.mark.filterwarnings("ignore:enable_nested_tensor")


def randomise(module: nn.Module) -> nn.Module:
    """LayerNorm gains start at 1 and biases at 0: make every parameter random so that a
    swapped norm or a dropped bias shows."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.5 + (1.0 if p.ndim == 1 else 0.0))
    return module


def copy_attn(ref: nn.MultiheadAttention, mha) -> None:
    ref.in_proj_weight.copy_(torch.cat([mha.q_proj.weight, mha.k_proj.weight, mha.v_proj.weight]))
    ref.in_proj_bias.copy_(torch.cat([mha.q_proj.bias, mha.k_proj.bias, mha.v_proj.bias]))
    ref.out_proj.weight.copy_(mha.o_proj.weight)
    ref.out_proj.bias.copy_(mha.o_proj.bias)


def copy_linear(ref: nn.Module, ours: nn.Module) -> None:
    ref.weight.copy_(ours.weight)
    if getattr(ours, "bias", None) is not None:
        ref.bias.copy_(ours.bias)


def torch_twin(model: seq2seq.MiniTransformer, d_model: int, n_heads: int, n_layers: int, d_ff: int):
    """(nn.Transformer, src_emb, tgt_emb, pos_emb, proj) holding copies of model's weights."""
    ref = nn.Transformer(d_model=d_model, nhead=n_heads, num_encoder_layers=n_layers,
                         num_decoder_layers=n_layers, dim_feedforward=d_ff, dropout=0.0,
                         activation="gelu", batch_first=True, norm_first=False, dtype=torch.float64)
    with torch.no_grad():
        for theirs, ours in zip(ref.encoder.layers, model.encoder):
            copy_attn(theirs.self_attn, ours.attn)
            copy_linear(theirs.linear1, ours.ffn.up)
            copy_linear(theirs.linear2, ours.ffn.down)
            copy_linear(theirs.norm1, ours.ln1)
            copy_linear(theirs.norm2, ours.ln2)
        for theirs, ours in zip(ref.decoder.layers, model.decoder):
            copy_attn(theirs.self_attn, ours.self_attn)
            copy_attn(theirs.multihead_attn, ours.cross_attn)
            copy_linear(theirs.linear1, ours.ffn.up)
            copy_linear(theirs.linear2, ours.ffn.down)
            copy_linear(theirs.norm1, ours.ln1)
            copy_linear(theirs.norm2, ours.ln2)
            copy_linear(theirs.norm3, ours.ln3)
        copy_linear(ref.encoder.norm, model.enc_ln)
        copy_linear(ref.decoder.norm, model.dec_ln)
    extras = [copy.deepcopy(m) for m in (model.src_emb, model.tgt_emb, model.pos_emb, model.proj)]
    return (ref.train(), *extras)


def torch_forward(twin, src, tgt, src_mask):
    ref, src_emb, tgt_emb, pos_emb, proj = twin
    Ls, Lt = src.shape[1], tgt.shape[1]
    x = src_emb(src) + pos_emb(torch.arange(Ls))
    y = tgt_emb(tgt) + pos_emb(torch.arange(Lt))
    causal = nn.Transformer.generate_square_subsequent_mask(Lt, dtype=torch.bool)
    blocked = None if src_mask is None else ~src_mask
    hidden = ref(x, y, tgt_mask=causal, tgt_is_causal=True, src_key_padding_mask=blocked,
                 memory_key_padding_mask=blocked)
    memory = ref.encoder(x, src_key_padding_mask=blocked)
    return proj(hidden), memory, hidden


def twin_grads(model, twin) -> dict[str, torch.Tensor]:
    """The twin's gradients under the MiniTransformer's parameter names."""
    ref, src_emb, tgt_emb, pos_emb, proj = twin
    out = {"src_emb.weight": src_emb.weight.grad, "tgt_emb.weight": tgt_emb.weight.grad,
           "pos_emb.weight": pos_emb.weight.grad, "proj.weight": proj.weight.grad, "proj.bias": proj.bias.grad,
           "enc_ln.weight": ref.encoder.norm.weight.grad, "enc_ln.bias": ref.encoder.norm.bias.grad,
           "dec_ln.weight": ref.decoder.norm.weight.grad, "dec_ln.bias": ref.decoder.norm.bias.grad}

    def attn(prefix: str, mha: nn.MultiheadAttention) -> None:
        w, b = mha.in_proj_weight.grad.chunk(3), mha.in_proj_bias.grad.chunk(3)
        for i, name in enumerate(("q_proj", "k_proj", "v_proj")):
            out[f"{prefix}.{name}.weight"], out[f"{prefix}.{name}.bias"] = w[i], b[i]
        out[f"{prefix}.o_proj.weight"] = mha.out_proj.weight.grad
        out[f"{prefix}.o_proj.bias"] = mha.out_proj.bias.grad

    def lin(prefix: str, m: nn.Module) -> None:
        out[f"{prefix}.weight"], out[f"{prefix}.bias"] = m.weight.grad, m.bias.grad

    for i, layer in enumerate(ref.encoder.layers):
        attn(f"encoder.{i}.attn", layer.self_attn)
        lin(f"encoder.{i}.ffn.up", layer.linear1)
        lin(f"encoder.{i}.ffn.down", layer.linear2)
        lin(f"encoder.{i}.ln1", layer.norm1)
        lin(f"encoder.{i}.ln2", layer.norm2)
    for i, layer in enumerate(ref.decoder.layers):
        attn(f"decoder.{i}.self_attn", layer.self_attn)
        attn(f"decoder.{i}.cross_attn", layer.multihead_attn)
        lin(f"decoder.{i}.ffn.up", layer.linear1)
        lin(f"decoder.{i}.ffn.down", layer.linear2)
        for n in ("1", "2", "3"):
            lin(f"decoder.{i}.ln{n}", getattr(layer, f"norm{n}"))
    return out


@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("sizes", [(12, 3, 2, 20), (8, 2, 1, None)])
def test_mini_transformer_equals_nn_transformer(padded, sizes):
    D, H, N, d_ff = sizes
    B, Ls, Lt, Vs, Vt, max_len = 3, 6, 5, 11, 9, 8
    torch.manual_seed(0)
    model = randomise(seq2seq.MiniTransformer(Vs, Vt, max_len, D, H, N, d_ff).double())
    twin = torch_twin(model, D, H, N, d_ff or 4 * D)
    src, tgt = torch.randint(0, Vs, (B, Ls)), torch.randint(0, Vt, (B, Lt))
    mask = torch.arange(Ls) < torch.tensor([6, 2, 4])[:, None] if padded else None

    logits = model(src, tgt, mask)
    want, memory, hidden = torch_forward(twin, src, tgt, mask)
    torch.testing.assert_close(logits, want, **TOL)
    torch.testing.assert_close(model.encode(src, mask), memory, **TOL)
    torch.testing.assert_close(model.decode(tgt, model.encode(src, mask), mask), hidden, **TOL)

    upstream = torch.randn_like(logits)
    (logits * upstream).sum().backward()
    (want * upstream).sum().backward()
    grads = twin_grads(model, twin)
    ours = dict(model.named_parameters())
    assert set(grads) == set(ours)
    for name, p in ours.items():
        torch.testing.assert_close(p.grad, grads[name], **TOL, msg=f"gradient of {name}")


def test_padding_ids_do_not_matter_like_torch():
    """Both models ignore the ids at padded source positions (the logits stay the same)."""
    torch.manual_seed(1)
    model = randomise(seq2seq.MiniTransformer(10, 7, 6, 8, 2, 2).double())
    twin = torch_twin(model, 8, 2, 2, 32)
    src, tgt = torch.randint(0, 10, (2, 6)), torch.randint(0, 7, (2, 4))
    mask = torch.arange(6) < torch.tensor([6, 3])[:, None]
    other = torch.where(mask, src, (src + 3) % 10)
    with torch.no_grad():
        for s in (src, other):
            torch.testing.assert_close(model(s, tgt, mask), torch_forward(twin, s, tgt, mask)[0], **TOL)
        torch.testing.assert_close(model(other, tgt, mask), model(src, tgt, mask), **TOL)


def test_greedy_translate_equals_a_loop_over_nn_transformer():
    """greedy_translate equals argmax decoding with torch's nn.Transformer, row by row, with the
    EOS rule: a row that produced EOS goes on with EOS, decoding stops once all rows have."""
    torch.manual_seed(2)
    model = randomise(seq2seq.MiniTransformer(10, 8, 9, 12, 3, 2).double())
    twin = torch_twin(model, 12, 3, 2, 48)
    src = torch.randint(0, 10, (4, 7))
    mask = torch.arange(7) < torch.tensor([7, 3, 5, 6])[:, None]
    bos = 0
    run = torch.full((4, 1), bos)
    with torch.no_grad():
        for _ in range(9):
            logits = torch_forward(twin, src, run, mask)[0][:, -1]
            run = torch.cat([run, logits.argmax(-1, keepdim=True)], 1)
    steps = run[:, 1:]
    eos = int(steps[0, 2])  # row 0 finishes after 3 steps; the others when they first produce it
    first = [int((r == eos).nonzero()[0]) if (r == eos).any() else 9 for r in steps]
    n = min(9, max(first) + 1)
    want = steps[:, :n].clone()
    for r, f in enumerate(first):
        want[r, f + 1:] = eos
    want = torch.cat([torch.full((4, 1), bos), want], 1)
    got = seq2seq.greedy_translate(model, src, bos, eos, 9, mask)
    assert torch.equal(got, want), (got, want)
    with pytest.raises(ValueError):
        seq2seq.greedy_translate(model, src, bos, eos, 10, mask)
    assert torch.equal(seq2seq.greedy_translate(model, src, bos, eos, 0, mask), torch.full((4, 1), bos))


def test_submodule_names():
    model = seq2seq.MiniTransformer(11, 7, 5, 8, 2, 2)
    assert [n for n, _ in model.named_children()] == [
        "src_emb", "tgt_emb", "pos_emb", "encoder", "enc_ln", "decoder", "dec_ln", "proj"]
    assert model.pos_emb.weight.shape == (5, 8) and model.proj.bias.shape == (7,)
    assert model.decoder[1].ffn.up.weight.shape == (32, 8)
