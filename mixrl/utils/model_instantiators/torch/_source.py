"""``return_source=True`` on torch: the template (calls of the class text) that :mod:`.._source` lays out."""

from __future__ import annotations

from typing import Any

import torch

from mixrl.utils.model_instantiators._expressions import ACTIVATIONS
from mixrl.utils.model_instantiators._generated import LogStd, Step

FUNCTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    **{name: (f"nn.functional.{name}", {}) for name in ACTIVATIONS},
    "concatenate": ("torch.cat", {"dim": -1}),
    "permute": ("torch.permute", {}),
    "softmax": ("torch.softmax", {"dim": -1}),
    "tanh": ("torch.tanh", {}),
    "sigmoid": ("torch.sigmoid", {}),
}


def module_source(module: torch.nn.Module) -> str:
    """Constructor call of a generated layer or activation module."""
    bias = getattr(module, "bias", None) is not None
    if isinstance(module, torch.nn.Linear):
        return f"nn.Linear(in_features={module.in_features}, out_features={module.out_features}, bias={bias})"
    if isinstance(module, torch.nn.Conv2d):
        return (
            f"nn.Conv2d(in_channels={module.in_channels}, out_channels={module.out_channels}, "
            f"kernel_size={module.kernel_size}, stride={module.stride}, padding={module.padding!r}, bias={bias})"
        )
    if isinstance(module, torch.nn.RNNBase):
        extra = f", nonlinearity={module.nonlinearity!r}" if type(module) is torch.nn.RNN else ""
        return (
            f"nn.{type(module).__name__}(input_size={module.input_size}, hidden_size={module.hidden_size}, "
            f"num_layers={module.num_layers}, bias={module.bias}{extra}, batch_first=True)"
        )
    if isinstance(module, torch.nn.Flatten):
        return f"nn.Flatten(start_dim={module.start_dim}, end_dim={module.end_dim})"
    if isinstance(module, torch.nn.Softmax):
        return "nn.Softmax(dim=-1)"
    return f"nn.{type(module).__name__}()"


def container(model: Any, step: Step) -> list[str]:
    body = [f"    {module_source(module)}," for module in getattr(model, f"{step.name}_container")]
    return [f"self.{step.name}_container = nn.Sequential(", *body, ")"]


def log_std(log_std: LogStd) -> list[str]:
    value = f"torch.full(({log_std.size},), {float(log_std.initial_log_std)!r})"
    return [f"self.log_std_parameter = nn.Parameter({value}, requires_grad={not log_std.fixed_log_std})"]


def recurrent(model: Any, name: str, value: str) -> list[str]:
    arguments = [f"self.{name}_container[0]", value, 'inputs["rnn"]', 'terminated=inputs.get("terminated")']
    arguments += ["sequence_length=self.sequence_length", "training=self.training"]
    lines = [f"{name}, rnn_states = sequence_forward(", *(f"    {a}," for a in arguments), ")"]
    rest = len(getattr(model, f"{name}_container")) > 1
    return lines + ([f"{name} = self.{name}_container[1:]({name})"] if rest else [])


def specification(model: Any) -> list[str]:
    step = model._plan.recurrent
    if step is None:
        return []
    specification = f"rnn_specification(self.{step.name}_container[0], self.num_envs, self.sequence_length)"
    return ["", "    def get_specification(self):", f"        return {specification}"]


def trunk_call(model: Any, names: str) -> list[str]:
    plan = model._plan
    if plan.producer is None:
        return [f"{names} = self.trunk(inputs)"]
    trunk = f'self.shared_cache(role, inputs["states"], lambda states: self.trunk(inputs), producer="{plan.producer}")'
    lines = [f"{names} = {trunk}"]
    if plan.recurrent is not None:  # the built model also compares the recurrent inputs of both passes
        lines.insert(0, '# the cache keys on inputs["states"]: pass one inputs["rnn"] list to every role')
    return lines


TOKEN_LINES = {
    "STATES": 'states = unflatten_tensorized_space(self.observation_space, inputs["states"])',
    "ACTIONS": 'taken_actions = unflatten_tensorized_space(self.action_space, inputs["taken_actions"])',
    "STATES_ACTIONS": 'states_actions = torch.cat([inputs["states"], inputs["taken_actions"]], dim=-1)',
}
IMPORTS = (
    ("", "import torch"),
    ("", "import torch.nn as nn"),
    ("", ""),
    ("", "from mixrl.models.torch.base import Model"),
)
PACKAGE = "mixrl.models.torch"
HELPERS = (
    ("one_hot_encoding(", "from mixrl.utils.model_instantiators.torch import one_hot_encoding"),
    ("sequence_forward(", "from mixrl.models.torch.rnn import rnn_specification, sequence_forward"),
    ("unflatten_tensorized_space(", "from mixrl.utils.spaces.torch import unflatten_tensorized_space"),
)
MODEL_INIT = "Model.__init__(self, observation_space, action_space, device)"
EXTRA_PARAMETERS = ()
SETUP = False
CALL = "compute"


def layer(model: Any, role: str) -> str:
    return module_source(getattr(model, f"{role}_layer"))
