"""Build grader/data/multimodal.npz: the captioned pictures of the `multimodal` exercise.

Each picture is 3 x 16 x 16 (RGB, uint8): one filled shape (circle, square, triangle or
cross) of one colour (red, green, blue or yellow; brightness 0.7-1.0) on a dark grey
background (0-0.25), with a random size (radius 4.5-7 pixels) and position (the shape stays
inside the picture). 16 classes = 4 colours x 4 shapes, drawn uniformly.

Each picture has a caption of 3 to 7 words from a 15-word vocabulary (id 0 is padding),
right-padded to 7 ids, from one of four templates: "a {colour} {shape}", "a {size}
{colour} {shape}", "the {colour} {shape}", "a picture of a {size} {colour} {shape}", where
the size word is "small" below radius 5.75 and "big" above. Zero-shot classification uses
one caption per class, "a {colour} {shape}", and the text encoder's embeddings of them.

1200 training pictures with captions, 400 held-out pictures with their class (0..15 =
4 * colour + shape). Arrays: ``train_images`` uint8 [1200, 3, 16, 16], ``train_captions``
int64 [1200, 7], ``train_labels`` int64 [1200], ``test_images``, ``test_labels``,
``class_captions`` int64 [16, 7], ``vocab`` (the words, a unicode array), ``config/<name>``
scalars. The grader feeds pictures as float32 in [0, 1] (uint8 / 255).

Measured with ``python grader/data/make_multimodal_data.py --measure`` (2-core CPU shared with
other jobs, load average ~8, torch 2.13, torch.set_num_threads(1)):
- the file: 65 KiB (flat colours compress well), built in about a second;
- reference train_clip (4 x 4 patch embedding -> a 3 x 3 convolution over the 4 x 4 patch
  grid -> mean -> linear; a bag-of-words text encoder; learned temperature; 25 epochs,
  batches of 32, AdamW + one-cycle lr 4e-3), zero-shot accuracy on the 400 held-out
  pictures: seed 0: 0.970, seed 1: 0.938, seed 2: 0.980, each with 3-5 s of CPU (9-13 s of
  wall time on the loaded machine). Other choices a student might make: a small ViT
  (positions + one EncoderBlock, batches of 64, 30 epochs) 0.87-0.90; patch vectors pooled
  without mixing neighbours (a bag of patches) 0.58-0.76, a borderline design;
- baselines: untrained encoders 0.058 (chance 1/16); an image encoder that only sees the
  mean colour of the picture, trained the same way, 0.378.
So a pass mark of 0.60 separates learning colours and shapes from learning colours only,
and the reference stays far under a quarter of the 120 s budget.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent / "multimodal.npz"

SEED = 20240620
SIZE = 16
COLOURS = {"red": (1.0, 0.0, 0.0), "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0),
           "yellow": (1.0, 1.0, 0.0)}
SHAPES = ("circle", "square", "triangle", "cross")
R_MIN, R_MAX, R_BIG = 4.5, 7.0, 5.75
WORDS = ("<pad>", "a", "the", "small", "big", "picture", "of", *COLOURS, *SHAPES)
PAD = 0
CAPTION_LEN = 7
N_TRAIN, N_TEST = 1200, 400
N_CLASSES = len(COLOURS) * len(SHAPES)


def word_id(w: str) -> int:
    return WORDS.index(w)


def class_of(colour: str, shape: str) -> int:
    return list(COLOURS).index(colour) * len(SHAPES) + SHAPES.index(shape)


def shape_mask(shape: str, r: float, cy: float, cx: float) -> np.ndarray:
    """Bool [SIZE, SIZE]: the pixels (centres at +0.5) inside the shape."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] + 0.5
    dy, dx = yy - cy, xx - cx
    if shape == "circle":
        return dy ** 2 + dx ** 2 <= r ** 2
    if shape == "square":
        return (np.abs(dy) <= 0.85 * r) & (np.abs(dx) <= 0.85 * r)
    if shape == "triangle":                     # apex up
        return (dy >= -r) & (dy <= 0.8 * r) & (np.abs(dx) <= 0.6 * (dy + r))
    w = 0.35 * r                                # cross
    return ((np.abs(dy) <= w) & (np.abs(dx) <= r)) | ((np.abs(dx) <= w) & (np.abs(dy) <= r))


def render(rng: np.random.Generator, colour: str, shape: str) -> tuple[np.ndarray, float]:
    """One picture, uint8 [3, SIZE, SIZE], and the shape's radius."""
    r = float(rng.uniform(R_MIN, R_MAX))
    cy, cx = rng.uniform(r, SIZE - r, size=2)
    img = np.full((3, SIZE, SIZE), rng.uniform(0.0, 0.25))
    m = shape_mask(shape, r, cy, cx)
    shade = rng.uniform(0.7, 1.0)
    for c, v in enumerate(COLOURS[colour]):
        img[c][m] = v * shade
    return (img * 255).round().astype(np.uint8), r


