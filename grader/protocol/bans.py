"""Where a banned API lands, for the worker's run-time check (both sides share this table).

A ban names public APIs (``torch.softmax``, ``torch.nn.LayerNorm``). Code can reach the
same computation through aliases the names miss: a module-level ``_sm = torch.softmax``,
``torch._softmax``, ``torch._C._VariableFunctions.softmax``, ``torch._C.TensorBase.softmax``,
``torch.ops.aten._softmax``, ``torch._VF.rnn_tanh_cell``. Every one of them arrives, during
the scoped call, at ``__torch_function__`` (a ``TorchFunctionMode`` in the worker) under the
same function name, or for ``torch.ops.aten.*`` under the aten operator's name below.
"""

from __future__ import annotations

# banned name -> (torch-function names, aten operator names) it also stands for
LANDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "softmax": (("softmax", "_softmax", "special_softmax"), ("_softmax", "softmax")),
    "log_softmax": (("log_softmax", "_log_softmax", "special_log_softmax"), ("_log_softmax", "log_softmax")),
    "scaled_dot_product_attention": (
        ("scaled_dot_product_attention", "_scaled_dot_product_attention_math"),
        ("scaled_dot_product_attention", "_scaled_dot_product_*", "_fused_sdp_choice")),
    "MultiheadAttention": (("multi_head_attention_forward", "_native_multi_head_attention"),
                           ("_native_multi_head_attention",)),
    "embedding": (("embedding", "embedding_bag"), ("embedding", "embedding_bag", "_embedding_bag")),
    "Embedding": (("embedding",), ("embedding",)),
    "cosine_similarity": (("cosine_similarity",), ("cosine_similarity",)),
    "layer_norm": (("layer_norm", "native_layer_norm"), ("native_layer_norm", "layer_norm")),
    "native_layer_norm": (("native_layer_norm",), ("native_layer_norm",)),
    "LayerNorm": (("layer_norm", "native_layer_norm"), ("native_layer_norm",)),
    "rnn_tanh": (("rnn_tanh",), ("rnn_tanh",)),
    "rnn_tanh_cell": (("rnn_tanh_cell",), ("rnn_tanh_cell",)),
    "RNN": (("rnn_tanh", "rnn_relu"), ("rnn_tanh", "rnn_relu")),
    "RNNCell": (("rnn_tanh_cell", "rnn_relu_cell"), ("rnn_tanh_cell", "rnn_relu_cell")),
    "cross_entropy": (("cross_entropy",), ("cross_entropy_loss",)),
    "CrossEntropyLoss": (("cross_entropy",), ("cross_entropy_loss",)),
    "nll_loss": (("nll_loss", "nll_loss_nd"), ("nll_loss", "nll_loss_forward", "nll_loss2d_forward", "nll_loss_nd")),
    "clip_grad_norm_": (("clip_grad_norm_",), ()),
}


def lands(banned: list[str]) -> tuple[set[str], set[str]]:
    """(function names, aten operator patterns) for a list of banned dotted names. A name
    not in the table stands for itself at the function level."""
    fns: set[str] = set()
    ops: set[str] = set()
    for dotted in banned:
        if not dotted.startswith("torch."):  # another package (``tiktoken.*``): the static scan's job
            continue
        last = dotted.rsplit(".", 1)[-1]
        if last == "*":
            continue
        if last.startswith("_foreach_") or last.endswith("*"):
            fns.add(last)
            ops.add(last)
            continue
        f, o = LANDS.get(last, ((last,) if last[:1].islower() else (), ()))
        fns.update(f)
        ops.update(o)
    return fns, ops
