"""The same rendered artifacts through Ansible (ansible-runner + ansible.netcommon.netconf_config),
for fan-out through AWX / Ansible Automation Platform. fullbars writes the inventory; the password
reaches Ansible only as the answer to its --ask-pass prompt, from memory.

Nothing secret may stay on disk, even when fullbars is killed: ansible-runner writes the whole
environment of the run into its artifacts (`command`) and, unless told not to, the env vars and
passwords it was given into env/. So the run gets a private dir of its own (0700, under
FULLBARS_ANSIBLE_DIR), an environment holding nothing of fullbars' own (no device credential, no
customer secret), and the dir is removed when the run ends and, after a crash, by the next run."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

from orchestrator import settings
from orchestrator.errors import FullbarsError

# ansible-playbook --ask-pass asks this; pexpect answers it (ansible-runner's `passwords`).
PASS_PROMPT = r"SSH password:\s*?$"
# What the run may inherit from fullbars' environment; everything else stays behind.
INHERITED = ("HOME", "LANG", "LC_ALL", "LC_CTYPE", "TERM", "TMPDIR", "USER", "LOGNAME")
RUN_PREFIX = "run-"


def inventory(plan_dir: Path, target, devices: list[str]) -> dict:
    hosts = {}
    for dev in devices:
        ep = target.endpoint(dev)
        hosts[dev] = {"ansible_host": ep.host, "ansible_port": ep.port, "ansible_user": ep.creds.username}
    return {"all": {"hosts": hosts, "vars": {
        "ansible_connection": "ansible.netcommon.netconf",
        "ansible_network_os": "default",
        "ansible_host_key_checking": True,
        "fullbars_artifacts": str(Path(plan_dir).resolve())}}}


def known_hosts(target, devices: list[str], run_dir: Path) -> Path:
    """The devices' known host keys for Ansible's ncclient (through an ssh_config naming them),
    each key checked by fullbars first so a refusal names the device and both fingerprints."""
    from orchestrator.netconf import hostkeys

    lines = []
    for dev in devices:
        ep = target.endpoint(dev)
        hostkeys.check(ep.name, ep.host, ep.port, ep.hostkeys, ep.hostkeys_from)
        lines += [f"[{ep.host}]:{ep.port} {k}" for k in ep.hostkeys]
    (run_dir / "known_hosts").write_text("\n".join(lines) + "\n")
    (run_dir / "ssh_config").write_text(f"Host *\n  UserKnownHostsFile {run_dir / 'known_hosts'}\n")
    return run_dir / "ssh_config"


def runs_dir() -> Path:
    base = settings.ansible_run_dir()
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(base, 0o700)
    return base


def remove_leftovers(base: Path) -> list[str]:
    """Private dirs of runs whose fullbars process is gone (killed before its `finally`)."""
    gone = []
    for d in base.glob(f"{RUN_PREFIX}*"):
        pid = d.name[len(RUN_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(d, ignore_errors=True)
            gone.append(d.name)
    return gone


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run(plan_dir: Path, target, devices: list[str] | None = None, forks: int = 10, quiet: bool = True) -> dict:
    try:
        from ansible_runner.interface import init_runner
    except ImportError:
        raise FullbarsError("ansible-runner is not installed", fix="pip install ansible ansible-runner") from None
    m = json.loads((Path(plan_dir) / "manifest.json").read_text())
    devices = devices or sorted(m["devices"])
    from orchestrator.devices.registry import KINDS

    secret = [d for d in devices if KINDS.get(m["devices"][d]["kind"]).secrets]
    if secret:  # the artifacts hold secret references; only fullbars' own sessions put the values in
        raise FullbarsError(f"{', '.join(secret)}: device kinds with secret leaves cannot go through Ansible "
                            "(the artifacts carry only the secret references)",
                            fix="use `fullbars apply` for them, or leave them out of the Ansible run")
    passwords = {target.endpoint(d).creds.password for d in devices}
    if len(passwords) != 1 or None in passwords:
        raise FullbarsError("ansible-apply needs one NETCONF password for every device it reaches",
                            fix="use `fullbars apply`, or run Ansible per group of devices sharing a password")
    base = runs_dir()
    remove_leftovers(base)
    tmp = Path(tempfile.mkdtemp(prefix=f"{RUN_PREFIX}{os.getpid()}-", dir=base))  # 0700
    try:
        inv = tmp / "inventory.yml"
        inv.write_text(yaml.safe_dump(inventory(plan_dir, target, devices)))
        env = {"ANSIBLE_HOST_KEY_CHECKING": "True", "ANSIBLE_PERSISTENT_CONNECT_TIMEOUT": "60",
               "ANSIBLE_NETCONF_SSH_CONFIG": str(known_hosts(target, devices, tmp)),
               # Ansible's scratch space (module payloads) inside the run's dir. Its connection
               # sockets stay in ~/.ansible/pc: they hold no data, and a socket path has 107 bytes.
               "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-tmp"),
               "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
        r = init_runner(private_data_dir=str(tmp), playbook=str(settings.REPO / "playbooks" / "apply.yml"),
                        inventory=str(inv), forks=forks, envvars=env, quiet=quiet, cmdline="--ask-pass",
                        passwords={PASS_PROMPT: passwords.pop()}, suppress_env_files=True)
        # ansible-runner seeds the run's environment with all of ours (and writes it to disk)
        r.config.env = {k: v for k, v in r.config.env.items()
                        if k in env or k in INHERITED or k not in os.environ}
        r.run()
        stats = r.stats or {}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    failed = sorted(set(stats.get("failures", {})) | set(stats.get("dark", {})))
    return {"status": r.status, "rc": r.rc, "ok": sorted(stats.get("ok", {})), "failed": failed}
