"""The ``mixrl`` command (also ``python -m mixrl``): ``mixrl demo [--env ...] [--steps ...] ...``."""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``) and run the sub-command; returns the exit status."""
    from mixrl import __version__
    from mixrl.demo.cli import DESCRIPTION, add_arguments, execute

    parser = argparse.ArgumentParser(prog="mixrl", description="mixrl: RL agent models for PyTorch and JAX/Flax.")
    parser.add_argument("--version", action="version", version=f"mixrl {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = add_arguments(commands.add_parser("demo", help=DESCRIPTION, description=DESCRIPTION))
    args = parser.parse_args(argv)
    return execute(args, demo)  # the only command so far


if __name__ == "__main__":
    raise SystemExit(main())
