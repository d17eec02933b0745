"""Network-wide transactions against a lab of devsim and netconfd nodes: all or nothing, also
when a device refuses, when a device dies, and when fullbars itself is killed mid-way."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from conftest import REPO, read_running
from test_lab import _require_lab_tools

INTENTS = sorted(str(p) for p in (REPO / "examples/lab").glob("*.yaml")) + [
    str(REPO / "examples/intents/bakery-on-main.yaml"), str(REPO / "examples/intents/clinic-west.yaml")]


@pytest.fixture(scope="module")
def five(tmp_path_factory):
    """5 devices (3 OLTs on devsim, 2 BNGs on netconfd) with the intents applied once."""
    _require_lab_tools()
    from orchestrator.lab.generate import from_plan
    from orchestrator.lab.runtime import open_lab
    from orchestrator.plan.artifacts import write
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store
    from orchestrator.rollout.apply import apply
    from orchestrator.rollout.targets import lab_target

    tmp = tmp_path_factory.mktemp("five")
    os.environ["FULLBARS_LAB_DIR"] = str(tmp / "labs")
    db = f"sqlite:///{tmp}/store.db"
    store = Store(db)
    result = plan(store, str(REPO / "examples/network.yaml"), INTENTS)
    assert sorted(d.device for d in result.devices) == ["bng-east", "bng-west", "olt-1", "olt-2", "olt-3"]
    write(result, tmp / "plan")
    topo = tmp / "five.clab.yml"
    topo.write_text(from_plan(tmp / "plan", f"a{os.getpid() % 100000}"))
    lab = open_lab(topo)
    lab.up(timeout=60)
    try:
        target = lab_target(topo)
        rep = apply(store, result, target, confirm_timeout=30)
        assert rep["outcome"] == "committed", rep["summary"]
        yield {"store": store, "db": db, "target": target, "topo": topo, "tmp": tmp, "lab": lab}
    finally:
        lab.down()


def running_leaves(target) -> dict[str, set]:
    from orchestrator.netconf.compare import leaves

    return {dev: leaves(read_running(ep)) for dev, ep in target.endpoints.items()}


def changed_plan(five, name: str, down: str = "400M"):
    """The same intents with every downstream rate changed: all 5 devices get an edit."""
    from orchestrator.plan.pipeline import plan

    d = five["tmp"] / name
    d.mkdir(exist_ok=True)
    files = []
    for f in INTENTS:
        text = Path(f).read_text()
        text = text.replace("downstream: 500M", f"downstream: {down}").replace("downstream: 1G", f"downstream: {down}")
        if "downstream" not in text:
            text = text.replace("  tenure-years:", f"  rates:\n    downstream: {down}\n  tenure-years:")
        (d / Path(f).name).write_text(text)
        files.append(str(d / Path(f).name))
    return plan(five["store"], None, files)


def test_fourth_device_rejects_all_five_keep_their_old_config(five):
    from orchestrator.rollout.transaction import Change, Transaction

    before = running_leaves(five["target"])
    result = changed_plan(five, "reject")
    devs = sorted(result.devices, key=lambda d: d.device)
    assert len(devs) == 5
    changes = []
    for i, d in enumerate(devs):
        intended = d.intended
        if i == 3:  # the 4th device gets a config its models refuse
            intended = intended.replace("<onu-id>1</onu-id>", "<onu-id>5000</onu-id>", 1)
            assert intended != d.intended
        changes.append(Change(d.device, d.kind, five["target"].endpoint(d.device), intended))
    rep = Transaction(five["store"], changes, five["target"].label, confirm_timeout=30).run()
    assert rep["outcome"] == "rolled-back"
    assert rep["failed"] == [devs[3].device]
    assert "onu-id" in rep["devices"][devs[3].device]["error"]
    assert running_leaves(five["target"]) == before


def test_a_device_never_reached_is_reported_so_not_as_rolled_back(five):
    """olt-3 answers on no port: the edit step fails there, the others are rolled back, and olt-3
    is reported not reached (nothing was changed on it), not rolled back."""
    import dataclasses

    from orchestrator.rollout.transaction import Change, Transaction

    before = running_leaves(five["target"])
    result = changed_plan(five, "never-reached", down="430M")
    changes = []
    for d in result.devices:
        ep = five["target"].endpoint(d.device)
        if d.device == "olt-3":  # a closed port on this host: refused at once
            ep = dataclasses.replace(ep, host="127.0.0.1", port=9, timeout=5)
        changes.append(Change(d.device, d.kind, ep, d.intended))
    rep = Transaction(five["store"], changes, five["target"].label, confirm_timeout=30).run()
    assert rep["outcome"] == "rolled-back" and rep["failed"] == ["olt-3"], rep["summary"]
    assert rep["devices"]["olt-3"]["state"] == "not-reached", rep["devices"]["olt-3"]
    assert {d for d, r in rep["devices"].items() if r["state"] == "rolled-back"} == {c.device for c in changes} - {"olt-3"}
    assert "not-reached on olt-3" in rep["summary"], rep["summary"]
    assert running_leaves(five["target"]) == before


def test_a_candidate_another_session_left_uncommitted_is_refused_not_discarded(five):
    """Another session staged an edit in a device's candidate and did not commit it (netconfd's
    bng-east, devsim's olt-1): the change is refused there, named, everything rolls back, and the
    staged edit is still in the candidate (fullbars discarded it before locking). Once that
    session discards it, the change goes through."""
    from ncclient import manager

    from orchestrator.plan.pipeline import plan
    from orchestrator.rollout.transaction import Change, Transaction

    st = five["lab"].load_state()
    staged = {"bng-east": "<name>to-olt-2.1200.3</name>", "olt-1": "<name>vani-dock-office</name>"}
    for node, entry in staged.items():
        before = running_leaves(five["target"])
        n = st["nodes"][node]
        with manager.connect(host=n["mgmt_ip"], port=830, username=st["user"], password=st["password"],
                             hostkey_verify=False, look_for_keys=False, allow_agent=False) as other:
            other.edit_config(target="candidate", config='<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
                              '<interfaces xmlns="urn:ietf:params:xml:ns:yang:ietf-interfaces"><interface>'
                              f"{entry}<description>staged by hand</description></interface></interfaces></config>")
            result = changed_plan(five, f"staged-{node}", down="420M")
            changes = [Change(d.device, d.kind, five["target"].endpoint(d.device), d.intended) for d in result.devices]
            rep = Transaction(five["store"], changes, five["target"].label, confirm_timeout=30).run()
            assert rep["outcome"] == "rolled-back" and rep["failed"] == [node], rep["summary"]
            assert "holds changes another session made and did not commit" in rep["devices"][node]["error"], rep
            assert running_leaves(five["target"]) == before
            assert "staged by hand" in other.get_config(source="candidate").data_xml, f"{node}: staged edit discarded"
            other.discard_changes()
    rep = Transaction(five["store"], changes, five["target"].label, confirm_timeout=30).run()
    assert rep["outcome"] == "committed", rep["summary"]
    back = plan(five["store"], None, INTENTS)  # the lab as the other tests found it
    rep = Transaction(five["store"], [Change(d.device, d.kind, five["target"].endpoint(d.device), d.intended)
                                      for d in back.devices], five["target"].label, confirm_timeout=30).run()
    assert rep["outcome"] == "committed", rep["summary"]


def test_device_killed_mid_transaction_others_roll_back(five, monkeypatch):
    from orchestrator.rollout.transaction import Change, Transaction

    before = running_leaves(five["target"])
    result = changed_plan(five, "killed", down="450M")
    changes = [Change(d.device, d.kind, five["target"].endpoint(d.device), d.intended) for d in result.devices]
    monkeypatch.setenv("FULLBARS_FAULT_PAUSE", "committing:2")  # hold after the edits, before the commits
    st = five["lab"].load_state()
    victim = st["nodes"]["olt-3"]["pids"][0]
    threading.Timer(1.0, lambda: os.kill(victim, signal.SIGKILL)).start()
    rep = Transaction(five["store"], changes, five["target"].label, confirm_timeout=30).run()
    # olt-3 cannot be read back, so it is not claimed rolled back: in doubt, with its persist-id
    assert rep["outcome"] == "in-doubt"
    assert "olt-3" in rep["failed"] and "olt-3" in rep["summary"]
    assert rep["devices"]["olt-3"]["state"] == "in-doubt" and rep["devices"]["olt-3"]["persist_id"] == rep["tx"]
    assert {d for d, r in rep["devices"].items() if r["state"] == "rolled-back"} == {c.device for c in changes} - {"olt-3"}
    five["lab"].up()  # olt-3 comes back with its datastore
    from orchestrator.rollout.recover import recover

    assert [r["now"] for r in recover(five["store"])] == ["rolled-back"]
    after = running_leaves(five["target"])
    assert {d: sorted(before[d] ^ after[d])[:4] for d in before if before[d] != after[d]} == {}, rep["devices"]


def test_a_confirm_timeout_that_ends_before_the_read_back_is_said_as_such(five, monkeypatch):
    """Held after its commits past the devices' confirm timeout, the transaction finds them back
    on the old config when it reads them: it says the timeout ran out (the devices did commit),
    not that the agent answered <ok/> and did not commit."""
    from orchestrator.rollout.transaction import Change, Transaction

    before = running_leaves(five["target"])
    result = changed_plan(five, "expired", down="420M")
    changes = [Change(d.device, d.kind, five["target"].endpoint(d.device), d.intended) for d in result.devices]
    monkeypatch.setenv("FULLBARS_FAULT_PAUSE", "verifying:6")  # after the commits, longer than their timeout
    rep = Transaction(five["store"], changes, five["target"].label, confirm_timeout=2).run()
    assert rep["outcome"] == "rolled-back", rep["summary"]
    assert "its confirm timeout (2 s) ran out before it was read back" in rep["summary"], rep["summary"]
    assert "did not commit" not in rep["summary"], rep["summary"]
    assert running_leaves(five["target"]) == before


def test_fullbars_killed_before_confirming_devices_revert_and_recover_records_it(five):
    from orchestrator.resources.store import TransactionRow
    from orchestrator.rollout.transaction import history

    before = running_leaves(five["target"])
    d = five["tmp"] / "sigkill"
    changed_plan(five, "sigkill", down="350M")  # writes the changed intents into d
    env = dict(os.environ, FULLBARS_FAULT_PAUSE="confirming", FULLBARS_DB=five["db"])
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator", "apply", *sorted(str(p) for p in d.glob("*.yaml")),
                             "--target", "lab", "--lab", str(five["topo"]), "--confirm-timeout", "4", "--no-checks"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    tx = None
    while time.time() < deadline:
        rows = [t for t in history(five["store"], 5) if t.state == "verifying"]
        if rows:
            tx = rows[0].id
            break
        time.sleep(0.1)
    assert tx, proc.communicate(timeout=5)
    time.sleep(0.5)
    after_commit = running_leaves(five["target"])
    assert after_commit != before  # the confirmed commits are in
    # while its process lives, recover (another process) leaves the transaction to it
    r = subprocess.run([sys.executable, "-m", "orchestrator", "recover"], cwd=REPO, env=dict(os.environ, FULLBARS_DB=five["db"]),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert f"{tx}: verifying, left alone: process {proc.pid} on " in r.stdout, r.stdout
    with five["store"].transaction() as s:
        assert s.get(TransactionRow, tx).state == "verifying"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 30  # past the confirm timeout (4 s) every device reverts by itself
    while time.time() < deadline and running_leaves(five["target"]) != before:
        time.sleep(0.5)
    after = running_leaves(five["target"])
    assert {d: sorted(before[d] ^ after[d])[:4] for d in before if before[d] != after[d]} == {}
    r = subprocess.run([sys.executable, "-m", "orchestrator", "recover"], cwd=REPO, env=dict(os.environ, FULLBARS_DB=five["db"]),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert f"{tx}: was verifying, now rolled-back" in r.stdout
    with five["store"].transaction() as s:
        assert s.get(TransactionRow, tx).state == "rolled-back"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_fullbars_interrupted_before_confirming_takes_the_devices_back_at_once_and_says_so(five, sig):
    """Ctrl-C or SIGTERM while the devices hold unconfirmed commits: the apply rolls them back
    now and records it, rather than leaving them new until their confirm timeout (an hour here)
    with the journal at `verifying` and the store old."""
    from orchestrator.resources.store import TransactionRow
    from orchestrator.rollout.transaction import history

    before = running_leaves(five["target"])
    d = five["tmp"] / f"interrupted-{sig.name}"
    changed_plan(five, d.name, down="250M")
    env = dict(os.environ, FULLBARS_FAULT_PAUSE="verifying", FULLBARS_DB=five["db"])
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator", "apply", *sorted(str(p) for p in d.glob("*.yaml")),
                             "--target", "lab", "--lab", str(five["topo"]), "--confirm-timeout", "3600", "--no-checks"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # a terminal's Ctrl-C: SIGINT is not ignored as in a background job
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline, tx = time.time() + 60, None
    while time.time() < deadline and tx is None:
        tx = next((t.id for t in history(five["store"], 5) if t.state == "committing"), None)
        time.sleep(0.1)
    assert tx, proc.communicate(timeout=5)
    deadline = time.time() + 60  # the commits are in when it pauses before `verifying`
    while time.time() < deadline and running_leaves(five["target"]) == before:
        time.sleep(0.2)
    assert running_leaves(five["target"]) != before
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert f"{tx}: rolled-back" in out + err and "interrupted (Ctrl-C or SIGTERM)" in out + err, out + err
    after = running_leaves(five["target"])
    assert {d: sorted(before[d] ^ after[d])[:4] for d in before if before[d] != after[d]} == {}
    with five["store"].transaction() as s:
        assert s.get(TransactionRow, tx).state == "rolled-back"


def _edit_by_hand(five, node: str, config: str) -> None:
    from ncclient import manager

    st = five["lab"].load_state()
    n = st["nodes"][node]
    with manager.connect(host=n["mgmt_ip"], port=830, username=st["user"], password=st["password"],
                         hostkey_verify=False, look_for_keys=False, allow_agent=False) as m:
        m.edit_config(target="candidate", config=f'<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">{config}</config>')
        m.commit()


def test_drift_reports_device_path_service_and_reconcile_repairs(five):
    """Changes by hand on an OLT (a line's v-ANI, the shaper profile two lines share) and on a BNG
    (a line's sub-interface): each difference names the services owning its path."""
    _edit_by_hand(five, "olt-1", '<interfaces xmlns="urn:ietf:params:xml:ns:yang:ietf-interfaces"><interface>'
                  "<name>vani-dock-office</name><description>changed by hand</description></interface></interfaces>"
                  '<tm-profiles xmlns="urn:bbf:yang:bbf-qos-traffic-mngt"><shaper-profile '
                  'xmlns="urn:bbf:yang:bbf-qos-shaping"><name>down-500M</name><single-token-bucket>'
                  "<pir>250000</pir></single-token-bucket></shaper-profile></tm-profiles>")
    _edit_by_hand(five, "bng-east", '<interfaces xmlns="urn:ietf:params:xml:ns:yang:ietf-interfaces"><interface>'
                  "<name>to-olt-2.1200.3</name><description>changed by hand</description></interface></interfaces>")
    env = dict(os.environ, FULLBARS_DB=five["db"])
    args = [sys.executable, "-m", "orchestrator", "drift", "--target", "lab", "--lab", str(five["topo"])]
    r = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "olt-1: 2 difference(s)" in r.stdout and "bng-east: 1 difference(s)" in r.stdout, r.stdout
    assert ("/interfaces/interface[name='vani-dock-office']/description: intended 'Harbour customer 1', "
            "running 'changed by hand'  (service: dock-office)") in r.stdout, r.stdout
    assert ("/tm-profiles/shaper-profile[name='down-500M']/single-token-bucket/pir: intended '500000', "
            "running '250000'  (service: dock-office, harbour-cafe)") in r.stdout
    assert ("/interfaces/interface[name='to-olt-2.1200.3']/description: intended 'Harbour customer 3 (ship-repair)', "
            "running 'changed by hand'  (service: ship-repair)") in r.stdout, r.stdout
    r = subprocess.run(args + ["--reconcile"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "committed on 2 device(s)" in r.stdout, r.stdout + r.stderr
    r = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "olt-1: in sync" in r.stdout and "bng-east: in sync" in r.stdout


def test_apply_names_the_hand_changes_it_puts_back(five):
    """A line's description changed by hand on olt-1 after fullbars gave it: an apply of new
    rates puts it back and says so, with what the device ran and what fullbars had given; the
    next apply, on devices in sync, names nothing."""
    _edit_by_hand(five, "olt-1", '<interfaces xmlns="urn:ietf:params:xml:ns:yang:ietf-interfaces"><interface>'
                  "<name>vani-dock-office</name><description>changed by hand</description></interface></interfaces>")
    env = dict(os.environ, FULLBARS_DB=five["db"])

    def apply_rates(name: str, down: str) -> str:
        changed_plan(five, name, down=down)
        files = sorted(str(p) for p in (five["tmp"] / name).glob("*.yaml"))
        r = subprocess.run([sys.executable, "-m", "orchestrator", "apply", *files, "--target", "lab", "--lab",
                            str(five["topo"]), "--confirm-timeout", "30", "--no-checks"],
                           cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
        assert r.returncode == 0 and "committed" in r.stdout, r.stdout + r.stderr
        return " ".join(r.stdout.split())  # rich wraps long lines

    said = apply_rates("put-back", "450M")
    assert ("changed outside fullbars, put back: /interfaces/interface[name='vani-dock-office']/description "
            "(it ran 'changed by hand'; fullbars had given 'Harbour customer 1')") in said, said
    assert said.count("changed outside fullbars") == 1, said
    said = apply_rates("put-back-again", "460M")
    assert "changed outside fullbars" not in said, said
    r = subprocess.run([sys.executable, "-m", "orchestrator", "apply", *INTENTS, "--target", "lab", "--lab",
                        str(five["topo"]), "--confirm-timeout", "30", "--no-checks"],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr  # the lab as the other tests found it


def test_rollback_restores_the_config_before_a_transaction(five):
    from orchestrator.rollout.apply import apply
    from orchestrator.rollout.transaction import history

    before = running_leaves(five["target"])
    result = changed_plan(five, "to-undo", down="200M")
    rep = apply(five["store"], result, five["target"], confirm_timeout=30, checks=False)
    assert rep["outcome"] == "committed"
    assert running_leaves(five["target"]) != before
    env = dict(os.environ, FULLBARS_DB=five["db"])
    r = subprocess.run([sys.executable, "-m", "orchestrator", "rollback", rep["tx"]], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert running_leaves(five["target"]) == before
    assert [t.kind for t in history(five["store"], 1)] == ["rollback"]
    # the record is the config read back from before; the store still knows whose each part is
    from orchestrator.resources.store import Store

    with five["store"].transaction(write=False) as s:
        configs = Store.device_configs(s, five["target"].label)
        for dev in result.devices:
            owned = Store.owners(s, dev.device, configs[dev.device].config)
            assert owned is not None and set(dev.services) <= {n for who in owned.values() for n in who}, dev.device


def test_a_commit_recover_finishes_records_its_services_so_rollback_brings_them_back(five):
    """fullbars dies after the confirming commits, before it journals the outcome: recover finds the
    devices confirmed and commits the transaction, with the services' records the dead process
    would have written, so a rollback of it returns the services too, not only the devices."""
    from orchestrator.resources.store import TxServiceRow
    from orchestrator.rollout.transaction import history

    before = running_leaves(five["target"])
    d = five["tmp"] / "dies-committed"
    changed_plan(five, "dies-committed", down="250M")
    env = dict(os.environ, FULLBARS_FAULT_PAUSE="committed", FULLBARS_DB=five["db"])
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator", "apply", *sorted(str(p) for p in d.glob("*.yaml")),
                             "--target", "lab", "--lab", str(five["topo"]), "--confirm-timeout", "4", "--no-checks"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    tx, deadline = None, time.time() + 90
    while time.time() < deadline and tx is None:
        tx = next((t.id for t in history(five["store"], 5) if t.state == "confirming"), None)
        time.sleep(0.2)
    assert tx, proc.communicate(timeout=5)
    # held before journalling `committed`: past the confirm timeout the devices still run the new
    # configs only if the confirming commits went out
    time.sleep(6)
    changed = running_leaves(five["target"])
    assert changed != before
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    r = subprocess.run([sys.executable, "-m", "orchestrator", "recover"], cwd=REPO, env=dict(os.environ, FULLBARS_DB=five["db"]),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and f"{tx}: was confirming, now committed" in r.stdout, r.stdout + r.stderr
    with five["store"].transaction() as s:
        recorded = {row.service for row in s.scalars(select(TxServiceRow).where(TxServiceRow.tx == tx))}
    assert recorded, "recover wrote no service records for the transaction it committed"
    r = subprocess.run([sys.executable, "-m", "orchestrator", "rollback", tx], cwd=REPO,
                       env=dict(os.environ, FULLBARS_DB=five["db"]), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "recorded no service changes" not in r.stderr, r.stderr
    assert running_leaves(five["target"]) == before
    undo = history(five["store"], 1)[0].id
    with five["store"].transaction() as s:
        back = {row.service for row in s.scalars(select(TxServiceRow).where(TxServiceRow.tx == undo))}
    assert back == recorded  # the rollback returned every service the recovered commit changed


def test_dry_run_diffs_against_the_live_device(five):
    env = dict(os.environ, FULLBARS_DB=five["db"])
    d = five["tmp"] / "dry"
    d.mkdir(exist_ok=True)
    f = d / "dock-office.yaml"
    f.write_text((REPO / "examples/lab/dock-office.yaml").read_text().replace("downstream: 500M", "downstream: 250M"))
    before = running_leaves(five["target"])
    r = subprocess.run([sys.executable, "-m", "orchestrator", "apply", str(f), "--target", "lab", "--lab",
                        str(five["topo"]), "--dry-run"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "+      <pir>250000</pir>" in r.stdout
    assert "bng-east" in r.stdout
    assert running_leaves(five["target"]) == before


def test_ansible_ships_the_same_artifacts(five):
    """playbooks/apply.yml through ansible-runner against the inventory fullbars writes."""
    from orchestrator.rollout.ansible import inventory, run

    inv = inventory(five["tmp"] / "plan", five["target"], ["olt-1"])
    assert "ansible_password" not in str(inv)  # the password is the answer to --ask-pass, never in a file
    assert five["target"].endpoint("olt-1").creds.password not in str(inv)
    res = run(five["tmp"] / "plan", five["target"])
    assert res["rc"] == 0 and not res["failed"], res
    assert sorted(res["ok"]) == ["bng-east", "bng-west", "olt-1", "olt-2", "olt-3"]
    env = dict(os.environ, FULLBARS_DB=five["db"])
    r = subprocess.run([sys.executable, "-m", "orchestrator", "drift", "--target", "lab", "--lab", str(five["topo"])],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout  # Ansible gave the devices exactly what fullbars planned


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _files_holding(roots: list[Path], since: float, needles: dict[str, str], skip: tuple[Path, ...] = ()) -> list[str]:
    """Regular files under roots, written since `since`, that contain any of the needles."""
    found = []
    for root in roots:
        for d, dirs, files in os.walk(root):
            dirs[:] = [x for x in dirs if Path(d, x) not in skip]
            for f in files:
                p = Path(d, f)
                try:
                    st = p.lstat()
                    if not p.is_file() or p.is_symlink() or st.st_mtime < since or st.st_size > 20 << 20:
                        continue
                    data = p.read_bytes()
                except OSError:
                    continue
                found += [f"{p}: {what}" for what, v in needles.items() if v.encode() in data]
    return found


def _working(pids: list[int]) -> bool:
    """ansible-playbook has forked a worker: a task is running on a host (so its connection
    is being made with the password) - mid-run."""
    return sum("ansible-playbook" in _cmdline(c) for c in pids) >= 2


def test_ansible_apply_killed_mid_run_leaves_no_secret_on_disk(five, tmp_path):
    """SIGKILL gives no `finally`: ansible-apply's runner dir then stays until the next start,
    and it must hold nothing secret: neither the device password nor the rest of fullbars'
    environment (device credentials, customer secrets)."""
    from orchestrator.plan.artifacts import write

    # a bundle planned against the lab's record (Ansible ships its edit files): every device changes
    plan, topo = tmp_path / "bundle", five["topo"]
    write(changed_plan(five, "ansible-kill", down="325M"), plan)
    needles = {"lab NETCONF password": five["target"].endpoint("olt-1").creds.password,
               "device credential": "kill-test-Netconf-1f7a", "customer secret": "kill-test-Psk-2e9c"}
    runs = tmp_path / "ansible-runs"
    env = dict(os.environ, FULLBARS_DB=five["db"], FULLBARS_ANSIBLE_DIR=str(runs),
               FULLBARS_NETCONF_PASSWORD=needles["device credential"], FULLBARS_PSK_KILLTEST=needles["customer secret"])
    argv = [sys.executable, "-m", "orchestrator", "ansible-apply", str(plan), "--target", "lab", "--lab", str(topo),
            "--forks", "1"]
    since = time.time() - 1
    log = tmp_path / "ansible-apply.out"
    with open(log, "wb") as out:
        p = subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    seen: list[int] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and p.poll() is None:
            seen = _descendants(p.pid)
            if _working(seen):
                break
            time.sleep(0.05)
        assert p.poll() is None, f"ansible-apply ended before it could be killed mid-run: {log.read_text()}"
        assert _working(seen), "Ansible started no task within 90 s"
        seen = _descendants(p.pid)
        p.send_signal(signal.SIGKILL)
        p.wait()
        time.sleep(2)  # what it left running (ansible-playbook, its connections) gets the hang-up
    finally:
        for c in seen:  # by the pids this test saw, never by name
            try:
                os.kill(c, signal.SIGKILL)
            except ProcessLookupError:
                pass
    leaks = _files_holding([Path("/tmp"), REPO, Path.home() / ".ansible"], since, needles,
                           skip=(REPO / ".git", REPO / ".venv"))
    assert leaks == []  # no secret in any place it writes ...
    left = sorted(x.name for x in runs.glob("run-*"))
    assert len(left) == 1, left  # ... though, killed before its `finally`, its dir is still there
    r = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    assert list(runs.glob("run-*")) == []  # the next start removed the leftover, and its own dir at the end
    assert _files_holding([Path("/tmp"), REPO, Path.home() / ".ansible"], since, needles,
                          skip=(REPO / ".git", REPO / ".venv")) == []
