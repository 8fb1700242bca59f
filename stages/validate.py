"""Stage validate: check the whole params.yaml before any other stage runs.

Every stage depends on its output, so a bad key stops `dvc repro` here, before any stage's
outputs are removed or rewritten. The output only records that the check passed: its content
never changes, so a valid edit does not invalidate anything by itself.
"""

import argparse
from pathlib import Path

from ticketleak.core import params
from ticketleak.core.cli import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", type=Path, default=Path("data/params.valid"))
    args = parser.parse_args()
    params.validate(params.read_yaml(args.params))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("params.yaml passed validation\n")


if __name__ == "__main__":
    run(main)
