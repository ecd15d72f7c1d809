"""``migrate``'s all-or-nothing matching of a model's entries to an external state dict, by name map, name and shape.

The matching works on names and shapes only (:func:`plan_migration`), so torch models use it on their
state dict and JAX models on a torch-layout view of their Flax parameters. For every current entry, in state-dict order:

1. *mapped* (``name in name_map``): the external entry ``name_map[name]`` if it exists with the same
   shape (``map:``); ``""``/``None`` skips the entry on purpose (``skip:``, not missing);
2. *auto* (``auto_mapping`` and ``name not in name_map``): an external entry with the same name and shape
   is the only candidate; otherwise every external entry of the same shape and kind (``weight`` for
   names ending in ``.weight``, ``bias`` for ``.bias``, ``other``) is one (``auto:``).

Then ``Ambiguous match`` (several candidates), ``Missing match`` (none) and ``Multiple use`` (one external
entry claimed by several names) warnings. The migration succeeds iff none was raised; only then is
anything loaded (a failed migration leaves the model unchanged; skrl loads the last candidate).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from mixrl._logging import logger

Shape = tuple[int, ...]
Kind = Literal["weight", "bias", "other"]


def entry_kind(name: str) -> Kind:
    """``"weight"`` (name ends in ``.weight``), ``"bias"`` (ends in ``.bias``) or ``"other"``."""
    if name.endswith(".weight"):
        return "weight"
    if name.endswith(".bias"):
        return "bias"
    return "other"


@dataclass
class MigrationPlan:
    """Outcome of :func:`plan_migration`.

    Attributes:
        matches: current name -> external name, for the entries to copy (unique candidates only).
        skipped: current names skipped on purpose (``name_map`` value ``""`` or ``None``).
        ambiguous: current name -> every candidate, for entries with more than one.
        missing: current name -> reason (``""`` when no external entry fits).
        multiple: external name -> the current names that claim it (as match or candidate).
        lines: the ``map:``/``auto:``/``skip:`` lines of the verbose listing, in scan order.
        warnings: every warning, in the order they are logged.
    """

    matches: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    ambiguous: dict[str, list[str]] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    multiple: dict[str, list[str]] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every current entry matched exactly once (or skipped) and no external entry used twice."""
        return not (self.ambiguous or self.missing or self.multiple)


def plan_migration(
    current: Mapping[str, Shape],
    source: Mapping[str, Shape],
    name_map: Mapping[str, str | None] = {},
    auto_mapping: bool = True,
) -> MigrationPlan:
    """Match every ``current`` entry to ``source`` entries (see the module docstring); nothing is copied.

    Args:
        current: the model's entries, name -> shape, in state-dict order.
        source: the external entries, name -> shape.
        name_map: current name -> external name; ``""``/``None`` skips the entry.
        auto_mapping: look for candidates of the same shape and kind for entries not in ``name_map``.

    Returns:
        the plan; ``plan.ok`` tells whether the migration may be applied.
    """
    plan = MigrationPlan()
    used: dict[str, list[str]] = {}
    for key in name_map:
        if key not in current:
            plan.warnings.append(f"name_map entry {key!r} is not an entry of the model (ignored)")
    for name, shape in current.items():
        if name in name_map:
            external = name_map[name]
            if external is None or external == "":
                plan.skipped.append(name)
                plan.lines.append(f"skip: {name}")
            elif external not in source:
                plan.missing[name] = f"name_map gives {external!r}, which is not in the source"
            elif tuple(source[external]) != tuple(shape):
                plan.warnings.append(
                    f"Shape mismatch for {name} <- {external} : {list(shape)} != {list(source[external])}"
                )
                plan.missing[name] = f"name_map gives {external!r} of another shape"
            else:
                plan.matches[name] = external
                plan.lines.append(f"map:  {name} <- {external}")
                used.setdefault(external, []).append(name)
            continue
        if not auto_mapping:
            plan.missing[name] = "not in name_map (auto_mapping=False)"
            continue
        if name in source and tuple(source[name]) == tuple(shape):
            candidates = [name]
        else:
            kind = entry_kind(name)
            candidates = [
                other for other, s in source.items() if tuple(s) == tuple(shape) and entry_kind(other) == kind
            ]
        for candidate in candidates:
            plan.lines.append(f"auto: {name} <- {candidate}")
            used.setdefault(candidate, []).append(name)
        if len(candidates) == 1:
            plan.matches[name] = candidates[0]
        elif candidates:
            plan.ambiguous[name] = candidates
        else:
            plan.missing[name] = ""
    plan.multiple = {external: names for external, names in used.items() if len(names) > 1}
    plan.warnings += [f"Ambiguous match for {name} <- [{', '.join(c)}]" for name, c in plan.ambiguous.items()]
    plan.warnings += [f"Missing match for {name}" + (f": {why}" if why else "") for name, why in plan.missing.items()]
    plan.warnings += [f"Multiple use of {external} -> [{', '.join(n)}]" for external, n in plan.multiple.items()]
    return plan


def log_listing(current: Mapping[str, Shape], source: Mapping[str, Shape]) -> None:
    """The verbose ``Models`` listing: every current and source entry with its shape."""
    logger.info("Models")
    for title, entries in (("current", current), ("source", source)):
        logger.info(f"  |-- {title}: {len(entries)} items")
        for name, shape in entries.items():
            logger.info(f"  |    |-- {name} : {list(shape)}")


def log_plan(plan: MigrationPlan, verbose: bool, dry_run: bool = False) -> None:
    """The ``Migration`` lines (verbose only), every warning, and what was (not) loaded."""
    if verbose:
        logger.info("Migration")
        for line in plan.lines:
            logger.info(f"  |-- {line}")
    for warning in plan.warnings:
        logger.warning(warning)
    if not plan.ok:
        logger.warning(
            "Migration failed: nothing was loaded, the model is unchanged (resolve the warnings with name_map; "
            "a name_map value of '' skips an entry on purpose)"
        )
    elif dry_run:
        logger.info(f"Migration dry run: {len(plan.matches)} entries would be loaded, {len(plan.skipped)} skipped")


def check_sources(state_dict: Any, path: Any) -> None:
    """Exactly one of ``state_dict`` / ``path``.

    Raises:
        ValueError: both or neither given.
    """
    if state_dict is not None and path is not None:
        raise ValueError("migrate takes exactly one of state_dict or path, got both")
    if state_dict is None and path is None:
        raise ValueError("migrate takes exactly one of state_dict or path, got neither")


__all__ = ["MigrationPlan", "check_sources", "entry_kind", "log_listing", "log_plan", "plan_migration"]
