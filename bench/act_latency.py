"""Per-call latency of mixrl's PyTorch ``act`` against the same network and math written by hand.

Every case builds three contenders with identical weights:

* **floor**: the ``nn.Sequential`` network plus the distribution math written by hand in plain torch;
* **mixrl**: the mixrl model (``Model`` + mixin);
* **skrl** (optional): the equivalent skrl 1.x model, skipped when skrl is not installed.

For each (case, batch size, mode) the contenders are timed in interleaved blocks of ``K`` calls
(order rotated every repetition) and the report gives, per contender, the median over repetitions
of ``t_contender / t_floor`` for the same repetition, and the floor's median time per call.

Run from the repository root::

    python bench/act_latency.py                 # full run (a few minutes at most)
    python bench/act_latency.py --quick         # smoke test (seconds)
    python bench/act_latency.py --cases gaussian --batches 1 --modes inference --reps 50 --json out.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium
import torch
from torch import nn

try:
    import mixrl  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mixrl.models.torch import CategoricalMixin, GaussianMixin, Model  # noqa: E402

try:
    import skrl
    from skrl.models.torch import CategoricalMixin as SkrlCategoricalMixin
    from skrl.models.torch import GaussianMixin as SkrlGaussianMixin
    from skrl.models.torch import Model as SkrlModel
except ImportError:
    skrl = None

Inputs = dict[str, torch.Tensor]
HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)
ROLE = "policy"
SEED = 0


# ====================================================================== cases


@dataclass(frozen=True)
class Case:
    """One model to benchmark: how to build each contender and its inputs.

    Attributes:
        name: row label and ``--cases`` key.
        build_mixrl: builds the mixrl model (its weights are the reference).
        build_floor: builds the hand-written floor from the mixrl model (copies its weights).
        build_skrl: builds the skrl model from the mixrl model (copies its weights); ``None`` if there is none.
        make_inputs: ``(batch, generator) -> {"states": ..., "taken_actions": ...}``.
    """

    name: str
    build_mixrl: Callable[[], nn.Module]
    build_floor: Callable[[nn.Module], nn.Module]
    build_skrl: Callable[[nn.Module], nn.Module] | None
    make_inputs: Callable[[int, torch.Generator], Inputs]


def copy_weights(target: nn.Module, source: nn.Module) -> nn.Module:
    """Load ``source``'s state dict into ``target`` (same parameter names) and return ``target``."""
    target.load_state_dict(source.state_dict())
    return target


# ---------------------------------------------------------------------- Gaussian

GAUSSIAN_OBS, GAUSSIAN_ACT = 17, 6


def gaussian_net() -> nn.Sequential:
    """MLP 17-256-256-6 with ReLU: the mean-action network of the Gaussian case."""
    return nn.Sequential(
        nn.Linear(GAUSSIAN_OBS, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, GAUSSIAN_ACT)
    )


def gaussian_policy(model_cls: type, mixin_cls: type) -> nn.Module:
    """The Gaussian policy written against a framework's ``Model`` and ``GaussianMixin`` (mixrl or skrl)."""

    class GaussianPolicy(mixin_cls, model_cls):
        def __init__(self) -> None:
            obs = gymnasium.spaces.Box(-math.inf, math.inf, (GAUSSIAN_OBS,))
            act = gymnasium.spaces.Box(-1.0, 1.0, (GAUSSIAN_ACT,))
            model_cls.__init__(self, obs, act, device="cpu")
            mixin_cls.__init__(
                self, clip_actions=False, clip_log_std=True, min_log_std=-20, max_log_std=2, reduction="sum"
            )
            self.net = gaussian_net()
            self.log_std_parameter = nn.Parameter(torch.zeros(GAUSSIAN_ACT))

        def compute(self, inputs: Inputs, role: str = "") -> tuple[torch.Tensor, torch.Tensor, dict]:
            return self.net(inputs["states"]), self.log_std_parameter, {}

    return GaussianPolicy()


class GaussianFloor(nn.Module):
    """Hand-written diagonal Gaussian policy with a clamped state-independent log-std, reduction sum."""

    def __init__(self) -> None:
        super().__init__()
        self.net = gaussian_net()
        self.log_std_parameter = nn.Parameter(torch.zeros(GAUSSIAN_ACT))
        self._last: tuple[torch.Tensor, torch.Tensor] | None = None

    def act(self, inputs: Inputs, role: str = "") -> tuple[torch.Tensor, torch.Tensor, dict]:
        """Reparameterised sample and the log-density of it (or of ``inputs["taken_actions"]``)."""
        mean = self.net(inputs["states"])
        log_std = self.log_std_parameter.clamp(-20.0, 2.0)
        std = log_std.exp()
        actions = mean + std * torch.randn_like(mean)
        taken = inputs.get("taken_actions")
        x = actions if taken is None else taken
        log_prob = (-0.5 * ((x - mean) / std) ** 2 - log_std - HALF_LOG_TWO_PI).sum(-1, keepdim=True)
        self._last = (mean, log_std)
        return actions, log_prob, {"mean_actions": mean}

    def get_entropy(self, role: str = "") -> torch.Tensor:
        """Element-wise entropy (batch, A) of the last distribution."""
        mean, log_std = self._last
        return (0.5 + HALF_LOG_TWO_PI + log_std).expand_as(mean)


