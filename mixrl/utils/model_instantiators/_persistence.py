"""What every generated model adds to the backend's ``Model`` (framework-free): :class:`DescribedModel`.

Accessors of the resolved description and the recurrent keywords, and ``save``/``load``/``migrate``:

``save`` writes the weights, then the resolved description as the sidecar ``<path>.model.yaml`` (both atomic;
a failed sidecar write removes the old sidecar, a model without description removes a stale one). The sidecar
records the sha256 of the weights, so a save killed between the two renames is a clear ``ValueError`` of
``load_model`` naming both files; the temporary files of a killed save are removed by the next. Legacy
``hiddens``-era checkpoint names (``net.N.*``, ...) are renamed through the torch hook ``_adapt_external_state``.
JAX models also get ``torch_twin`` (:mod:`._twin`).
"""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import Mapping
from typing import Any

from mixrl.checkpoints.legacy_layout import adapt_legacy_layout
from mixrl.models import _roles
from mixrl.utils.model_instantiators._generated import Plan
from mixrl.utils.model_instantiators._sidecar import sidecar_path, write_sidecar


class DescribedModel:
    """Extra base of the generated models (before the backend's ``Model``): description, sidecar, legacy names."""

    _plan: Plan

    @property
    def description(self) -> dict[str, Any] | None:
        """The resolved description (a copy; plain data): ``model_from_config(model.description)`` rebuilds it.

        Saving writes it beside the weights; None when a parameter has no plain form.
        """
        return copy.deepcopy(self.__dict__.get("_mixrl_description"))

    @property
    def recurrent_parameters(self) -> dict[str, int] | None:
        """``{"num_envs": ..., "sequence_length": ...}`` of a recurrent model, else None."""
        if self._plan.recurrent is None:
            return None
        return {"num_envs": self.num_envs, "sequence_length": self.sequence_length}

    def _mixrl_set_recurrent(self, recurrent: Mapping[str, int]) -> None:
        """``num_envs`` / ``sequence_length`` attributes of a recurrent model (validated by the instantiator)."""
        if self._plan.recurrent is not None:
            self.num_envs, self.sequence_length = recurrent["num_envs"], recurrent["sequence_length"]

    def save(self, path: str | os.PathLike, state_dict: Any = None) -> None:
        """The backend's ``Model.save``, then the resolved description beside the weights (``<path>.model.yaml``).

        ``policy.pt`` -> ``policy.pt.model.yaml`` (JAX: ``policy.flax`` -> ``policy.flax.model.yaml``), both
        written atomically, the weights first; ``load_model(path)`` rebuilds the model from the two.

        Raises:
            yaml.representer.RepresenterError, OSError: the sidecar cannot be written (the weights are
                saved and no sidecar is left beside them).
        """
        base: Any = super()
        base.save(path, state_dict)
        description = self.__dict__.get("_mixrl_description")
        if description is None:  # no plain form: a sidecar of an earlier save would describe another model
            _remove_sidecar(path)
            return
        try:
            write_sidecar(path, description)
        except BaseException:
            _remove_sidecar(path)
            raise

    def _adapt_external_state(self, state: Mapping[str, Any], own: Mapping[str, Any], source: str) -> Mapping[str, Any]:
        """A legacy-era checkpoint (``net.N.*`` names) renamed to this model's entries ``own``; else ``state``.

        Raises:
            ValueError: legacy-era names that do not map onto the model (the message names ``source``).
        """
        return adapt_legacy_layout(state, own, _roles.registered_roles(self), source=source)


def _remove_sidecar(path: str | os.PathLike) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(sidecar_path(path))
