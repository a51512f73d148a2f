"""Write the state machine's definition where Terraform reads it, or check that it is up to date.

python -m tools.render_state_machine            # writes the template
python -m tools.render_state_machine --check    # exit 1 when the committed one differs
python -m tools.render_state_machine --example PATH   # a filled-in definition (for asl-validator)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from aurora_batch.orchestration.definition import render, render_template

TEMPLATE = Path(__file__).resolve().parent.parent / "modules/orchestration/templates/definition.asl.json.tftpl"
EXAMPLE_FUNCTION = "arn:aws:lambda:eu-west-1:123456789012:function:aurora-batch-dev-replication:live"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when the committed template is out of date")
    parser.add_argument("--example", type=Path, help="write a filled-in definition to this path")
    args = parser.parse_args(argv)
    if args.example is not None:
        filled = render(EXAMPLE_FUNCTION, table_concurrency=4, slice_concurrency=16)
        args.example.write_text(json.dumps(filled, indent=2) + "\n")
        return 0
    wanted = render_template()
    if args.check:
        if not TEMPLATE.exists() or TEMPLATE.read_text() != wanted:
            print(f"{TEMPLATE} is out of date: run python -m tools.render_state_machine", file=sys.stderr)
            return 1
        return 0
    TEMPLATE.parent.mkdir(parents=True, exist_ok=True)
    TEMPLATE.write_text(wanted)
    print(f"wrote {TEMPLATE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
