"""Near-duplicate text detection: character-shingle MinHash with an LSH index.

The returning-complainant detector asks one question: is this new complaint the
one the brand removed, typed again? People who come back rarely paste the exact
text: they fix a typo, swap two clauses, drop "у вас", add "!!!" or an emoji,
shout in capitals, or prefix "you deleted my comment, so again:". Character
n-grams over a normalised text survive all of that, and work for any script
(Cyrillic, Arabic, CJK have no word list to maintain here).

Everything is deterministic across processes and machines: the shingle hash is
a fixed polynomial over code points with a fixed 64-bit mixer, and the MinHash
family is a fixed multiply-add-shift family whose constants come from blake2b of
a constant seed. Python's salted ``hash()`` is never used for anything that is
stored or compared, so a signature computed before a restart matches one
computed after it. Signatures serialise to a short base64 string.

Pure: no I/O, no clock. Times in the index are plain floats (event-time epoch
seconds) chosen by the caller.
"""

from __future__ import annotations

import base64
import hashlib
import re
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

#: default shingle length. 4 keeps unrelated complaints in one language apart (a
#: shared "the " or " не " is not evidence) while a changed word only costs the
#: few shingles that touch it; measured on the paraphrase set in the tests.
SHINGLE = 4
#: default number of hash functions. The estimate's standard error is
#: sqrt(J(1-J)/k): 0.044 at J=0.5 with 128, small enough that a threshold of 0.5
#: does not flip on noise.
NUM_PERM = 128

_URL_OR_HANDLE = re.compile(r"(?:https?://|www\.)\S+|(?<!\w)[@＠][\w.]+")
_REPEATS = re.compile(r"(\w)\1{2,}")

# Letters that people type either way: Russian ё/е, Arabic alef and ya/ta marbuta
# forms, Persian/Arabic kaf and ya. Folding them is what a reader does too.
_FOLDS = {
    "ё": "е",
    "أ": "ا",
    "إ": "ا",
    "آ": "ا",
    "ٱ": "ا",
    "ى": "ي",
    "ة": "ه",
    "ک": "ك",
    "ی": "ي",
}


class _CharMap(dict[int, Any]):
    """``str.translate`` table built lazily per code point, so every script is covered
    without a table of all of Unicode: punctuation, symbols (emoji), separators and
    control characters become a space; combining marks (Arabic harakat, accents,
    emoji variation selectors), format characters (zero-width joiners) and
    modifier letters (Arabic tatweel) vanish; letters and digits stay."""

    def __missing__(self, cp: int) -> Any:
        ch = chr(cp)
        if ch in _FOLDS:
            out: Any = _FOLDS[ch]
        else:
            cat = unicodedata.category(ch)
            if cat in ("Mn", "Me", "Cf", "Lm"):
                out = None
            elif cat[0] in "PSZC":
                out = " "
            else:
                out = cp
        self[cp] = out
        return out


_CHARMAP = _CharMap()


def normalize(text: str) -> str:
    """The text as compared: NFKC, casefolded, without links, @handles, punctuation,
    emoji and diacritics, letter runs of 3+ cut to 2 ("sooooo" = "soo"), single spaces."""
    t = unicodedata.normalize("NFKC", text).casefold()
    if "http" in t or "www." in t or "@" in t:  # the regex costs more than the test, and most texts have neither
        t = _URL_OR_HANDLE.sub(" ", t)
    t = t.translate(_CHARMAP)
    t = _REPEATS.sub(r"\1\1", t)
    return " ".join(t.split())


_M64 = (1 << 64) - 1
#: base of the polynomial n-gram hash over code points (a large odd constant)
_POLY = 0x100000001B3
#: a multiply-xorshift finaliser (from splitmix64): the polynomial alone leaves the high
#: bits of short Latin n-grams poorly mixed, and the MinHash family reads the high bits
_MIX = np.uint64(0xBF58476D1CE4E5B9)


