"""A lab's devices described as an environment of their own (production in the tests): the network
description with their management addresses, the lab's login by secret reference, and a
known_hosts file of the host keys their agents came up with, as ssh-keyscan would write it."""

from __future__ import annotations

from pathlib import Path


def as_environment(network: Path, folder: Path, st: dict, secret_env: str, devices=("olt-1", "bng-east")) -> Path:
    """Write folder/production.yaml (and production.known_hosts beside it); the caller puts the
    lab's password into the environment variable secret_env."""
    text = network.read_text().replace("username: fullbars", f"username: {st['user']}")
    text = text.replace("secret-ref: env:FULLBARS_NETCONF_PASSWORD",
                        f"secret-ref: env:{secret_env}\n    known-hosts: production.known_hosts")
    (folder / "production.known_hosts").write_text("".join(
        f"[{st['nodes'][dev]['mgmt_ip']}]:830 {key}\n" for dev in devices for key in st["hostkeys"][dev]))
    for dev in devices:
        i = text.index(f"- name: {dev}\n")
        j = text.index("address: ", i)
        text = text[:j] + f"address: {st['nodes'][dev]['mgmt_ip']}" + text[text.index("\n", j):]
    path = folder / "production.yaml"
    path.write_text(text)
    return path
