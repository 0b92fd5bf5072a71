"""Checks for `blocks`: layer_norm, the post-LN EncoderBlock, the pre-LN (GPT-2) DecoderBlock and
the post-LN Seq2SeqDecoderBlock.

Module checks load the reference's weights into the student's block and compare the output,
the input gradients and every parameter gradient; sizes keep B != L != D and Lq != Lk.
layer_norm is checked on inputs of small variance too, where eps inside or outside the square
root makes a visible difference. The causal property needs no reference: changing later tokens
must leave earlier outputs of a DecoderBlock unchanged. Tolerances: F64 / F32 (grader/checks.py).
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from grader.checks import Case, Checks, expect_array, fail, noncontig
from grader.strategies import normal, random_mask

checks = Checks("blocks")


def _block_init(rng: np.random.Generator, activation: str, with_ff: bool) -> tuple[int, int, dict]:
    """(B, L, init) with D = H * dh, B != L; d_ff given (and != 4·D) when with_ff."""
    H, dh = (int(v) for v in rng.choice([2, 3, 4], size=2, replace=False))
    B = int(rng.integers(1, 4))
    L = int(rng.choice([v for v in range(2, 7) if v != B]))
    init = {"d_model": H * dh, "n_heads": H, "activation": activation}
    if with_ff:
        init["d_ff"] = int(rng.integers(5, 13))
    return B, L, init


def _key_padding(rng: np.random.Generator, B: int, L: int) -> np.ndarray:
    """Right padding as a [B, 1, 1, L] key mask; every row keeps position 0 (never all masked)."""
    lengths = rng.integers(1, L + 1, size=B)
    return (np.arange(L)[None, :] < lengths[:, None])[:, None, None, :]


# --- layer_norm -----------------------------------------------------------------------------------


@checks.compare("layer_norm_reference",
                "layer_norm matches the reference (biased variance, eps inside the square root)", points=3,
                fn="layer_norm", zh="layer_norm 与参考实现一致（有偏方差，eps 在根号内）")
def _(rng):
    yield Case(args=(normal(rng, (2, 3, 5), scale=3) + 1, normal(rng, (5,)), normal(rng, (5,))))
    yield Case(args=(normal(rng, (4, 6), scale=1e-3), normal(rng, (6,)) + 1, normal(rng, (6,))))
    yield Case(args=(normal(rng, (2, 5, 4)), normal(rng, (4,)), normal(rng, (4,))), kwargs={"eps": 0.1})
    yield Case(args=(normal(rng, (3, 4, 7), np.float32), normal(rng, (7,), np.float32),
                     normal(rng, (7,), np.float32)))
    yield Case(args=(noncontig(normal(rng, (3, 5), scale=2)), normal(rng, (5,)), normal(rng, (5,))))
    D = int(rng.integers(2, 9))
    yield Case(args=(normal(rng, (int(rng.integers(1, 4)), D), scale=float(rng.choice([1e-3, 1.0, 50.0]))),
                     normal(rng, (D,)), normal(rng, (D,))))


# --- EncoderBlock ----------------------------------------------------------------------------------


@checks.compare_module("encoder_block_reference",
                       "EncoderBlock (post-LN) matches the reference with the same weights "
                       "(forward and backward)", points=4,
                       cls="EncoderBlock", zh="相同权重下编码器层（post-LN）的输出与梯度与参考一致")
def _(rng):
    B, L, init = _block_init(rng, "gelu", False)
    yield Case(init=init, args=(normal(rng, (B, L, init["d_model"])),), wrt=(0,))
    B, L, init = _block_init(rng, "relu", True)
    yield Case(init=init, args=(normal(rng, (B, L, init["d_model"])),),
               kwargs={"mask": _key_padding(rng, B, L)}, wrt=(0,))
    B, L, init = _block_init(rng, "gelu", True)
    yield Case(init=init | {"eps": 1e-3}, args=(normal(rng, (B, L, init["d_model"])),),
               kwargs={"mask": random_mask(rng, (L, L))}, wrt=(0,))
    B, L, init = _block_init(rng, "gelu", True)
    yield Case(init=init, args=(normal(rng, (B, L, init["d_model"]), np.float32),),
               kwargs={"mask": _key_padding(rng, B, L)}, wrt=(0,), dtype="float32")


# --- DecoderBlock (GPT-2) --------------------------------------------------------------------------


@checks.compare_module("decoder_block_reference",
                       "DecoderBlock (pre-LN, causal) matches the reference with the same weights "
                       "(forward and backward)", points=4,
                       cls="DecoderBlock", zh="相同权重下 GPT 解码器层（pre-LN、因果）的输出与梯度与参考一致")
def _(rng):
    B, L, init = _block_init(rng, "gelu", False)
    yield Case(init=init, args=(normal(rng, (B, L, init["d_model"])),), wrt=(0,))
    B, L, init = _block_init(rng, "gelu", True)
    yield Case(init=init, args=(normal(rng, (B, L, init["d_model"])),),
               kwargs={"mask": _key_padding(rng, B, L)}, wrt=(0,))
    B, L, init = _block_init(rng, "relu", True)
    full = np.ones((B, 1, 1, L), dtype=bool)  # a mask that hides nothing: causality must stay
    yield Case(init=init, args=(normal(rng, (B, L, init["d_model"])),), kwargs={"mask": full}, wrt=(0,))
    B, L, init = _block_init(rng, "gelu", True)
    yield Case(init=init, args=(normal(rng, (B, L, init["d_model"]), np.float32),),
               kwargs={"mask": _key_padding(rng, B, L)}, wrt=(0,), dtype="float32")


@checks.property("decoder_block_causal",
                 "DecoderBlock is causal: changing later tokens never changes earlier outputs "
                 "(with and without a padding mask)", points=2,
                 uses=("DecoderBlock",), zh="解码器层是因果的：改变后面的词不会改变前面的输出（有无填充掩码皆然）")
def _(ctx):
    made: dict[tuple[int, int], object] = {}

    def block(D: int, H: int):
        if (D, H) not in made:
            ctx.last_input = f"DecoderBlock(d_model={D}, n_heads={H})"
            h = ctx.new("DecoderBlock", D, H)
            h.call_raw("to", {"$dtype": "float64"})
            made[(D, H)] = h
        return made[(D, H)]

    @ctx.given(st.sampled_from([(8, 2), (6, 3), (12, 4)]), st.integers(1, 3), st.integers(2, 6),
               st.integers(0, 2**31 - 1), max_examples=10)
    def prop(size, B, L, seed):
        D, H = size
        h = block(D, H)
        rng = np.random.default_rng(seed)
        x = normal(rng, (B, L, D))
        t = int(rng.integers(1, L))  # first changed position
        x2 = x.copy()
        x2[:, t:] += 3.0 * normal(rng, (B, L - t, D))
        mask = _key_padding(rng, B, L)
        mask[0] = True  # row 0 hides no key: only causality can keep the future out
        for kwargs in ({}, {"mask": mask}):
            y = expect_array(h(x, **kwargs), (B, L, D), np.float64)
            y2 = expect_array(h(x2, **kwargs), (B, L, D), np.float64)
            if not np.allclose(y2[:, :t], y[:, :t], rtol=1e-9, atol=1e-9):
                where = "with a padding mask" if kwargs else "without a mask"
                fail("decoder_block_causal.changing_tokens_positions", t=t, where=where,
                     expected=f"outputs[:, :{t}] unchanged",
                     got=f"max change {float(np.abs(y2[:, :t] - y[:, :t]).max()):.3g}")

    prop()


# --- Seq2SeqDecoderBlock ------------------------------------------------------------------------------


@checks.compare_module("seq2seq_block_reference",
                       "Seq2SeqDecoderBlock (causal self-attention, cross-attention, FFN; post-LN) "
                       "matches the reference (forward and backward)", points=5,
                       cls="Seq2SeqDecoderBlock",
                       zh="相同权重下 seq2seq 解码器层（因果自注意力、交叉注意力、FFN；post-LN）的输出与梯度与参考一致")
def _(rng):
    for activation, mask_kind in (("gelu", "none"), ("relu", "keys"), ("gelu", "full")):
        B, Lq, init = _block_init(rng, activation, activation == "relu")
        Lk = Lq + int(rng.integers(1, 3))
        D = init["d_model"]
        masks = {"none": {}, "keys": {"memory_mask": _key_padding(rng, B, Lk)},
                 "full": {"memory_mask": random_mask(rng, (Lq, Lk))}}
        yield Case(init=init, args=(normal(rng, (B, Lq, D)), normal(rng, (B, Lk, D))),
                   kwargs=masks[mask_kind], wrt=(0, 1))
    B, Lq, init = _block_init(rng, "gelu", True)
    D = init["d_model"]
    yield Case(init=init, args=(normal(rng, (B, Lq, D), np.float32), normal(rng, (B, Lq + 1, D), np.float32)),
               kwargs={"memory_mask": _key_padding(rng, B, Lq + 1)}, wrt=(0, 1), dtype="float32")
