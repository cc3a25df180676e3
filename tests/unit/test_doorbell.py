"""Local doorbells on real Unix sockets: a ring wakes a topic's listeners, and only theirs."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from services.common.doorbell import Listener, Ringer, folder_for


async def test_a_ring_wakes_the_listeners_of_its_topic_and_no_other(tmp_path: Path) -> None:
    customs = Listener(tmp_path, ["sw.customs.commands"])
    gateway = Listener(tmp_path, ["sw.customs.events", "sw.tax.events"])
    ringer = Ringer(tmp_path)
    try:
        ringer.ring(["sw.tax.events"])
        assert await gateway.wait(5) is True
        assert await customs.wait(0.05) is False
        ringer.ring(["sw.customs.commands"])
        assert await customs.wait(5) is True
        assert await gateway.wait(0.05) is False
    finally:
        for closing in (customs, gateway, ringer):
            closing.close()
    assert _files(tmp_path) == []  # closed: its socket and links are gone


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if not p.is_dir())


async def test_a_ring_before_the_wait_is_not_lost(tmp_path: Path) -> None:
    listener = Listener(tmp_path, ["sw.tax.commands"])
    ringer = Ringer(tmp_path)
    try:
        ringer.ring(["sw.tax.commands"])  # while its consumer was still busy fetching
        assert await listener.wait(5) is True
        assert await listener.wait(0.05) is False  # and once only
    finally:
        listener.close()
        ringer.close()


def test_the_entry_of_a_process_that_is_gone_is_removed_by_the_next_ring(tmp_path: Path) -> None:
    topic = tmp_path / "sw.forex.commands"
    topic.mkdir()
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dead.bind(str(tmp_path / "gone.sock"))
    dead.close()  # the socket file stays, nobody reads it: as after a SIGKILL
    os.symlink(tmp_path / "gone.sock", topic / "gone")
    os.symlink(tmp_path / "never.sock", topic / "never")
    ringer = Ringer(tmp_path)
    ringer.ring(["sw.forex.commands", "sw.nobody.listens"])
    ringer.close()
    assert list(topic.iterdir()) == []
    assert not (tmp_path / "gone.sock").exists()  # nor is the socket file left behind


def test_each_system_on_a_machine_has_its_own_short_folder(tmp_path: Path) -> None:
    one = folder_for(tmp_path / "a", "127.0.0.1:9092")
    assert one == folder_for(tmp_path / "a", "127.0.0.1:9092")
    assert one != folder_for(tmp_path / "b", "127.0.0.1:9092")
    assert one != folder_for(tmp_path / "a", "127.0.0.1:9093")
    longest = one / "sw.inspection.commands" / f"{2**22}-{10**6}"
    assert len(str(longest)) < 100  # a Unix socket's path is at most 107 bytes
