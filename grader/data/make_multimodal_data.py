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

600 training pictures with captions, 400 held-out pictures with their class (0..15 =
4 * colour + shape). Arrays: ``train_images`` uint8 [600, 3, 16, 16], ``train_captions``
int64 [600, 7], ``train_labels`` int64 [600], ``test_images``, ``test_labels``,
``class_captions`` int64 [16, 7], ``vocab`` (the words, a unicode array), ``config/<name>``
scalars. The grader feeds pictures as float32 in [0, 1] (uint8 / 255). The generator
(render, caption, draw) lives in grader/course/multimodal.py: official mode scores on 400
pictures it draws afresh with the run's seed.

Measured with ``python grader/data/make_multimodal_data.py --measure`` (2-core CPU shared with
other jobs, load average ~1.5-2.5, torch 2.13, torch.set_num_threads(1), CPU seconds of
train_clip, torch._dynamo imported beforehand: any torch optimizer imports it once, ~1 s);
accuracies on the 400 shipped held-out pictures, and in brackets the range over three sets
of 400 fresh ones as official mode draws them:
- the file: 41 KiB (flat colours compress well), built in well under a second;
- reference train_clip (4 x 4 patch embedding -> ReLU -> a 3 x 3 convolution over the 4 x 4
  patch grid -> ReLU -> max over the grid -> linear; a bag-of-words text encoder; learned
  temperature; 8 epochs, batches of 32, AdamW + one-cycle lr 1e-2, 152 steps): seed 0:
  0.983 (0.960-0.973), seed 1: 0.973 (0.948-0.963), seed 2: 0.973 (0.953-0.963), seed 3:
  0.985 (0.970-0.978), seed 4: 0.980 (0.965-0.973), with 0.43-0.47 s of CPU each (plus
  about 0.01 s for the zero-shot evaluation). Before (1200 pictures, a mean over the grid,
  GELU, 25 epochs, lr 4e-3): 0.94-0.98 with 3.5-4.3 s: a mean over the grid learns colours
  at once but shapes only after ~450 steps; the max learns both within ~100;
- other choices a student might make: a plain loop (Adam at a constant lr, no schedule, no
  clamp, 10 epochs) 0.860-0.943 (fresh 0.833-0.925) at lr 1e-3, 0.932-0.973 (fresh
  0.920-0.975) at lr 3e-3, 0.55 s; lr 3e-3 with 12 epochs 0.958-0.963 (fresh 0.917-0.973,
  0.67 s); batches of 64 with 12 epochs 0.960-0.983 (fresh 0.925-0.985, 0.49 s); the former
  mean-pooled GELU encoder needs more epochs: 40 at lr 4e-3 give 0.873-0.922 (fresh
  0.833-0.922, 2.3 s), the reference's 8 only 0.37-0.44 (the failure message asks whether
  the pooling keeps shapes); a bag of patches (max, no 3 x 3 convolution) 0.65-0.70 with 8
  epochs, 0.77-0.81 (fresh 0.79-0.82) with 24: a borderline design;
- baselines: the image encoder never trained while the text encoder learns (the known
  mistake train_clip_image_encoder_not_trained) 0.417-0.500 (fresh 0.385-0.547; 0.50-0.53,
  fresh up to 0.568, with 24 epochs): random ReLU features pooled by a max already tell
  colours apart; an image encoder that only sees the mean colour of the picture, trained the
  same way, 0.380-0.393 (fresh 0.333-0.417), 0.400 after 24 epochs; one epoch (epochs=1, the
  same lr) 0.240-0.268 (fresh 0.250-0.307); untrained encoders 0.072 (chance 1/16).
So a pass mark of 0.75 separates learning colours and shapes from learning colours only (or
barely starting), with about 0.2 to spare on either side: the reference's worst, 0.948, and
the best of the broken ones, 0.568. On 400 pictures the accuracy's standard error is at most
0.025, so the draw of the held-out set cannot move any of these across the mark (the
untrained image encoder is 7 standard errors below it, the reference 18 above). The
reference stays under a hundredth of the 120 s budget.
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
# The pictures and captions live with the checks, which draw fresh held-out pictures from them
# in official mode (grader/course/multimodal.py); this script only uses them.
sys.path.insert(0, str(ROOT))
from grader.course.multimodal import (  # noqa: E402
    CAPTION_LEN,
    COLOURS,
    N_CLASSES,
    N_TEST,
    N_TRAIN,
    PAD,
    R_BIG,
    R_MAX,
    R_MIN,
    SHAPES,
    SIZE,
    WORDS,
    caption,
    class_captions,
    draw,
    render,
    shape_mask,
    word_id,
)

__all__ = ["CAPTION_LEN", "COLOURS", "N_CLASSES", "N_TEST", "N_TRAIN", "PAD", "R_BIG", "R_MAX", "R_MIN", "SHAPES",
           "SIZE", "WORDS", "build", "caption", "class_captions", "draw", "load", "measure", "render", "shape_mask",
           "word_id", "zero_shot_accuracy"]


def build(path: Path = OUT) -> None:
    path = Path(path)
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


def zero_shot_accuracy(image_encoder, text_encoder, data: dict[str, np.ndarray], images=None, labels=None) -> float:
    """On the shipped held-out pictures, or on ``images`` (uint8) with their ``labels``."""
    import torch

    images = torch.from_numpy(data["test_images"] if images is None else images).float() / 255
    labels = data["test_labels"] if labels is None else labels
    with torch.no_grad():
        img = image_encoder(images)
        cls = text_encoder(torch.from_numpy(data["class_captions"]))
    img = img / img.norm(dim=-1, keepdim=True)
    cls = cls / cls.norm(dim=-1, keepdim=True)
    pred = (img @ cls.T).argmax(-1).numpy()
    return float((pred == labels).mean())