def gaussian_inputs(batch: int, generator: torch.Generator) -> Inputs:
    """Random states (batch, 17) and taken actions (batch, 6)."""
    states = torch.randn(batch, GAUSSIAN_OBS, generator=generator)
    return {"states": states, "taken_actions": torch.randn(batch, GAUSSIAN_ACT, generator=generator)}


GAUSSIAN = Case(
    name="gaussian",
    build_mixrl=lambda: gaussian_policy(Model, GaussianMixin),
    build_floor=lambda reference: copy_weights(GaussianFloor(), reference),
    build_skrl=lambda reference: copy_weights(gaussian_policy(SkrlModel, SkrlGaussianMixin), reference),
    make_inputs=gaussian_inputs,
)


# ---------------------------------------------------------------------- Categorical

CATEGORICAL_OBS, CATEGORICAL_N = 4, 2


def categorical_net() -> nn.Sequential:
    """MLP 4-64-64-2 with ReLU producing logits."""
    return nn.Sequential(
        nn.Linear(CATEGORICAL_OBS, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, CATEGORICAL_N)
    )


def categorical_policy(model_cls: type, mixin_cls: type) -> nn.Module:
    """The categorical policy written against a framework's ``Model`` and ``CategoricalMixin``."""

    class CategoricalPolicy(mixin_cls, model_cls):
        def __init__(self) -> None:
            obs = gymnasium.spaces.Box(-math.inf, math.inf, (CATEGORICAL_OBS,))
            model_cls.__init__(self, obs, gymnasium.spaces.Discrete(CATEGORICAL_N), device="cpu")
            mixin_cls.__init__(self, unnormalized_log_prob=True)
            self.net = categorical_net()

        def compute(self, inputs: Inputs, role: str = "") -> tuple[torch.Tensor, dict]:
            return self.net(inputs["states"]), {}

    return CategoricalPolicy()


class CategoricalFloor(nn.Module):
    """Hand-written categorical policy over logits."""

    def __init__(self) -> None:
        super().__init__()
        self.net = categorical_net()
        self._last: torch.Tensor | None = None

    def act(self, inputs: Inputs, role: str = "") -> tuple[torch.Tensor, torch.Tensor, dict]:
        """One sample per row and its log-probability (or that of ``inputs["taken_actions"]``)."""
        logits = self.net(inputs["states"])
        logp_all = torch.log_softmax(logits, -1)
        actions = torch.multinomial(logp_all.exp(), 1)
        taken = inputs.get("taken_actions")
        log_prob = logp_all.gather(-1, actions if taken is None else taken)
        self._last = logp_all
        return actions, log_prob, {"net_output": logits}

    def get_entropy(self, role: str = "") -> torch.Tensor:
        """Entropy (batch,) of the last distribution."""
        logp_all = self._last
        return -(logp_all.exp() * logp_all).sum(-1)


def categorical_inputs(batch: int, generator: torch.Generator) -> Inputs:
    """Random states (batch, 4) and taken actions (batch, 1) int64."""
    states = torch.randn(batch, CATEGORICAL_OBS, generator=generator)
    return {"states": states, "taken_actions": torch.randint(0, CATEGORICAL_N, (batch, 1), generator=generator)}


CATEGORICAL = Case(
    name="categorical",
    build_mixrl=lambda: categorical_policy(Model, CategoricalMixin),
    build_floor=lambda reference: copy_weights(CategoricalFloor(), reference),
    build_skrl=lambda reference: copy_weights(categorical_policy(SkrlModel, SkrlCategoricalMixin), reference),
    make_inputs=categorical_inputs,
)

CASES: dict[str, Case] = {case.name: case for case in (GAUSSIAN, CATEGORICAL)}


# ====================================================================== modes


def inference_step(model: nn.Module, inputs: Inputs) -> None:
    """One rollout call: ``act`` on states only (the caller holds ``torch.no_grad``)."""
    model.act(inputs, role=ROLE)


def update_step(model: nn.Module, inputs: Inputs) -> None:
    """One PPO-style update call: log-prob of taken actions, entropy, loss, backward."""
    model.zero_grad(set_to_none=True)
    _, log_prob, _ = model.act(inputs, role=ROLE)
    entropy = model.get_entropy(ROLE)
    loss = -(log_prob.mean()) - 0.01 * entropy.mean()
    loss.backward()


