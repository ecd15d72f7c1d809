"""``mixrl demo``: train a shared policy + value model with PPO, save it, reload it, evaluate it, plot it.

Run ``mixrl demo`` (or ``python -m mixrl demo``, ``python -m mixrl.demo``). It writes to ``--out``
(default ``runs/demo/``): the checkpoint (torch: ``model.pt``, jax: ``model.msgpack``, each with its description
``<checkpoint>.model.yaml``), ``learning_curve.png``, ``summary.json`` and, with ``--export onnx|torch.export``,
the deterministic policy for deployment (``policy.onnx`` / ``policy.pt2``, each with its JSON sidecar
``<file>.json``), and prints a short summary.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import logging
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO

import gymnasium as gym
import numpy as np

from mixrl.checkpoints.atomic import atomic_write
from mixrl.demo.common import History, PPOConfig, evaluate, plot_learning_curve, preset

logger = logging.getLogger("mixrl")

DESCRIPTION = "Train a shared policy + value model with PPO, then save, reload, evaluate and plot it."
EVALUATION_EPISODES = 10
EVALUATION_SEED = 10_000  # evaluation episodes use other starts than training
EXPORT_FILES = {"onnx": "policy.onnx", "torch.export": "policy.pt2"}


@dataclass
class Summary:
    """What the demo reports (also written to ``summary.json``)."""

    env: str
    backend: str
    seed: int
    env_steps: int
    train_seconds: float
    wall_seconds: float
    evaluation_mean: float
    evaluation_std: float
    evaluation_returns: list[float]
    checkpoint: str
    plot: str
    export: str | None = None
    export_agreement: float | None = None  #: fraction of evaluation states where the file and the model agree
    export_check: dict | None = None  #: the export check of the sidecar (samples, max_abs_error, agreement, ...)

    def text(self) -> str:
        """A few human-readable lines."""
        return "\n".join(
            [
                f"mixrl demo: PPO on {self.env} ({self.backend}, seed {self.seed})",
                f"  mean evaluation return  {self.evaluation_mean:.1f} +/- {self.evaluation_std:.1f}"
                f" over {len(self.evaluation_returns)} deterministic episodes",
                f"  environment steps       {self.env_steps}",
                f"  wall time               {self.wall_seconds:.1f} s (training {self.train_seconds:.1f} s)",
                f"  checkpoint              {self.checkpoint}",
                f"  learning curve          {self.plot}",
            ]
            + self._export_lines()
        )

    def _export_lines(self) -> list[str]:
        if self.export is None or self.export_agreement is None:
            return []
        line = f"  exported policy         {self.export}"
        if self.export_agreement is not None:
            line += f" (same action as the model on {100 * self.export_agreement:.1f}% of the evaluation states)"
        if self.export_check is None:
            return [line]
        error = self.export_check["max_abs_error"]
        return [
            line,
            f"  export check            worst error {'n/a' if error is None else f'{error:.2g}'}, agreement "
            f"{100 * self.export_check['agreement']:.1f}% on {self.export_check['samples']} random observations",
        ]


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the demo's options to ``parser``."""
    parser.add_argument("--env", default="CartPole-v1", help="gymnasium environment id (default: %(default)s)")
    parser.add_argument("--steps", type=_positive, default=None, help="environment steps (default: the env's preset)")
    parser.add_argument("--backend", choices=["torch", "jax"], default="torch", help="(default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder (default: %(default)s)")
    parser.add_argument(
        "--export",
        choices=EXPORT_FILES,
        default=None,
        help="also export the deterministic policy and its JSON sidecar (onnx: policy.onnx, run with onnxruntime; "
        "torch.export: policy.pt2)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar and a one-line summary")
    return parser


