"""Your MultiHeadAttention ignores bias=False: its projections always have a bias.

zh: 你的 MultiHeadAttention 忽略了 bias=False：投影层总是带偏置。
catches: mha_structure, mha_self_reference
"""

# the class comes from the reference module this is appended to.
# ruff: noqa: F821
from torch import nn


class MultiHeadAttention(MultiHeadAttention):
    def __init__(self, d_model: int, n_heads: int, bias: bool = True):
        nn.Module.__init__(self)
        if d_model % n_heads != 0:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.n_heads = n_heads
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.o_proj = nn.Linear(d_model, d_model)
