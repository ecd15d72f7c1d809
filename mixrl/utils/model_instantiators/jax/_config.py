"""JAX models from configuration documents, and msgpack checkpoints that rebuild their own model.

:func:`save_model` writes the weights with ``Model.save`` (Flax msgpack) and the resolved description
beside them (``<path>.model.yaml``, see :mod:`.._sidecar`); :func:`load_model` reads both back.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import jax

from mixrl.models.jax import Model, StateDict
from mixrl.utils.model_instantiators._config import Build, Config, plan
from mixrl.utils.model_instantiators._sidecar import read_sidecar, sidecar_path


def _build(build: Build, observation_space: Any, action_space: Any, device: Any) -> Model:
    functions = importlib.import_module("mixrl.utils.model_instantiators.jax")
    return getattr(functions, build.function)(observation_space, action_space, device, **build.kwargs)


def model_from_config(
    config: Config,
    observation_space: Any = None,
    action_space: Any = None,
    device: str | jax.Device | None = None,
) -> Model | dict[str, Model]:
    """Build the JAX model(s) a configuration document describes (initialised, like every instantiator's model).

    ``config`` is a mapping, the text of a YAML document (a ``str`` with a line break) or the path of a YAML
    file, read with ``yaml.safe_load`` only; the documents are those of the torch ``model_from_config``::

        class: GaussianMixin          # or GaussianModel / gaussian_model / CategoricalMixin / ... / Shared
        network:
          - {name: net, input: STATES, layers: [64, 64], activations: elu}
        output: ACTIONS

    ``class: Shared`` with ``roles: {policy: {...}, value: {...}}`` builds a shared model (the trunk is the first
    role's network); the skrl runner shape ``models: {separate: ..., policy: {...}, value: {...}}`` is accepted
    too. A model's :attr:`description` (also the sidecar :func:`save_model` writes) is such a document.

    Args:
        observation_space, action_space: the model's spaces; when None, the document's ``observation_space`` /
            ``action_space`` (plain data, as in a saved description) are used.
        device: as for :class:`~mixrl.models.jax.Model`.

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


def save_model(model: Model, path: str | os.PathLike, state_dict: StateDict | Any = None) -> None:
    """Save an instantiated model so that :func:`load_model` rebuilds it: weights, then their description.

    The weights go to ``path`` through ``model.save(path, state_dict)`` (Flax msgpack, written atomically);
    the resolved description to ``<path>.model.yaml`` (atomically, after the weights).

    Raises:
        ValueError: ``model`` has no resolved description (it was not built by an instantiator, or a parameter
            has no plain form); nothing is written.
    """
    description = model.__dict__.get("_mixrl_description")
    if description is None:
        raise ValueError(
            f"{type(model).__name__} has no resolved description (built by hand, or a parameter with no plain "
            "form): save it with model.save(path); load_model cannot rebuild it"
        )
    model.save(path, state_dict)  # writes the weights, then the sidecar of the description


def load_model(path: str | os.PathLike, device: str | jax.Device | None = None) -> Model:
    """Rebuild a model from the description saved beside its weights, then load the weights.

    Reads the sidecar ``<path>.model.yaml`` written by :func:`save_model` (``yaml.safe_load``), builds the model
    with :func:`model_from_config` on ``device`` and loads the msgpack weights ``path`` with ``Model.load``
    (never pickle; the parameter tree must match exactly).

    Returns:
        the model, in eval mode (as after ``Model.load``).

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
