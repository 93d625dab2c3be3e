"""``make bench-sentiment``: the worker's engine against ``transformers.pipeline``.

Same model, same texts, same machine, measured in one run: texts/s of
``pipeline("text-classification")`` with its default settings, then of the
engine in each precision the device supports, printed as ratios with the
label agreement against the pipeline. Nothing here asserts a speed: it prints.

Texts are real tweets from the UMSAB validation splits when ``../shared/data``
(or ``REPWATCH_DATA_DIR``) is there, else the simulated world's mentions.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from services.sentiment.engine import EngineOptions, SentimentEngine
from services.sentiment.labels import OURS, decide_labels, mapping_matrix


def load_texts(n: int, seed: int) -> tuple[list[str], str]:
    data_dir = Path(os.environ.get("REPWATCH_DATA_DIR", Path(__file__).resolve().parents[2] / ".." / "shared" / "data"))
    umsab = data_dir / "umsab"
    texts: list[str] = []
    if umsab.is_dir():
        for lang_dir in sorted(p for p in umsab.iterdir() if p.is_dir()):
            for split in ("val_text.txt", "train_text.txt"):
                f = lang_dir / split
                if f.is_file():
                    texts.extend(line.strip() for line in f.read_text(encoding="utf-8").splitlines() if line.strip())
        source = f"UMSAB tweets ({umsab})"
    if not texts:
        # A dev tool's fallback (``make bench-sentiment`` without the data sets): the simulated
        # world's mentions, imported here and only here, because a production service does not
        # depend on the simulation at import time.
        from itertools import islice

        from simulation.scenarios import build_scenario

        stream = build_scenario("demo", seed=seed, weeks=1.0).stream()
        texts = [s.mention.text for s in islice(stream, n * 2) if s.mention.text]
        source = "simulated mentions"
    rng = random.Random(seed)
    rng.shuffle(texts)
    if len(texts) < n:  # a GPU needs more texts than the val+train splits hold to be timed
        source += f", {len(texts)} distinct, repeated"
        texts = [texts[i % len(texts)] for i in range(n)]
    return texts[:n], source


def timed(fn: Callable[[], np.ndarray], sync: bool) -> tuple[np.ndarray, float]:
    if sync:
        torch.cuda.synchronize()
    started = time.perf_counter()
    out = fn()
    if sync:
        torch.cuda.synchronize()
    return out, time.perf_counter() - started


def pipeline_labels(model: str, texts: Sequence[str], device: str) -> tuple[np.ndarray, float]:
    from transformers import pipeline

    clf = pipeline("text-classification", model=model, device=device)
    mapping = mapping_matrix(clf.model.config.id2label)
    name_to_ours = {clf.model.config.id2label[i]: int(mapping[i].argmax()) for i in range(mapping.shape[0])}
    clf(list(texts[: min(len(texts), 200)]))  # warm-up: kernels for the common lengths
    sync = device.startswith("cuda")
    out, seconds = timed(lambda: np.array([name_to_ours[r["label"]] for r in clf(list(texts))]), sync)
    return out, seconds


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=os.environ.get("REPWATCH_SENTIMENT_MODEL", ""))
    p.add_argument("--device", default="auto")
    p.add_argument("--texts", type=int, default=None, help="texts for the engine (default: 2000 CPU, 50000 GPU)")
    p.add_argument("--pipeline-texts", type=int, default=None, help="texts for pipeline() (default: 600 / 5000)")
    p.add_argument("--batch-size", type=int, default=None, help="engine batch size (default: 64 CPU, 1024 GPU)")
    p.add_argument("--precisions", default=None, help="comma list (default: fp32,bf16 on CPU; bf16,fp16 on GPU)")
    p.add_argument("--seed", type=int, default=13)
    args = p.parse_args(argv)

    from services.sentiment.main import resolve_model

    model = resolve_model(args.model)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    gpu = device.startswith("cuda")
    n_engine = args.texts or (50_000 if gpu else 2000)
    n_pipe = min(args.pipeline_texts or (5000 if gpu else 600), n_engine)
    precisions = (args.precisions or ("bf16,fp16" if gpu else "fp32,bf16")).split(",")
    texts, source = load_texts(n_engine, args.seed)
    n_pipe = min(n_pipe, len(texts))

    probe = SentimentEngine(model, EngineOptions(device=device, tokenizer_processes=0))
    prefixed = [probe.text_prefix + t for t in texts]  # the pipeline gets exactly what the engine feeds the model
    probe.close()
    print(
        f"model: {model}\ndevice: {device} ({torch.cuda.get_device_name() if gpu else _cpu_name()}), "
        f"torch threads {torch.get_num_threads()}\ntexts: {source}; engine {len(texts)}, pipeline {n_pipe}"
    )

    print("\nrunning transformers.pipeline('text-classification') with default settings ...", flush=True)
    pipe_labels, pipe_s = pipeline_labels(model, prefixed[:n_pipe], device)
    pipe_rate = n_pipe / pipe_s
    rows: list[tuple] = [("pipeline() defaults", pipe_rate, 1.0, 1.0)]
    for precision in precisions:
        opts = EngineOptions(device=device, batch_size=args.batch_size or 0, precision=precision)
        with SentimentEngine(model, opts) as engine:
            print(f"running the engine, {precision}, batch {engine.batch_size} ...", flush=True)
            # Two passes over the same texts: the first meets every batch shape for the
            # first time (GPU kernel selection, allocator growth), as a freshly started
            # worker does; the second is the steady state a running worker settles into.
            _, first = timed(lambda e=engine: e.predict_proba(texts), gpu)
            probs, seconds = timed(lambda e=engine: e.predict_proba(texts), gpu)
        rate = len(texts) / seconds
        agree = float(np.mean(decide_labels(probs[:n_pipe]) == pipe_labels))
        rows.append((f"engine {precision}", rate, rate / pipe_rate, agree, len(texts) / first))

    print(f"\n{'':24}{'texts/s':>10}{'× pipeline':>12}{'label agreement':>18}{'first pass':>13}")
    for name, rate, ratio, agree, *first_rate in rows:
        tail = f"{first_rate[0]:>11.0f}/s" if first_rate else ""
        print(f"{name:24}{rate:>10.0f}{ratio:>11.1f}×{agree:>17.2%}{tail}")
    print("(texts/s: second pass over the texts, the steady state; first pass: cold batch shapes)")
    dist = np.bincount(pipe_labels, minlength=3) / len(pipe_labels)
    print("\npipeline label mix: " + ", ".join(f"{OURS[i].value} {dist[i]:.0%}" for i in range(3)))
    return 0


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores"
    except OSError:
        pass
    return f"{os.cpu_count()} cores"


if __name__ == "__main__":
    sys.exit(main())