@dataclass(frozen=True)
class Mode:
    """How to call a contender: the step, the input keys it sees, and whether autograd is off."""

    step: Callable[[nn.Module, Inputs], None]
    keys: tuple[str, ...]
    no_grad: bool


MODES: dict[str, Mode] = {
    "inference": Mode(inference_step, ("states",), no_grad=True),
    "update": Mode(update_step, ("states", "taken_actions"), no_grad=False),
}


# ====================================================================== measurement


@dataclass(frozen=True)
class Settings:
    """Measurement knobs: repetitions, target block duration and warm-up duration."""

    reps: int
    block_ns: int
    warmup_ns: int


def time_block(model: nn.Module, mode: Mode, inputs: Inputs, calls: int) -> int:
    """Wall time in ns of ``calls`` consecutive steps of ``mode`` on ``model``."""
    with torch.no_grad() if mode.no_grad else contextlib.nullcontext():
        start = time.perf_counter_ns()
        for _ in range(calls):
            mode.step(model, inputs)
        return time.perf_counter_ns() - start


def warm_up(model: nn.Module, mode: Mode, inputs: Inputs, duration_ns: int) -> float:
    """Run ``model`` for at least ``duration_ns`` (3 blocks or more); return the ns per call of the last block.

    Block sizes double while blocks are short, so the first, slow calls (lazy initialisation) never
    dominate the returned estimate.
    """
    calls, blocks, start = 1, 0, time.perf_counter_ns()
    while True:
        elapsed = time_block(model, mode, inputs, calls)
        blocks += 1
        if blocks >= 3 and time.perf_counter_ns() - start >= duration_ns:
            return elapsed / calls
        if elapsed < duration_ns // 8:
            calls *= 2


def measure(contenders: dict[str, nn.Module], mode: Mode, inputs: Inputs, calls: int, reps: int) -> dict[str, list]:
    """Interleaved blocks: per repetition one block per contender, order rotated by one each repetition."""
    names = list(contenders)
    times: dict[str, list[int]] = {name: [] for name in names}
    for rep in range(reps):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(time_block(contenders[name], mode, inputs, calls))
    return times


def quartiles(values: Sequence[float]) -> dict[str, float]:
    """25th percentile, median and 75th percentile (all equal to the value for a single sample)."""
    if len(values) == 1:
        return {"q25": values[0], "median": values[0], "q75": values[0]}
    q25, median, q75 = statistics.quantiles(values, n=4, method="inclusive")
    return {"q25": q25, "median": median, "q75": q75}


def summarise(times: dict[str, list[int]], calls: int) -> dict[str, Any]:
    """Floor µs/call (median) and, per other contender, quartiles of the paired ratio ``t / t_floor``."""
    floor = times["floor"]
    ratios = {}
    for name, values in times.items():
        if name != "floor":
            ratios[name] = quartiles([t / f for t, f in zip(values, floor, strict=True)])
    return {"floor_us": statistics.median(floor) / calls / 1e3, "ratios": ratios}


def bench_one(contenders: dict[str, nn.Module], mode: Mode, inputs: Inputs, settings: Settings) -> dict[str, Any]:
    """Warm every contender, pick K from the floor's speed, measure and summarise one (case, batch, mode)."""
    inputs = {key: inputs[key] for key in mode.keys}
    per_call = {name: warm_up(model, mode, inputs, settings.warmup_ns) for name, model in contenders.items()}
    calls = max(1, min(10_000, round(settings.block_ns / per_call["floor"])))
    times = measure(contenders, mode, inputs, calls, settings.reps)
    return {"calls_per_block": calls, "times_ns": times, **summarise(times, calls)}


# ====================================================================== contenders


def build_contenders(case: Case, use_skrl: bool) -> dict[str, nn.Module]:
    """Floor, mixrl and (when available) skrl models of ``case``, all with the mixrl model's weights."""
    torch.manual_seed(SEED)
    reference = case.build_mixrl()
    contenders = {"floor": case.build_floor(reference), "mixrl": reference}
    if use_skrl and case.build_skrl is not None:
        contenders["skrl"] = case.build_skrl(reference)
    return contenders


def check_equivalent(contenders: dict[str, nn.Module], inputs: Inputs) -> None:
    """Fail loudly unless every contender gives the floor's log-prob of the taken actions and entropy."""
    with torch.no_grad():
        _, floor_log_prob, _ = contenders["floor"].act(inputs, role=ROLE)
        floor_entropy = contenders["floor"].get_entropy(ROLE)
        for name, model in contenders.items():
            _, log_prob, _ = model.act(inputs, role=ROLE)
            entropy = model.get_entropy(ROLE)
            torch.testing.assert_close(log_prob, floor_log_prob, msg=lambda m, n=name: f"{n} log_prob: {m}")
            torch.testing.assert_close(
                entropy.reshape(floor_entropy.shape), floor_entropy, msg=lambda m, n=name: f"{n} entropy: {m}"
            )


