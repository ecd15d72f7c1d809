"""``return_source=True`` on JAX: the template (calls of the Flax class text) that :mod:`.._source` lays out.

Containers are rendered from the model's plan (the same :class:`~._ops.Op` entries its ``setup()`` builds).
"""

from __future__ import annotations

from typing import Any

from mixrl.utils.model_instantiators._generated import LogStd, Step
from mixrl.utils.model_instantiators._source import indent
from mixrl.utils.model_instantiators.jax._ops import FLAX_NAMES

FUNCTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    **{name: (f"nn.{flax}", {}) for name, flax in FLAX_NAMES.items()},
    "concatenate": ("jnp.concatenate", {"axis": -1}),
    "permute": ("jnp.transpose", {}),
}


def container(model: Any, step: Step) -> list[str]:
    kind = "RecurrentSequential" if step.recurrent else "nn.Sequential"
    entries = [f"    {op.source()}," for op in step.entries]
    return [f"self.{step.name}_container = {kind}(", "    [", *indent(entries, 1), "    ]", ")"]


def log_std(log_std: LogStd) -> list[str]:
    value = f"jnp.full(({log_std.size},), {float(log_std.initial_log_std)!r})"
    if log_std.fixed_log_std:
        return [f"self.log_std_parameter = {value}  # fixed_log_std: a constant, not a parameter"]
    return [f'self.log_std_parameter = self.param("log_std_parameter", lambda _: {value})']


def recurrent(model: Any, name: str, value: str) -> list[str]:
    arguments = [value, 'inputs["rnn"]', 'inputs.get("terminated")', "self.sequence_length", "self.training"]
    return [f"{name}, rnn_states = self.{name}_container(", f"    {', '.join(arguments)}", ")"]


def specification(model: Any) -> list[str]:
    if model.recurrent_parameters is None:
        return []
    sizes = ", ".join(f"({size[0]}, self.num_envs, {size[2]})" for size in model.get_specification()["rnn"]["sizes"])
    return [
        "",
        "    @nn.nowrap",
        "    def get_specification(self):",
        f'        return {{"rnn": {{"sequence_length": self.sequence_length, "sizes": [{sizes}]}}}}',
    ]


TOKEN_LINES = {
    "STATES": 'states = unflatten_tensorized_space(self.observation_space, inputs["states"])',
    "ACTIONS": 'taken_actions = unflatten_tensorized_space(self.action_space, inputs["taken_actions"])',
    "STATES_ACTIONS": 'states_actions = jnp.concatenate([inputs["states"], inputs["taken_actions"]], axis=-1)',
}
IMPORTS = (
    ("", "import flax.linen as nn"),
    ("jnp.", "import jax.numpy as jnp"),
    ("", ""),
    ("", "from mixrl.models.jax import Model"),
)
PACKAGE = "mixrl.models.jax"
HELPERS = (
    ("Recurrent", "from mixrl.utils.model_instantiators.jax import Recurrent, RecurrentSequential"),
    ("one_hot_encoding(", "from mixrl.utils.model_instantiators.jax import one_hot_encoding"),
    ("unflatten_tensorized_space(", "from mixrl.utils.spaces.jax import unflatten_tensorized_space"),
)
MODEL_INIT = "Model.__init__(self, observation_space, action_space, device, **kwargs)"
EXTRA_PARAMETERS = ("**kwargs",)
SETUP = True
CALL = "__call__"


def layer(model: Any, role: str) -> str:
    return f"nn.Dense(features={model._plan.heads[role].layer})"


def trunk_call(model: Any, names: str) -> list[str]:
    return [f"{names} = self.trunk(inputs)"]
