"""Deployment latency: batch-1 p50 and p99 per call of one policy step, every runtime interleaved in one run.

Two policies: Gaussian (observations 17, actions 6, MLP 256-256 ELU) and Categorical (observations 4, 2 actions,
MLP 64-64 Tanh). Contenders (rows), each timed call by call, in rounds of one call each (random order):

* ``torch floor``: the network and the sampling math written by hand in plain torch (the reference, ratio 1);
* ``torch floor, mean only``: the same network, deterministic action (what an exported file computes);
* ``mixrl torch act``: a hand-written ``Model`` + mixin class, eval mode, ``torch.no_grad``;
* ``mixrl torch act (instantiated)``: the same policy from ``mixrl.utils.model_instantiators.torch``;
* ``mixrl JAX act``: the Flax version, eval mode, the model's own key, ``jax.block_until_ready``;
* ``ONNX fp32 (onnxruntime)``: ``model.export(path)`` run by onnxruntime on a NumPy batch;
* ``ONNX fp16`` / ``ONNX int8`` / ``jax.export artefact``: when ``export`` accepts the option (see
  :data:`ONNX_VARIANTS`, :data:`JAX_EXPORT_FORMATS`), else skipped with a note;
* ``skrl torch act`` / ``skrl JAX act``: skrl 1.4.3's models with the same network (when installed).

Every runtime uses one thread: ``torch.set_num_threads(1)``, onnxruntime ``intra_op_num_threads=1`` and
``inter_op_num_threads=1``, ``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1`` (set
before jax is imported). The report is a Markdown table; ``--json`` also writes every per-call time.

    python bench/deploy_latency.py              # full run (about a minute)
    python bench/deploy_latency.py --quick      # smoke test
"""

from __future__ import annotations

import os

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gymnasium  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch_cases as tc  # noqa: E402  (puts the checkout on sys.path when mixrl is not installed)
from torch import nn  # noqa: E402

from mixrl.models.torch import CategoricalMixin, GaussianMixin, Model  # noqa: E402

Step = Callable[[], Any]

# export options of the rows that another change adds; a row is skipped (with a note) while ``export`` rejects them
ONNX_VARIANTS: dict[str, list[dict[str, Any]]] = {
    "ONNX fp16 (onnxruntime)": [{"precision": "fp16"}, {"dtype": "float16"}],
    "ONNX int8 (onnxruntime)": [{"precision": "int8"}, {"quantize": "int8"}],
}
JAX_EXPORT_FORMATS = ("jax", "jax.export", "stablehlo")
FLOOR = "torch floor"


# ---------------------------------------------------------------------- policies


class PolicySpec:
    """One benchmarked policy: sizes, activation, head."""

    def __init__(self, name: str, observations: int, action_space: gymnasium.Space, hidden: tuple[int, ...], act: str):
        self.name, self.observations, self.action_space, self.hidden, self.activation = (
            name,
            observations,
            action_space,
            hidden,
            act,
        )
        self.gaussian = isinstance(action_space, gymnasium.spaces.Box)
        self.outputs = int(action_space.shape[0]) if self.gaussian else int(action_space.n)

    @property
    def observation_space(self) -> gymnasium.spaces.Box:
        return tc.box(self.observations)

    def net(self) -> nn.Sequential:
        module = {"elu": nn.ELU, "tanh": nn.Tanh}[self.activation]
        return tc.mlp((self.observations, *self.hidden, self.outputs), activation=module)


SPECS = [
    PolicySpec("gaussian 17-256-256-6 ELU", 17, tc.box(6, 1.0), (256, 256), "elu"),
    PolicySpec("categorical 4-64-64-2 Tanh", 4, gymnasium.spaces.Discrete(2), (64, 64), "tanh"),
]


def torch_policy(spec: PolicySpec, model_cls: type, mixin_cls: type) -> nn.Module:
    """The policy class of ``spec`` for mixrl's or skrl's ``Model`` and mixin (the same code for both)."""

    class Policy(mixin_cls, model_cls):
        def __init__(self) -> None:
            model_cls.__init__(self, spec.observation_space, spec.action_space, device="cpu")
            if spec.gaussian:
                mixin_cls.__init__(self, **tc.GAUSSIAN_SETTINGS)
                self.log_std_parameter = nn.Parameter(torch.zeros(spec.outputs))
            else:
                mixin_cls.__init__(self)
            self.net = spec.net()

        def compute(self, inputs: dict, role: str = "") -> tuple:
            if spec.gaussian:
                return self.net(inputs["states"]), self.log_std_parameter, {}
            return self.net(inputs["states"]), {}

    return Policy()


