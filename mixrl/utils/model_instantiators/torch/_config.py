"""Torch models from configuration documents, and checkpoints that rebuild their own model."""

from __future__ import annotations

import importlib
import os
from typing import Any

import torch

from mixrl.models.torch.base import Model
from mixrl.utils.model_instantiators._config import Build, Config, plan
from mixrl.utils.model_instantiators._sidecar import read_sidecar, sidecar_path


def _build(build: Build, observation_space: Any, action_space: Any, device: Any) -> Model:
    functions = importlib.import_module("mixrl.utils.model_instantiators.torch")
    return getattr(functions, build.function)(observation_space, action_space, device, **build.kwargs)


def model_from_config(
    config: Config,
    observation_space: Any = None,
    action_space: Any = None,
    device: str | torch.device | None = None,
) -> Model | dict[str, Model]:
    """Build the model(s) a configuration document describes.

    ``config`` is a mapping, the text of a YAML document (a ``str`` with a line break) or the path of a YAML
    file, read with ``yaml.safe_load`` only. It names the kind and its parameters::

        class: GaussianMixin          # or GaussianModel / gaussian_model / CategoricalMixin / ... / Shared
        clip_actions: false
        network:
          - {name: net, input: STATES, layers: [64, 64], activations: elu}
        output: ACTIONS

    A shared model is ``class: Shared`` with ``roles: {policy: {class: GaussianMixin, network: ..., output:
    ACTIONS}, value: {class: DeterministicMixin, output: ONE}}`` (the trunk is the first role's network) and
    optionally ``single_forward_pass``. ``num_envs`` / ``sequence_length`` configure a recurrent network. The
    skrl runner shape ``models: {separate: false, policy: {...}, value: {...}}`` is accepted too. A model's
    :attr:`description` (also the sidecar :meth:`Model.save` writes) is such a document.

    Args:
        observation_space, action_space: the model's spaces; when None, the document's ``observation_space`` /
            ``action_space`` (plain data, as in a saved description) are used.
        device: as for :class:`~mixrl.models.torch.Model`.

    Returns:
        the model; for the skrl runner shape a dict role -> model, where every role maps to the same instance
        when ``separate`` is false and to its own model otherwise.

    Raises:
        FileNotFoundError: ``config`` names a file that does not exist.
        ValueError: invalid YAML, an unknown class or key (the message lists the allowed ones), or an invalid
            description.
        TypeError: invalid parameter types for a mixin.
    """
    request = plan(config)
    if observation_space is None:
        observation_space = request.spaces.get("observation_space")
    if action_space is None:
        action_space = request.spaces.get("action_space")
    models = [_build(build, observation_space, action_space, device) for build in request.builds]
    if not request.runner:
        return models[0]
    return {role: model for build, model in zip(request.builds, models, strict=True) for role in build.roles}


def load_model(path: str | os.PathLike, device: str | torch.device | None = None) -> Model:
    """Rebuild a model from the description saved beside its weights, then load the weights.

    :meth:`Model.save` of an instantiated model writes the weights to ``path`` and the resolved description to
    the sidecar ``<path>.model.yaml``. This reads the sidecar (``yaml.safe_load``), builds the model with
    :func:`model_from_config` on ``device`` and loads ``path`` with ``weights_only=True`` (strict).

    Returns:
        the model, in eval mode (as after :meth:`Model.load`).

    Raises:
        FileNotFoundError: the weights file does not exist.
        ValueError: the sidecar is missing, corrupted or not a valid description (the message names it), or the
            weights do not match the rebuilt model.
    """
    description = read_sidecar(path)
    if "models" in description:
        raise ValueError(f"{sidecar_path(path)}: describes several models (a runner document), not one")
    try:
        model = model_from_config(description, device=device)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{sidecar_path(path)}: not a valid model description: {error}") from None
    if not isinstance(model, Model):  # a role -> model dict: runner documents are refused above
        raise ValueError(f"{sidecar_path(path)}: describes several models (a runner document), not one")
    model.load(path)
    return model
