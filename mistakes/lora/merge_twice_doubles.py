"""Your merge() and unmerge() do not check the merged flag, so calling merge() twice adds the update twice.

zh: 你的 merge()/unmerge() 没有检查 merged 标志，调用两次 merge() 会把增量加两次。
catches: lora_merge, lora_unmerge
"""
import torch


class LoRALinear(LoRALinear):  # noqa: F821  (the reference class this file is appended to)
    @torch.no_grad()
    def merge(self):
        self.base.weight += self.scaling * (self.lora_B @ self.lora_A)
        self.merged = True

    @torch.no_grad()
    def unmerge(self):
        self.base.weight -= self.scaling * (self.lora_B @ self.lora_A)
        self.merged = False
