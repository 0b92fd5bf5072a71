"""Your forward() still adds the low-rank path after merge(), so a merged layer counts the update twice.

zh: merge() 之后你的 forward() 仍然加上低秩路径，增量被算了两次。
catches: lora_merge
"""


class LoRALinear(LoRALinear):  # noqa: F821  (the reference class this file is appended to)
    def forward(self, x):
        return self.base(x) + self.scaling * ((x @ self.lora_A.T) @ self.lora_B.T)
