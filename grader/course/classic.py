"""Checks for `classic` (bonus): TextCNN and a step-by-step SimpleRNN.

Module checks load the reference's weights into the student's module and compare the output,
the input gradients and every parameter gradient for a random upstream gradient. Sizes keep
B != L != widths, kernel sizes of different widths, L equal to the largest kernel. The RNN
properties need no reference: h_last is the last output, and running a sequence in two
pieces (the second starting from the first's h_last) equals running it whole.
Tolerances: F64 / F32 (grader/checks.py).
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from grader.checks import Case, Checks, expect_array, fail
from grader.strategies import normal

checks = Checks("classic")


def _ids(rng: np.random.Generator, V: int, shape) -> np.ndarray:
    return rng.integers(0, V, size=shape).astype(np.int64)


def _params_match(h, want: dict[str, tuple[int, ...]]) -> None:
    params = {name: shape for name, shape, _, _ in h.params()}
    if params != want:
        fail("params_match.parameters_differ_contract",
             expected=", ".join(f"{k} {list(v)}" for k, v in sorted(want.items())),
             got=", ".join(f"{k} {list(v)}" for k, v in sorted(params.items())) or "no parameters")


# --- TextCNN --------------------------------------------------------------------------------------


@checks.compare_module("textcnn_reference",
                       "TextCNN matches the reference with the same weights: ReLU, max over time, "
                       "concatenated in kernel-size order (forward and backward)", points=4, cls="TextCNN",
                       zh="相同权重下 TextCNN 的输出与梯度与参考一致：ReLU、时间维最大值、按卷积核顺序拼接")
def _(rng):
    yield Case(init={"vocab_size": 11, "dim": 4, "num_labels": 3, "kernel_sizes": (2, 3), "channels": 5},
               args=(_ids(rng, 11, (2, 6)),))
    yield Case(init={"vocab_size": 9, "dim": 3, "num_labels": 2, "channels": 4},
               args=(_ids(rng, 9, (3, 4)),))                                     # L = max kernel
    yield Case(init={"vocab_size": 13, "dim": 5, "num_labels": 4, "kernel_sizes": (3, 1, 2), "channels": 2},
               args=(_ids(rng, 13, (2, 7)),))
    yield Case(init={"vocab_size": 8, "dim": 6, "num_labels": 2, "kernel_sizes": (2, 4), "channels": 3},
               args=(_ids(rng, 8, (4, 5)),), dtype="float32")
    yield Case(init={"vocab_size": 10, "dim": 2, "num_labels": 5, "kernel_sizes": (5,), "channels": 6},
               args=(_ids(rng, 10, (1, 9)),))
    yield Case(init={"vocab_size": 12, "dim": 4, "num_labels": 3},
               args=(_ids(rng, 12, (2, 8)),))                                    # defaults (2, 3, 4), 16
    for _ in range(2):
        ks = tuple(int(k) for k in rng.choice([1, 2, 3, 4], size=int(rng.integers(1, 4)), replace=False))
        V = int(rng.integers(5, 15))
        init = {"vocab_size": V, "dim": int(rng.integers(2, 6)), "num_labels": int(rng.integers(2, 5)),
                "kernel_sizes": ks, "channels": int(rng.integers(2, 5))}
        yield Case(init=init, args=(_ids(rng, V, (int(rng.integers(1, 4)), max(ks) + int(rng.integers(0, 4)))),))


@checks.behaviour("textcnn_structure",
                  "TextCNN: emb, convs (one Conv1d(dim, channels, k) per kernel size), proj; "
                  "ValueError when L < the largest kernel", points=2, uses=("TextCNN",),
                  zh="TextCNN：emb、convs（每个卷积核一个 Conv1d(dim, channels, k)）、proj；"
                  "L 小于最大卷积核时抛出 ValueError")
def _(ctx):
    ctx.last_input = "TextCNN(vocab_size=20, dim=6, num_labels=3, kernel_sizes=(2, 4), channels=5)"
    h = ctx.new("TextCNN", 20, 6, 3, kernel_sizes=(2, 4), channels=5)
    _params_match(h, {"emb.weight": (20, 6), "convs.0.weight": (5, 6, 2), "convs.0.bias": (5,),
                      "convs.1.weight": (5, 6, 4), "convs.1.bias": (5,),
                      "proj.weight": (3, 10), "proj.bias": (3,)})
    ctx.last_input = "TextCNN(vocab_size=10, dim=4, num_labels=2) (default kernel_sizes and channels)"
    d = ctx.new("TextCNN", 10, 4, 2)
    _params_match(d, {"emb.weight": (10, 4), "proj.weight": (2, 48), "proj.bias": (2,)}
                  | {f"convs.{i}.weight": (16, 4, k) for i, k in enumerate((2, 3, 4))}
                  | {f"convs.{i}.bias": (16,) for i in range(3)})
    ctx.last_input = "TextCNN(..., kernel_sizes=(2, 4)) on ids [2, 3] (shorter than kernel 4)"
    h.raises("ValueError", "forward", np.zeros((2, 3), dtype=np.int64))
    ctx.last_input = "TextCNN(..., kernel_sizes=(2, 4)) on ids [2, 4]"
    expect_array(h(np.zeros((2, 4), dtype=np.int64)), (2, 3), what="TextCNN output")


# --- SimpleRNN ------------------------------------------------------------------------------------


@checks.compare_module("rnn_reference",
                       "SimpleRNN matches the reference (= nn.RNN) with the same weights, with and "
                       "without h0 (outputs, h_last, gradients)", points=4, cls="SimpleRNN",
                       zh="相同权重下 SimpleRNN 与参考（即 nn.RNN）一致，含/不含 h0（输出、h_last、梯度）")
def _(rng):
    yield Case(init={"input_size": 3, "hidden_size": 4}, args=(normal(rng, (2, 5, 3)),), wrt=(0,))
    yield Case(init={"input_size": 2, "hidden_size": 5},
               args=(normal(rng, (3, 4, 2)), normal(rng, (3, 5))), wrt=(0, 1))
    yield Case(init={"input_size": 4, "hidden_size": 3}, args=(normal(rng, (1, 1, 4)),), wrt=(0,))
    yield Case(init={"input_size": 3, "hidden_size": 6},
               args=(normal(rng, (2, 6, 3), np.float32), normal(rng, (2, 6), np.float32)), wrt=(0, 1),
               dtype="float32")
    yield Case(init={"input_size": 5, "hidden_size": 2},
               args=(normal(rng, (4, 3, 5), scale=2), normal(rng, (4, 2))), wrt=(0, 1))
    yield Case(init={"input_size": 2, "hidden_size": 3}, args=(normal(rng, (3, 7, 2)),), wrt=(0,))
    for _ in range(2):
        inp, hid = int(rng.integers(1, 5)), int(rng.integers(2, 6))
        B, L = int(rng.integers(1, 4)), int(rng.integers(2, 7))
        yield Case(init={"input_size": inp, "hidden_size": hid},
                   args=(normal(rng, (B, L, inp)), normal(rng, (B, hid))), wrt=(0, 1))


@checks.behaviour("rnn_structure",
                  "SimpleRNN: parameters W_ih (H, I), W_hh (H, H), b_ih, b_hh, uniform in "
                  "±1/sqrt(H); ValueError for a wrong input width", points=2, uses=("SimpleRNN",),
                  zh="SimpleRNN：参数 W_ih (H, I)、W_hh (H, H)、b_ih、b_hh，在 ±1/sqrt(H) 内均匀分布；"
                  "输入宽度不对时抛出 ValueError")
def _(ctx):
    I, H = 32, 64
    ctx.last_input = f"SimpleRNN(input_size={I}, hidden_size={H})"
    h = ctx.new("SimpleRNN", I, H)
    _params_match(h, {"W_ih": (H, I), "W_hh": (H, H), "b_ih": (H,), "b_hh": (H,)})
    bound = 1 / math.sqrt(H)
    for name, value in h.state_dict().items():
        v = expect_array(value, what=name)
        # U(-b, b): every value within b; the largest |value| of 64+ draws is below b/2 with
        # probability 2^-64, so an honest submission never fails the second test.
        if np.abs(v).max() > bound * (1 + 1e-6) or np.abs(v).max() < bound / 2:
            fail("rnn_structure.name_drawn_uniformly", name=name, bound=bound,
                 expected=f"values in [-{bound:.3f}, {bound:.3f}], spread over the range",
                 got=f"max |{name}| = {float(np.abs(v).max()):.3f}")
    ctx.last_input = f"SimpleRNN({I}, {H}) on x [2, 3, {I + 1}]"
    h.raises("ValueError", "forward", np.zeros((2, 3, I + 1), dtype=np.float32))


@checks.property("rnn_properties",
                 "SimpleRNN: h_last is outputs[:, -1]; h0=None is zeros; running x in two pieces "
                 "(the second from the first's h_last) equals running it whole", points=2,
                 uses=("SimpleRNN",),
                 zh="SimpleRNN：h_last 等于 outputs[:, -1]；h0=None 即全零；把序列分两段运行"
                 "（第二段从第一段的 h_last 开始）与整段运行结果相同")
def _(ctx):
    @ctx.given(st.integers(1, 3), st.integers(2, 6), st.integers(1, 4), st.integers(1, 5),
               st.integers(0, 2**31 - 1))
    def prop(B, L, I, H, seed):
        rng = np.random.default_rng(seed)
        h = ctx.new("SimpleRNN", I, H)
        h.call_raw("to", {"$dtype": "float64"})
        x = normal(rng, (B, L, I))

        def run(*args):
            res = h(*args)
            if not (isinstance(res, tuple) and len(res) == 2):
                fail("rnn_properties.simplernn_return_tuple")
            n = args[0].shape[1]
            return (expect_array(res[0], (B, n, H), np.float64, "outputs"),
                    expect_array(res[1], (B, H), np.float64, "h_last"))

        out, last = run(x)
        ctx.close(last, out[:, -1], "h_last vs outputs[:, -1]")
        out0, _ = run(x, np.zeros((B, H)))
        ctx.close(out0, out, "outputs with h0 = zeros vs h0 = None")
        k = int(rng.integers(1, L))
        first, mid = run(x[:, :k])
        second, _ = run(x[:, k:], mid)
        ctx.close(np.concatenate([first, second], axis=1), out,
                  f"outputs of x[:, :{k}] then x[:, {k}:] from its h_last, vs x whole")

    prop()
