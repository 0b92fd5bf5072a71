"""`multimodal`, a whole file written from scratch by a student in their own style.

What differs: ``__all__``, a ``print`` at import, a dataclass of training settings, no ``math``
(the scale goes through ``torch.as_tensor(...).exp()`` for floats and tensors alike);
PatchEmbedding holds an extra parameter-free ``nn.Flatten`` submodule and moves D last with
``permute`` + ``reshape``; clip_loss as ONE cross-entropy over the 2B rows of the logits stacked
on their transpose; zero_shot_classify with ``F.cosine_similarity`` broadcast to [N, C]; no
ImageEncoder / TextEncoder classes: train_clip builds the image encoder as an ``nn.Sequential``
(PatchEmbedding of 4-pixel patches, a grid-reshaping module, a 3x3 convolution, a global
max pool, a linear head) and the text encoder as its own small class (embeddings with
``padding_idx``, a sum over tokens divided by the count, a LayerNorm, a head); both encoders and the logit scale
live in one ``nn.Module`` (``_Clip``) trained with AdamW and a cosine schedule; batches of 32
with the last partial batch dropped; a debug ``print`` per run; an ``__main__`` self-test.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["BATCH_SIZE", "PatchEmbedding", "clip_loss", "train_clip", "zero_shot_classify"]

print("[multimodal] loaded")

BATCH_SIZE = 32


class PatchEmbedding(nn.Module):
    def __init__(self, image_size: int, patch_size: int, in_channels: int, d_model: int) -> None:
        super().__init__()
        if patch_size <= 0 or image_size <= 0 or image_size % patch_size != 0:
            raise ValueError(f"patch_size={patch_size} must divide image_size={image_size}")
        self.grid = image_size // patch_size
        self.num_patches = self.grid * self.grid
        self.proj = nn.Conv2d(in_channels, d_model, kernel_size=patch_size, stride=patch_size)
        self.flatten = nn.Flatten(1, 2)

    def forward(self, images: Tensor) -> Tensor:
        y = self.proj(images).permute(0, 2, 3, 1)          # (B, S/p, S/p, D): row, column, feature
        return self.flatten(y)                              # (B, N, D), row-major


def clip_loss(image_emb: Tensor, text_emb: Tensor, logit_scale: float | Tensor) -> Tensor:
    if image_emb.dim() != 2 or image_emb.shape != text_emb.shape:
        raise ValueError(f"need two [B, D] of one shape, got {tuple(image_emb.shape)} and {tuple(text_emb.shape)}")
    img = image_emb / image_emb.norm(dim=1, keepdim=True)
    txt = text_emb / text_emb.norm(dim=1, keepdim=True)
    scale = torch.as_tensor(logit_scale).exp()
    logits = scale * (txt @ img.t())
    n = logits.shape[0]
    target = torch.arange(n, device=logits.device)
    return F.cross_entropy(torch.cat([logits, logits.t()]), torch.cat([target, target]))


def zero_shot_classify(image_emb: Tensor, class_emb: Tensor) -> Tensor:
    return F.cosine_similarity(image_emb[:, None, :], class_emb[None, :, :], dim=-1).argmax(dim=-1)


class _ToGrid(nn.Module):
    def __init__(self, grid: int) -> None:
        super().__init__()
        self.grid = grid

    def forward(self, x: Tensor) -> Tensor:                 # (N, P, D) -> (N, D, g, g)
        return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], self.grid, self.grid)


def _image_encoder(size: int, channels: int, embed_dim: int, width: int = 64) -> nn.Sequential:
    patch = next(p for p in (4, 3, 2, 1) if size % p == 0)
    return nn.Sequential(
        PatchEmbedding(size, patch, channels, width),
        nn.ReLU(),
        _ToGrid(size // patch),
        nn.Conv2d(width, width, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveMaxPool2d(1),
        nn.Flatten(),
        nn.Linear(width, embed_dim),
    )


class _BagOfWords(nn.Module):
    def __init__(self, vocab_size: int, embed_dim: int, pad_id: int, width: int = 48) -> None:
        super().__init__()
        self.words = nn.Embedding(vocab_size, width, padding_idx=pad_id)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, embed_dim)

    def forward(self, ids: Tensor) -> Tensor:
        real = (ids != self.words.padding_idx).sum(dim=1, keepdim=True).clamp(min=1)
        return self.head(self.norm(self.words(ids).sum(dim=1) / real))


class _Clip(nn.Module):
    def __init__(self, image: nn.Module, text: nn.Module, init_scale: float = 2.6593) -> None:
        super().__init__()
        self.image, self.text = image, text
        self.logit_scale = nn.Parameter(torch.tensor(init_scale))

    def forward(self, images: Tensor, ids: Tensor) -> Tensor:
        return clip_loss(self.image(images), self.text(ids), self.logit_scale.clamp(max=4.6052))


@dataclasses.dataclass(frozen=True)
class _Settings:
    epochs: int = 8
    lr: float = 1e-2
    seed: int = 0
    weight_decay: float = 0.01


def train_clip(images: Tensor, captions: Tensor, vocab_size: int, embed_dim: int = 32, pad_id: int = 0,
               epochs: int = 8, lr: float = 1e-2, seed: int = 0) -> tuple[nn.Module, nn.Module]:
    cfg = _Settings(epochs=epochs, lr=lr, seed=seed)
    n, channels, size = images.shape[0], images.shape[1], images.shape[-1]
    if captions.shape[0] != n or n < 2:
        raise ValueError("need at least two (image, caption) pairs, as many captions as images")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        clip = _Clip(_image_encoder(size, channels, embed_dim), _BagOfWords(vocab_size, embed_dim, pad_id))
        clip = clip.to(images.dtype)
        per_epoch = max(1, n // BATCH_SIZE)
        opt = torch.optim.AdamW(clip.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * per_epoch)
        gen = torch.Generator().manual_seed(cfg.seed)
        clip.train()
        for _ in range(cfg.epochs):
            order = torch.randperm(n, generator=gen)
            for b in range(per_epoch):
                idx = order[b * BATCH_SIZE:(b + 1) * BATCH_SIZE]
                loss = clip(images[idx], captions[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
        print(f"[train_clip] last loss {loss.item():.3f}, temperature {clip.logit_scale.exp().item():.1f}")
    clip.eval()
    return clip.image, clip.text


if __name__ == "__main__":
    pe = PatchEmbedding(4, 2, 1, 3)
    print(pe(torch.arange(16.0).view(1, 1, 4, 4)).shape)
    print(clip_loss(torch.randn(4, 5), torch.randn(4, 5), 2.0), clip_loss(torch.randn(1, 5), torch.randn(1, 5), 2.0))
