"""One yuma123 netconfd as a real NETCONF-over-SSH agent in its own network namespace.

    with NetconfdAgent("lab1-ne1", state_dir, "198.18.0.1", 30, "198.18.0.2",
                       username="fblab", password="...") as agent:
        ncclient.manager.connect(host=agent.address, port=agent.port, ...)

start() creates namespace `name` and a veth `<name>-r` (root side, peer_address) <->
`<name>-n` (in the namespace, address), starts netconfd (listening on a UNIX socket only) and a
private sshd whose `netconf` subsystem is yuma123's netconf-subsystem bridging to that socket,
and returns once a NETCONF <hello> is answered over SSH. stop() undoes all of it.

Needs root and the Debian packages netconfd (+ libyuma-base, its YANG files), openssh-server,
openssh-client (ssh-keygen), iproute2 and passwd (useradd, chpasswd): `missing_packages()`.

Things left on the machine on purpose (shared by every agent, harmless when idle):
* the login user. sshd authenticates `username` against /etc/shadow (UsePAM no), so the user must
  exist: if it does not, start() creates a locked-home system user with comment
  `fullbars lab NETCONF login` and shell /bin/sh (sshd runs the subsystem through the login
  shell, so nologin would not do), and sets its password with chpasswd. A user carrying that
  comment has its password (re)set by start(); any other existing user is used as it is, its
  password untouched. Remove it with `userdel <username>` when no lab uses it.
* /run/fullbars-lab/ (0755) holding a dir per agent, `<name>/` (0700, owned by the login user),
  with its socket `ncx.sock` (0600, owned by the login user; both removed by stop()). The socket
  lives there, not in state_dir, because netconf-subsystem runs as the login user and must reach
  it (state_dir is 0700 root), and a UNIX socket path is at most 107 bytes. netconfd makes the
  socket world-writable, and whoever connects to it gets a superuser session without a password:
  the private dir is what keeps other local users out.
* /run/sshd, sshd's privilege-separation directory, if it was missing.
* root's ~/.yuma/ (empty): netconfd creates it at every start, whatever $HOME says.

state_dir (0700) keeps startup.xml (the committed configuration) and the SSH host key, so an agent
restarted on the same state_dir comes back with its configuration and the same host key.

The login user gets the NETCONF subsystem and nothing else: sshd forces the subsystem's command
for any session (a shell or exec request gets a NETCONF hello), with no PTY and no forwarding.
"""

from __future__ import annotations

import atexit
import os
import pwd
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from orchestrator.lab.netns import (LabError, NetnsLink, check_name, exec_argv, kill_pids, lab_interface,
                                    netns_exists, netns_pids)
from orchestrator.netconf import NETCONF_PORT

YUMA_IETF = Path("/usr/share/yuma/modules/ietf")
# iana-if-type gives the interface type identities (ianaift:ethernetCsmacd); ietf-ip is optional.
# ietf-interfaces is loaded by FILE PATH: loaded by name, netconfd picks up a plug-in that runs
# ifconfig on the host and can take interfaces down (LAB-FACTS.md).
BASE_MODULES = (YUMA_IETF / "iana-if-type@2014-05-08.yang", YUMA_IETF / "ietf-interfaces@2014-05-08.yang")
OPTIONAL_MODULES = (YUMA_IETF / "ietf-ip@2014-06-16.yang",)
RUN_DIR = Path("/run/fullbars-lab")
USER_COMMENT = "fullbars lab NETCONF login"
_SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"])

# what start() runs or reads -> the Debian package that provides it
REQUIREMENTS = {
    "netconfd": "netconfd",
    "netconf-subsystem": "netconfd",
    "sshd": "openssh-server",
    "ssh-keygen": "openssh-client",
    "ip": "iproute2",
    "useradd": "passwd",
    "chpasswd": "passwd",
    **{str(p): "libyuma-base" for p in BASE_MODULES},
}

_users_ready: dict[str, str] = {}
_users_lock = threading.Lock()


def yuma_work_dir() -> Path:
    """root's ~/.yuma: netconfd takes its home from the password database, not from $HOME."""
    return Path(pwd.getpwuid(os.geteuid()).pw_dir) / ".yuma"


def _which(tool: str) -> str | None:
    return shutil.which(tool, path=_SBIN_PATH)


