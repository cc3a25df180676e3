"""Local doorbells: a publisher wakes the resting consumers of a topic on the same machine.

The embedded broker answers a waiting fetch only at its deadline, not when data arrives, so
a consumer that must notice a message quickly has to ask often, and asking often is what a
system at rest spends its CPU on. A resting consumer stops fetching instead and waits on a
Unix datagram socket; whoever publishes to its topic sends that socket one byte after the
broker has the records. Processes on other machines (or a producer outside the system) ring
nobody: consumers still look at the broker every `SW_IDLE_POLL_S` while they rest.

Layout under the folder: one socket a listener (`<pid>-<n>.sock`), and for each topic it
consumes a symlink to it (`<topic>/<pid>-<n>`). A ringer lists the topic's folder and sends
to each; an entry whose process is gone is removed by the first ringer that finds it so.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import os
import socket
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

# A topic is rung at most this often: a consumer woken by a ring stays awake (it fetches
# without resting) for longer than this, so the rings it would miss it does not need.
RING_EVERY_S = 0.02

_serial = itertools.count(1)


def folder_for(data_dir: Path, bootstrap: str) -> Path:
    """The doorbells of one system on this machine: short (a socket's path is at most 107
    bytes), and different for each data folder and broker."""
    digest = hashlib.sha256(f"{data_dir.resolve()}|{bootstrap}".encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"sw-bells-{digest}"


class Listener:
    """One consumer's doorbell: its socket and its topics' links; `wait` until rung."""

    def __init__(self, folder: Path, topics: Sequence[str]) -> None:
        self.name = f"{os.getpid()}-{next(_serial)}"
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{self.name}.sock"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # left by an earlier process of the same pid
        self.sock.bind(str(self.path))
        self.links: list[Path] = []
        for topic in topics:
            (folder / topic).mkdir(exist_ok=True)
            link = folder / topic / self.name
            with contextlib.suppress(FileNotFoundError):
                link.unlink()
            link.symlink_to(self.path)
            self.links.append(link)

    def drain(self) -> bool:
        """Whether it was rung since the last call (and forget those rings)."""
        rung = False
        while True:
            try:
                self.sock.recv(64)
            except (BlockingIOError, InterruptedError):
                return rung
            rung = True

    async def wait(self, timeout_s: float) -> bool:
        """Wait until rung (True; a ring since the last wait counts) or `timeout_s` (False)."""
        if self.drain():
            return True
        loop = asyncio.get_running_loop()
        rung: asyncio.Future[None] = loop.create_future()

        def on_ring() -> None:
            if not rung.done():
                rung.set_result(None)

        loop.add_reader(self.sock, on_ring)
        try:
            await asyncio.wait_for(rung, timeout_s)
        except TimeoutError:
            return False
        finally:
            loop.remove_reader(self.sock)
        self.drain()
        return True

    def close(self) -> None:
        """Remove the socket and its links."""
        for link in self.links:
            with contextlib.suppress(OSError):
                link.unlink()
        self.sock.close()
        with contextlib.suppress(OSError):
            self.path.unlink()


def _remove(link: Path) -> None:
    """Remove a dead listener's link and the socket file it points to."""
    with contextlib.suppress(OSError):
        os.unlink(os.readlink(link))
    with contextlib.suppress(OSError):
        link.unlink()


class Ringer:
    """Rings the listeners of topics (what a publisher calls after the broker has its records)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self._last: dict[str, float] = {}

    def ring(self, topics: Iterable[str]) -> None:
        """Wake the resting consumers of these topics (never blocks, never raises)."""
        now = time.monotonic()
        for topic in set(topics):
            if now - self._last.get(topic, -1.0) < RING_EVERY_S:
                continue
            self._last[topic] = now
            try:
                names = os.listdir(self.folder / topic)
            except OSError:
                continue  # nobody listens to this topic here
            for name in names:
                entry = self.folder / topic / name
                try:
                    self.sock.sendto(b"!", str(entry))
                except (BlockingIOError, InterruptedError):
                    pass  # its buffer is full of rings already
                except (ConnectionRefusedError, FileNotFoundError):
                    _remove(entry)  # its process is gone
                except OSError:
                    pass

    def close(self) -> None:
        """Close the sending socket."""
        self.sock.close()
