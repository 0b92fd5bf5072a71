"""`multimodal` written another way: PatchEmbedding cuts the patches with ``F.unfold`` and
applies the convolution's weight as one einsum (the same W·patch + b, row-major);
clip_loss normalises with ``F.normalize``, builds the logits with einsum and writes both
cross-entropies as logsumexp minus the diagonal, in float64; zero_shot_classify normalises only
the classes (an image's length cannot change its argmax); train_clip has encoders of its own
(patches of 2 pixels, two convolutions on the patch grid, max and mean pooled together; a
bag-of-words text encoder with ``nn.EmbeddingBag``), Adam with cosine annealing, batches of
24 with the last partial batch dropped, the logit scale clamped in place after each step."""

import math

import torch
import torch.nn.functional as F
from torch import nn


class PatchEmbedding(nn.Module):
    def __init__(self, image_size, patch_size, in_channels, d_model):
        super().__init__()
        if patch_size <= 0 or image_size % patch_size:
            raise ValueError(f"patch_size {patch_size} does not divide image_size {image_size}")
        self.patch_size = patch_size
        self.num_patches = (image_size // patch_size) ** 2
        self.proj = nn.Conv2d(in_channels, d_model, kernel_size=patch_size, stride=patch_size)

    def forward(self, images):
        p = self.patch_size
        cols = F.unfold(images, kernel_size=p, stride=p)                  # (B, C·p·p, N), row-major
        weight = self.proj.weight.reshape(self.proj.out_channels, -1)     # (D, C·p·p)
        return torch.einsum("bkn,dk->bnd", cols, weight) + self.proj.bias


def clip_loss(image_emb, text_emb, logit_scale):
    if image_emb.dim() != 2 or image_emb.shape != text_emb.shape:
        raise ValueError(f"expected two [B, D] embeddings, got {tuple(image_emb.shape)} and {tuple(text_emb.shape)}")
    img = F.normalize(image_emb.double(), dim=1)
    txt = F.normalize(text_emb.double(), dim=1)
    scale = torch.as_tensor(logit_scale, dtype=torch.float64).exp()
    logits = scale * torch.einsum("id,jd->ij", txt, img)                  # caption i, picture j
    diag = logits.diagonal()
    per_caption = torch.logsumexp(logits, dim=1) - diag
    per_picture = torch.logsumexp(logits, dim=0) - diag
    return ((per_caption.mean() + per_picture.mean()) / 2).to(image_emb.dtype)


def zero_shot_classify(image_emb, class_emb):
    unit = class_emb / class_emb.norm(dim=1, keepdim=True)
    return torch.einsum("nd,cd->nc", image_emb, unit).argmax(dim=1)


class _Pictures(nn.Module):
    def __init__(self, size, channels, embed_dim, width=48):
        super().__init__()
        patch = 2 if size % 2 == 0 else 1
        self.grid = size // patch
        self.patches = PatchEmbedding(size, patch, channels, width)
        self.conv1 = nn.Conv2d(width, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, stride=2)
        self.out = nn.Linear(2 * width, embed_dim)

    def forward(self, images):
        x = F.gelu(self.patches(images))                                  # (N, P, W)
        x = x.permute(0, 2, 1).reshape(x.size(0), -1, self.grid, self.grid)
        x = F.gelu(self.conv2(F.gelu(self.conv1(x))))
        return self.out(torch.cat([x.amax(dim=(2, 3)), x.mean(dim=(2, 3))], dim=1))


class _Captions(nn.Module):
    def __init__(self, vocab_size, embed_dim, pad_id, width=48):
        super().__init__()
        self.pad_id = pad_id
        self.bag = nn.EmbeddingBag(vocab_size, width, mode="mean")
        self.out = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, embed_dim))

    def forward(self, ids):
        real = ids != self.pad_id
        flat = ids[real]
        counts = real.sum(dim=1)
        offsets = torch.cat([counts.new_zeros(1), counts.cumsum(0)[:-1]])
        return self.out(self.bag(flat, offsets))


def train_clip(images, captions, vocab_size, embed_dim=32, pad_id=0, epochs=20, lr=3e-3, seed=0):
    n = len(images)
    if images.dim() != 4 or captions.dim() != 2 or n != len(captions) or n < 2:
        raise ValueError("train_clip needs images [N, C, S, S] and captions [N, L] with the same N >= 2")
    batch_size = min(24, n)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        pictures = _Pictures(images.shape[-1], images.shape[1], embed_dim).to(images.dtype)
        texts = _Captions(vocab_size, embed_dim, pad_id).to(images.dtype)
        scale = nn.Parameter(torch.tensor(math.log(1 / 0.07), dtype=images.dtype))
        opt = torch.optim.Adam([*pictures.parameters(), *texts.parameters(), scale], lr=lr)
        per_epoch = n // batch_size
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * per_epoch)
        pictures.train()
        texts.train()
        for _ in range(epochs):
            order = torch.randperm(n)
            for b in range(per_epoch):
                idx = order[b * batch_size:(b + 1) * batch_size]
                loss = clip_loss(pictures(images[idx]), texts(captions[idx]), scale)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                with torch.no_grad():
                    scale.clamp_(max=math.log(100))
    return pictures.eval(), texts.eval()
