"""`multimodal` written a second other way: PatchEmbedding calls its Conv2d and then moves the
channels last with ``permute(0, 2, 3, 1)`` and a reshape (rather than flatten + transpose), and
keeps extra attributes (grid, an ``extra_repr``); clip_loss normalises with ``rsqrt`` of the
squared norms, turns a float logit_scale into a tensor and exponentiates it in the embeddings'
dtype, and takes ONE cross-entropy over the rows of ``cat([logits, logits.T])`` (the mean over
2B rows is the mean of the two means); zero_shot_classify takes the argmin of ``torch.cdist``
between unit vectors (the nearest unit vector is the one of highest cosine); train_clip has its
own encoders (a patch stem of 2 pixels with BatchNorm and a strided convolution, max-pooled; a
text encoder that sums the word vectors of an ``nn.Embedding(padding_idx=pad_id)`` and applies
a LayerNorm), the logit scale held by the text encoder as a parameter, random horizontal flips
(the shapes are symmetric) drawn from a ``torch.Generator``, numpy's ``default_rng`` for the
batch order, AdamW with weight decay 0.05 and a MultiStepLR schedule, batches of 32."""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class PatchEmbedding(nn.Module):
    def __init__(self, image_size, patch_size, in_channels, d_model):
        super().__init__()
        if not isinstance(patch_size, int) or patch_size < 1 or image_size % patch_size != 0:
            raise ValueError(f"patch_size={patch_size} must divide image_size={image_size}")
        self.grid = image_size // patch_size
        self.num_patches = self.grid * self.grid
        self.proj = nn.Conv2d(in_channels, d_model, kernel_size=patch_size, stride=patch_size)

    def extra_repr(self):
        return f"grid={self.grid}x{self.grid}, num_patches={self.num_patches}"

    def forward(self, images):
        x = self.proj(images)                                   # (B, D, g, g)
        B, D = x.shape[0], x.shape[1]
        return x.permute(0, 2, 3, 1).reshape(B, -1, D)          # (B, g·g, D): row r, then column c


def _unit(x):
    return x * torch.rsqrt((x * x).sum(dim=-1, keepdim=True))


def clip_loss(image_emb, text_emb, logit_scale):
    if image_emb.ndim != 2 or text_emb.shape != image_emb.shape:
        raise ValueError(f"clip_loss wants image_emb and text_emb of the same shape [B, D], got "
                         f"{tuple(image_emb.shape)} and {tuple(text_emb.shape)}")
    s = logit_scale if torch.is_tensor(logit_scale) else torch.tensor(float(logit_scale))
    scale = s.to(image_emb.dtype).exp()
    logits = scale * (_unit(text_emb) @ _unit(image_emb).transpose(0, 1))     # (B, B): caption i, picture j
    B = logits.shape[0]
    targets = torch.arange(B, device=logits.device).repeat(2)
    return F.cross_entropy(torch.cat([logits, logits.transpose(0, 1)]), targets)


def zero_shot_classify(image_emb, class_emb):
    dist = torch.cdist(F.normalize(image_emb, dim=-1), F.normalize(class_emb, dim=-1))   # (N, C)
    return dist.argmin(dim=-1)


class _ShapeNet(nn.Module):
    def __init__(self, size, channels, embed_dim, width=32):
        super().__init__()
        patch = 2 if size % 2 == 0 else 1
        self.grid = size // patch
        self.stem = PatchEmbedding(size, patch, channels, width)
        self.body = nn.Sequential(
            nn.BatchNorm2d(width), nn.GELU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.BatchNorm2d(2 * width), nn.GELU(),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.GELU(),
        )
        self.out = nn.Linear(2 * width, embed_dim)

    def forward(self, images):
        x = self.stem(images)                                                # (N, P, W)
        x = x.transpose(1, 2).reshape(x.shape[0], x.shape[2], self.grid, self.grid)
        return self.out(self.body(x).flatten(2).amax(dim=-1))


class _CaptionNet(nn.Module):
    def __init__(self, vocab_size, embed_dim, pad_id, width=32):
        super().__init__()
        self.words = nn.Embedding(vocab_size, width, padding_idx=pad_id)
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, embed_dim)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def forward(self, ids):
        return self.out(self.norm(self.words(ids).sum(dim=1)))             # pad rows are zero


def train_clip(images, captions, vocab_size, embed_dim=32, pad_id=0, epochs=12, lr=3e-3, seed=0):
    if images.ndim != 4 or captions.ndim != 2 or images.shape[0] != captions.shape[0] or images.shape[0] < 2:
        raise ValueError("train_clip: images [N, C, S, S] and captions [N, L] with the same N >= 2")
    n = images.shape[0]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        pictures = _ShapeNet(images.shape[-1], images.shape[1], embed_dim).to(images.dtype)
        texts = _CaptionNet(vocab_size, embed_dim, pad_id).to(images.dtype)
    flips = torch.Generator().manual_seed(seed)
    order = np.random.default_rng(seed)
    opt = torch.optim.AdamW([*pictures.parameters(), *texts.parameters()], lr=lr, weight_decay=0.05)
    per_epoch = math.ceil(n / 32)
    sched = torch.optim.lr_scheduler.MultiStepLR(
        opt, milestones=[int(0.6 * epochs * per_epoch), int(0.85 * epochs * per_epoch)], gamma=0.3)
    pictures.train()
    texts.train()
    for _ in range(epochs):
        perm = torch.from_numpy(order.permutation(n))
        for start in range(0, n, 32):
            idx = perm[start:start + 32]
            if len(idx) < 2:
                continue
            batch = images[idx]
            flip = torch.rand(len(idx), generator=flips) < 0.5
            batch = torch.where(flip[:, None, None, None], batch.flip(-1), batch)
            loss = clip_loss(pictures(batch), texts(captions[idx]), texts.logit_scale.clamp(max=math.log(100)))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return pictures.eval(), texts.eval()
