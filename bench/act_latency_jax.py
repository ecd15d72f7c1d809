"""Per-call latency of mixrl's JAX ``act`` against the same network and math in a hand-written ``jax.jit``.

Contenders per case (see ``jax_cases.py``), all with the same parameters:

* **floor**: one ``jax.jit`` function ``(params, states, key) -> (actions, log_prob, outputs, next_key)``,
  the caller keeping the returned key (what a careful engineer writes by hand);
* **mixrl**: ``model.act({"states": states}, role="policy")`` (eval mode, the model's own key);
* **skrl** (optional): skrl 1.4.3's JAX model with ``model.apply = jax.jit(model.apply, static_argnums=2)``
  as skrl's agents do; ``n/a`` when skrl is not importable or its ``act`` fails with this JAX version.

Every call is followed by ``jax.block_until_ready`` on its outputs (latency, not throughput). For each
(case, batch) the contenders run in interleaved blocks of ``K`` calls, the order rotated every
repetition; the report gives the floor's median µs per call and, per contender, the median over
repetitions of the paired ratio ``t_contender / t_floor``.

One intra-op thread: ``XLA_FLAGS`` is set below *before* jax is imported (XLA reads it once, when its
CPU backend starts), so the measurement shows per-call overhead rather than multi-threading. Run from
the repository root::

    python bench/act_latency_jax.py             # full run
    python bench/act_latency_jax.py --quick     # smoke test (seconds)
    python bench/act_latency_jax.py --batches 1 --reps 100 --json out.json
"""

from __future__ import annotations

import os

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
).strip()

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402

if str(Path(__file__).resolve().parent) not in sys.path:  # imported rather than run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from jax_cases import CASES, Case  # noqa: E402

ROLE = "policy"
Step = Callable[[], Any]


def steps(case: Case, batch: int, use_skrl: bool) -> tuple[dict[str, Step], str]:
    """One zero-argument call per contender (each blocks until its outputs are ready), and a skrl note."""
    model, floor = case.build()
    params = model.state_dict.params
    states = jax.device_put(np.random.default_rng(0).uniform(-1, 1, (batch, case.observations)).astype(np.float32))
    check_equivalent(model, floor, params, states)
    floor_key = [jax.random.PRNGKey(1)]

    def floor_step() -> None:
        out = floor(params, states, floor_key[0])
        floor_key[0] = out[-1]
        jax.block_until_ready(out)

    def mixrl_step() -> None:
        jax.block_until_ready(model.act({"states": states}, role=ROLE))

    contenders = {"floor": floor_step, "mixrl": mixrl_step}
    note = "not requested"
    if use_skrl:
        try:
            skrl_model = case.build_skrl(params)
            jax.block_until_ready(skrl_model.act({"states": states}, role=ROLE))
        except Exception as error:  # skrl is optional: any failure (missing, incompatible JAX) gives n/a
            note = f"{type(error).__name__}: {error}".splitlines()[0][:120]
        else:

            def skrl_step() -> None:
                jax.block_until_ready(skrl_model.act({"states": states}, role=ROLE))

            contenders["skrl"] = skrl_step
            note = "ok"
    return contenders, note


def check_equivalent(model: Any, floor: Callable, params: Any, states: jax.Array) -> None:
    """Fail loudly unless mixrl, given the floor's sampling subkey, returns the floor's outputs."""
    key = jax.random.PRNGKey(7)
    want = floor(params, states, key)
    got = model.act({"states": states, "key": jax.random.split(key)[1]}, role=ROLE)
    for name, a, b in (("actions", got[0], want[0]), ("log_prob", got[1], want[1])):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5, err_msg=name)
    for name, value in want[2].items():
        np.testing.assert_allclose(np.asarray(got[2][name]), np.asarray(value), rtol=1e-5, atol=1e-5, err_msg=name)


def time_block(step: Step, calls: int) -> int:
    start = time.perf_counter_ns()
    for _ in range(calls):
        step()
    return time.perf_counter_ns() - start


