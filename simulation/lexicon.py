"""A stand-in sentiment model whose word lists come from the simulated world's own texts.

For tests, the chaos suite and ``make run`` before the default model is built: it
labels the world's mentions roughly as they were meant, so a test can know what
must alert. It knows nothing about real language, and whoever shows its output
must say so. The model itself is :func:`services.sentiment.stand_in.build_lexicon_model`
(a hand-wired BERT classifier loaded by the same code as any model); this module only
chooses its words.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from pathlib import Path

from simulation.scenarios import build_scenario

__all__ = ["build_simulation_lexicon_model", "lexicon_words"]

_WORD = re.compile(r"\w+")


def lexicon_words(*, seed: int = 1, sample: int = 20_000) -> tuple[set[str], set[str], set[str]]:
    """(negative, positive, every) word of ``sample`` people's mentions of the ``demo`` scenario
    (every incident kind, two languages): a word is negative (positive) when the world writes it
    at least 3 times, only in texts meant as complaints (praise)."""
    seen: dict[str, Counter[str]] = {"negative": Counter(), "neutral": Counter(), "positive": Counter()}
    run = build_scenario("demo", seed=seed, weeks=1.0).run()
    for post, event in itertools.islice(run.world.stream_posts(run.scripts), sample):
        text = event.mention.text
        if text and not post.is_brand:
            seen[post.intent].update(set(_WORD.findall(text.lower())))

    def only_in(intent: str) -> set[str]:
        others = [c for k, c in seen.items() if k != intent]
        return {w for w, n in seen[intent].items() if n >= 3 and not any(w in c for c in others)}

    return only_in("negative"), only_in("positive"), set().union(*seen.values())


def build_simulation_lexicon_model(out_dir: Path, *, seed: int = 1, sample: int = 20_000) -> Path:
    """Write the stand-in model to ``out_dir`` (its words from a seed the tests do not stream)."""
    from services.sentiment.stand_in import build_lexicon_model

    negative, positive, vocabulary = lexicon_words(seed=seed, sample=sample)
    return build_lexicon_model(out_dir, negative, positive, vocabulary)
