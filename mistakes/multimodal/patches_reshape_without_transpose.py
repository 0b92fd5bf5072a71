"""You reshape the [B, D, S/p, S/p] feature map straight to [B, N, D] without moving D last, which mixes features of different patches; flatten(2) then transpose(1, 2).

zh: 你把 [B, D, S/p, S/p] 的特征图直接 reshape 成 [B, N, D]，没有把 D 移到最后，不同图像块的特征被混在一起；应先 flatten(2) 再 transpose(1, 2)。
catches: patch_embedding_reference, patch_embedding_order
"""


class PatchEmbedding(PatchEmbedding):  # noqa: F821
    def forward(self, images):
        x = self.proj(images)
        return x.reshape(x.shape[0], -1, x.shape[1])
