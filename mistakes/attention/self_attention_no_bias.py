"""Your projections have no bias; the contract asks for nn.Linear with bias.

zh: 你的投影层没有偏置；约定要求带偏置的 nn.Linear。
catches: self_attention_reference, self_attention_structure
"""
from torch import nn


class SelfAttention(SelfAttention):  # noqa: F821
    def __init__(self, d_model, d_k=None):
        nn.Module.__init__(self)
        d_k = d_model if d_k is None else d_k
        self.q_proj = nn.Linear(d_model, d_k, bias=False)
        self.k_proj = nn.Linear(d_model, d_k, bias=False)
        self.v_proj = nn.Linear(d_model, d_k, bias=False)
        self.o_proj = nn.Linear(d_k, d_model, bias=False)
