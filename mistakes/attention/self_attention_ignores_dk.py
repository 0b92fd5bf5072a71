"""Your SelfAttention ignores d_k and always projects to d_model.

zh: 你的 SelfAttention 忽略了 d_k，总是投影到 d_model 维。
catches: self_attention_reference, self_attention_structure
"""
from torch import nn


class SelfAttention(SelfAttention):  # noqa: F821
    def __init__(self, d_model, d_k=None):
        nn.Module.__init__(self)
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.o_proj = nn.Linear(d_model, d_model)
