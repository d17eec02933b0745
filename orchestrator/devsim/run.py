"""Start devices: one from the command line, or a fleet from a YAML file, in one process."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from orchestrator.devices.registry import KINDS
from orchestrator.devsim.device import Device
from orchestrator.devsim.resident import RESIDENT
from orchestrator.devsim.server import Auth, serve
from orchestrator.errors import FullbarsError


@dataclass
class DeviceSpec:
    name: str
    kind: str
    host: str
    port: int
    state: Path
    netns: str | None = None  # serve inside this network namespace (lab nodes)


def parse_listen(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise FullbarsError(f"--listen {text!r} is not HOST:PORT", fix="for example --listen 127.0.0.1:8300")
    return host.strip("[]"), int(port)


def load_fleet(path: Path) -> list[DeviceSpec]:
    """A fleet file: `devices: [{name, kind, listen: HOST:PORT, state: DIR}]` (state relative to the file)."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    out = []
    for i, d in enumerate(data.get("devices", [])):
        try:
            host, port = parse_listen(d["listen"])
            out.append(DeviceSpec(d["name"], d["kind"], host, port, Path(path).parent / d["state"], d.get("netns")))
        except KeyError as exc:
            raise FullbarsError(f"device {i} lacks {exc.args[0]}", file=str(path), path=f"devices[{i}]",
                                fix="each device needs name, kind, listen and state") from None
    return out


async def run(specs: list[DeviceSpec], auth: Auth, ready=None, export_running: bool = False) -> None:
    # A session's rpc passes the GIL between the loop and a worker thread several times; beside a
    # commit's CPU-bound thread each pass waited up to the default 5 ms switch interval.
    sys.setswitchinterval(0.001)
    servers = []
    for sp in specs:
        dev = Device(sp.name, KINDS.get(sp.kind), sp.state, export_running=export_running)
        RESIDENT.pack_now(dev)  # before the next one loads: a fleet's peak stays within the budget
        servers.append(await serve(dev, sp.host, sp.port, auth))
    # What the devices loaded stays for the process's life: out of the cyclic collector's way, so
    # that its full passes do not walk a 10,000-subscriber datastore in the middle of a commit.
    gc.collect()
    gc.freeze()
    if ready:
        ready(specs)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for s in servers:
        s.close()


CLONE_NEWNET = 0x40000000


def enter_netns(name: str) -> None:
    """Move this (single-threaded) process into network namespace `name`, as `ip netns exec` does."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {name} failed")
    finally:
        os.close(fd)


def fork_fleet(specs: list[DeviceSpec], auth: Auth) -> list[int]:
    """One process per device, forked from this one after the models are compiled: a lab of many
    nodes starts in seconds and the compiled contexts are shared copy-on-write, yet each node
    stays its own process (kill one, the others go on). Each child writes <state>/devsim.pid."""
    from orchestrator.devsim import state, yanglib

    for kind in sorted({s.kind for s in specs}):
        models = yanglib.device_models(KINDS.get(kind).models)
        state.capabilities(models)
        yanglib.yang_library(models)
    pids = []
    for sp in specs:
        pid = os.fork()
        if pid == 0:  # the child: never returns
            code = 0
            try:
                os.setsid()
                Path(sp.state).mkdir(parents=True, exist_ok=True)
                log = os.open(Path(sp.state) / "devsim.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                os.dup2(log, 1)
                os.dup2(log, 2)
                if sp.netns:
                    enter_netns(sp.netns)
                (Path(sp.state) / "devsim.pid").write_text(str(os.getpid()))
                asyncio.run(run([sp], auth, lambda done: print(f"devsim: {sp.name} ({sp.kind}) listening on "
                                                               f"{sp.host}:{sp.port}", flush=True),
                            export_running=True))  # the lab's personalities read running.xml
            except BaseException as e:  # noqa: BLE001 - report and leave, never fall back into the parent
                print(f"devsim: {sp.name}: {e}", flush=True)
                code = 1
            finally:
                os._exit(code)
        pids.append(pid)
    return pids


def auth_from(user: str | None, password_env: str | None, authorized_keys: str | None) -> Auth:
    password = os.environ.get(password_env) if password_env else None
    if password_env and password is None:
        raise FullbarsError(f"the environment variable {password_env} is not set",
                            fix=f"export {password_env}=... (the password is read from the environment, never "
                                "from the command line)")
    if password is None and not authorized_keys:
        raise FullbarsError("no way to log in", fix="give --password-env VAR or --authorized-keys FILE")
    return Auth(user or "fullbars", password, authorized_keys)
