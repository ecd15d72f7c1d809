"""The ``backend`` fixture: every shared model test runs once on torch and once on JAX/Flax.

Each adapter builds the same tiny model (``tests/models/{torch,jax}/models.py``) and speaks NumPy at its
edges: inputs go in as NumPy arrays, ``act`` returns NumPy arrays, and weights are read and written under
the Flax names and layout (``hidden.kernel`` is (in, out) on both backends). Oracles in the tests are then
plain NumPy/SciPy on those weights, never the code under test.
"""

import flax.traverse_util
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import mixrl.models.jax
import mixrl.models.torch
from tests._jax_cache import jax_compilation_cache  # noqa: F401  (autouse fixture)
from tests.models.jax import models as jax_models
from tests.models.torch import models as torch_models

N = 16  # batch size of most tests (one JAX compilation per model and batch shape)
LOW, HIGH = np.array([-1.0, 0.0, 5.0], np.float32), np.array([1.0, 1.0, 6.0], np.float32)


def _array_tree(x, convert):
    if isinstance(x, dict):
        return {k: _array_tree(v, convert) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_array_tree(v, convert) for v in x)
    return convert(x)


class TorchBackend:
    name = "torch"
    Model = mixrl.models.torch.Model
    int_dtype = np.int64  # dtype of Categorical / MultiCategorical actions
    models = torch_models

    def array(self, x):
        """A NumPy array (float64 becomes float32) as a tensor; tensors pass through."""
        if isinstance(x, torch.Tensor):
            return x
        x = np.asarray(x)
        return torch.as_tensor(x.astype(np.float32) if x.dtype == np.float64 else x)

    def numpy(self, x):
        if isinstance(x, torch.Tensor):
            return x.detach().cpu().numpy()
        return x if x is None else np.asarray(x)

    def build(self, name, observation_space, action_space, **kwargs):
        """``models.<name>(observation_space, action_space, **kwargs)``, ready to act."""
        return getattr(self.models, name)(observation_space, action_space, **kwargs)

    def raw_act(self, model, inputs, role="policy", seed=None, method="act"):
        """``model.<method>`` on NumPy inputs, returning the backend's own arrays."""
        if seed is not None:
            torch.manual_seed(seed)
        return getattr(model, method)(_array_tree(inputs, self.array), role=role)

    def act(self, model, inputs, role="policy", seed=None, method="act"):
        """``model.<method>`` on NumPy inputs; ``(actions, log_prob, outputs)`` as NumPy (log_prob may be None)."""
        return _array_tree(self.raw_act(model, inputs, role, seed, method), self.numpy)

    def raw_entropy(self, model, outputs, role="policy"):
        """``model.get_entropy(role)``: torch reads the last act of ``role`` from the model, not ``outputs``."""
        return model.get_entropy(role)

    def entropy(self, model, outputs, role="policy"):
        return self.numpy(self.raw_entropy(model, outputs, role))

    def weights(self, model):
        """``{"hidden.kernel": (in, out), "hidden.bias": ..., "log_std": ...}`` as NumPy arrays."""
        return {_flax_name(k): _flax_layout(k, self.numpy(v)) for k, v in model.named_parameters()}

    def set_weights(self, model, **values):
        """Overwrite the named weights (Flax names and layout) in place."""
        parameters = {_flax_name(k): (k, v) for k, v in model.named_parameters()}
        with torch.no_grad():
            for name, value in values.items():
                torch_name, parameter = parameters[name]
                parameter.copy_(torch.as_tensor(_flax_layout(torch_name, np.asarray(value, np.float32))))

    def gradients(self, model, inputs, loss, role="policy", seed=0):
        """Gradient of ``loss(actions, log_prob, outputs)`` of one ``act`` w.r.t. every weight (Flax names and
        layout), and that act's ``(actions, log_prob, outputs)`` as NumPy."""
        model.zero_grad(set_to_none=True)
        result = self.raw_act(model, inputs, role, seed)
        loss(*result).backward()
        grads = {
            _flax_name(k): _flax_layout(k, np.zeros(v.shape, np.float32) if v.grad is None else self.numpy(v.grad))
            for k, v in model.named_parameters()
        }
        return grads, _array_tree(result, self.numpy)