def _positive(text: str) -> int:
    """``argparse`` type of ``--steps``: a positive integer."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _backend(name: str) -> ModuleType:
    """The PPO module of ``name`` (imported only when asked for)."""
    if name == "jax":
        from mixrl.demo import ppo_jax

        return ppo_jax
    from mixrl.demo import ppo

    return ppo


@contextlib.contextmanager
def _single_torch_thread(backend: str) -> Iterator[None]:
    """One torch thread while the demo runs (faster for its tiny networks, fair to other processes), then restore."""
    if backend != "torch":
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class _Progress:
    """tqdm bar with the running mean return; on a non-TTY stderr, a log line every tenth of the run instead."""

    def __init__(self, total: int, quiet: bool) -> None:
        from tqdm import tqdm

        self.quiet, self.total, self.logged = quiet, total, 0
        self.bar = tqdm(total=total, unit="step", unit_scale=True, dynamic_ncols=True, disable=quiet or None)

    def __call__(self, step: int, history: History) -> None:
        mean = history.running_mean()
        text = "-" if mean is None else f"{mean:.1f}"
        self.bar.update(min(step, self.total) - self.bar.n)
        self.bar.set_postfix_str(f"mean return {text}", refresh=False)
        if self.bar.disable and not self.quiet and step * 10 >= (self.logged + 1) * self.total:
            self.logged = step * 10 // self.total
            logger.info("step %d/%d: mean return of the last 20 episodes %s", step, self.total, text)

    def close(self) -> None:
        self.bar.close()


def _save_and_reload(backend: ModuleType, model: Any, out: Path, config: PPOConfig) -> tuple[Any, Path]:
    """Save ``model`` to ``out / backend.CHECKPOINT`` and load it back into a fresh model (the round trip)."""
    path = out / backend.CHECKPOINT
    model.save(path)  # torch: also writes the model description model.pt.model.yaml
    return backend.reload(path, model, config), path


def _torch_policy(backend_name: str, model: Any, checkpoint: Path, config: PPOConfig) -> Any:
    """The torch model to export: ``model`` itself, or for JAX its torch twin loaded from ``checkpoint``.

    JAX models export through the torch layout: the same description built with the torch instantiators,
    then ``migrate`` from the Flax checkpoint (all or nothing).
    """
    if backend_name == "torch":
        return model
    from mixrl.demo import ppo

    twin = ppo.build_model(model.observation_space, model.action_space, config)
    if not twin.migrate(path=str(checkpoint)):
        raise RuntimeError(f"{checkpoint}: the Flax parameters do not map onto the torch twin of the demo model")
    return twin


def _run_exported(path: Path, format: str, states: np.ndarray) -> np.ndarray:
    """Actions of the exported policy at ``path`` for (batch, obs) ``states``, run as a deployment would."""
    if format == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, {"observations": states.astype(np.float32)})[0]
    import torch

    with torch.no_grad():
        return torch.export.load(str(path)).module()(torch.as_tensor(states, dtype=torch.float32)).numpy()


def export_policy(
    args: argparse.Namespace, backend: ModuleType, model: Any, checkpoint: Path, config: PPOConfig, states: np.ndarray
) -> tuple[Path, float, dict | None]:
    """Export the deterministic policy of ``model`` as ``args.export`` into ``args.out`` and check it on ``states``.

    Returns:
        the file, the fraction of ``states`` (batch, obs) whose exported action equals the model's
        (integer actions exactly, continuous ones within 1e-5), and the export's own check (its sidecar's).
    """
    path = args.out / EXPORT_FILES[args.export]
    result = _torch_policy(args.backend, model, checkpoint, config).export(path, format=args.export, role="policy")
    exported = _run_exported(path, args.export, states)
    expected = backend.deterministic_actions(model, states)
    agree = np.isclose(exported.reshape(expected.shape), expected, rtol=0.0, atol=1e-5)
    check = None if result.check is None else asdict(result.check)
    return path, float(np.mean(np.all(agree.reshape(len(states), -1), axis=-1))), check


def check_env(env_id: str) -> gym.Space:
    """Check that the demo can train on ``env_id``; returns its action space.

    Raises:
        ValueError: unknown id, or spaces other than a flat Box observation and a Discrete or Box action.
    """
    try:
        env = gym.make(env_id)
    except gym.error.Error as error:
        raise ValueError(f"--env {env_id}: {error}") from None
    observation_space, action_space = env.observation_space, env.action_space
    env.close()
    if not isinstance(observation_space, gym.spaces.Box) or len(observation_space.shape) != 1:
        raise ValueError(f"--env {env_id}: the demo needs a flat Box observation space, got {observation_space}")
    if not isinstance(action_space, (gym.spaces.Discrete, gym.spaces.Box)):
        raise ValueError(f"--env {env_id}: the demo needs a Discrete or Box action space, got {action_space}")
    return action_space


def run(args: argparse.Namespace) -> Summary:
    """Train, save, reload, evaluate and plot as ``args`` says; returns the summary (also in ``summary.json``)."""
    start = time.perf_counter()
    action_space = check_env(args.env)
    backend = _backend(args.backend)
    default_steps, config = preset(args.env, action_space)
    steps = default_steps if args.steps is None else args.steps
    env_steps = -(-steps // config.batch_size) * config.batch_size  # whole rollouts
    args.out.mkdir(parents=True, exist_ok=True)

    with _single_torch_thread(args.backend):
        progress = _Progress(env_steps, args.quiet)
        try:
            model, history = backend.train(args.env, steps, args.seed, config, progress)
        finally:
            progress.close()
        train_seconds = time.perf_counter() - start

        reloaded, checkpoint = _save_and_reload(backend, model, args.out, config)
        states: list[np.ndarray] = []

        def greedy(observations: np.ndarray, info: dict) -> np.ndarray:
            states.append(observations)
            return backend.deterministic_actions(reloaded, observations)

        returns = evaluate(args.env, greedy, EVALUATION_EPISODES, EVALUATION_SEED)
        exported, agreement, export_check = None, None, None
        if args.export is not None:
            exported, agreement, export_check = export_policy(
                args, backend, reloaded, checkpoint, config, np.concatenate(states)
            )
    mean = float(np.mean(returns))
    plot = args.out / "learning_curve.png"
    plot_learning_curve(history, plot, f"PPO on {args.env} ({args.backend}, seed {args.seed})", mean)

    summary = Summary(
        env=args.env,
        backend=args.backend,
        seed=args.seed,
        env_steps=env_steps,
        train_seconds=round(train_seconds, 2),
        wall_seconds=round(time.perf_counter() - start, 2),
        evaluation_mean=mean,
        evaluation_std=float(np.std(returns)),
        evaluation_returns=returns,
        checkpoint=str(checkpoint),
        plot=str(plot),
        export=None if exported is None else str(exported),
        export_agreement=agreement,
        export_check=export_check,
    )
    text = json.dumps(asdict(summary), indent=2) + "\n"

    def write(file: BinaryIO) -> None:
        file.write(text.encode())

    atomic_write(args.out / "summary.json", write)
    return summary


def execute(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run the demo for the parsed ``args`` and print the summary; returns the exit status.

    An unusable ``--env`` is reported through ``parser.error`` (a usage message and exit status 2).
    """
    try:
        check_env(args.env)
    except ValueError as error:
        parser.error(str(error))
    missing = [name for name in _export_requirements(args) if importlib.util.find_spec(name) is None]
    if missing:
        parser.error(f"--export {args.export} needs {', '.join(missing)}: pip install 'mixrl[export]'")
    return report(run(args), quiet=args.quiet)


def _export_requirements(args: argparse.Namespace) -> list[str]:
    """Packages that ``--export`` (and ``--backend jax`` with it: the torch twin) needs besides the backend."""
    if args.export is None:
        return []
    return (["onnx", "onnxruntime"] if args.export == "onnx" else []) + (["torch"] if args.backend == "jax" else [])


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m mixrl.demo`` (``mixrl demo`` goes through :mod:`mixrl.__main__`)."""
    parser = add_arguments(argparse.ArgumentParser(prog="mixrl demo", description=DESCRIPTION))
    return execute(parser.parse_args(argv), parser)


def report(summary: Summary, quiet: bool = False) -> int:
    """Print the summary (one line when ``quiet``); exit status 0."""
    if quiet:
        print(f"{summary.env}: mean evaluation return {summary.evaluation_mean:.1f} ({summary.checkpoint})")
    else:
        print(summary.text())
    sys.stdout.flush()
    return 0
