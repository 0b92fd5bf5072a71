"""Your unmerge() only clears the merged flag; it does not subtract the update from the weight again.

zh: 你的 unmerge() 只把 merged 设为 False，没有把增量从权重中减回去。
catches: lora_unmerge
"""
import torch


class LoRALinear(LoRALinear):  # noqa: F821  (the reference class this file is appended to)
    @torch.no_grad()
    def unmerge(self):
        self.merged = False