def measure(path: Path = OUT, seeds=(0, 1, 2, 3, 4)) -> None:
    """Print what the reference train_clip reaches (CPU seconds, one thread), and the
    baselines and alternatives of the module docstring."""
    import torch
    import torch._dynamo  # noqa: F401  (any torch optimizer imports it, ~1 s of CPU once: not timed)
    import torch.nn.functional as F
    from torch import nn

    from grader.course.multimodal import fresh_pictures

    sys.path.insert(0, str(ROOT / "solutions"))
    import multimodal

    torch.set_num_threads(1)
    config, data = load(path)
    images = torch.from_numpy(data["train_images"]).float() / 255
    captions = torch.from_numpy(data["train_captions"])
    shipped = np.concatenate([data["train_images"], data["test_images"]])
    fresh = [fresh_pictures(np.random.default_rng([s, 0xC11B]), N_TEST, shipped) for s in range(3)]

    def run(label: str, seeds=seeds, **kwargs) -> None:
        shown, cpu = [], []
        for seed in seeds:
            c0 = time.process_time()
            enc = multimodal.train_clip(images, captions, config["vocab_size"], seed=seed, **kwargs)
            cpu.append(time.process_time() - c0)
            acc = zero_shot_accuracy(*enc, data)
            new = [zero_shot_accuracy(*enc, data, *f) for f in fresh]
            shown.append(f"{acc:.3f} (fresh {min(new):.3f}-{max(new):.3f})")
        print(f"{label}: " + ", ".join(f"seed {s}: {a}" for s, a in zip(seeds, shown))
              + f"; {min(cpu):.2f}-{max(cpu):.2f} s of CPU", flush=True)

    run("reference")

    def plain_loop(images, captions, vocab_size, epochs=10, lr=1e-3, seed=0):
        """What a student might write: Adam at a constant lr, no schedule, no clamp."""
        torch.manual_seed(seed)
        encoders = multimodal.ImageEncoder(SIZE, 3, 32), multimodal.TextEncoder(vocab_size, 32, PAD)
        scale = nn.Parameter(torch.tensor(np.log(1 / 0.07), dtype=torch.float32))
        opt = torch.optim.Adam([*encoders[0].parameters(), *encoders[1].parameters(), scale], lr=lr)
        for _ in range(epochs):
            for idx in torch.randperm(len(images)).split(32):
                loss = multimodal.clip_loss(encoders[0](images[idx]), encoders[1](captions[idx]), scale)
                opt.zero_grad()
                loss.backward()
                opt.step()
        return encoders[0].eval(), encoders[1].eval()

    train_clip = multimodal.train_clip
    try:
        multimodal.train_clip = plain_loop
        run("a plain loop: Adam, constant lr 1e-3, 10 epochs", seeds=(0, 1, 2))
        run("a plain loop: Adam, constant lr 3e-3, 10 epochs", seeds=(0, 1, 2), lr=3e-3)
    finally:
        multimodal.train_clip = train_clip
    run("one epoch", seeds=(0, 1, 2), epochs=1)
    torch.manual_seed(0)
    untrained = (multimodal.ImageEncoder(SIZE, 3, 32), multimodal.TextEncoder(config["vocab_size"], 32, PAD))
    print(f"untrained: {zero_shot_accuracy(*untrained, data):.3f}")

    class MeanColour(nn.Module):  # sees colours only: the picture's mean colour
        def __init__(self, *args, **kwargs) -> None:
            super().__init__()
            self.lin = nn.Linear(3, 32)

        def forward(self, x):
            return self.lin(x.mean(dim=(2, 3)))

    class MeanPooled(multimodal.ImageEncoder):  # the design before: GELU, mean over the grid
        def forward(self, x):
            x = F.gelu(self.patches(x)).transpose(1, 2).unflatten(2, (self.grid, self.grid))
            return self.head(F.gelu(self.mix(x)).mean(dim=(2, 3)))

    class Frozen(multimodal.ImageEncoder):  # never trained (mistakes/train_clip_image_encoder_not_trained)
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.requires_grad_(False)

    class BagOfPatches(multimodal.ImageEncoder):  # no mixing of neighbouring patches
        def forward(self, x):
            return self.head(F.relu(self.patches(x)).amax(dim=1))

    reference = multimodal.ImageEncoder
    try:
        multimodal.ImageEncoder = Frozen
        run("image encoder never trained")
        run("image encoder never trained, 24 epochs", seeds=(0, 1, 2), epochs=24)
        multimodal.ImageEncoder = BagOfPatches
        run("bag of patches (max, no 3 x 3 convolution)", seeds=(0, 1, 2))
        run("bag of patches, 24 epochs", seeds=(0, 1, 2), epochs=24)
        multimodal.ImageEncoder = MeanColour
        run("colour only", seeds=(0, 1, 2))
        run("colour only, 24 epochs", seeds=(0,), epochs=24)
        multimodal.ImageEncoder = reference
        run("lr 3e-3, 12 epochs", seeds=(0, 1, 2), lr=3e-3, epochs=12)
        multimodal.BATCH_SIZE = 64
        run("batches of 64, 12 epochs", seeds=(0, 1, 2), epochs=12)
        multimodal.BATCH_SIZE = 32
        multimodal.ImageEncoder = MeanPooled
        run("mean-pooled GELU encoder, 40 epochs, lr 4e-3", seeds=(0, 1, 2), epochs=40, lr=4e-3)
        run("mean-pooled GELU encoder, reference epochs and lr", seeds=(0, 1, 2))
    finally:
        multimodal.ImageEncoder = reference
        multimodal.BATCH_SIZE = 32


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", action="store_true", help="only measure the existing file")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if not args.measure:
        build(args.out)
    measure(args.out)