def caption(rng: np.random.Generator, colour: str, shape: str, r: float) -> list[int]:
    size = "small" if r < R_BIG else "big"
    templates = (["a", colour, shape], ["a", size, colour, shape], ["the", colour, shape],
                 ["a", "picture", "of", "a", size, colour, shape])
    words = templates[int(rng.integers(len(templates)))]
    ids = [word_id(w) for w in words]
    return ids + [PAD] * (CAPTION_LEN - len(ids))


def draw(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    images, captions, labels = [], [], []
    for _ in range(n):
        k = int(rng.integers(N_CLASSES))
        colour, shape = list(COLOURS)[k // len(SHAPES)], SHAPES[k % len(SHAPES)]
        img, r = render(rng, colour, shape)
        images.append(img)
        captions.append(caption(rng, colour, shape, r))
        labels.append(k)
    return np.stack(images), np.array(captions, dtype=np.int64), np.array(labels, dtype=np.int64)


def class_captions() -> np.ndarray:
    rows = []
    for colour in COLOURS:
        for shape in SHAPES:
            ids = [word_id("a"), word_id(colour), word_id(shape)]
            rows.append(ids + [PAD] * (CAPTION_LEN - len(ids)))
    return np.array(rows, dtype=np.int64)


def build(path: Path = OUT) -> None:
    rng = np.random.default_rng(SEED)
    train = draw(rng, N_TRAIN)
    test_images, _, test_labels = draw(rng, N_TEST)
    arrays = {"train_images": train[0], "train_captions": train[1], "train_labels": train[2],
              "test_images": test_images, "test_labels": test_labels,
              "class_captions": class_captions(), "vocab": np.array(WORDS)}
    config = dict(vocab_size=len(WORDS), pad_id=PAD, image_size=SIZE, channels=3, num_classes=N_CLASSES,
                  seed=SEED)
    arrays.update({f"config/{k}": np.array(v, dtype=np.int64) for k, v in config.items()})
    np.savez_compressed(path, **arrays)
    print(f"wrote {path} ({path.stat().st_size / 1024:.1f} KiB)")


def load(path: Path = OUT) -> tuple[dict[str, int], dict[str, np.ndarray]]:
    """(config, arrays), read without pickle; pictures stay uint8."""
    with np.load(path, allow_pickle=False) as f:
        config = {k[len("config/"):]: int(f[k]) for k in f.files if k.startswith("config/")}
        data = {k: f[k] for k in f.files if "/" not in k}
    return config, data


def zero_shot_accuracy(image_encoder, text_encoder, data: dict[str, np.ndarray]) -> float:
    import torch

    images = torch.from_numpy(data["test_images"]).float() / 255
    with torch.no_grad():
        img = image_encoder(images)
        cls = text_encoder(torch.from_numpy(data["class_captions"]))
    img = img / img.norm(dim=-1, keepdim=True)
    cls = cls / cls.norm(dim=-1, keepdim=True)
    pred = (img @ cls.T).argmax(-1).numpy()
    return float((pred == data["test_labels"]).mean())


def measure(path: Path = OUT, seeds=(0, 1, 2)) -> None:
    """Print what the reference train_clip reaches, and the baselines it must beat."""
    import torch
    from torch import nn

    sys.path.insert(0, str(ROOT / "solutions"))
    import multimodal

    torch.set_num_threads(1)
    config, data = load(path)
    images = torch.from_numpy(data["train_images"]).float() / 255
    captions = torch.from_numpy(data["train_captions"])
    for seed in seeds:
        t0, c0 = time.perf_counter(), time.process_time()
        enc = multimodal.train_clip(images, captions, config["vocab_size"], seed=seed)
        print(f"seed {seed}: reference zero-shot accuracy {zero_shot_accuracy(*enc, data):.3f} "
              f"in {time.perf_counter() - t0:.1f} s ({time.process_time() - c0:.1f} s of CPU)")
    torch.manual_seed(0)
    untrained = (multimodal.ImageEncoder(SIZE, 3, 32), multimodal.TextEncoder(config["vocab_size"], 32, PAD))
    print(f"untrained: {zero_shot_accuracy(*untrained, data):.3f}")

    class MeanColour(nn.Module):  # sees colours only: the picture's mean colour
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(3, 32)

        def forward(self, x):
            return self.lin(x.mean(dim=(2, 3)))

    image_encoder = multimodal.ImageEncoder
    multimodal.ImageEncoder = lambda *a, **k: MeanColour()
    colour_only = multimodal.train_clip(images, captions, config["vocab_size"])
    print(f"colour only, seed 0: {zero_shot_accuracy(*colour_only, data):.3f}")
    multimodal.ImageEncoder = image_encoder


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", action="store_true", help="only measure the existing file")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if not args.measure:
        build(args.out)
    measure(args.out)
