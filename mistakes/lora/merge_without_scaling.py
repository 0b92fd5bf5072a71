"""Your merge() folds B @ A into the weight without the alpha / r scaling, so merging changes the layer's output.

zh: 你的 merge() 把 B @ A 合并进权重时没有乘以 alpha / r，合并后层的输出变了。
catches: lora_merge
"""
import torch


class LoRALinear(LoRALinear):  # noqa: F821  (the reference class this file is appended to)
    @torch.no_grad()
    def merge(self):
        if not self.merged:
            self.base.weight += self.lora_B @ self.lora_A
            self.merged = True

    @torch.no_grad()
    def unmerge(self):
        if self.merged:
            self.base.weight -= self.lora_B @ self.lora_A
            self.merged = False
