"""A student's helper module for lora: walk a model and find the linear layers to wrap."""

from __future__ import annotations

from torch import nn


def find_linear_children(module: nn.Module, names: set[str], seen: set[int] | None = None):
    """Depth-first list of (parent, attribute name) for every nn.Linear child whose name is in
    ``names``; each module is visited once even when it appears twice in the tree."""
    seen = set() if seen is None else seen
    if id(module) in seen:
        return []
    seen.add(id(module))
    found = []
    for name, child in list(module._modules.items()):
        if child is None:
            continue
        if isinstance(child, nn.Linear) and name in names:
            found.append((module, name))
        else:
            found.extend(find_linear_children(child, names, seen))
    return found