class Floor(nn.Module):
    """Plain torch: the network and the sampling math by hand; ``mean_only`` returns the deterministic action."""

    def __init__(self, spec: PolicySpec, mean_only: bool = False) -> None:
        super().__init__()
        self.gaussian, self.mean_only = spec.gaussian, mean_only
        self.net = spec.net()
        if spec.gaussian:
            self.log_std_parameter = nn.Parameter(torch.zeros(spec.outputs))

    def act(self, states: torch.Tensor) -> tuple:
        out = self.net(states)
        if self.gaussian:
            if self.mean_only:
                return out.clamp(-1.0, 1.0)
            actions, log_prob, _ = tc.diagonal_gaussian(out, self.log_std_parameter, None)
            return actions, log_prob
        if self.mean_only:
            return out.argmax(-1, keepdim=True)
        log_probs = torch.log_softmax(out, -1)
        actions = torch.multinomial(log_probs.exp(), 1)
        return actions, log_probs.gather(-1, actions)


def instantiated(spec: PolicySpec) -> Any:
    from mixrl.utils.model_instantiators import torch as instantiators

    network = [{"name": "net", "input": "STATES", "layers": list(spec.hidden), "activations": spec.activation}]
    if spec.gaussian:
        return instantiators.gaussian_model(
            spec.observation_space, spec.action_space, "cpu", network=network, output="ACTIONS"
        )
    return instantiators.categorical_model(
        spec.observation_space, spec.action_space, "cpu", network=network, output="ACTIONS"
    )


# ---------------------------------------------------------------------- contenders


def torch_contenders(spec: PolicySpec, notes: list[str], use_skrl: bool, workdir: str) -> dict[str, Step]:
    reference = torch_policy(spec, Model, GaussianMixin if spec.gaussian else CategoricalMixin)
    reference.set_mode("eval")
    states = torch.randn(1, spec.observations)
    inputs = {"states": states}
    floor = tc.copy_weights(Floor(spec), reference)
    mean_only = tc.copy_weights(Floor(spec, mean_only=True), reference)
    steps: dict[str, Step] = {
        FLOOR: lambda: floor.act(states),
        "torch floor, mean only": lambda: mean_only.act(states),
        "mixrl torch act": lambda: reference.act(inputs, "policy"),
    }
    try:
        built = instantiated(spec)
        built.set_mode("eval")
        built.act(inputs, "policy")
        steps["mixrl torch act (instantiated)"] = lambda: built.act(inputs, "policy")
    except Exception as error:  # the instantiators are being restructured: a failure is a note, not a crash
        notes.append(f"{spec.name}: instantiated torch model skipped ({type(error).__name__}: {error})")
    if use_skrl and tc.skrl is not None:
        skrl_cls = tc.SkrlGaussianMixin if spec.gaussian else tc.SkrlCategoricalMixin
        skrl_model = tc.copy_weights(torch_policy(spec, tc.SkrlModel, skrl_cls), reference)
        skrl_model.set_mode("eval")
        steps["skrl torch act"] = lambda: skrl_model.act(inputs, "policy")
    elif use_skrl:
        notes.append("skrl torch rows skipped: skrl is not installed (pip install --no-deps skrl==1.4.3)")
    steps.update(onnx_contenders(spec, reference, states.numpy(), notes, workdir))
    return steps


def ort_session(path: str) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def ort_step(session: Any, observations: np.ndarray) -> Step:
    name = session.get_inputs()[0].name
    if session.get_inputs()[0].type == "tensor(float16)":
        observations = observations.astype(np.float16)
    feed = {name: observations}
    return lambda: session.run(None, feed)


def onnx_contenders(
    spec: PolicySpec, model: Any, observations: np.ndarray, notes: list[str], workdir: str
) -> dict[str, Step]:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        notes.append("ONNX rows skipped: onnxruntime is not installed (pip install 'mixrl[export]')")
        return {}
    tag = spec.name.split()[0]
    path = os.path.join(workdir, f"{tag}.onnx")
    model.export(path)
    steps = {"ONNX fp32 (onnxruntime)": ort_step(ort_session(path), observations)}
    for row, candidates in ONNX_VARIANTS.items():
        tried = []
        for options in candidates:
            variant = os.path.join(workdir, f"{tag}-{len(tried)}-{row.split()[1]}.onnx")
            try:
                model.export(variant, **options)
            except (TypeError, ValueError, NotImplementedError) as error:
                tried.append(f"{options}: {type(error).__name__}")
                continue
            steps[row] = ort_step(ort_session(variant), observations)
            break
        else:
            notes.append(f"{spec.name}: {row} skipped, export rejects {'; '.join(tried)}")
    return steps


