"""Write a scenario out, to try ``repwatch backtest`` on it or to look at it.

``python -m simulation --out events.jsonl [--labels labels.jsonl] [--brands brands.yaml]
[--scenario default] [--seed N] [--weeks W]`` writes the scenario's ``ScoredMention``
stream as JSONL (what ``mentions.scored`` carries, and what ``repwatch backtest``
reads), the labels as JSONL, and the brands file the scenario's world implies.
Deterministic: the same arguments write byte-identical files. The evaluation
itself (``python -m simulation.evaluate``) never writes the stream: it streams it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from simulation.scenarios import SCENARIOS, build_scenario


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m simulation", description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", default="default", choices=sorted(SCENARIOS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--weeks", type=float, default=None)
    p.add_argument("--out", type=Path, required=True, help="ScoredMention JSONL ('-' for stdout)")
    p.add_argument("--labels", type=Path, default=None, help="labels JSONL")
    p.add_argument("--brands", type=Path, default=None, help="brands file (YAML)")
    args = p.parse_args(argv)
    try:
        scenario = build_scenario(args.scenario, seed=args.seed, weeks=args.weeks)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    run = scenario.run()
    out = sys.stdout.buffer if str(args.out) == "-" else args.out.open("wb")
    n = 0
    try:
        for ev in run.stream():
            out.write(ev.to_bytes() + b"\n")
            n += 1
    finally:
        if out is not sys.stdout.buffer:
            out.close()
    if args.labels is not None:
        with args.labels.open("w", encoding="utf-8") as f:
            for lab in run.labels:
                f.write(json.dumps(lab.to_json(), ensure_ascii=False) + "\n")
    if args.brands is not None:
        data = scenario.brands_file().model_dump(mode="json", exclude_defaults=True)
        args.brands.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=True), encoding="utf-8")
    print(f"{n} events, {len(run.labels)} labels", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
