"""`python -m worker.healthcheck`: exit 0 if a worker on this host and its renderer each sent a
heartbeat within the last 15 s (the compose healthcheck of the worker containers)."""

from __future__ import annotations

import socket
import sys

from syndicate.config import ConfigError, Settings
from worker.runtime import Runtime


def main() -> int:
    try:
        rt = Runtime(Settings.from_env())
        live = rt.store.workers.live(within_s=15)
        renderers = rt.store.workers.live_renderers(within_s=15)
    except (ConfigError, OSError, Exception) as exc:  # noqa: BLE001 - any failure is unhealthy
        print(f"unhealthy: {type(exc).__name__}", file=sys.stderr)
        return 1
    host = socket.gethostname()
    if not any(name.split("@", 1)[-1] == host for name in live):
        print(f"unhealthy: no heartbeat from a worker on {host}", file=sys.stderr)
        return 1
    if not any(name.rsplit(":", 1)[0] == host for name in renderers):
        print(f"unhealthy: no heartbeat from a renderer on {host}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