def warm_up(step: Step, duration_ns: int) -> float:
    """Run ``step`` (compiling it) for at least ``duration_ns``; return ns per call of the last block."""
    calls, start = 1, time.perf_counter_ns()
    step()
    while True:
        elapsed = time_block(step, calls)
        if time.perf_counter_ns() - start >= duration_ns:
            return elapsed / calls
        calls *= 2


def measure(contenders: dict[str, Step], calls: int, reps: int) -> dict[str, list[int]]:
    """Interleaved blocks: per repetition one block per contender, the order rotated by one each time."""
    names = list(contenders)
    times: dict[str, list[int]] = {name: [] for name in names}
    for rep in range(reps):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(time_block(contenders[name], calls))
    return times


def quartiles(values: list[float]) -> dict[str, float]:
    if len(values) == 1:
        return {"q25": values[0], "median": values[0], "q75": values[0]}
    q25, median, q75 = statistics.quantiles(values, n=4, method="inclusive")
    return {"q25": q25, "median": median, "q75": q75}


def bench_one(case: Case, batch: int, args: argparse.Namespace) -> dict[str, Any]:
    contenders, skrl_note = steps(case, batch, not args.no_skrl)
    per_call = {name: warm_up(step, args.warmup_ms * 1_000_000) for name, step in contenders.items()}
    calls = max(1, min(10_000, round(args.block_ms * 1e6 / per_call["floor"])))
    times = measure(contenders, calls, args.reps)
    floor = times["floor"]
    ratios = {
        name: quartiles([t / f for t, f in zip(values, floor, strict=True)])
        for name, values in times.items()
        if name != "floor"
    }
    return {
        "case": case.name,
        "batch": batch,
        "calls_per_block": calls,
        "floor_us": statistics.median(floor) / calls / 1e3,
        "ratios": ratios,
        "skrl": skrl_note,
        "times_ns": times,
    }


def report(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| model | batch | floor µs/call | mixrl / floor | skrl / floor |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        skrl = row["ratios"].get("skrl")
        lines.append(
            f"| {row['case']} | {row['batch']} | {row['floor_us']:.1f} | {row['ratios']['mixrl']['median']:.2f} | "
            + (f"{skrl['median']:.2f}" if skrl else "n/a")
            + " |"
        )
    notes = sorted({f"skrl ({row['case']}): {row['skrl']}" for row in rows if row["skrl"] not in ("ok",)})
    return "\n".join(lines + [""] + notes)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke test: 3 short repetitions")
    parser.add_argument("--batches", default="1,64,4096", help="comma-separated batch sizes")
    parser.add_argument("--reps", type=int, default=None, help="repetitions (default 30, 3 with --quick)")
    parser.add_argument("--block-ms", type=float, default=None, help="target floor block length (default 10 ms)")
    parser.add_argument("--warmup-ms", type=float, default=None, help="warm-up per contender (default 200 ms)")
    parser.add_argument("--no-skrl", action="store_true", help="do not try skrl")
    parser.add_argument("--json", default=None, help="also write the raw block times to this file")
    args = parser.parse_args(argv)
    args.reps = args.reps or (3 if args.quick else 30)
    args.block_ms = args.block_ms or (1.0 if args.quick else 10.0)
    args.warmup_ms = args.warmup_ms or (20.0 if args.quick else 200.0)
    batches = [int(b) for b in args.batches.split(",")]

    rows = [bench_one(case, batch, args) for case in CASES for batch in batches]
    try:
        import skrl

        skrl_version = skrl.__version__
    except ImportError:
        skrl_version = "not installed"
    print(report(rows))
    print(
        f"\njax {jax.__version__}, {jax.devices()[0].platform}, XLA_FLAGS={os.environ['XLA_FLAGS']!r}, "
        f"skrl {skrl_version}, python {platform.python_version()}, reps {args.reps}, block {args.block_ms} ms"
    )
    print("command: python " + shlex.join(sys.argv))
    if args.json:
        Path(args.json).write_text(json.dumps({"argv": sys.argv, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
