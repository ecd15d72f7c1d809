"""``python -m mixrl.demo``: the same as ``mixrl demo``."""

from mixrl.demo.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
