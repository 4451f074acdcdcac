"""Static export (`SYNDICATE_EXPORT_DIR`): every render that changes a feed also writes its
bytes to `EXPORT_DIR/feeds/<key>.<rss|atom|json>`, with a pre-compressed `.gz` beside each,
for nginx (`gzip_static on; etag on;`) or any CDN origin to serve.

Each file is written to a temporary name in the same directory and renamed over the old one, so
a reader never sees half a feed. The renderer writes before it pings the hubs, so a hub that
fetches on the ping finds the new bytes.
"""

from __future__ import annotations

import gzip
import os
import tempfile
from pathlib import Path

SUFFIX = {"rss": ".rss", "atom": ".atom", "json": ".json"}


def path_of(export_dir: Path, feed_key: str, fmt: str) -> Path:
    return export_dir / "feeds" / f"{feed_key}{SUFFIX[fmt]}"


def _atomic_write(target: Path, data: bytes) -> None:
    # A fresh temporary name (O_CREAT | O_EXCL, so never a file or link someone planted), in the
    # same directory, so the rename is atomic; renderers of several workers may share the folder.
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except FileNotFoundError:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            os.fchmod(f.fileno(), 0o644)  # our own new file: the web server reads it
        os.replace(tmp, target)  # replaces a link planted at `target`, never writes through it
    except BaseException:
        os.unlink(tmp)
        raise


def write(export_dir: Path, feed_key: str, bodies: dict[str, bytes]) -> None:
    for fmt, body in bodies.items():
        target = path_of(export_dir, feed_key, fmt)
        _atomic_write(target, body)
        _atomic_write(
            target.with_name(target.name + ".gz"), gzip.compress(body, compresslevel=6, mtime=0)
        )


def missing(export_dir: Path, feed_key: str) -> bool:
    return not all(path_of(export_dir, feed_key, fmt).exists() for fmt in SUFFIX)


def remove(export_dir: Path, feed_key: str) -> None:
    """A feed that is no longer a feed (a takedown left it empty): its files go."""
    for fmt in SUFFIX:
        target = path_of(export_dir, feed_key, fmt)
        target.unlink(missing_ok=True)
        target.with_name(target.name + ".gz").unlink(missing_ok=True)