def missing_packages() -> list[str]:
    """Debian packages to `apt-get install -y` before an agent can start (empty if none)."""
    missing = set()
    for need, package in REQUIREMENTS.items():
        if not (os.path.exists(need) if need.startswith("/") else _which(need)):
            missing.add(package)
    return sorted(missing)


def ensure_login_user(username: str, password: str) -> None:
    """Make `username` able to log in with `password` (see the module docstring)."""
    check_name(username, 32)
    if username == "root":
        raise ValueError("the lab login user must not be root")
    with _users_lock:
        try:
            entry = pwd.getpwnam(username)
            if _users_ready.get(username) == password:
                return  # done earlier in this process (and not userdel'ed since)
        except KeyError:
            proc = subprocess.run(
                [_which("useradd") or "useradd", "--system", "--no-create-home", "--home-dir", "/",
                 "--shell", "/bin/sh", "--comment", USER_COMMENT, username],
                capture_output=True, text=True)
            try:
                entry = pwd.getpwnam(username)  # also fine if another process created it meanwhile
            except KeyError:
                raise LabError(f"useradd {username} failed: {proc.stderr.strip()}") from None
        if entry.pw_gecos != USER_COMMENT:
            _users_ready[username] = password
            return  # not ours: leave its password alone
        for attempt in range(20):  # chpasswd fails while another process holds the shadow lock
            proc = subprocess.run([_which("chpasswd") or "chpasswd"], input=f"{username}:{password}\n",
                                  capture_output=True, text=True)
            if proc.returncode == 0:
                break
            time.sleep(0.05 * (attempt + 1))
        else:
            raise LabError(f"chpasswd for {username} failed: {proc.stderr.strip()}")
        _users_ready[username] = password


def remove_socket(path: Path) -> None:
    """An agent's socket and the private dir holding it."""
    path = Path(path)
    path.unlink(missing_ok=True)
    if path.name == "ncx.sock" and path.parent.is_dir():  # not a socket straight in RUN_DIR (older labs)
        shutil.rmtree(path.parent)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return "\n    ".join(text[-lines:]) or "(empty)"


