"""Writing a model directory so that readers only ever see a complete one."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def replace_dir(out_dir: Path, write: Callable[[Path], None], is_complete: Callable[[Path], bool]) -> Path:
    """Run ``write(tmp)`` into a sibling temp dir, then swap it in for ``out_dir``.

    A crash mid-write leaves ``out_dir`` as it was (or absent), never half
    written. If another process wins the rename race with a complete result,
    that result is kept: it is as good as ours.
    """
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        write(tmp)
        old = None
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
            out_dir.rename(old / "dir")
        try:
            tmp.rename(out_dir)
        except OSError:
            if not is_complete(out_dir):
                raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir
