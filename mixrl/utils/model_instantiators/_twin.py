"""``torch_twin`` of the JAX models the instantiators generate (a module of its own: it imports the torch ones)."""

from __future__ import annotations

from typing import Any

from mixrl.utils.model_instantiators._persistence import DescribedModel


class DescribedJaxModel(DescribedModel):
    """:class:`DescribedModel` for JAX models, plus their torch twin."""

    def torch_twin(self) -> Any:
        """The torch model the torch instantiators build from ``self.description`` (weights not copied), on the CPU.

        Raises:
            ImportError: torch is not installed.
            ValueError: the model has no description (a parameter with no plain form).
        """
        description = self.__dict__.get("_mixrl_description")
        if description is None:
            raise ValueError(
                f"{type(self).__name__} has no description to build its torch twin from (a parameter has no plain form)"
            )
        from mixrl.checkpoints.formats import require_torch

        require_torch(f"{type(self).__name__}.torch_twin")
        from mixrl.utils.model_instantiators.torch import model_from_config

        model: Any = self
        return model_from_config(description, model.observation_space, model.action_space, device="cpu")
