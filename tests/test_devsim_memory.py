"""devsim at fleet scale (issue 14): a quiet device keeps its datastores packed, a fleet process
keeps only the devices used last as trees; a commit's validation never holds up another
session's reads of running."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from lxml import etree

from conformance.agents import free_ports
from olt_configs import in_thread, interfaces_edit, olt_configs, seed_running
from orchestrator.devices.registry import KINDS
from orchestrator.devsim import resident
from orchestrator.devsim.device import Device, body
from orchestrator.devsim.server import Auth, serve

HANG = 60  # seconds: only so that a broken device fails the test instead of hanging it


@pytest.fixture(scope="module")
def olt_config(tmp_path_factory):
    return olt_configs(12, tmp_path_factory.mktemp("plan"))


class InProcess:
    """Devices served by an event loop in a thread of the test (so the test can reach into them)."""

    def __init__(self, devices):
        self.devices = devices
        self.ports = free_ports(len(devices))
        self.loop = asyncio.new_event_loop()
        self.servers = []
        up = threading.Event()

        def main():
            asyncio.set_event_loop(self.loop)
            for d, p in zip(devices, self.ports):
                self.servers.append(self.loop.run_until_complete(serve(d, "127.0.0.1", p, Auth("fullbars", "pw"))))
            up.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=main, daemon=True)
        self.thread.start()
        assert up.wait(HANG)

    def connect(self, i: int = 0):
        from ncclient import manager

        return manager.connect(host="127.0.0.1", port=self.ports[i], username="fullbars", password="pw",
                               hostkey_verify=False, look_for_keys=False, allow_agent=False, timeout=HANG)

    def close(self):
        async def stop():
            for s in self.servers:
                s.close()
            me = asyncio.current_task()
            rest = [t for t in asyncio.all_tasks() if t is not me]
            for t in rest:
                t.cancel()
            await asyncio.gather(*rest, return_exceptions=True)
            self.loop.stop()

        asyncio.run_coroutine_threadsafe(stop(), self.loop)
        self.thread.join(HANG)
        for d in self.devices:
            d.journal.close()


def _until(cond) -> bool:
    deadline = time.monotonic() + HANG
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_readers_of_running_are_answered_while_a_commit_validates(tmp_path):
    """A commit whose validation is held (an injected slow validation): get-config, get and
    get-data of running from another session are answered meanwhile, with running as it was
    before the commit; once the validation ends, the commit goes through."""
    dev = Device("b", KINDS.get("bng-ietf"), tmp_path / "b")
    entered, release = threading.Event(), threading.Event()
    validate = dev.validate_candidate

    def held():
        entered.set()
        release.wait(HANG)
        return validate()

    dev.validate_candidate = held
    srv = InProcess([dev])
    try:
        editor, other = srv.connect(), srv.connect()
        editor.edit_config(target="candidate", config=interfaces_edit("new", 3))
        commit = in_thread(editor.commit)
        assert entered.wait(HANG)
        nmda = ('<get-data xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-nmda" '
                'xmlns:ds="urn:ietf:params:xml:ns:yang:ietf-datastores"><datastore>ds:running</datastore></get-data>')
        reads = in_thread(lambda: [other.get_config(source="running").data_xml, other.get().data_xml,
                                    other.dispatch(etree.fromstring(nmda)).xml])
        answered = reads["done"].wait(HANG)
        still_validating = not commit["done"].is_set()
        release.set()
        assert answered, "the reads of running waited for the commit"
        assert still_validating
        assert reads["error"] is None, reads["error"]
        assert all("new-0" not in r for r in reads["value"]), "a read saw running before the commit swapped it in"
        assert commit["done"].wait(HANG) and commit["error"] is None, commit["error"]
        assert "new-2" in other.get_config(source="running").data_xml
    finally:
        release.set()
        srv.close()


def test_a_packed_device_is_the_same_device(olt_config, tmp_path):
    """Packed and unpacked again: the same datastores, a commit still validated in part (the
    reference index came back), and a device with uncommitted candidate changes or a pending
    confirmed commit is never packed (what it holds is not in the journal)."""
    seed_running(tmp_path / "olt", olt_config[0])
    dev = Device("olt", KINDS.get("olt-bbf"), tmp_path / "olt")
    before = body(dev.trees["running"].root)
    assert dev.pack() and dev.packed is not None
    assert len(dev.packed.running) < len(before) / 4
    assert not dev._trees and dev._refs is None
    assert body(dev.trees["running"].root) == before and body(dev.trees["candidate"].root) == before
    dev.edit("candidate", 1, etree.fromstring(olt_config[1]), "merge", "", "stop-on-error")
    assert not dev.pack(), "packed with uncommitted changes in the candidate"
    assert dev.commit(1, True, 600, None, None, None) == "part"
    assert not dev.pack(), "packed with a confirmed commit pending"
    dev.commit(1, False, 600, None, None, None)
    after = body(dev.trees["running"].root)
    assert dev.pack()
    dev.journal.close()
    assert body(Device("olt", KINDS.get("olt-bbf"), tmp_path / "olt").trees["running"].root) == after


def test_a_fleet_keeps_only_the_devices_used_last_unpacked(olt_config, tmp_path, monkeypatch):
    """With a budget that holds one device, using the second packs the first (as an operation of
    its own, on its guard); the packed one answers get-config with the same data and takes an
    edit and commit."""
    monkeypatch.setattr(resident.RESIDENT, "budget", 1)
    monkeypatch.setattr(resident.RESIDENT, "sizes", resident.RESIDENT.sizes.__class__())
    devs = []
    for name in ("a", "b"):
        seed_running(tmp_path / name, olt_config[0])
        devs.append(Device(name, KINDS.get("olt-bbf"), tmp_path / name))
    a, b = devs
    srv = InProcess(devs)
    try:
        ma, mb = srv.connect(0), srv.connect(1)
        seen = ma.get_config(source="running").data_xml
        assert a.packed is None
        mb.get_config(source="running")
        assert _until(lambda: a.packed is not None), "the device used before was never packed"
        assert ma.get_config(source="running").data_xml == seen
        assert a.packed is None  # the read unpacked it, and b went in its place
        ma.edit_config(target="candidate", config=olt_config[1])
        ma.commit()
        assert ma.get_config(source="running").data_xml != seen
    finally:
        srv.close()
