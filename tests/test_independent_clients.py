"""Clients fullbars did not write talk to devsim: netconf-console2 (hello, edit-config, commit,
get-config), besides ncclient everywhere else."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.agents import DevsimAgent


@pytest.fixture(scope="module")
def device(tmp_path_factory):
    a = DevsimAgent(tmp_path_factory.mktemp("nc2"), kind="bng-ietf").start()
    yield a
    a.stop()


def ncc(device, *args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("netconf-console2", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.fail("netconf-console2 is not installed: pip install netconf-console2 six (scripts/setup.sh does it)")
    return subprocess.run([exe, "--host", device.host, "--port", str(device.port), "-u", device.username,
                           "-p", device.password, *args], capture_output=True, text=True, timeout=60)


def test_hello(device):
    r = ncc(device, "--hello")
    assert r.returncode == 0, r.stderr
    assert "urn:ietf:params:netconf:capability:candidate:1.0" in r.stdout
    assert "module=fullbars-bng-subscriber" in r.stdout


def test_edit_commit_get_config(device, tmp_path):
    cfg = tmp_path / "edit.xml"
    # netconf-console2 puts the file inside its own <config>
    cfg.write_text('<interfaces xmlns="urn:ietf:params:xml:ns:yang:ietf-interfaces"><interface><name>ncc-1</name>'
                   '<type xmlns:ianaift="urn:ietf:params:xml:ns:yang:iana-if-type">ianaift:ethernetCsmacd</type>'
                   "<description>from netconf-console2</description></interface></interfaces>")
    r = ncc(device, "--db", "candidate", "--edit-config", str(cfg))
    assert r.returncode == 0 and "<ok " in r.stdout and "rpc-error" not in r.stdout, r.stdout + r.stderr
    r = ncc(device, "--commit")
    assert r.returncode == 0 and "<ok " in r.stdout and "rpc-error" not in r.stdout, r.stdout + r.stderr
    r = ncc(device, "--get-config")
    assert "from netconf-console2" in r.stdout


def test_bad_edit_reports_rpc_error(device, tmp_path):
    cfg = tmp_path / "bad.xml"
    cfg.write_text('<interfaces xmlns="urn:ietf:params:xml:ns:yang:ietf-interfaces"><interface><name>ncc-2</name>'
                   "<enabled>maybe</enabled></interface></interfaces>")
    r = ncc(device, "--db", "candidate", "--edit-config", str(cfg))
    assert "invalid-value" in r.stdout + r.stderr
