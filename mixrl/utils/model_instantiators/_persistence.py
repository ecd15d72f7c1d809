"""What the models the instantiators generate add to ``save``/``load``/``migrate`` (framework-free).

The base ``Model`` of each backend knows nothing of the instantiators; the generated classes get
:class:`DescribedModel` (JAX: its subclass ``DescribedJaxModel``) as an extra base, ahead of ``Model``:

* ``save`` writes the weights (the backend's ``Model.save``, atomic), then the resolved description as
  the sidecar ``<path>.model.yaml`` (atomic), so ``load_model(path)`` rebuilds the model. The pair stays
  consistent: a failed weights write keeps the old pair, a failed sidecar write removes the old sidecar
  (and raises), and a model without description removes a stale one. The sidecar records the sha256 of the
  weights, so a save killed between the two renames (new weights, old sidecar) is a clear ``ValueError`` of
  ``load_model`` naming both files, never a silently mismatched model (the writes are not reordered: a
  description without weights would be no better); temporary files of a killed save are removed by the next;
* the legacy ``hiddens`` API's layer names (``net.N.*``, ``mean_net.*``, ``value_net.*``) of a checkpoint
  are renamed to the current layout, through the hook ``_adapt_external_state`` that the torch
  ``Model.load``/``migrate`` call on every external state dict;
* JAX models also get ``torch_twin`` (:mod:`._twin`: it imports the torch instantiators, which import
  this module).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from typing import Any

from mixrl.checkpoints.legacy_layout import adapt_legacy_layout
from mixrl.models import _roles
from mixrl.utils.model_instantiators._sidecar import sidecar_path, write_sidecar


class DescribedModel:
    """Extra base of the generated models (before the backend's ``Model``): sidecar and legacy names."""

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
