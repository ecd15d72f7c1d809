"""Pair torch state-dict entries with Flax parameter leaves, layer by layer (shapes only, no arrays).

A *layer* is a torch module with a ``weight`` (plus ``bias``) or a Flax module with a ``kernel``,
``scale`` or ``embedding`` (plus ``bias``); every other entry (e.g. ``log_std_parameter``) stands alone.
Each Flax leaf has a torch-layout *view*: ``kernel`` (..., in, out) is viewed as ``weight`` (out, in, ...),
``scale``/``embedding`` as ``weight``, and the path ``net_container/layers_0/kernel`` as the name
``net_container.0.weight`` (``nn.Sequential`` numbers its layers like ``torch.nn.Sequential``).

Pairing, in this order: explicit ``name_map`` leaves; layers and entries whose view names equal the torch
names (same attribute names on both sides, e.g. instantiated models); the rest in definition order,
torch by state-dict order and Flax by the natural order of the paths (``Dense_2`` before ``Dense_10``),
which is the definition order of Flax's automatic names. When two remaining Flax layers have the same
shapes and only explicit names order them (their alphabetical order need not be their definition
order), pairing stops with a ``ValueError`` asking for a ``name_map`` instead of guessing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Shape = tuple[int, ...]
Path = tuple[str, ...]

_LAYER_LEAVES = {"kernel": "weight", "scale": "weight", "embedding": "weight"}
_AUTO_NAME = re.compile(r"^([A-Za-z]+)_(\d+)$")
_SEQUENTIAL = re.compile(r"^layers_(\d+)$")


@dataclass(frozen=True)
class FlaxLeaf:
    """One Flax parameter leaf and its torch-layout view.

    Attributes:
        path: keys inside the ``"params"`` collection, e.g. ``("Dense_0", "kernel")``.
        shape: the Flax shape, e.g. ``(in, out)`` for a Dense kernel.
    """

    path: Path
    shape: Shape

    @property
    def is_kernel(self) -> bool:
        return self.path[-1] == "kernel" and len(self.shape) >= 2

    @property
    def torch_shape(self) -> Shape:
        """``(out, in, *spatial)`` for a kernel ``(*spatial, in, out)``; the Flax shape otherwise."""
        if self.is_kernel:
            return (self.shape[-1], self.shape[-2], *self.shape[:-2])
        return tuple(self.shape)

    @property
    def view_name(self) -> str:
        """The torch-style name, e.g. ``net_container.0.weight`` for ``net_container/layers_0/kernel``."""
        parents = [_SEQUENTIAL.sub(r"\1", segment) for segment in self.path[:-1]]
        return ".".join([*parents, _LAYER_LEAVES.get(self.path[-1], self.path[-1])])


def natural_key(path: Path) -> list[list[str | int]]:
    """Sort key ordering ``Dense_2`` before ``Dense_10`` (digit runs compare as numbers)."""
    return [[int(part) if part.isdigit() else part for part in re.split(r"(\d+)", segment)] for segment in path]


def flax_slash_path(path: Path) -> str:
    """``("Dense_0", "kernel")`` -> ``"Dense_0/kernel"`` (the form ``name_map`` keys take)."""
    return "/".join(path)


def pair_entries(
    torch_entries: Sequence[tuple[str, Shape]],
    flax_leaves: Sequence[FlaxLeaf],
    name_map: Mapping[str, str] | None = None,
) -> dict[str, Path]:
    """Pair every torch entry with exactly one Flax leaf (see the module docstring).

    Args:
        torch_entries: ``(name, shape)`` in state-dict (definition) order.
        flax_leaves: every leaf of the Flax ``"params"`` collection, in any order.
        name_map: Flax leaf path as ``"Dense_0/kernel"`` -> torch name, for pairs order cannot find.

    Returns:
        torch name -> Flax path.

    Raises:
        ValueError: a ``name_map`` entry names an unknown leaf/entry, the two sides have different numbers
            of layers or entries, a pair differs in shape (after the kernel transpose), or the order of
            same-shaped Flax layers is ambiguous; the message lists every problem.
    """
    torch_shapes = {name: tuple(shape) for name, shape in torch_entries}
    leaves = {flax_slash_path(leaf.path): leaf for leaf in flax_leaves}
    pairs: dict[str, Path] = {}
    problems: list[str] = []
    for key, torch_name in (name_map or {}).items():
        leaf = leaves.pop(key, None)
        if leaf is None or torch_name not in torch_shapes:
            problems.append(
                f"name_map {key!r} -> {torch_name!r}: "
                + ("unknown Flax leaf" if leaf is None else "unknown torch entry")
            )
            continue
        shape = torch_shapes.pop(torch_name)
        if shape != leaf.torch_shape:
            problems.append(f"name_map {key!r} -> {torch_name!r}: torch {list(shape)} vs Flax {list(leaf.shape)}")
        pairs[torch_name] = leaf.path
    torch_groups = _torch_groups(torch_shapes)
    flax_groups = _flax_groups(leaves.values())
    for key in [k for k in torch_groups if k in flax_groups]:  # same names on both sides
        if _signature(torch_groups[key]) == _signature(flax_groups[key]):
            _pair_group(torch_groups.pop(key), flax_groups.pop(key), pairs)
    for layers in (True, False):
        torch_rest = [(key, group) for key, group in torch_groups.items() if _is_layer(group) == layers]
        flax_rest = sorted(
            ((key, group) for key, group in flax_groups.items() if _is_layer(group) == layers),
            key=lambda item: natural_key(_group_path(item[1])),
        )
        what = "layers" if layers else "other entries"
        if len(torch_rest) != len(flax_rest):
            problems.append(
                f"{what}: torch has {len(torch_rest)} {[k for k, _ in torch_rest]}, "
                f"Flax has {len(flax_rest)} {[flax_slash_path(_group_path(g)) for _, g in flax_rest]}"
            )
            continue
        problems += _order_ambiguities(flax_rest)
        for (torch_key, torch_group), (_, flax_group) in zip(torch_rest, flax_rest, strict=True):
            if _signature(torch_group) != _signature(flax_group):
                problems.append(
                    f"{torch_key} {_describe(torch_group)} vs {flax_slash_path(_group_path(flax_group))} "
                    f"{_describe(flax_group, flax=True)}"
                )
            else:
                _pair_group(torch_group, flax_group, pairs)
    if problems:
        raise ValueError("cannot pair the torch entries with the Flax parameters: " + "; ".join(problems))
    return pairs


# a group: torch leaf name ("weight", "bias"; "" for a stand-alone entry) -> (torch name or Flax leaf, torch shape)
Group = dict[str, tuple[Any, Shape]]


def _torch_groups(shapes: Mapping[str, Shape]) -> dict[str, Group]:
    prefixes = {name.rpartition(".")[0] for name in shapes if name.endswith(".weight")}
    groups: dict[str, Group] = {}
    for name, shape in shapes.items():
        prefix, _, leaf = name.rpartition(".")
        if prefix in prefixes and leaf in ("weight", "bias"):
            groups.setdefault(prefix, {})[leaf] = (name, shape)
        else:
            groups[name] = {"": (name, shape)}
    return groups


def _flax_groups(leaves: Iterable[FlaxLeaf]) -> dict[str, Group]:
    leaves = list(leaves)
    parents = {leaf.path[:-1] for leaf in leaves if leaf.path[-1] in _LAYER_LEAVES}
    groups: dict[str, Group] = {}
    for leaf in leaves:
        torch_leaf = _LAYER_LEAVES.get(leaf.path[-1], leaf.path[-1])
        if leaf.path[:-1] in parents and torch_leaf in ("weight", "bias"):
            groups.setdefault(leaf.view_name.rpartition(".")[0], {})[torch_leaf] = (leaf, leaf.torch_shape)
        else:
            groups[leaf.view_name] = {"": (leaf, leaf.torch_shape)}
    return groups


def _is_layer(group: Group) -> bool:
    return "" not in group


def _signature(group: Group) -> frozenset[tuple[str, Shape]]:
    return frozenset((leaf, tuple(shape)) for leaf, (_, shape) in group.items())


def _group_path(group: Group) -> Path:
    leaf = next(iter(group.values()))[0]
    return leaf.path if "" in group else leaf.path[:-1]


def _pair_group(torch_group: Group, flax_group: Group, pairs: dict[str, Path]) -> None:
    for leaf, (torch_name, _) in torch_group.items():
        pairs[torch_name] = flax_group[leaf][0].path


def _describe(group: Group, flax: bool = False) -> str:
    if flax:
        return "(" + ", ".join(f"{e.path[-1]} {list(e.shape)}" for e, _ in group.values()) + ")"
    return "(" + ", ".join(f"{leaf or 'tensor'} {list(shape)}" for leaf, (_, shape) in group.items()) + ")"


def _order_ambiguities(groups: list[tuple[str, Group]]) -> list[str]:
    """Same-shaped Flax groups whose relative order comes from explicit names (not ``Dense_3`` vs ``Dense_7``)."""
    problems = []
    for i, (_, first) in enumerate(groups):
        for _, second in groups[i + 1 :]:
            if _signature(first) != _signature(second):
                continue
            a, b = _group_path(first), _group_path(second)
            segment = next(((x, y) for x, y in zip(a, b, strict=False) if x != y), None)
            auto = segment and [_AUTO_NAME.match(s) for s in segment]
            if not (auto and auto[0] and auto[1] and auto[0].group(1) == auto[1].group(1)):
                problems.append(
                    f"Flax layers {flax_slash_path(a)!r} and {flax_slash_path(b)!r} have the same shapes and explicit "
                    "names, so their definition order is unknown: give them in name_map "
                    "(e.g. {'" + flax_slash_path(a) + "/kernel': '<torch name>.weight', ...})"
                )
    return problems
