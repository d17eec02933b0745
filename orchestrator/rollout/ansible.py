"""The same rendered artifacts through Ansible (ansible-runner + ansible.netcommon.netconf_config),
for fan-out through AWX / Ansible Automation Platform. fullbars writes the inventory; the password
stays in the environment (the inventory names the variable, never the value)."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import yaml

from orchestrator import settings
from orchestrator.errors import FullbarsError

PASSWORD_ENV = "FULLBARS_ANSIBLE_NETCONF_PASSWORD"


def inventory(plan_dir: Path, target, devices: list[str]) -> dict:
    hosts = {}
    for dev in devices:
        ep = target.endpoint(dev)
        hosts[dev] = {"ansible_host": ep.host, "ansible_port": ep.port, "ansible_user": ep.creds.username}
    return {"all": {"hosts": hosts, "vars": {
        "ansible_connection": "ansible.netcommon.netconf",
        "ansible_network_os": "default",
        "ansible_password": "{{ lookup('ansible.builtin.env', '" + PASSWORD_ENV + "') }}",
        "ansible_host_key_checking": False,
        "fullbars_artifacts": str(Path(plan_dir).resolve())}}}


def run(plan_dir: Path, target, devices: list[str] | None = None, forks: int = 10, quiet: bool = True) -> dict:
    try:
        import ansible_runner
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
    password = next(iter({target.endpoint(d).creds.password for d in devices}))
    with tempfile.TemporaryDirectory() as tmp:
        inv = Path(tmp) / "inventory.yml"
        inv.write_text(yaml.safe_dump(inventory(plan_dir, target, devices)))
        env = {PASSWORD_ENV: password or "", "ANSIBLE_HOST_KEY_CHECKING": "False",
               "ANSIBLE_PERSISTENT_CONNECT_TIMEOUT": "60",
               "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
        r = ansible_runner.run(private_data_dir=tmp, playbook=str(settings.REPO / "playbooks" / "apply.yml"),
                               inventory=str(inv), forks=forks, envvars=env, quiet=quiet)
        stats = r.stats or {}
    failed = sorted(set(stats.get("failures", {})) | set(stats.get("dark", {})))
    return {"status": r.status, "rc": r.rc, "ok": sorted(stats.get("ok", {})), "failed": failed}
