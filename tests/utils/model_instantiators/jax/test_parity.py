"""torch and JAX models instantiated from the same description have the same parameters (Flax layouts).

Mapping: ``<c>_container.<i>.weight`` -> ``<c>_container/layers_<i>/kernel`` (Linear (out, in) -> Dense (in, out);
Conv2d (out, in, kh, kw) -> Conv (kh, kw, in, out)), ``.bias`` -> ``/bias``, ``<role>_layer.*`` likewise, and
``log_std_parameter`` unchanged (absent from JAX params when fixed).
"""

import gymnasium
import pytest

from mixrl.utils.model_instantiators import jax as jax_instantiators

from .conftest import shapes
from .test_definition import CNN

torch_instantiators = pytest.importorskip("mixrl.utils.model_instantiators.torch")

Box = gymnasium.spaces.Box
OBS, ACT = Box(-1, 1, (5,)), Box(-1, 1, (3,))
TORCH_CNN = [{**CNN[0], "input": "permute(STATES, (0, 3, 1, 2))"}, CNN[1]]  # torch convolutions read NCHW

CASES = {
    "legacy-defaults": ("gaussian_model", (OBS, ACT), {}),
    "critic": (
        "deterministic_model",
        (OBS, ACT),
        {"input_shape": "STATES_ACTIONS", "hiddens": [8, 8], "output_shape": "ONE", "output_activation": None},
    ),
    "cnn": ("deterministic_model", (Box(0, 1, (64, 64, 3)), Box(-1, 1, (2,))), {"output": "ONE"}),
    "shared": (
        "shared_model",
        (OBS, ACT),
        {
            "roles": ["policy", "value"],
            "parameters": [{"hiddens": [8, 8], "initial_log_std": -1.0}, {"output_shape": 1}],
        },
    ),
}


def flax_name(torch_key: str) -> str:
    """``net_container.2.weight`` -> ``params/net_container/layers_2/kernel``; ``value_layer.bias`` -> ..."""
    *path, leaf = torch_key.split(".")
    if len(path) == 2:
        path[1] = f"layers_{path[1]}"
    return "/".join(["params", *path, {"weight": "kernel", "bias": "bias"}.get(leaf, leaf)])


def flax_shape(shape: tuple) -> tuple:
    """torch weight layout -> Flax kernel layout."""
    if len(shape) == 2:
        return shape[::-1]
    if len(shape) == 4:
        return (*shape[2:], shape[1], shape[0])
    return shape


@pytest.mark.parametrize("case", CASES)
def test_torch_and_jax_models_have_the_same_parameter_shapes(case):
    """Every torch entry has its Flax counterpart with the transposed shape, and nothing else exists."""
    name, spaces, kwargs = CASES[case]
    torch_kwargs, jax_kwargs = dict(kwargs), dict(kwargs)
    if case == "cnn":
        torch_kwargs["network"], jax_kwargs["network"] = TORCH_CNN, CNN
    torch_model = getattr(torch_instantiators, name)(*spaces, device="cpu", **torch_kwargs)
    jax_model = getattr(jax_instantiators, name)(*spaces, **jax_kwargs)
    expected = {flax_name(key): flax_shape(tuple(value.shape)) for key, value in torch_model.state_dict().items()}
    assert shapes(jax_model.state_dict.params) == expected
