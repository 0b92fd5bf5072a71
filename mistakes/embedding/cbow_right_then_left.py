"""Your cbow_windows puts the right context before the left; the contract is left then right, in order.

zh: 你的 cbow_windows 把右侧上下文放在了左侧之前；应当先左后右并保持原顺序。
catches: cbow_windows_reference, cbow_windows_properties
"""
import torch


def cbow_windows(ids: torch.Tensor, window: int) -> tuple[torch.Tensor, torch.Tensor]:
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    T = ids.shape[0]
    centers = torch.arange(window, max(T - window, window))
    offsets = torch.cat([torch.arange(1, window + 1), torch.arange(-window, 0)])
    return ids[centers.unsqueeze(1) + offsets], ids[centers]
