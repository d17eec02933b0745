"""Known SSH host keys: every NETCONF session fullbars opens checks the device's host key against
its environment's record before it sends a password. A lab records its agents' keys as they come
up (in the lab's private state file); another environment names an OpenSSH known_hosts file or a
directory of them in its network description. An unknown or changed key is refused, naming the
device and both fingerprints (SHA256, as OpenSSH prints them); nothing is ever accepted silently."""

from __future__ import annotations

import base64
import binascii
import hashlib
import socket
from pathlib import Path

import paramiko
from ncclient import manager as nc_manager
from ncclient.transport.errors import SSHError, SSHUnknownHostError
from paramiko.hostkeys import InvalidHostKey

from orchestrator.errors import FullbarsError
from orchestrator.netconf.transport import DirectSend


class HostKeyError(FullbarsError):
    """A device presented a host key its environment does not know."""


def fingerprint(key: paramiko.PKey) -> str:
    return "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")


def openssh_line(key: paramiko.PKey) -> str:
    """The key as known_hosts and .pub files write it: 'ssh-ed25519 AAAA...'."""
    return f"{key.get_name()} {key.get_base64()}"


def parse(line: str) -> paramiko.PKey:
    kind, b64 = line.split()[:2]
    return paramiko.PKey.from_type_string(kind, base64.b64decode(b64))


def lookups(host: str, port: int) -> list[str]:
    """The names known_hosts files an entry under (OpenSSH writes '[host]:port' off port 22)."""
    return [host] if port == 22 else [f"[{host}]:{port}"]


def read_known_hosts(path: Path) -> paramiko.HostKeys:
    """A known_hosts file, or every file of a directory (like ~/.ssh/known_hosts.d); hashed
    host names work as OpenSSH writes them."""
    keys = paramiko.HostKeys()
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    if not path.exists():
        raise FullbarsError(f"the known hosts {path} do not exist",
                            fix="create it with the devices' host keys (ssh-keyscan -p PORT ADDRESS, each "
                                "fingerprint checked out of band), or fix spec.credentials.known-hosts")
    for f in files:
        try:
            keys.load(str(f))
        except (OSError, UnicodeDecodeError, binascii.Error, paramiko.SSHException, InvalidHostKey) as e:
            raise FullbarsError(f"cannot read the known hosts file {f}: {e}",
                                fix="give an OpenSSH known_hosts file (ssh-keyscan writes one)") from None
    return keys


def known_lines(keys: paramiko.HostKeys, host: str, port: int) -> tuple[str, ...]:
    found = []
    for name in lookups(host, port):
        for key in (keys.lookup(name) or {}).values():
            found.append(openssh_line(key))
    return tuple(found)


def scan(host: str, port: int, prefer: list[str] | None = None, timeout: float = 10.0) -> paramiko.PKey:
    """The host key a server presents, without logging in (as ssh-keyscan)."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        t = paramiko.Transport(sock)
        try:
            if prefer:  # the type we know first, so a changed key is compared with its own kind
                t._preferred_keys = list(dict.fromkeys(prefer + list(t._preferred_keys)))
            t.start_client(timeout=timeout)
            return t.get_remote_server_key()
        finally:
            t.close()


def refusal(device: str, host: str, port: int, known: tuple[str, ...], presented: paramiko.PKey | None,
            source: str) -> HostKeyError:
    shown = f"{fingerprint(presented)} ({presented.get_name()})" if presented else "none (no acceptable key type)"
    if not known:
        return HostKeyError(f"device {device} ({host}:{port}): its SSH host key is not known: it presents {shown}; "
                            f"nothing was sent to it",
                            fix=f"check that fingerprint out of band, then add the key to {source}")
    was = ", ".join(f"{fingerprint(parse(k))} ({k.split()[0]})" for k in known)
    return HostKeyError(f"device {device} ({host}:{port}): its SSH host key changed: known {was}, presented {shown}; "
                        f"nothing was sent to it",
                        fix=f"find out why the key changed (a replaced device, or someone in between); if it is "
                            f"the device's new key, replace its entry in {source}")


class _Verifying(DirectSend):
    """ncclient's session, checking only the keys given (never ~/.ssh/known_hosts)."""

    def __init__(self, handler, host: str, port: int, known: tuple[str, ...]):
        super().__init__(handler)
        self.presented = None
        for line in known:
            key = parse(line)
            for name in (host, f"[{host}]:{port}"):  # both names ncclient looks up
                self._host_keys.add(name, key.get_name(), key)

    def load_known_hosts(self, filename=None):
        pass

    def refuse_unknown(self, host, md5_fingerprint) -> bool:
        self.presented = self._transport.get_remote_server_key()
        return False


def connect(device: str, host: str, port: int, known: tuple[str, ...], source: str, timeout: float, **login):
    """An ncclient Manager, once the device's host key is one of `known` (login: username,
    password, key_filename)."""
    handler = nc_manager.make_device_handler({})
    kwds = dict(host=host, port=port, timeout=timeout, hostkey_verify=True, look_for_keys=False,
                allow_agent=False, **login)
    handler.add_additional_ssh_connect_params(kwds)
    handler.add_additional_netconf_params({})
    session = _Verifying(handler, host, port, known)
    try:
        session.connect(unknown_host_cb=session.refuse_unknown, **kwds)
    except SSHUnknownHostError:
        session.close()
        raise refusal(device, host, port, known, session.presented, source) from None
    except SSHError as e:
        if session.transport:
            session.close()
        if "host key" not in str(e):  # the server has no key of any type we know
            raise
        presented = None
        try:
            presented = scan(host, port, timeout=timeout)
        except (OSError, paramiko.SSHException):
            pass
        raise refusal(device, host, port, known, presented, source) from None
    except Exception:
        if session.transport:
            session.close()
        raise
    return nc_manager.Manager(session, handler, timeout=timeout)


def check(device: str, host: str, port: int, known: tuple[str, ...], source: str, timeout: float = 10.0) -> None:
    """Refuse now, with both fingerprints, a device whose key is not among `known` (for a client
    fullbars does not drive itself, which then checks the same keys again)."""
    keys = [parse(k) for k in known]
    presented = scan(host, port, prefer=[k.get_name() for k in keys], timeout=timeout)
    if not any(k.get_name() == presented.get_name() and k.asbytes() == presented.asbytes() for k in keys):
        raise refusal(device, host, port, known, presented, source)
