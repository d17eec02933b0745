"""A real yuma123 netconfd behind sshd in its own namespace, driven with ncclient.

Needs root and the packages netconfd, openssh-server, iproute2 (the test fails, naming them,
when they are missing). Uses a /30 of 198.19.0.0/16 and names derived from the pid, so two runs
side by side do not collide; removes its namespace, veth, processes and login user.
"""

from __future__ import annotations

import ipaddress
import os
import pwd
import secrets
import subprocess
import time

import pytest
from lxml import etree

from orchestrator.lab import netns
from orchestrator.lab.netconfd import NetconfdAgent, missing_packages

IF_NS = "urn:ietf:params:xml:ns:yang:ietf-interfaces"
EDIT = f"""<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">
  <interfaces xmlns="{IF_NS}">
    <interface>
      <name>ge-0/0/7</name>
      <description>fullbars lab test</description>
      <type xmlns:ianaift="urn:ietf:params:xml:ns:yang:iana-if-type">ianaift:ethernetCsmacd</type>
      <enabled>true</enabled>
    </interface>
  </interfaces>
</config>"""


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _dead(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def test_netconfd_agent_answers_netconf_over_ssh_and_cleans_up(tmp_path, monkeypatch):
    missing = missing_packages()
    if missing:
        pytest.fail(f"the lab NETCONF agent needs Debian packages: apt-get install -y {' '.join(missing)}")
    if os.geteuid() != 0:
        pytest.fail("the lab NETCONF agent needs root (network namespaces, sshd)")
    from ncclient import manager
    import ncclient.transport.session

    monkeypatch.setattr(ncclient.transport.session, "TICK", 0.005)  # ~100 ms less per RPC

    slot = os.getpid() % 16384
    base = ipaddress.ip_address("198.19.0.0") + 4 * slot
    name = f"fbt{os.getpid()}"[:13]
    user = name  # a login user of this run only, removed below
    password = secrets.token_urlsafe(16)
    user_existed = _user_exists(user)
    agent = NetconfdAgent(name, tmp_path / "agent", str(base + 1), 30, str(base + 2),
                          username=user, password=password)
    root_if, ns_if = netns.veth_names(name)
    try:
        agent.start()
        print(f"\nstart() until hello answered: {agent.start_seconds:.3f} s")
        assert agent.is_alive()
        pids = agent.pids
        assert set(pids) == {"netconfd", "sshd"}
        assert netns.netns_exists(name) and netns.link_exists(root_if) and netns.link_exists(ns_if, name)

        connect = dict(host=agent.address, port=agent.port, username=user, password=password,
                       hostkey_verify=False, look_for_keys=False, allow_agent=False, timeout=10)
        with manager.connect(**connect) as m:
            caps = m.server_capabilities
            assert ":candidate" in caps and ":confirmed-commit" in caps, list(caps)
            assert any("module=ietf-interfaces" in c for c in caps)
            assert any("module=iana-if-type" in c for c in caps)
            m.edit_config(target="candidate", config=EDIT)
            m.commit()
            # netconfd may answer <ok/> and commit nothing (LAB-FACTS): read running back
            running = m.get_config(source="running").data_ele
        ifaces = running.findall(f".//{{{IF_NS}}}interface")
        assert [i.findtext(f"{{{IF_NS}}}name") for i in ifaces] == ["ge-0/0/7"], etree.tostring(running)
        assert ifaces[0].findtext(f"{{{IF_NS}}}type").endswith(":ethernetCsmacd")
        assert ifaces[0].findtext(f"{{{IF_NS}}}description") == "fullbars lab test"
        # the transaction id went to state_dir, not to root's ~/.yuma
        assert (agent.state_dir / "startup-cfg-txid.txt").read_text().strip() != "0"
        assert "ge-0/0/7" in agent.startup.read_text()

        # stop() with a session still open: its sshd child and netconf-subsystem must go too
        idle = manager.connect(**connect)
        session_pids = netns.netns_pids(name)
        assert len(session_pids) > len(pids), session_pids
    finally:
        agent.stop()
        print(f"stop(): {agent.stop_seconds:.3f} s")
        if not user_existed and _user_exists(user):
            subprocess.run(["userdel", user], check=True)
    agent.stop()  # idempotent

    assert not netns.netns_exists(name)
    assert not netns.link_exists(root_if)
    assert all(_dead(p) for p in [*pids.values(), *session_pids]), [
        p for p in session_pids if not _dead(p)]
    assert not agent.socket_path.exists() and not agent.sshd_pidfile.exists()
    assert not agent.is_alive()
    time.sleep(0.05)
    assert not idle.connected


def test_lab_login_gets_netconf_only_and_the_socket_is_private(tmp_path):
    """Issue 19: any local user could open a superuser NETCONF session through netconfd's
    world-writable socket, and the lab's SSH login gave a shell."""
    import stat

    import paramiko

    missing = missing_packages()
    if missing:
        pytest.fail(f"the lab NETCONF agent needs Debian packages: apt-get install -y {' '.join(missing)}")
    if os.geteuid() != 0:
        pytest.fail("the lab NETCONF agent needs root (network namespaces, sshd)")
    slot = (os.getpid() + 1) % 16384
    base = ipaddress.ip_address("198.19.0.0") + 4 * slot
    name = f"fbs{os.getpid()}"[:13]
    password = secrets.token_urlsafe(16)
    user_existed = _user_exists(name)
    agent = NetconfdAgent(name, tmp_path / "agent", str(base + 1), 30, str(base + 2), username=name, password=password)
    try:
        agent.start()
        login = pwd.getpwnam(name)
        sock, sock_dir = agent.socket_path.lstat(), agent.socket_path.parent.lstat()
        assert stat.S_ISSOCK(sock.st_mode) and stat.S_IMODE(sock.st_mode) == 0o600
        assert (sock.st_uid, sock_dir.st_uid, stat.S_IMODE(sock_dir.st_mode)) == (login.pw_uid, login.pw_uid, 0o700)
        assert stat.S_IMODE(agent.state_dir.stat().st_mode) == 0o700
        # another local user cannot reach the socket
        probe = ("import socket, sys\ns = socket.socket(socket.AF_UNIX)\ntry:\n    s.connect(sys.argv[1])\n"
                 "    print('connected')\nexcept OSError as e:\n    print('refused', e.errno)")
        r = subprocess.run(["python3", "-c", probe, str(agent.socket_path)], user="nobody", group="nogroup",
                           capture_output=True, text=True, timeout=10)
        assert r.stdout.startswith("refused 13"), r.stdout + r.stderr  # EACCES

        ssh = paramiko.SSHClient()
        ssh.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        ssh.connect(agent.address, port=agent.port, username=name, password=password, look_for_keys=False,
                    allow_agent=False, timeout=10)
        try:
            chan = ssh.get_transport().open_session()
            chan.exec_command("echo shell-reached; id")
            chan.settimeout(5)
            got = b""
            try:
                while b"</hello>" not in got and b"shell-reached" not in got:
                    data = chan.recv(65536)
                    if not data:
                        break
                    got += data
            except TimeoutError:
                pass
            chan.close()
            assert b"shell-reached" not in got and b"uid=" not in got
            assert b"<hello" in got and b"capability" in got  # the forced command: NETCONF, whatever was asked
            with pytest.raises(paramiko.ChannelException):
                ssh.get_transport().open_channel("direct-tcpip", ("127.0.0.1", 22), ("127.0.0.1", 40000))
        finally:
            ssh.close()
    finally:
        agent.stop()
        if not user_existed and _user_exists(name):
            subprocess.run(["userdel", name], check=True)
    assert not agent.socket_path.parent.exists()


def test_a_late_close_session_after_the_hello_only_drops_the_connection():
    """Unit test of one function: readiness needs the hello; a close-session answered late drops
    the transport instead of failing the agent's start."""
    from ncclient.operations.errors import TimeoutExpiredError

    from orchestrator.lab.netconfd import _close_quietly

    class Late:
        def __init__(self):
            self.dropped = False
            self._session = self

        def close_session(self):
            raise TimeoutExpiredError("ncclient timed out while waiting for an rpc reply.")

        def close(self):
            self.dropped = True

    m = Late()
    _close_quietly(m)
    assert m.dropped


def test_the_yuma_work_directory_is_made_before_any_netconfd_starts(tmp_path):
    """On a new machine, ten agents started at once: one netconfd exited 18 ("Could not setup
    Yuma work directory") while ~/.yuma did not exist yet, most likely because another made it
    between its look and its mkdir. Preparing an agent makes it, so no netconfd has to."""
    import shutil

    from orchestrator.lab.netconfd import yuma_work_dir

    if shutil.which("ssh-keygen") is None:
        pytest.fail("preparing an agent needs ssh-keygen: apt-get install -y openssh-client")
    work = yuma_work_dir()
    aside = tmp_path / "yuma-aside"
    if work.exists():
        shutil.move(work, aside)  # a machine's own: put back below
    try:
        agent = NetconfdAgent("fbprep", tmp_path / "agent", "198.19.0.1", 30, "198.19.0.2",
                              username="fbprep", password=secrets.token_urlsafe(16))
        agent._prepare_files()
        assert work.is_dir() and (work.stat().st_mode & 0o777) == 0o700
        agent._prepare_files()  # again, as each agent of a lab does: it is there already
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if aside.exists():
            shutil.move(aside, work)