def jax_contenders(spec: PolicySpec, notes: list[str], use_skrl: bool, workdir: str) -> dict[str, Step]:
    try:
        import flax.linen as fnn
        import jax
        import jax_cases as jc

        from mixrl.models.jax import CategoricalMixin as JaxCategorical
        from mixrl.models.jax import GaussianMixin as JaxGaussian
        from mixrl.models.jax import Model as JaxModel
    except ImportError as error:
        notes.append(f"JAX rows skipped: {error}")
        return {}
    mixin = JaxGaussian if spec.gaussian else JaxCategorical

    class Policy(mixin, JaxModel):
        def __init__(self, observation_space=None, action_space=None, device=None, parent=None, name=None):
            JaxModel.__init__(self, observation_space, action_space, device, parent, name)
            mixin.__init__(self)

        @fnn.compact
        def __call__(self, inputs, role):
            net = jc.Net(spec.hidden, spec.outputs, log_std=spec.gaussian, activation=spec.activation, name="net")
            out = net(inputs["states"])
            return (*out, {}) if spec.gaussian else (out, {})

    model = Policy(spec.observation_space, spec.action_space)
    model.init_state_dict("policy")
    model.set_mode("eval")
    states = jax.device_put(np.random.default_rng(0).standard_normal((1, spec.observations)).astype(np.float32))
    inputs = {"states": states}

    def mixrl_step() -> None:
        jax.block_until_ready(model.act(inputs, "policy")[:2])

    steps: dict[str, Step] = {"mixrl JAX act": mixrl_step}
    steps.update(jax_export_contender(spec, model, states, notes, workdir))
    if use_skrl:
        try:
            skrl_model = skrl_jax(spec, model.state_dict.params)
            jax.block_until_ready(skrl_model.act(dict(inputs), "policy")[:2])
        except Exception as error:  # skrl is optional: missing or incompatible with this JAX
            notes.append(f"{spec.name}: skrl JAX row skipped ({type(error).__name__}: {str(error)[:100]})")
        else:

            def skrl_step() -> None:
                jax.block_until_ready(skrl_model.act(dict(inputs), "policy")[:2])

            steps["skrl JAX act"] = skrl_step
    return steps


def jax_export_contender(spec: PolicySpec, model: Any, states: Any, notes: list[str], workdir: str) -> dict:
    import jax

    tried = []
    for format in JAX_EXPORT_FORMATS:
        path = os.path.join(workdir, f"{spec.name.split()[0]}.{format.replace('.', '_')}")
        try:
            model.export(path, format=format)
        except (TypeError, ValueError, NotImplementedError) as error:
            tried.append(f"format={format!r}: {type(error).__name__}")
            continue
        exported = jax.export.deserialize(bytearray(Path(path).read_bytes()))
        call = jax.jit(exported.call)

        def export_step(call: Callable = call) -> None:
            jax.block_until_ready(call(states))

        return {"jax.export artefact": export_step}
    notes.append(f"{spec.name}: jax.export row skipped, export rejects {'; '.join(tried)}")
    return {}


class _Jnp:
    """``jax.numpy`` with the ``jnp.clip(a_min=, a_max=)`` spelling skrl 1.4.3's Gaussian uses (gone in jax 0.10)."""

    def __init__(self, module: Any) -> None:
        self._module = module

    def clip(self, x: Any, a_min: Any = None, a_max: Any = None, **kwargs: Any) -> Any:
        return self._module.clip(x, kwargs.get("min", a_min), kwargs.get("max", a_max))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)


def skrl_jax(spec: PolicySpec, params: Any) -> Any:
    import flax.linen as fnn
    import jax
    import jax.numpy as jnp
    import jax_cases as jc
    import skrl.models.jax.gaussian as skrl_gaussian
    from skrl.models.jax import CategoricalMixin as SkrlCategorical
    from skrl.models.jax import GaussianMixin as SkrlGaussian
    from skrl.models.jax import Model as SkrlModel

    skrl_gaussian.jnp = _Jnp(jnp)  # the bench's only patch of skrl: the clip keyword spelling
    mixin = SkrlGaussian if spec.gaussian else SkrlCategorical

    class SkrlPolicy(mixin, SkrlModel):
        def __init__(self, observation_space, action_space, device=None, **kwargs):
            SkrlModel.__init__(self, observation_space, action_space, device, **kwargs)
            mixin.__init__(self)

        @fnn.compact
        def __call__(self, inputs, role):
            net = jc.Net(spec.hidden, spec.outputs, log_std=spec.gaussian, activation=spec.activation, name="net")
            out = net(inputs["states"])
            return (*out, {}) if spec.gaussian else (out, {})

    model = SkrlPolicy(spec.observation_space, spec.action_space, device="cpu")
    model.init_state_dict("policy")
    model.state_dict = model.state_dict.replace(params=params)
    model.apply = jax.jit(model.apply, static_argnums=2)
    model.set_mode("eval")
    return model