def shingle_hashes(norm: str, n: int = SHINGLE) -> np.ndarray:
    """64-bit hashes of the character n-grams of an already normalised text (repeats kept).

    The text is padded with a space on each side so that word starts and ends are
    shingles of their own; a text shorter than ``n`` is one shingle. The n-gram hash
    is the polynomial sum(c_i * P^(n-1-i)) mod 2^64, built by doubling (two array
    steps for n=4) because each numpy call costs more than the arithmetic in it.
    """
    if not norm:
        return np.empty(0, dtype=np.uint64)
    codes = np.frombuffer((" " + norm + " ").encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    n = min(n, len(codes))
    h, g = codes, 1  # h[i] is the hash of codes[i : i + g]
    while 2 * g <= n:
        h = h[:-g] * np.uint64(pow(_POLY, g, 1 << 64)) + h[g:]
        g *= 2
    while g < n:
        h = h[:-1] * np.uint64(_POLY) + codes[g : g + len(h) - 1]
        g += 1
    h = h ^ (h >> np.uint64(29))
    h = h * _MIX
    return h ^ (h >> np.uint64(32))


def _family(num_perm: int, seed: str) -> np.ndarray:
    out = []
    for i in range(num_perm):
        d = hashlib.blake2b(f"{seed}:{i}".encode(), digest_size=8).digest()
        out.append(int.from_bytes(d, "big") | 1)  # odd: x -> a*x is a bijection mod 2^64
    return np.array(out, dtype=np.uint64)[:, None]


@dataclass(frozen=True, slots=True)
class Signature:
    """MinHash of one text: ``values`` (k uint32) and ``size``, the number of distinct
    shingles (needed to turn an estimated Jaccard into an estimated containment)."""

    values: np.ndarray
    size: int

    def encode(self) -> str:
        # big-endian so that the stored form does not depend on the machine
        return base64.b64encode(self.values.astype(">u4").tobytes()).decode("ascii")

    @classmethod
    def decode(cls, data: str, size: int) -> Signature:
        raw = base64.b64decode(data.encode("ascii"), validate=True)
        if len(raw) % 4:
            raise ValueError("signature bytes are not a whole number of uint32")
        return cls(np.frombuffer(raw, dtype=">u4").astype(np.uint32), int(size))


class MinHasher:
    """A fixed, seeded family of ``num_perm`` multiply-shift hash functions h(x) = (a*x mod 2^64) >> 32.

    Two hashers with the same parameters produce identical signatures in any
    process, so signatures can be stored and compared later.
    """

    def __init__(self, num_perm: int = NUM_PERM, shingle: int = SHINGLE, seed: str = "repwatch-minhash-1") -> None:
        if num_perm < 1 or shingle < 1:
            raise ValueError("num_perm and shingle must be positive")
        self.num_perm = num_perm
        self.shingle = shingle
        # a row: the product with a column of shingles is (m, k), and the minimum over axis 0 runs
        # along contiguous rows, several times faster than a minimum over axis 1 for short texts
        self._a = _family(num_perm, seed).reshape(1, num_perm)

    def signature_of_hashes(self, hashes: np.ndarray, size: int | None = None) -> Signature | None:
        """``size``: the number of distinct hashes, when the caller has counted them already."""
        if hashes.size == 0:
            return None
        # the products wrap mod 2^64, which is the family's definition; the high 32 bits are
        # the well-mixed ones of a multiply-shift hash (the min of the high bits is the high
        # bits of the min). Repeated shingles do not change a min; the size counts them once.
        mins = (hashes.reshape(-1, 1) * self._a).min(axis=0)
        if size is None:
            size = len(set(hashes.tolist()))
        return Signature((mins >> np.uint64(32)).astype(np.uint32), size)

    def signature(self, text: str) -> Signature | None:
        """Signature of ``text``, or None when nothing comparable is left after normalising."""
        return self.signature_of_hashes(shingle_hashes(normalize(text), self.shingle))


def jaccard(a: Signature, b: Signature) -> float:
    """Estimated Jaccard similarity of the two texts' shingle sets."""
    if a.values.shape != b.values.shape:
        raise ValueError("signatures of different lengths")
    return float(np.count_nonzero(a.values == b.values)) / a.values.size


def containment(a: Signature, b: Signature, j: float | None = None) -> float:
    """Estimated share of the smaller text's shingles found in the larger one.

    High when one text quotes the other whole ("you deleted my comment, so again:
    ..."), where Jaccard is diluted by the added words. Derived from the Jaccard
    estimate and the set sizes: |A∩B| = J(|A|+|B|)/(1+J).
    """
    j = jaccard(a, b) if j is None else j
    small = min(a.size, b.size)
    if small == 0:
        return 0.0
    return min(1.0, j * (a.size + b.size) / ((1.0 + j) * small))


def shingle_set(text: str, n: int = SHINGLE) -> frozenset[int]:
    """The distinct shingle hashes of ``text`` (normalised here), for an exact comparison."""
    return frozenset(shingle_hashes(normalize(text), n).tolist())


def exact_similarity(a: frozenset[int], b: frozenset[int]) -> tuple[float, float]:
    """(Jaccard, containment of the smaller set in the larger) of two shingle sets, exactly.

    MinHash finds candidates cheaply; a handful of them can afford the exact figures,
    which matter most where the estimate is weakest: containment between texts of
    very different lengths.
    """
    if not a or not b:
        return (1.0, 1.0) if not a and not b else (0.0, 0.0)
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter), inter / min(len(a), len(b))


