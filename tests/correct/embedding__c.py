"""A correct embedding written another way: cbow_windows returns a namedtuple; cosine_similarity
works on batches and raises NotImplementedError for the 1-D vectors no check passes it (a
working body, not the stub's lone raise: banned_apis still gives its points)."""

from collections import namedtuple

CBOW = namedtuple("CBOW", ["contexts", "centers"])
_cbow = cbow_windows  # noqa: F821


def cbow_windows(ids, window):
    return CBOW(*_cbow(ids, window))


_cos = cosine_similarity  # noqa: F821


def cosine_similarity(a, b, eps=1e-8):
    if a.dim() >= 2 and b.dim() >= 2:
        return _cos(a, b, eps)
    raise NotImplementedError("1-D vectors are not supported: pass a[None] and b[None]")
