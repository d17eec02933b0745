"""Start devices: one from the command line, or a fleet from a YAML file, in one process."""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass
from pathlib import Path

import yaml

from orchestrator.devices.registry import KINDS
from orchestrator.devsim.device import Device
from orchestrator.devsim.server import Auth, serve
from orchestrator.errors import FullbarsError


@dataclass
class DeviceSpec:
    name: str
    kind: str
    host: str
    port: int
    state: Path


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
            out.append(DeviceSpec(d["name"], d["kind"], host, port, Path(path).parent / d["state"]))
        except KeyError as exc:
            raise FullbarsError(f"device {i} lacks {exc.args[0]}", file=str(path), path=f"devices[{i}]",
                                fix="each device needs name, kind, listen and state") from None
    return out


async def run(specs: list[DeviceSpec], auth: Auth, ready=None) -> None:
    servers = []
    for sp in specs:
        dev = Device(sp.name, KINDS.get(sp.kind), sp.state)
        servers.append(await serve(dev, sp.host, sp.port, auth))
    if ready:
        ready(specs)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for s in servers:
        s.close()


def auth_from(user: str | None, password_env: str | None, authorized_keys: str | None) -> Auth:
    password = os.environ.get(password_env) if password_env else None
    if password_env and password is None:
        raise FullbarsError(f"the environment variable {password_env} is not set",
                            fix=f"export {password_env}=... (the password is read from the environment, never "
                                "from the command line)")
    if password is None and not authorized_keys:
        raise FullbarsError("no way to log in", fix="give --password-env VAR or --authorized-keys FILE")
    return Auth(user or "fullbars", password, authorized_keys)
