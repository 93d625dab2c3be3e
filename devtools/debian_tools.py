"""Prometheus and Alertmanager from Debian's packages, for tests and ``make observe``.

Why unpacked rather than installed: ``apt-get install prometheus`` starts a
system service, creates a user and pulls in the web UI's JavaScript packages; the
tests need only the binaries (``prometheus``, ``promtool``, ``prometheus-alertmanager``,
``amtool``), run as the current user on ports of their own. So the ``.deb`` is
fetched with ``apt-get download`` (the package the brief names, from the
machine's Debian mirror) and its ``usr/bin`` unpacked with ``dpkg-deb`` into
``~/.cache/repwatch/debian/<package>`` (``REPWATCH_TOOLS_CACHE``) once; a marker
records the version, so later runs never call apt. A binary already on PATH (a
real install) is used as it is.

Debian builds Alertmanager to read its notification templates from
``/usr/share/prometheus/alertmanager`` (not embedded, as upstream's are): without
``default.tmpl`` there it refuses every config. So for that package the data
directory is unpacked next to the binaries and the binary's compiled-in path is
rewritten, byte for byte and at the same length, to a relative one
(``./data/prometheus-alertmanager//``): run the binary from its own directory
(``cwd=tool(name).parent``) and it finds them, with no root and nothing written
outside the cache.

``python -m devtools.debian_tools`` fetches both and prints where they are.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Package:
    name: str
    #: the version tested here; a mirror that has moved on (a security update replaces
    #: the old build) serves its current candidate instead, recorded in the marker
    version: str
    binaries: tuple[str, ...]
    #: a directory of the package the binaries open at its absolute path, relocated (see above)
    data_dir: str | None = None

    def relocated(self) -> tuple[bytes, bytes] | None:
        """(the compiled-in path, the relative path of the same length that replaces it)."""
        if self.data_dir is None:
            return None
        old = ("/" + self.data_dir).encode()
        new = f"./data/{self.name}".encode()
        if len(new) > len(old):
            raise ValueError(f"{self.name}: no relative path as short as {old!r}")
        # POSIX reads repeated slashes as one: padding keeps every string's length
        return old, new + b"/" * (len(old) - len(new))


PROMETHEUS = Package("prometheus", "2.42.0+ds-5+deb12u1", ("prometheus", "promtool"))
ALERTMANAGER = Package(
    "prometheus-alertmanager",
    "0.25.0-1+b4",
    ("prometheus-alertmanager", "amtool"),
    data_dir="usr/share/prometheus/alertmanager",
)


class ToolUnavailable(RuntimeError):
    pass


def cache_root() -> Path:
    default = Path.home() / ".cache" / "repwatch" / "debian"
    return Path(os.environ.get("REPWATCH_TOOLS_CACHE", default))


def tool(binary: str) -> Path:
    """The path of ``binary`` (one of the two packages'), fetching its package if needed."""
    for pkg in (PROMETHEUS, ALERTMANAGER):
        if binary in pkg.binaries:
            return ensure(pkg) / binary
    raise ValueError(f"{binary!r} is not a binary of {PROMETHEUS.name} or {ALERTMANAGER.name}")


def ensure(pkg: Package) -> Path:
    """A directory holding every binary of ``pkg``."""
    on_path = [shutil.which(b) for b in pkg.binaries]
    if all(on_path):
        return Path(on_path[0]).parent
    target = cache_root() / pkg.name
    marker = target / "repwatch-package.json"
    data = target / "data" / pkg.name
    if (
        marker.is_file()
        and all((target / b).is_file() for b in pkg.binaries)
        and (pkg.data_dir is None or data.is_dir())
    ):
        return target
    if not shutil.which("apt-get") or not shutil.which("dpkg-deb"):
        raise ToolUnavailable(
            f"{pkg.name}: needs apt-get and dpkg-deb (a Debian-based machine), or its binaries on PATH"
        )
    with tempfile.TemporaryDirectory(prefix=f"repwatch-{pkg.name}-") as tmp:
        deb = _download(pkg, Path(tmp))
        unpacked = Path(tmp) / "root"
        subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True)
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for b in pkg.binaries:
            src = unpacked / "usr" / "bin" / b
            if not src.is_file():
                raise ToolUnavailable(f"{deb.name} has no usr/bin/{b}")
            shutil.copy2(src, staging / b)
        relocation = pkg.relocated()
        if relocation is not None:
            assert pkg.data_dir is not None
            shutil.copytree(unpacked / pkg.data_dir, staging / "data" / pkg.name)
            for b in pkg.binaries:
                binary = staging / b
                binary.write_bytes(binary.read_bytes().replace(*relocation))
        version = deb.name.split("_")[1]
        (staging / "repwatch-package.json").write_text(json.dumps({"package": pkg.name, "version": version}))
        # the rename is the commit point: a crash half-way leaves no marker behind
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return target


def _download(pkg: Package, into: Path) -> Path:
    errors = []
    for spec in (f"{pkg.name}={pkg.version}", pkg.name):
        proc = subprocess.run(["apt-get", "download", spec], cwd=into, capture_output=True, text=True)
        debs = sorted(into.glob(f"{pkg.name}_*.deb"))
        if proc.returncode == 0 and debs:
            return debs[0]
        errors.append(f"apt-get download {spec}: {proc.stderr.strip()[-300:]}")
    raise ToolUnavailable("; ".join(errors))


def main() -> int:
    try:
        for pkg in (PROMETHEUS, ALERTMANAGER):
            print(f"{pkg.name}: {ensure(pkg)}")
    except (ToolUnavailable, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
