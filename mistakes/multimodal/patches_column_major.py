"""Your patches come out column by column (top to bottom first): transposing the grid before flattening gives column-major order; ViT reads patches row by row, like text.

zh: 你的图像块是按列排列的（先从上到下）：在展平之前转置了网格，得到的是列优先顺序；ViT 按行读取图像块，像读文字一样。
catches: patch_embedding_reference, patch_embedding_order
"""


class PatchEmbedding(PatchEmbedding):  # noqa: F821
    def forward(self, images):
        x = self.proj(images)                              # (B, D, g, g)
        return x.transpose(2, 3).flatten(2).transpose(1, 2)