# ---------------------------------------------------------------------- timing and report


def measure(steps: dict[str, Step], calls: int, warmup_s: float) -> dict[str, list[int]]:
    """Per-call ns of every contender: rounds of one call each, in a fresh random order every round.

    A random order (not a rotation) gives every contender every predecessor: a call right after a JAX call
    can share the cores with XLA's runtime threads, and a fixed predecessor would bias one row.
    """
    for step in steps.values():
        end = time.perf_counter() + warmup_s
        while time.perf_counter() < end:
            step()
    names = list(steps)
    times: dict[str, list[int]] = {name: [] for name in names}
    clock = time.perf_counter_ns
    rng = random.Random(0)
    for _ in range(calls):
        rng.shuffle(names)
        for name in names:
            step = steps[name]
            start = clock()
            step()
            times[name].append(clock() - start)
    return times


def percentile(values: list[int], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def report(spec: PolicySpec, times: dict[str, list[int]]) -> list[dict[str, Any]]:
    p50 = {name: percentile(values, 50) for name, values in times.items()}
    rows = []
    for name, values in times.items():
        skrl = "skrl JAX act" if "JAX" in name or "jax" in name else "skrl torch act"
        rows.append(
            {
                "policy": spec.name,
                "contender": name,
                "p50_us": p50[name] / 1e3,
                "p99_us": percentile(values, 99) / 1e3,
                "to_floor": p50[name] / p50[FLOOR],
                "to_skrl": p50[name] / p50[skrl] if skrl in p50 and name != skrl else None,
            }
        )
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| policy | contender | p50 µs | p99 µs | p99 / p50 | p50 / torch floor | p50 / skrl (same runtime) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        to_skrl = "n/a" if row["to_skrl"] is None else f"{row['to_skrl']:.2f}"
        lines.append(
            f"| {row['policy']} | {row['contender']} | {row['p50_us']:.1f} | {row['p99_us']:.1f} | "
            f"{row['p99_us'] / row['p50_us']:.1f} | {row['to_floor']:.2f} | {to_skrl} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000, help="timed calls per contender (default 3000)")
    parser.add_argument("--warmup-s", type=float, default=0.3, help="warm-up per contender (default 0.3 s)")
    parser.add_argument("--quick", action="store_true", help="smoke test: 200 calls, 0.05 s warm-up")
    parser.add_argument("--no-skrl", action="store_true", help="leave skrl out")
    parser.add_argument("--no-jax", action="store_true", help="leave the JAX rows out")
    parser.add_argument("--json", help="also write the rows and every per-call time (ns) here")
    args = parser.parse_args(argv)
    calls, warmup_s = (200, 0.05) if args.quick else (args.calls, args.warmup_s)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    notes: list[str] = []
    rows: list[dict[str, Any]] = []
    raw: dict[str, dict[str, list[int]]] = {}
    with tempfile.TemporaryDirectory() as workdir, torch.no_grad():
        for spec in SPECS:
            steps = torch_contenders(spec, notes, not args.no_skrl, workdir)
            if not args.no_jax:
                steps.update(jax_contenders(spec, notes, not args.no_skrl, workdir))
            times = measure(steps, calls, warmup_s)
            raw[spec.name] = times
            rows.extend(report(spec, times))
            print(f"  done {spec.name} ({len(steps)} contenders x {calls} calls)", file=sys.stderr)
    print(markdown(rows))
    print()
    versions = [f"torch {torch.__version__}"]
    for module in ("onnxruntime", "jax", "skrl"):
        with contextlib.suppress(ImportError):
            versions.append(f"{module} {__import__(module).__version__}")
    print(f"{', '.join(versions)}, Python {platform.python_version()}, one thread per runtime, batch 1")
    print(f"{calls} interleaved calls per contender; p50 / p99 of the per-call times")
    for note in notes:
        print(f"* {note}")
    print(f"command: `{' '.join([Path(sys.executable).name, *sys.argv])}`")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "times_ns": raw, "notes": notes}, indent=1))


if __name__ == "__main__":
    main()
