"""Per-call latency of mixrl's PyTorch ``act`` against the same network and math written by hand.

Every case (see ``torch_cases.py``) builds its contenders with identical weights:

* **floor**: the ``nn.Sequential`` network plus the distribution math written by hand in plain torch;
* **mixrl**: the mixrl model (``Model`` + mixin);
* **skrl** (optional): the equivalent skrl 1.x model, skipped when skrl is not installed or the case has none;
* extra contenders of a case (``Case.build_extra``), e.g. ``mixrl_two_pass`` of ``shared_ppo``.

For each (case, batch size, mode) the contenders are timed in interleaved blocks of ``K`` calls
(order rotated every repetition) and the report gives, per contender, the median over repetitions
of ``t_contender / t_floor`` for the same repetition, the median paired ratios of the case's
``pairs`` (e.g. ``mixrl / mixrl_two_pass``), and the floor's median time per call.

Run from the repository root::

    python bench/act_latency.py                 # full run (a few minutes at most)
    python bench/act_latency.py --quick         # smoke test (seconds)
    python bench/act_latency.py --backend jax   # the JAX rows (jitted act vs a hand-written jax.jit)
    python bench/act_latency.py --cases gaussian --batches 1 --modes inference --reps 50 --json out.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

if str(Path(__file__).resolve().parent) not in sys.path:  # imported rather than run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from torch_cases import CASES, SKRL_VERSION, Case, Inputs  # noqa: E402

ROLE = "policy"
SEED = 0


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


def paired_ratios(numerator: Sequence[int], denominator: Sequence[int]) -> dict[str, float]:
    """Quartiles of the per-repetition ratio ``numerator[r] / denominator[r]``."""
    return quartiles([n / d for n, d in zip(numerator, denominator, strict=True)])


def pair_name(pair: tuple[str, str]) -> str:
    """Column / JSON key of a contender pair: ``"a / b"``."""
    return f"{pair[0]} / {pair[1]}"


def summarise(times: dict[str, list[int]], calls: int, pairs: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
    """Floor µs/call (median); per other contender, quartiles of ``t / t_floor``; per pair ``(a, b)``, of ``t_a / t_b``.

    Pairs with a contender missing from ``times`` are left out.
    """
    floor = times["floor"]
    ratios = {name: paired_ratios(values, floor) for name, values in times.items() if name != "floor"}
    pair_ratios = {
        pair_name(pair): paired_ratios(times[pair[0]], times[pair[1]]) for pair in pairs if set(pair) <= set(times)
    }
    return {"floor_us": statistics.median(floor) / calls / 1e3, "ratios": ratios, "pair_ratios": pair_ratios}


def bench_one(
    contenders: dict[str, nn.Module],
    mode: Mode,
    inputs: Inputs,
    settings: Settings,
    pairs: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """Warm every contender, pick K from the floor's speed, measure and summarise one (case, batch, mode)."""
    inputs = {key: inputs[key] for key in mode.keys}
    per_call = {name: warm_up(model, mode, inputs, settings.warmup_ns) for name, model in contenders.items()}
    calls = max(1, min(10_000, round(settings.block_ns / per_call["floor"])))
    times = measure(contenders, mode, inputs, calls, settings.reps)
    return {"calls_per_block": calls, "times_ns": times, **summarise(times, calls, pairs)}


# ====================================================================== contenders


def build_contenders(case: Case, use_skrl: bool) -> dict[str, nn.Module]:
    """Floor, mixrl, (when available) skrl and the extra models of ``case``, all with the mixrl model's weights."""
    torch.manual_seed(SEED)
    reference = case.build_mixrl()
    contenders = {"floor": case.build_floor(reference), "mixrl": reference}
    if use_skrl and case.build_skrl is not None:
        contenders["skrl"] = case.build_skrl(reference)
    for name, build in case.build_extra.items():
        if name in contenders:
            raise ValueError(f"case {case.name!r}: extra contender {name!r} clashes with a built-in one")
        contenders[name] = build(reference)
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
        contenders = build_contenders(case, use_skrl=SKRL_VERSION is not None and not args.no_skrl)
        for batch in args.batches:
            inputs = case.make_inputs(batch, torch.Generator().manual_seed(SEED + batch))
            check_equivalent(contenders, inputs)
            for mode_name in args.modes:
                result = bench_one(contenders, MODES[mode_name], inputs, settings, case.pairs)
                rows.append({"model": case.name, "batch": batch, "mode": mode_name, **result})
                print(f"  done {case.name} batch={batch} {mode_name} (K={result['calls_per_block']})", file=sys.stderr)
    return rows


# ====================================================================== report


def environment(args: argparse.Namespace) -> dict[str, Any]:
    """Versions, threads and the command line, for the report and the JSON file."""
    return {
        "command": shlex.join([sys.executable, *sys.argv]),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "skrl": None if args.no_skrl else SKRL_VERSION,
        "platform": platform.platform(),
    }


def union(keys: Iterable[str], first: Sequence[str] = ()) -> list[str]:
    """``first``, then every other key of ``keys`` in order of first appearance, without duplicates."""
    return list(dict.fromkeys([*first, *keys]))


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The report table: floor µs/call, the median ratios to the floor, then the median pair ratios.

    The ratio columns are ``mixrl`` and ``skrl``, then every other contender of the run, then every pair
    of the run; a row without that contender or pair reads ``n/a``.
    """
    names = union((name for row in rows for name in row["ratios"]), first=("mixrl", "skrl"))
    pairs = union(name for row in rows for name in row["pair_ratios"])
    columns = [("ratios", name) for name in names] + [("pair_ratios", name) for name in pairs]
    titles = [f"{name} / floor" for name in names] + pairs
    lines = [
        "| model | batch | mode | floor µs/call | " + " | ".join(titles) + " |",
        "|---|---:|---|---:|" + "---:|" * len(titles),
    ]
    for row in rows:
        cells = [f"{row[kind][name]['median']:.2f}" if name in row[kind] else "n/a" for kind, name in columns]
        head = f"| {row['model']} | {row['batch']} | {row['mode']} | {row['floor_us']:.1f} | "
        lines.append(head + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(rows: list[dict[str, Any]], env: dict[str, Any], settings: Settings) -> str:
    """The full Markdown report: table plus environment and method lines."""
    skrl_note = f"skrl {env['skrl']}" if env["skrl"] else "skrl not installed (or --no-skrl): its column reads n/a"
    pair_lines = [
        f"- {row['model']} batch {row['batch']} {row['mode']}: {name} = {q['median']:.2f}"
        f" (q25 {q['q25']:.2f}, q75 {q['q75']:.2f})"
        for row in rows
        for name, q in row["pair_ratios"].items()
    ]
    if pair_lines:  # e.g. shared_ppo's mixrl / mixrl_two_pass: single pass against two passes, < 1 when it pays
        pair_lines = ["Paired ratios between contenders (median and quartiles over repetitions):", *pair_lines, ""]
    return "\n".join(
        [
            markdown_table(rows),
            "",
            *pair_lines,
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
    """Run the benchmark and print the Markdown report (and write the JSON file when asked).

    ``--backend jax`` hands every other option to the JAX benchmark (``act_latency_jax.py``).
    """
    backend_parser = argparse.ArgumentParser(add_help=False)
    backend_parser.add_argument("--backend", choices=("torch", "jax"), default="torch")
    backend, rest = backend_parser.parse_known_args(argv)
    if backend.backend == "jax":
        import act_latency_jax  # sets XLA's one-thread flags before jax is first imported

        act_latency_jax.main(rest)
        return
    args = parse_args(rest)
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
