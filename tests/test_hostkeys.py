"""SSH host keys: fingerprints as OpenSSH prints them, known_hosts files as OpenSSH writes them,
and a lab device whose key changed refused with both fingerprints, nothing applied."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import paramiko
import pytest

from conftest import REPO, cli, snapshot
from planned_lab import planned_lab


def _keygen(path: Path) -> paramiko.PKey:
    if not shutil.which("ssh-keygen"):
        pytest.fail("these tests compare with OpenSSH: apt-get install -y openssh-client")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return paramiko.PKey.from_path(str(path))


def test_fingerprint_is_the_one_openssh_prints(tmp_path):
    from orchestrator.netconf.hostkeys import fingerprint, openssh_line, parse

    key = _keygen(tmp_path / "k")
    printed = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(tmp_path / "k.pub")],
                             capture_output=True, text=True, check=True).stdout.split()[1]
    assert fingerprint(key) == printed
    line = (tmp_path / "k.pub").read_text().split()
    assert openssh_line(parse(" ".join(line))) == " ".join(line[:2])


def test_known_hosts_entries_are_found_by_address_and_port_also_hashed(tmp_path):
    from orchestrator.netconf.hostkeys import known_lines, read_known_hosts

    a, b = _keygen(tmp_path / "a"), _keygen(tmp_path / "b")
    kh = tmp_path / "known.d"
    kh.mkdir()
    (kh / "east").write_text(f"[10.0.0.1]:830 {a.get_name()} {a.get_base64()}\n")
    (kh / "west").write_text(f"10.0.0.2 {b.get_name()} {b.get_base64()}\n[10.0.0.3]:830 {b.get_name()} "
                             f"{b.get_base64()}\n")
    subprocess.run(["ssh-keygen", "-H", "-f", str(kh / "west")], check=True, capture_output=True)
    (kh / "west.old").unlink()
    keys = read_known_hosts(kh)
    assert known_lines(keys, "10.0.0.1", 830) == (f"ssh-ed25519 {a.get_base64()}",)
    assert known_lines(keys, "10.0.0.3", 830) == (f"ssh-ed25519 {b.get_base64()}",)  # hashed name
    assert known_lines(keys, "10.0.0.2", 830) == ()  # known on port 22 only, as OpenSSH reads it
    assert known_lines(keys, "10.0.0.2", 22) == (f"ssh-ed25519 {b.get_base64()}",)


def test_an_environment_without_known_hosts_refuses_naming_the_presented_key(tmp_path, monkeypatch):
    """A production target whose network description names no known hosts: every device's key is
    unknown, and the message says what it presented and where keys belong."""
    from orchestrator.network.model import load_network
    from orchestrator.rollout.targets import network_target

    monkeypatch.setenv("FULLBARS_NETCONF_PASSWORD", "x")
    net = load_network(REPO / "examples/network.yaml")
    t = network_target("production", net)
    ep = next(iter(t.endpoints.values()))
    assert ep.hostkeys == () and "spec.credentials.known-hosts" in ep.hostkeys_from


@pytest.fixture(scope="module")
def small_lab(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("hostkeys")
    intent = str(REPO / "examples/intents/acme-hq.yaml")
    db = f"sqlite:///{tmp_path}/store.db"
    with planned_lab(tmp_path, [intent], "hk") as (topo, plan_dir, lab):
        r = cli("apply", intent, "--network", "examples/network.yaml", "--target", "lab", "--lab", str(topo), db=db)
        assert r.exit_code == 0, r.stdout + r.stderr
        faster = tmp_path / "acme-hq.yaml"  # a change that would reach both devices
        faster.write_text(Path(intent).read_text().replace("downstream: 500M", "downstream: 1000M"))
        yield {"db": db, "topo": topo, "lab": lab, "intent": str(faster), "plan": plan_dir}


def test_an_environment_checks_the_keys_its_known_hosts_file_holds(small_lab, tmp_path, monkeypatch):
    """The lab's devices described as an environment of their own: OpenSSH's ssh-keyscan writes
    its known_hosts; drift passes with it, and is refused when the file holds another key."""
    from orchestrator.netconf.hostkeys import fingerprint, parse

    st = small_lab["lab"].load_state()
    olt, bng = st["nodes"]["olt-1"]["mgmt_ip"], st["nodes"]["bng-east"]["mgmt_ip"]
    text = (REPO / "examples/network.yaml").read_text()
    for old, new in (("address: 198.18.2.1\n", f"address: {olt}\n"), ("address: 198.18.1.1\n", f"address: {bng}\n"),
                     ("username: fullbars", f"username: {st['user']}"),
                     ("secret-ref: env:FULLBARS_NETCONF_PASSWORD",
                      "secret-ref: env:FBW_NETCONF_PASSWORD\n    known-hosts: keys.d")):
        assert old in text
        text = text.replace(old, new)
    net = tmp_path / "network.yaml"
    net.write_text(text)
    monkeypatch.setenv("FBW_NETCONF_PASSWORD", st["password"])
    (tmp_path / "keys.d").mkdir()
    scan = subprocess.run(["ssh-keyscan", "-p", "830", "-t", "ed25519", olt, bng], capture_output=True, text=True,
                          timeout=60)
    assert len(scan.stdout.splitlines()) == 2, scan.stderr
    (tmp_path / "keys.d" / "lab").write_text(scan.stdout)
    # staging's own record first (environments keep one each): the lab's intent, applied there
    assert cli("environment", "staging", "--evidence", "optional", db=small_lab["db"]).exit_code == 0
    r = cli("apply", str(REPO / "examples/intents/acme-hq.yaml"), "--network", str(net), "--target", "staging",
            db=small_lab["db"])
    assert r.exit_code == 0, r.stdout + r.stderr
    args = ("drift", "--target", "staging", "--network", str(net))
    r = cli(*args, db=small_lab["db"])
    assert r.exit_code == 0 and "olt-1: in sync" in r.stdout, r.stdout + r.stderr

    other = _keygen(tmp_path / "other")
    real = next(line for line in scan.stdout.splitlines() if line.startswith(f"[{olt}]"))
    (tmp_path / "keys.d" / "lab").write_text(scan.stdout.replace(real.split()[2], other.get_base64()))
    r = cli(*args, db=small_lab["db"])
    assert r.exit_code == 2, r.stdout + r.stderr
    msg = " ".join(r.stderr.split())
    assert "device olt-1" in msg and f"known {fingerprint(other)}" in msg, msg
    assert f"presented {fingerprint(parse(' '.join(real.split()[1:])))}" in msg, msg


def test_a_lab_device_whose_host_key_changed_is_refused_and_nothing_is_applied(small_lab):
    """Last in this module: it leaves olt-1 with a key the lab does not know."""
    from orchestrator.netconf.hostkeys import fingerprint, parse
    from orchestrator.lab import netns

    lab, db = small_lab["lab"], small_lab["db"]
    st = lab.load_state()
    olt = next(n for n, x in st["nodes"].items() if x["agent"] == "devsim")
    known = fingerprint(parse(st["hostkeys"][olt][0]))
    # Another key where the agent keeps its own, and the agent restarted by `lab up`.
    keyfile = Path(st["nodes"][olt]["state_dir"]) / "ssh_host_ed25519_key"
    keyfile.unlink()
    netns.kill_pids(st["nodes"][olt]["pids"])
    r = cli("lab", "up", str(small_lab["topo"]), db=None)
    assert r.exit_code == 2, r.stdout + r.stderr
    presented = fingerprint(paramiko.PKey.from_path(str(keyfile)))
    assert presented != known
    assert olt in r.stderr and known in r.stderr and presented in r.stderr, r.stderr

    before = {k: v for k, v in snapshot(db).items() if k not in ("intents", "allocations", "audit")}
    running = (Path(st["nodes"][olt]["state_dir"]) / "running.xml").read_bytes()
    for args in (["apply", small_lab["intent"], "--target", "lab", "--lab", str(small_lab["topo"])],
                 ["drift", "--target", "lab", "--lab", str(small_lab["topo"])],
                 ["lab", "push", str(small_lab["plan"]), str(small_lab["topo"])]):
        r = cli(*args, db=db if args[0] != "lab" else None)
        assert r.exit_code == 2, (args, r.stdout + r.stderr)
        msg = " ".join(r.stderr.split())
        assert f"device {olt}" in msg and "host key changed" in msg, msg
        assert f"known {known}" in msg and f"presented {presented}" in msg, msg
    # No transaction journalled, no device record changed (the plan inside apply may keep the
    # faster intent, as `plan` would; nothing reached a device).
    assert {k: v for k, v in snapshot(db).items() if k in before} == before
    assert (Path(st["nodes"][olt]["state_dir"]) / "running.xml").read_bytes() == running
