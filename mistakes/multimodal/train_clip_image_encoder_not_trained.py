"""Your optimizer only gets the text encoder's parameters (and the scale): the image encoder stays at its random initialisation, so pictures are never matched to captions.

zh: 你的优化器只包含文本编码器的参数（和 scale）：图像编码器一直保持随机初始化，图片永远无法与文字对应。
catches: train_clip_quality
"""

import math

import torch
from torch import nn


def train_clip(images, captions, vocab_size, embed_dim=32, pad_id=0, epochs=8, lr=1e-2, seed=0):
    n, channels, size = images.shape[0], images.shape[1], images.shape[-1]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        image_encoder = ImageEncoder(size, channels, embed_dim).to(images.dtype)  # noqa: F821
        text_encoder = TextEncoder(vocab_size, embed_dim, pad_id).to(images.dtype)  # noqa: F821
        logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07), dtype=images.dtype))
        opt = torch.optim.AdamW([*text_encoder.parameters(), logit_scale], lr=lr)
        gen = torch.Generator().manual_seed(seed)
        for _ in range(epochs):
            for idx in torch.randperm(n, generator=gen).split(32):
                loss = clip_loss(image_encoder(images[idx]), text_encoder(captions[idx]), logit_scale)  # noqa: F821
                opt.zero_grad()
                loss.backward()
                opt.step()
    return image_encoder.eval(), text_encoder.eval()
