"""The demo's fixed ports, and what `zes up` does when one is taken.

The defaults are the ones deploy/prometheus/prometheus.yml, the README and the dashboards'
documentation name. A default is free unless a process *listens* on it: a closed server's
connections in TIME_WAIT (every scrape of the previous run leaves some, for 60 s) do not
count, as the children bind with SO_REUSEADDR (prometheus_client, uvicorn) and so would the
probe. Without that, a second run within a minute of the first got random ports.
"""

from __future__ import annotations

import socket

from zes.embedded import free_port

#: role → its documented port on 127.0.0.1 (metrics, or the review app's web port).
DEFAULT_PORTS = {
    "edge": 9108, "stream": 9102, "intake": 9103, "review": 9104, "flows": 9105, "web": 8080,
}  # fmt: skip

#: What listens on each role's port, for the line that says a default is taken.
PORT_NAMES = {
    "edge": "edge agent metrics", "stream": "stream worker metrics",
    "intake": "case intake metrics", "review": "review app metrics",
    "flows": "flows sink metrics", "web": "review app",
}  # fmt: skip


def port_is_free(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:`port` now (SO_REUSEADDR, as servers do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_port(role: str) -> int:
    """The documented port of `role` when it is free, else any free one (`taken_line` says
    which and why)."""
    default = DEFAULT_PORTS[role]
    return default if port_is_free(default) else free_port()


def taken_line(role: str, port: int) -> str | None:
    """The line `zes up` prints when `role` runs on `port` instead of its documented port."""
    default = DEFAULT_PORTS[role]
    if port == default:
        return None
    return (
        f"port {default} ({PORT_NAMES[role]}) is taken by another process "
        f"(`ss -ltnp 'sport = :{default}'` names it): using {port}, which "
        "the list below and prometheus.yml name"
    )
