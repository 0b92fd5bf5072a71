"""Your softmax calls torch.softmax, which this exercise asks you to implement yourself.

zh: 你的 softmax 直接调用了 torch.softmax，本练习要求自己实现。
catches: softmax_reference, banned_apis
"""
import torch


def softmax(x, dim=-1):
    return torch.softmax(x, dim=dim)