class NetconfdAgent:
    """See the module docstring. Not thread-safe per instance; many instances may run at once."""

    def __init__(self, name: str, state_dir: str | os.PathLike, address: str, prefix_len: int,
                 peer_address: str, port: int = NETCONF_PORT, *, username: str, password: str,
                 modules: Sequence[str | os.PathLike] = (), hello_timeout: float = 20.0,
                 stop_grace: float = 3.0, run_dir: str | os.PathLike = RUN_DIR, netns: str | None = None):
        # netns: run inside a namespace the caller made and owns (a lab node); otherwise the
        # agent makes its own namespace with a veth to the root namespace.
        self.name = check_name(name, 13)  # it names the namespace and prefixes the veth names
        self.state_dir = Path(state_dir).resolve()
        lab_interface(address, prefix_len)
        lab_interface(peer_address, prefix_len)
        if not 0 < int(port) < 65536:
            raise ValueError(f"bad port {port}")
        self.address, self.prefix_len, self.peer_address, self.port = address, prefix_len, peer_address, int(port)
        self.username, self.password = username, password
        self.modules = [Path(m).resolve() for m in modules]
        self.hello_timeout, self.stop_grace = hello_timeout, stop_grace
        self.socket_path = Path(run_dir) / name / "ncx.sock"
        if len(os.fsencode(self.socket_path)) > 107 or any(c in str(self.socket_path) for c in " \t\"'"):
            raise ValueError(f"socket path {self.socket_path} is too long or has blanks/quotes")
        self.netns = netns or name
        self.link = None if netns else NetnsLink(name, name, address, peer_address, prefix_len)
        self.capabilities: list[str] = []
        self.start_seconds: float | None = None  # start() until the hello was answered
        self.stop_seconds: float | None = None
        self._procs: dict[str, subprocess.Popen] = {}
        self._logs: list = []

    # files in state_dir
    startup = property(lambda self: self.state_dir / "startup.xml")
    host_key = property(lambda self: self.state_dir / "ssh_host_ed25519_key")
    sshd_config = property(lambda self: self.state_dir / "sshd_config")
    sshd_pidfile = property(lambda self: self.state_dir / "sshd.pid")
    netconfd_log = property(lambda self: self.state_dir / "netconfd.log")
    sshd_log = property(lambda self: self.state_dir / "sshd.log")

    @property
    def pids(self) -> dict[str, int]:
        """Pids of the processes start() launched: {"netconfd": .., "sshd": ..}."""
        return {k: p.pid for k, p in self._procs.items()}

    def __enter__(self) -> "NetconfdAgent":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"NetconfdAgent({self.name!r}, {self.address}:{self.port})"

    def is_alive(self) -> bool:
        return bool(self._procs) and netns_exists(self.netns) and all(
            p.poll() is None for p in self._procs.values())

    # --- start ---------------------------------------------------------------------------------

    def start(self) -> None:
        if self._procs or (self.link and self.link.created):
            raise LabError(f"{self!r} is already started")
        missing = missing_packages()
        if missing:
            raise LabError(f"{self!r} cannot start, install: apt-get install -y {' '.join(missing)}")
        if os.geteuid() != 0:
            raise LabError(f"{self!r} needs root (network namespaces, sshd)")
        for m in self.modules:
            if not m.is_file():
                raise LabError(f"{self!r}: module file {m} not found")
        t0 = time.monotonic()
        self._prepare_files()
        ensure_login_user(self.username, self.password)
        atexit.register(self.stop)
        try:
            if self.link:
                self.link.create()
            self._socket_dir()
            self._spawn("netconfd", self._netconfd_argv(), self.state_dir / "netconfd.out")
            self._spawn("sshd", [_which("sshd"), "-D", "-f", str(self.sshd_config), "-E", str(self.sshd_log)],
                        self.state_dir / "sshd.out")
            self._wait_hello(t0 + self.hello_timeout)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - t0

    def _prepare_files(self) -> None:
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.state_dir, 0o700)
        # netconfd makes its work directory when it finds none. On a new machine, one of ten
        # netconfd started at once exited 18 ("Could not setup Yuma work directory"), most likely
        # because another made it between its look and its mkdir (not seen again in 7 tries).
        # Made here first, none of them has to make it.
        yuma_work_dir().mkdir(mode=0o700, exist_ok=True)
        if not self.startup.exists():
            self.startup.write_text("<config/>\n")
        # netconfd looks for startup-cfg-txid.txt in its working directory (then ~/.yuma; it
        # ignores --datapath and $HOME for it): run it in state_dir with the file present.
        txid = self.state_dir / "startup-cfg-txid.txt"
        if not txid.exists():
            txid.write_text("0\n")
        if not self.host_key.exists():
            subprocess.run([_which("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-C", self.name,
                            "-f", str(self.host_key)], check=True, capture_output=True)
        subsystem = f"{_which('netconf-subsystem')} --ncxserver-sockname={self.port}@{self.socket_path}"
        self.sshd_config.write_text("\n".join([
            f"# sshd for lab NETCONF agent {self.name}; written by orchestrator.lab.netconfd",
            f"ListenAddress {self.address}:{self.port}",
            f"HostKey {self.host_key}",
            f"PidFile {self.sshd_pidfile}",
            "PasswordAuthentication yes",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "PermitRootLogin no",
            f"AllowUsers {self.username}",
            "PermitTTY no",
            "DisableForwarding yes",
            "X11Forwarding no",
            "AllowTcpForwarding no",
            "AllowAgentForwarding no",
            "AllowStreamLocalForwarding no",
            "PermitTunnel no",
            "PermitUserRC no",
            "PermitUserEnvironment no",
            "MaxAuthTries 3",
            "PrintMotd no",
            "UseDNS no",
            f'Subsystem netconf "{subsystem}"',
            # Whatever the client asks for (shell, exec, a subsystem), it gets NETCONF.
            f"ForceCommand {subsystem}",
            ""]))
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd refuses to start without it

    def _socket_dir(self) -> None:
        """A fresh dir only the login user (and root) can enter, for netconfd's socket."""
        remove_socket(self.socket_path)  # a stale socket makes netconfd fail (bind: in use)
        self.socket_path.parent.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        self.socket_path.parent.mkdir(mode=0o700)
        user = pwd.getpwnam(self.username)
        os.chown(self.socket_path.parent, user.pw_uid, user.pw_gid)

    def _own_socket(self) -> None:
        user = pwd.getpwnam(self.username)
        os.chown(self.socket_path, user.pw_uid, user.pw_gid)
        os.chmod(self.socket_path, 0o600)

    def _netconfd_argv(self) -> list[str]:
        modules = [*BASE_MODULES, *(m for m in OPTIONAL_MODULES if m.exists()), *self.modules]
        seen = set()
        modules = [m for m in modules if not (m in seen or seen.add(m))]
        return [_which("netconfd"),
                f"--ncxserver-sockname={self.socket_path}",
                f"--port={self.port}",
                f"--datapath={self.state_dir}",
                f"--startup={self.startup}",
                f"--superuser={self.username}",
                f"--log={self.netconfd_log}",
                "--log-level=info",
                *(f"--module={m}" for m in modules)]

    def _spawn(self, key: str, argv: list[str], out: Path) -> None:
        log = open(out, "ab")
        self._logs.append(log)
        self._procs[key] = subprocess.Popen(
            exec_argv(self.netns, argv), cwd=self.state_dir, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)

    def _wait_hello(self, deadline: float) -> None:
        from orchestrator.netconf.hostkeys import HostKeyError, connect

        # The sshd we started presents the key we generated, or this is not our agent.
        own = (Path(f"{self.host_key}.pub").read_text().strip(),)
        last = "netconfd's socket never appeared"
        while True:
            for key, proc in self._procs.items():
                if proc.poll() is not None:
                    raise LabError(self._failure(f"{key} exited with status {proc.returncode}"))
            if time.monotonic() > deadline:
                raise LabError(self._failure(f"no NETCONF hello within {self.hello_timeout:.0f} s ({last})"))
            if not self.socket_path.exists():
                time.sleep(0.02)
                continue
            self._own_socket()
            try:
                with socket.create_connection((self.address, self.port), timeout=0.5):
                    pass
            except OSError as e:
                last = f"sshd not accepting: {e}"
                time.sleep(0.02)
                continue
            try:
                m = connect(self.name, self.address, self.port, own, str(self.host_key), username=self.username,
                            password=self.password, timeout=max(1.0, min(10.0, deadline - time.monotonic())))
            except HostKeyError as e:
                raise LabError(self._failure(e.problems[0].message)) from None
            except Exception as e:  # noqa: BLE001 - any failure here means "not ready yet"
                last = f"{type(e).__name__}: {e}".strip()
                time.sleep(0.1)
                continue
            try:
                self.capabilities = sorted(m.server_capabilities)
            finally:
                _close_quietly(m)
            return

    def _failure(self, what: str) -> str:
        user = ""
        try:
            if pwd.getpwnam(self.username).pw_gecos != USER_COMMENT:
                user = f"\n  note: user {self.username} was not created by fullbars; its password was not set"
        except KeyError:
            pass
        return (f"NETCONF agent {self.name} ({self.address}:{self.port}): {what}{user}"
                f"\n  netconfd log {self.netconfd_log}:\n    {_tail(self.netconfd_log)}"
                f"\n  netconfd output:\n    {_tail(self.state_dir / 'netconfd.out')}"
                f"\n  sshd log {self.sshd_log}:\n    {_tail(self.sshd_log)}")

    # --- stop ----------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop both daemons and any session processes left in the namespace, remove the socket,
        the pid file, the veth and the namespace. Safe to call again, or after a failed start."""
        t0 = time.monotonic()
        atexit.unregister(self.stop)
        errors = []
        # 1. the two daemons, by the pids we started them with, in parallel (netconfd needs ~1 s)
        pending = [p for p in self._procs.values() if p.poll() is None]
        for p in pending:
            p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_grace
        for p in pending:
            try:
                p.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        # 2. what they started in our namespace (per-connection sshd, netconf-subsystem): only
        #    processes inside the namespace this agent created, by pid
        if self.link and self.link.created:
            self._end_pids(netns_pids(self.name))
        self._procs.clear()
        for log in self._logs:
            log.close()
        self._logs.clear()
        try:
            remove_socket(self.socket_path)
            self.sshd_pidfile.unlink(missing_ok=True)
        except OSError as e:
            errors.append(str(e))
        try:
            if self.link:
                self.link.delete()
        except LabError as e:
            errors.append(str(e))
        self.stop_seconds = time.monotonic() - t0
        if errors:
            raise LabError(f"{self!r} stop: " + "; ".join(errors))

    def _end_pids(self, pids: list[int]) -> None:
        kill_pids(pids)


def _close_quietly(m) -> None:
    """The hello is what readiness needs: a close-session a busy netconfd answers late must not
    fail the start (seen under CI load), so the transport is simply dropped then."""
    try:
        m.close_session()
    except Exception:  # noqa: BLE001 - any failure to say goodbye: drop the connection
        try:
            m._session.close()
        except Exception:  # noqa: BLE001
            pass