def true_jaccard(x: str, y: str, n: int = SHINGLE) -> float:
    """Exact Jaccard of two texts' shingle sets (for tests and tuning)."""
    a, b = shingle_set(x, n), shingle_set(y, n)
    if not a and not b:
        return 1.0
    return exact_similarity(a, b)[0]


_BAND_MUL = np.uint64(0x9E3779B97F4A7C15)


class LshIndex:
    """Banded LSH over MinHash signatures, bounded by a capacity and expiring by age.

    ``bands`` x ``rows`` must equal the signature length. Two texts become candidates
    when any band of ``rows`` consecutive values agrees, which happens with probability
    1 - (1 - J^rows)^bands: with 64 x 2 that is 0.93 at J=0.2 and ~1 from J=0.35, so
    the verification (estimated Jaccard and containment of the stored signatures)
    decides, not the banding.

    The signatures also live in one dense matrix, so verification is a single numpy
    comparison over the candidates. Up to ``dense_below`` items the matrix is simply
    scanned whole: at that size one vectorised comparison costs less than collecting
    band candidates in Python, and it cannot miss a pair the banding would. Items are
    kept in insertion order; ``expire`` drops from the front and ``capacity`` evicts
    the oldest, both amortised O(1) per item. Keys are strings; results come back in
    insertion order (deterministic; nothing depends on Python's salted ``hash()``).
    """

    def __init__(self, bands: int, rows: int, capacity: int, dense_below: int = 512) -> None:
        if bands < 1 or rows < 1 or capacity < 1:
            raise ValueError("bands, rows and capacity must be positive")
        self.bands = bands
        self.rows = rows
        self.capacity = capacity
        self.dense_below = dense_below
        #: key -> (signature, time added, insertion number)
        self.items: OrderedDict[str, tuple[Signature, float, int]] = OrderedDict()
        self._added = 0
        self._buckets: dict[tuple[int, int], dict[str, None]] = {}
        self._mul = np.array([int(_BAND_MUL) ** i & _M64 for i in range(rows)], dtype=np.uint64)
        self._ones = np.ones(bands * rows, dtype=np.float32)
        # dense storage: one row per slot; freed slots are reused, unused rows are masked off
        k = bands * rows
        self._sigs = np.zeros((0, k), dtype=np.uint32)
        self._sizes = np.zeros(0, dtype=np.float64)
        self._used = np.zeros(0, dtype=bool)
        self._slot: dict[str, int] = {}
        self._keys: list[str | None] = []
        self._free: list[int] = []

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, key: object) -> bool:
        return key in self.items

    def _band_keys(self, sig: Signature) -> list[tuple[int, int]]:
        if sig.values.size != self.bands * self.rows:
            raise ValueError(f"signature of {sig.values.size} values for a {self.bands}x{self.rows} index")
        v = sig.values.astype(np.uint64).reshape(self.bands, self.rows)
        # a 64-bit hash of each band (collisions only add candidates, which are verified)
        h = (v * self._mul[None, :]).sum(axis=1) if self.rows > 1 else v[:, 0]
        return list(enumerate(h.tolist()))

    def _take_slot(self, key: str, sig: Signature) -> None:
        if self._free:
            slot = self._free.pop()
        else:
            slot = len(self._keys)
            if slot == len(self._used):  # grow by doubling, never past the capacity
                rows = min(max(8, 2 * slot), self.capacity + 1)
                self._sigs = np.vstack([self._sigs, np.zeros((rows - slot, self._sigs.shape[1]), dtype=np.uint32)])
                self._sizes = np.concatenate([self._sizes, np.zeros(rows - slot)])
                self._used = np.concatenate([self._used, np.zeros(rows - slot, dtype=bool)])
            self._keys.append(None)
        self._sigs[slot] = sig.values
        self._sizes[slot] = sig.size
        self._used[slot] = True
        self._keys[slot] = key
        self._slot[key] = slot

    def add(self, key: str, sig: Signature, at: float) -> list[str]:
        """Index ``sig`` under ``key`` (replacing an older entry); returns keys evicted by the capacity."""
        if key in self.items:
            self.remove(key)
        self._band_keys(sig)  # validates the length before anything changes
        evicted = []
        while len(self.items) >= self.capacity:
            oldest = next(iter(self.items))
            self.remove(oldest)
            evicted.append(oldest)
        self.items[key] = (sig, at, self._added)
        self._added += 1
        for bk in self._band_keys(sig):
            self._buckets.setdefault(bk, {})[key] = None
        self._take_slot(key, sig)
        return evicted

    def remove(self, key: str) -> bool:
        entry = self.items.pop(key, None)
        if entry is None:
            return False
        for bk in self._band_keys(entry[0]):
            bucket = self._buckets.get(bk)
            if bucket is not None:
                bucket.pop(key, None)
                if not bucket:
                    del self._buckets[bk]
        slot = self._slot.pop(key)
        self._used[slot] = False
        self._keys[slot] = None
        self._free.append(slot)
        return True

    def expire(self, before: float) -> list[str]:
        """Drop entries added before ``before``, from the oldest, stopping at the first newer one."""
        gone = []
        while self.items:
            key, (_, at, _) = next(iter(self.items.items()))
            if at >= before:
                break
            self.remove(key)
            gone.append(key)
        return gone

    def query(self, sig: Signature) -> list[str]:
        """Keys sharing at least one band with ``sig``, in insertion order."""
        found: set[str] = set()
        for bk in self._band_keys(sig):
            bucket = self._buckets.get(bk)
            if bucket:
                found.update(bucket)
        if not found:
            return []
        return sorted(found, key=lambda k: self.items[k][2])

    def near(
        self,
        sig: Signature,
        *,
        jaccard: float,
        containment: float = 1.01,
        containment_min_size: int = 0,
    ) -> list[tuple[str, float]]:
        """Stored items that ``sig`` is a near-duplicate of, as (key, similarity), in insertion order.

        A near-duplicate has an estimated Jaccard of at least ``jaccard``, or (both texts
        having at least ``containment_min_size`` shingles) an estimated containment of the
        smaller in the larger of at least ``containment``; the similarity reported is the
        Jaccard, or the containment where only that rule matched. See :func:`containment`.
        """
        if not self.items:
            return []
        k = sig.values.size
        if len(self.items) >= self.dense_below:
            cand = self.query(sig)
            if not cand:
                return []
            slots = np.array([self._slot[key] for key in cand], dtype=np.int64)
            sigs, sizes = self._sigs[slots], self._sizes[slots]
            used = None
        else:
            # every allocated row at once, holes masked afterwards: cheaper than gathering the used rows
            n = len(self._keys)
            slots = None
            sigs, sizes = self._sigs[:n], self._sizes[:n]
            used = self._used[:n] if self._free else None
        # equal values per row, counted by a float32 matrix-vector product (BLAS): several times faster
        # than a reduction of the booleans along rows, and exact (counts <= k are small integers)
        agree = (sigs == sig.values).astype(np.float32) @ self._ones
        j = agree.astype(np.float64) / k
        ok = j >= jaccard
        c = None
        if containment <= 1.0:
            # sizes are >= 1 for used rows (an empty text has no signature); unused rows are masked below
            small = np.minimum(sizes, sig.size)
            with np.errstate(divide="ignore", invalid="ignore"):
                c = np.minimum(1.0, j * (sizes + sig.size) / ((1.0 + j) * small))
            ok |= (c >= containment) & (small >= containment_min_size)
        if used is not None:
            ok &= used
        hits = np.flatnonzero(ok).tolist()
        if not hits:
            return []
        out = []
        for i in hits:
            key = self._keys[i if slots is None else int(slots[i])]
            assert key is not None
            jj = float(j[i])
            out.append((key, jj if jj >= jaccard or c is None else float(c[i])))
        if len(out) > 1:
            out.sort(key=lambda kv: self.items[kv[0]][2])
        return out

    def to_json(self) -> list[list[Any]]:
        return [[k, sig.encode(), sig.size, at] for k, (sig, at, _) in self.items.items()]

    @classmethod
    def from_json(cls, data: Iterable[Any], *, bands: int, rows: int, capacity: int) -> LshIndex:
        index = cls(bands, rows, capacity)
        for k, enc, size, at in data:
            index.add(str(k), Signature.decode(enc, size), float(at))
        return index