class JaxBackend:
    name = "jax"
    Model = mixrl.models.jax.Model
    int_dtype = np.int32
    models = jax_models

    def array(self, x):
        if isinstance(x, jax.Array):  # also tracers inside jax.grad
            return x
        x = np.asarray(x)
        return jnp.asarray(x.astype(np.float32) if x.dtype == np.float64 else x)

    def numpy(self, x):
        return x if x is None else np.asarray(x)

    def build(self, name, observation_space, action_space, **kwargs):
        """``models.<name>(observation_space, action_space, **kwargs)`` after ``init_state_dict``."""
        model = getattr(self.models, name)(observation_space, action_space, **kwargs)
        model.init_state_dict("policy")
        return model

    def raw_act(self, model, inputs, role="policy", seed=None, method="act", params=None):
        inputs = _array_tree(inputs, self.array)
        if seed is not None:
            inputs["key"] = jax.random.PRNGKey(seed)
        return getattr(model, method)(inputs, role, params)

    def act(self, model, inputs, role="policy", seed=None, method="act"):
        return _array_tree(self.raw_act(model, inputs, role, seed, method), self.numpy)

    def raw_entropy(self, model, outputs, role="policy"):
        """``model.get_entropy(outputs, role)``: JAX reads the distribution from the outputs dict."""
        return model.get_entropy(_array_tree(outputs, self.array), role)

    def entropy(self, model, outputs, role="policy"):
        return self.numpy(self.raw_entropy(model, outputs, role))

    def weights(self, model):
        flat = flax.traverse_util.flatten_dict(model.state_dict.params["params"], sep=".")
        return {k: np.asarray(v) for k, v in flat.items()}

    def set_weights(self, model, **values):
        params = model.state_dict.params
        flat = flax.traverse_util.flatten_dict(params["params"], sep=".")
        for name, value in values.items():
            assert name in flat, name
            flat[name] = jax.device_put(jnp.asarray(value, jnp.float32), model.device)
        params = {**params, "params": flax.traverse_util.unflatten_dict(flat, sep=".")}
        model.state_dict = model.state_dict.replace(params=params)

    def gradients(self, model, inputs, loss, role="policy", seed=0):
        def objective(params):
            result = self.raw_act(model, inputs, role, seed, params=params)
            return loss(*result), result

        grads, result = jax.grad(objective, has_aux=True)(model.state_dict.params)
        grads = {k: np.asarray(v) for k, v in flax.traverse_util.flatten_dict(grads["params"], sep=".").items()}
        return grads, _array_tree(result, self.numpy)


def _flax_name(torch_name):
    return torch_name.replace(".weight", ".kernel")


def _flax_layout(torch_name, value):
    """torch Linear weights are (out, in); Flax kernels (in, out)."""
    return value.T if torch_name.endswith(".weight") else value


@pytest.fixture(params=["torch", "jax"], scope="session")
def backend(request):
    """The adapter of one backend; test ids carry ``[torch]`` / ``[jax]``."""
    return TorchBackend() if request.param == "torch" else JaxBackend()


@pytest.fixture
def box_obs():
    return gymnasium.spaces.Box(-1.0, 1.0, (5,))


@pytest.fixture
def box_act():
    """Each dimension has its own bounds: low=[-1, 0, 5], high=[1, 1, 6]."""
    return gymnasium.spaces.Box(LOW, HIGH)


@pytest.fixture
def states():
    """(N, 5) float32 observations."""
    return np.random.default_rng(0).normal(size=(N, 5)).astype(np.float32)
