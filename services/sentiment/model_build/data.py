"""Readers for the labelled sentiment data the default model is trained and checked on.

Why a module of its own: training, evaluation and the tests must agree on how
the files are split into lines and which labels count, and none of them may
ever copy the data into the repository. The data stays where the project's
shared data lives (``$REPWATCH_DATA_DIR``, default ``<repo>/../shared/data``)
and is read from there each time.

* UMSAB (``umsab/<language>/{train,val}_{text,labels}.txt``, Apache-2.0):
  one tweet per line, labels ``0`` negative, ``1`` neutral, ``2`` positive.
  Used for training (train split) and for model selection (val split).
* RuSentiTweet (``rusentitweet/train.csv``): no licence is stated, so it is
  used for *validation only* (Russian quality), never for training. Only the
  ``positive``/``neutral``/``negative`` rows count; ``speech`` and ``skip``
  are dropped.
* The extra sets (``extra/<name>/{train,val}.tsv``, header ``text<TAB>label``,
  labels by name), each with its own licence (see :data:`EXTRA_SETS`): Arabic
  tweets, Moroccan and Algerian Arabic, Mozambican Portuguese, and Russian
  with weak labels derived from emotions.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DATA_ENV",
    "EXTRA_SETS",
    "LABEL_NAMES",
    "RUSSIAN",
    "UMSAB_LANGUAGES",
    "DataError",
    "LabelledTexts",
    "ExtraSet",
    "LANGUAGE_CODES",
    "default_data_dir",
    "load_extra",
    "load_rusentitweet",
    "load_split",
    "load_umsab",
]

DATA_ENV = "REPWATCH_DATA_DIR"

LABEL_NAMES: tuple[str, str, str] = ("negative", "neutral", "positive")
"""Index = class id everywhere in model_build (and in the shipped id2label)."""

UMSAB_LANGUAGES: tuple[str, ...] = (
    "arabic",
    "english",
    "french",
    "german",
    "hindi",
    "italian",
    "portuguese",
    "spanish",
)

RUSSIAN = "russian"
"""Pseudo-language name for RuSentiTweet (validation only)."""

#: ISO 639-1 code of each UMSAB language and of RuSentiTweet: what the worker's language
#: detector says for such a text, and so the key of a per-language decision threshold
LANGUAGE_CODES: dict[str, str] = {
    "arabic": "ar",
    "english": "en",
    "french": "fr",
    "german": "de",
    "hindi": "hi",
    "italian": "it",
    "portuguese": "pt",
    "spanish": "es",
    RUSSIAN: "ru",
}


@dataclass(frozen=True)
class ExtraSet:
    """One of ``extra/``'s sets: where it comes from matters for weighting and for trust."""

    name: str
    #: ISO 639-1 code of its language (Moroccan/Algerian Arabic count as Arabic)
    lang: str
    domain: str
    licence: str
    #: labels derived from something else (emotions), not annotated as sentiment
    weak_labels: bool = False


EXTRA_SETS: dict[str, ExtraSet] = {
    s.name: s
    for s in (
        ExtraSet("arsarcasm-ar", "ar", "tweets", "MIT"),
        ExtraSet("afrisenti-ary", "ar", "tweets (Moroccan Arabic, mostly Latin script)", "CC BY 4.0"),
        ExtraSet("afrisenti-arq", "ar", "tweets (Algerian Arabic)", "CC BY 4.0"),
        ExtraSet("afrisenti-por", "pt", "tweets (Mozambican Portuguese)", "CC BY 4.0"),
        ExtraSet("cedr-ru", "ru", "tweets, LiveJournal posts, news sentences", "Apache-2.0", weak_labels=True),
    )
}

_REPO_ROOT = Path(__file__).resolve().parents[3]


class DataError(RuntimeError):
    """A data file is missing or malformed; the message names the file."""


@dataclass(frozen=True)
class LabelledTexts:
    """Texts with class ids (0 negative, 1 neutral, 2 positive), aligned by index."""

    name: str
    texts: tuple[str, ...]
    labels: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise DataError(f"{self.name}: {len(self.texts)} texts but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.texts)


def default_data_dir() -> Path:
    """``$REPWATCH_DATA_DIR`` or ``<repo root>/../shared/data`` (the data is never in the repo)."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    return (_REPO_ROOT.parent / "shared" / "data").resolve()


def _read_lines(path: Path) -> list[str]:
    """Lines split on ``\\n`` only.

    ``str.splitlines`` would also split on U+2028, form feeds and the like,
    which do occur inside tweets and would shift every later label by one.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    if text.endswith("\n"):
        text = text[:-1]
    return [line.rstrip("\r") for line in text.split("\n")] if text else []


def load_split(data_dir: Path, language: str, split: str) -> LabelledTexts:
    """One UMSAB split (``train`` or ``val``) of one language."""
    if split not in ("train", "val"):
        # Test splits are deliberately not part of the shared data; don't go looking.
        raise ValueError(f"split must be 'train' or 'val', not {split!r}")
    base = Path(data_dir) / "umsab" / language
    texts = _read_lines(base / f"{split}_text.txt")
    raw = _read_lines(base / f"{split}_labels.txt")
    try:
        labels = [int(x) for x in raw]
    except ValueError as exc:
        raise DataError(f"{base / f'{split}_labels.txt'}: {exc}") from None
    if any(y not in (0, 1, 2) for y in labels):
        raise DataError(f"{base / f'{split}_labels.txt'}: labels must be 0, 1 or 2")
    return LabelledTexts(f"umsab/{language}/{split}", tuple(texts), tuple(labels))


def load_umsab(data_dir: Path, split: str, languages: tuple[str, ...] = UMSAB_LANGUAGES) -> dict[str, LabelledTexts]:
    """The given split for several languages, keyed by language."""
    return {lang: load_split(data_dir, lang, split) for lang in languages}


def load_rusentitweet(data_dir: Path) -> LabelledTexts:
    """RuSentiTweet's three sentiment classes (validation only: the set has no licence)."""
    path = Path(data_dir) / "rusentitweet" / "train.csv"
    index = {name: i for i, name in enumerate(LABEL_NAMES)}
    texts: list[str] = []
    labels: list[int] = []
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                label = (row.get("label") or "").strip().lower()
                if label in index:
                    texts.append(row["text"])
                    labels.append(index[label])
    except (OSError, KeyError, csv.Error) as exc:
        raise DataError(f"cannot read {path}: {exc!r}") from None
    return LabelledTexts("rusentitweet", tuple(texts), tuple(labels))


def load_extra(data_dir: Path, name: str, split: str) -> LabelledTexts:
    """One split of one of ``extra/``'s sets (``train`` or ``val``)."""
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', not {split!r}")
    if name not in EXTRA_SETS:
        raise ValueError(f"unknown extra set {name!r}; known: {', '.join(EXTRA_SETS)}")
    path = Path(data_dir) / "extra" / name / f"{split}.tsv"
    index = {label: i for i, label in enumerate(LABEL_NAMES)}
    lines = _read_lines(path)
    if not lines or lines[0].split("\t") != ["text", "label"]:
        raise DataError(f"{path}: expected a 'text<TAB>label' header")
    texts: list[str] = []
    labels: list[int] = []
    for n, line in enumerate(lines[1:], start=2):
        text, sep, label = line.rpartition("\t")
        if not sep or label not in index:
            raise DataError(f"{path}:{n}: expected 'text<TAB>negative|neutral|positive'")
        texts.append(text)
        labels.append(index[label])
    return LabelledTexts(f"extra/{name}/{split}", tuple(texts), tuple(labels))
