"""You accept an image_size that is not a multiple of patch_size; the last pixels would silently be dropped, so it must raise ValueError.

zh: 你接受了不是 patch_size 倍数的 image_size；最后几行像素会被悄悄丢掉，应当抛出 ValueError。
catches: patch_embedding_structure
"""

from torch import nn


class PatchEmbedding(PatchEmbedding):  # noqa: F821
    def __init__(self, image_size, patch_size, in_channels, d_model):
        nn.Module.__init__(self)
        self.num_patches = (image_size // patch_size) ** 2
        self.proj = nn.Conv2d(in_channels, d_model, kernel_size=patch_size, stride=patch_size)
