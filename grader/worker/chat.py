"""``grade chat``'s session, on the student side of the trust boundary.

The trusted side (``grader/chat.py``) creates one ``Session`` in a sandboxed worker with a
``call`` request naming ``{"worker": "chat", "attr": "Session"}`` and keeps it as a stored
object. Everything the session runs is the student's own code, already imported by ``load``
requests (so ``sys.modules`` holds it):

1. ``tokenizer.train_bpe`` on the shipped corpus and the instruction set, ``bpe_encode``;
2. ``pretrain.pretrain_minigpt`` on the encoded text (in a thread: the trusted side reads
   ``status`` meanwhile, a property, so no request reseeds torch during training);
3. instruction tuning with ``alignment.build_sft_example``, ``collate`` and
   ``sequence_logprob`` and the student's ``AdamW``, ``cosine_lr`` and ``clip_grad_norm``;
4. per reply ``alignment.format_chat``, ``generation.generate_cached`` and
   ``generation.stream_decode``; the trusted side pulls the pieces with ``next_piece``.

Nothing here is trusted by the other side: it sends plain data only, and the trusted side
checks and sanitises all of it. This module imports only the worker side of the grader.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

import torch

from grader.worker.loader import SubmissionLoader

SPECIALS = ["<|endoftext|>", "<|sep|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
IGNORE = -100
MAX_PIECES = 512


class ChatError(RuntimeError):
    """A student function returned something the pipeline cannot use."""


def _module(name: str) -> Any:
    module = sys.modules.get(name)
    if module is None:
        raise ImportError(f"{name}.py was not loaded")
    return module


class Session:
    def __init__(self, corpus: str, pairs: list, config: dict) -> None:
        self.corpus = str(corpus)
        self.pairs = [(str(p), str(r)) for p, r in pairs]
        self.config = dict(config)
        self.stages = {"tokenizer": [0, 1], "pretrain": [0, int(config["pretrain_steps"])],
                       "sft": [0, int(config["sft_steps"])]}
        self.where = ["tokenizer", "train_bpe"]  # the exercise and function running now
        self.error: dict | None = None
        self.finished = False
        self.info: dict[str, Any] = {}
        self.model: Any = None
        self._pieces: Any = None
        self._thread: threading.Thread | None = None
        root = Path(getattr(_module("tokenizer"), "__file__", "") or ".").resolve().parent
        self._describer = SubmissionLoader(str(root))

    # -- training, in a thread --

    def start(self) -> None:
        self._thread = threading.Thread(target=self._train, daemon=True)
        self._thread.start()

    @property
    def status(self) -> dict:
        return {"stages": {k: list(v) for k, v in self.stages.items()}, "where": list(self.where),
                "error": self.error, "finished": self.finished, "info": dict(self.info)}

    def _train(self) -> None:
        try:
            torch.manual_seed(int(self.config["seed"]))
            self._tokenizer()
            self._pretrain()
            self._sft()
        except BaseException as exc:  # noqa: BLE001 - student code may raise anything
            self.error = self._describer.describe(exc)
        self.finished = True

    def _tokenizer(self) -> None:
        tok = _module("tokenizer")
        chats = [self._chat_text(p, r) for p, r in self.pairs]
        text = self.corpus + "<|endoftext|>" + "<|endoftext|>".join(chats)
        t0 = time.monotonic()
        self.where = ["tokenizer", "train_bpe"]
        result = tok.train_bpe(text, 256 + len(SPECIALS) + int(self.config["merges"]), list(SPECIALS))
        if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], dict)):
            raise ChatError("train_bpe must return (vocab: dict[int, bytes], merges: list)")
        self.vocab, self.merges = result
        self.special_ids = {}
        for i, s in enumerate(SPECIALS):
            if self.vocab.get(256 + i) != s.encode():
                raise ChatError(f"train_bpe: the special token {s!r} should have id {256 + i}")
            self.special_ids[s] = 256 + i
        self.where = ["tokenizer", "bpe_encode"]
        ids = self.encode(self.corpus)
        for _ in range(int(self.config.get("chat_repeats", 2))):
            for chat in chats:
                ids += self.encode(chat) + [self.special_ids["<|endoftext|>"]]
        self.stream = torch.tensor(ids, dtype=torch.long)
        self.info["vocab_size"] = len(self.vocab)
        self.info["tokens"] = len(ids)
        self.info["tokenizer_seconds"] = round(time.monotonic() - t0, 2)
        self.stages["tokenizer"][0] = 1

    def encode(self, text: str) -> list[int]:
        ids = _module("tokenizer").bpe_encode(text, self.vocab, self.merges, list(SPECIALS))
        ids = [int(i) for i in ids]
        if any(not 0 <= i < len(self.vocab) for i in ids):
            raise ChatError("bpe_encode returned an id outside the vocabulary")
        return ids

    def _chat_text(self, prompt: str, response: str) -> str:
        return (f"<|user|>\n{prompt}<|end|>\n<|assistant|>\n{response}<|end|>\n")

    def _pretrain(self) -> None:
        pre = _module("pretrain")
        cfg = self.config
        total = self.stages["pretrain"]

        def count(module: Any, _args: Any) -> None:
            if module.training and type(module).__name__ == "MiniGPT":
                total[0] = min(total[0] + 1, total[1])

        self.where = ["pretrain", "pretrain_minigpt"]
        t0 = time.monotonic()
        hook = torch.nn.modules.module.register_module_forward_pre_hook(count)
        try:
            model = pre.pretrain_minigpt(self.stream, len(self.vocab), max_len=int(cfg["max_len"]),
                                         d_model=int(cfg["d_model"]), n_heads=int(cfg["n_heads"]),
                                         n_layers=int(cfg["n_layers"]), steps=total[1],
                                         seed=int(cfg["seed"]))
        finally:
            hook.remove()
        if not isinstance(model, torch.nn.Module):
            raise ChatError("pretrain_minigpt must return the trained MiniGPT")
        total[0] = total[1]
        self.model = model
        self.info["pretrain_seconds"] = round(time.monotonic() - t0, 2)

    def _sft(self) -> None:
        pre, align = _module("pretrain"), _module("alignment")
        cfg = self.config
        steps = self.stages["sft"]
        t0 = time.monotonic()
        self.where = ["alignment", "build_sft_example"]
        examples = []
        for p, r in self.pairs:
            messages = [{"role": "user", "content": p}, {"role": "assistant", "content": r}]
            ids, labels = align.build_sft_example(messages, self.encode)
            if len(ids) <= int(cfg["max_len"]):
                examples.append((ids, labels))
        if not examples:
            raise ChatError("build_sft_example: no conversation fits the model's max_len")
        pad = self.special_ids["<|endoftext|>"]
        model = self.model
        lr, batch = float(cfg["sft_lr"]), int(cfg["batch_size"])
        self.where = ["pretrain", "AdamW"]
        opt = pre.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
        gen = torch.Generator().manual_seed(int(cfg["seed"]))
        warmup = min(20, steps[1])
        model.train()
        loss_value = float("nan")
        for step in range(steps[1]):
            self.where = ["pretrain", "cosine_lr"]
            rate = pre.cosine_lr(step, lr, lr / 10, warmup, steps[1])
            for param_group in opt.param_groups:
                param_group["lr"] = rate
            model.zero_grad(set_to_none=True)
            pick = torch.randint(len(examples), (batch,), generator=gen).tolist()
            self.where = ["alignment", "collate"]
            ids, labels, _ = align.collate([examples[i] for i in pick], pad)
            self.where = ["alignment", "sequence_logprob"]
            logp = align.sequence_logprob(model(ids), ids, labels)               # (B,)
            loss = -logp.sum() / (labels[:, 1:] != IGNORE).sum().clamp(min=1)  # per answer token
            self.where = ["pretrain", "AdamW"]
            loss.backward()
            pre.clip_grad_norm(model.parameters(), 1.0)
            opt.step()
            loss_value = float(loss.detach())
            steps[0] = step + 1
        model.eval()
        self.info["sft_loss"] = round(loss_value, 3)
        self.info["sft_seconds"] = round(time.monotonic() - t0, 2)

    # -- replies --

    def reply(self, text: str, seed: int = 0) -> int:
        """Generate the reply to one user message; return its length in tokens. The text
        then comes piece by piece from ``next_piece``."""
        if not self.finished or self.error is not None or self.model is None:
            raise ChatError("the model is not trained")
        cfg = self.config
        align, gen = _module("alignment"), _module("generation")
        max_len = int(cfg["max_len"])
        budget = max_len - int(cfg["min_reply_tokens"])
        content = str(text)
        while True:
            self.where = ["alignment", "format_chat"]
            prompt = align.format_chat([{"role": "user", "content": content}], add_generation_prompt=True)
            self.where = ["tokenizer", "bpe_encode"]
            ids = self.encode(prompt)
            if len(ids) <= budget or not content:
                break
            content = content[max(1, len(content) // 4):]  # too long for the model: keep the end
        ids = ids[-budget:]
        end = self.special_ids["<|end|>"]
        self.where = ["generation", "generate_cached"]
        out = gen.generate_cached(
            self.model, torch.tensor([ids], dtype=torch.long),
            min(int(cfg["max_new_tokens"]), max_len - len(ids)),
            temperature=float(cfg["temperature"]), top_k=cfg.get("top_k"), top_p=cfg.get("top_p"),
            eos_id=end, generator=torch.Generator().manual_seed(int(seed)))
        if not isinstance(out, torch.Tensor) or out.dim() != 2:
            raise ChatError("generate_cached must return Long[B, L0 + n]")
        new = [int(i) for i in out[0, len(ids):].tolist()]
        if end in new:
            new = new[: new.index(end)]
        new = [i for i in new if i not in self.special_ids.values()]
        self.where = ["generation", "stream_decode"]
        self._pieces = iter(gen.stream_decode(new, self.vocab))
        self._left = MAX_PIECES
        return len(new)

    def next_piece(self) -> str | None:
        """The next piece of the reply's text, or None at its end."""
        if self._pieces is None or self._left <= 0:
            return None
        self.where = ["generation", "stream_decode"]
        piece = next(self._pieces, None)
        if piece is None:
            self._pieces = None
            return None
        if not isinstance(piece, str):
            raise ChatError(f"stream_decode yielded a {type(piece).__name__}, not a str")
        self._left -= 1
        return piece[:1000]