def run(args: argparse.Namespace, settings: Settings) -> list[dict[str, Any]]:
    """Benchmark every selected (case, batch, mode); print progress to stderr; return the rows."""
    rows = []
    for case in (CASES[name] for name in args.cases):
        contenders = build_contenders(case, use_skrl=skrl is not None and not args.no_skrl)
        for batch in args.batches:
            inputs = case.make_inputs(batch, torch.Generator().manual_seed(SEED + batch))
            check_equivalent(contenders, inputs)
            for mode_name in args.modes:
                result = bench_one(contenders, MODES[mode_name], inputs, settings)
                rows.append({"model": case.name, "batch": batch, "mode": mode_name, **result})
                print(f"  done {case.name} batch={batch} {mode_name} (K={result['calls_per_block']})", file=sys.stderr)
    return rows


# ====================================================================== report


def environment(args: argparse.Namespace) -> dict[str, Any]:
    """Versions, threads and the command line, for the report and the JSON file."""
    skrl_used = skrl is not None and not args.no_skrl
    return {
        "command": shlex.join([sys.executable, *sys.argv]),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "skrl": skrl.__version__ if skrl_used else None,
        "platform": platform.platform(),
    }


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The report table: floor µs/call and the median paired ratios."""
    lines = [
        "| model | batch | mode | floor µs/call | mixrl / floor | skrl / floor |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for row in rows:
        ratios = row["ratios"]
        cells = [f"{ratios[name]['median']:.2f}" if name in ratios else "n/a" for name in ("mixrl", "skrl")]
        head = f"| {row['model']} | {row['batch']} | {row['mode']} | {row['floor_us']:.1f} | "
        lines.append(head + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(rows: list[dict[str, Any]], env: dict[str, Any], settings: Settings) -> str:
    """The full Markdown report: table plus environment and method lines."""
    skrl_note = f"skrl {env['skrl']}" if env["skrl"] else "skrl not installed (or --no-skrl): its column is skipped"
    return "\n".join(
        [
            markdown_table(rows),
            "",
            f"torch {env['torch']}, {env['threads']} thread(s), Python {env['python']}, {skrl_note}",
            f"median over {settings.reps} interleaved repetitions of ~{settings.block_ns / 1e6:g} ms blocks",
            f"command: `{env['command']}`",
        ]
    )


# ====================================================================== CLI


def csv_list(choices: Sequence[str] | None = None, convert: Callable[[str], Any] = str) -> Callable[[str], list]:
    """argparse type for a comma-separated list, optionally checked against ``choices``."""

    def parse(text: str) -> list:
        items = [convert(item.strip()) for item in text.split(",") if item.strip()]
        unknown = [item for item in items if choices is not None and item not in choices]
        if unknown or not items:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {list(choices or [])}, got {text!r}")
        return items

    return parse


def positive_int(text: str) -> int:
    """argparse type for an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke test: 3 repetitions of short blocks")
    parser.add_argument("--reps", type=positive_int, help="repetitions (default 30, 3 with --quick)")
    parser.add_argument("--block-ms", type=float, help="target duration of a floor block (default 10, 1 with --quick)")
    parser.add_argument("--cases", type=csv_list(list(CASES)), default=list(CASES), help="comma-separated cases")
    parser.add_argument("--batches", type=csv_list(convert=positive_int), default=[1, 64, 4096], help="e.g. 1,64,4096")
    parser.add_argument("--modes", type=csv_list(list(MODES)), default=list(MODES), help="inference,update")
    parser.add_argument("--no-skrl", action="store_true", help="leave skrl out even when it is installed")
    parser.add_argument("--json", type=Path, help="also write the raw numbers to this JSON file")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print the Markdown report (and write the JSON file when asked)."""
    args = parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    reps = args.reps if args.reps is not None else (3 if args.quick else 30)
    block_ms = args.block_ms if args.block_ms is not None else (1.0 if args.quick else 10.0)
    settings = Settings(reps=reps, block_ns=int(block_ms * 1e6), warmup_ns=int((20 if args.quick else 200) * 1e6))
    rows = run(args, settings)
    env = environment(args)
    print(report(rows, env, settings))
    if args.json is not None:
        payload = {"environment": env, "settings": vars(settings), "rows": rows}
        args.json.write_text(json.dumps(payload, indent=1))


if __name__ == "__main__":
    main()
