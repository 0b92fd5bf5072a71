"""Your train_clip ignores seed: the encoders' initial weights and the batch order come from whatever the global random state is.

zh: 你的 train_clip 忽略了 seed：编码器的初始权重和批次顺序取决于全局随机状态。
catches: train_clip_seed
"""

import math

import torch
from torch import nn


def train_clip(images, captions, vocab_size, embed_dim=32, pad_id=0, epochs=8, lr=1e-2, seed=0):
    n, channels, size = images.shape[0], images.shape[1], images.shape[-1]
    image_encoder = ImageEncoder(size, channels, embed_dim).to(images.dtype)  # noqa: F821
    text_encoder = TextEncoder(vocab_size, embed_dim, pad_id).to(images.dtype)  # noqa: F821
    logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07), dtype=images.dtype))
    opt = torch.optim.AdamW([*image_encoder.parameters(), *text_encoder.parameters(), logit_scale], lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs * -(-n // 32), pct_start=0.1)
    for _ in range(epochs):
        for idx in torch.randperm(n).split(32):
            if len(idx) < 2:
                continue
            loss = clip_loss(image_encoder(images[idx]), text_encoder(captions[idx]),  # noqa: F821
                             logit_scale.clamp(max=math.log(100)))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return image_encoder.eval(), text_encoder.eval()
