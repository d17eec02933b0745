"""The command line itself: help on every option, --version, progress lines, and what
status, history, lab verify and bulk plans print."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import typer.main
from rich.console import Console

from conftest import REPO
from conftest import cli as cli_run
from orchestrator import cli


def _commands(cmd, path):
    yield path, cmd
    for name, sub in (getattr(cmd, "commands", None) or {}).items():
        yield from _commands(sub, f"{path} {name}")


def test_every_option_and_argument_has_help():
    missing = [f"{path}: {p.name}" for path, cmd in _commands(typer.main.get_command(cli.app), "fullbars")
               for p in cmd.params if not getattr(p, "help", None)]
    assert missing == []


def test_version():
    from importlib.metadata import version

    p = subprocess.run([sys.executable, "-m", "orchestrator", "--version"], cwd=REPO, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout == f"fullbars {version('fullbars')}\n"


def _progress_output(monkeypatch, terminal: bool) -> str:
    buf = io.StringIO()
    monkeypatch.setattr(cli, "err", Console(file=buf, force_terminal=terminal, width=80, highlight=False))
    show = cli._progress()
    for i in range(1, 4):
        show("namespaces", i, 3)
    show("agents answering NETCONF", 1, 1)
    return buf.getvalue()


def test_progress_in_a_log_is_one_line_per_step(monkeypatch):
    assert _progress_output(monkeypatch, terminal=False).splitlines() == [
        "namespaces: 1/3", "namespaces: 2/3", "namespaces: 3/3", "agents answering NETCONF: 1/1"]


def test_progress_on_a_terminal_rewrites_one_line_per_stage(monkeypatch):
    text = _progress_output(monkeypatch, terminal=True)
    lines = text.split("\n")
    assert lines[-1] == "" and len(lines) == 3  # one line per stage, each ended when the stage is done
    # each step returns to the line's start and clears it before writing
    assert lines[0].split("\r\x1b[2K") == ["", "namespaces: 1/3", "namespaces: 2/3", "namespaces: 3/3"]
    assert lines[1] == "\r\x1b[2Kagents answering NETCONF: 1/1"


def _plan(db, *args):
    r = cli_run("plan", *args, db=db)
    assert r.exit_code == 0, r.stdout + r.stderr
    return r


def test_status_and_history_of_a_store_that_is_not_there_make_none_and_a_file_that_is_no_store_is_an_error(tmp_path):
    """A mistyped --db is not made into an empty store (status says none is there yet), and a
    file that is no database is a clean error, in JSON too, not a traceback."""
    missing = tmp_path / "typo" / "store.db"
    for command, said in (("status", "0 service(s)"), ("history", "no transactions yet"),
                          ("suspensions", "no suspensions")):
        r = cli_run(command, db=f"sqlite:///{missing}")
        assert r.exit_code == 0 and said in r.stdout, r.stdout + r.stderr  # (an empty answer says so)
    assert "(no store there yet)" in cli_run("status", db=f"sqlite:///{missing}").stdout
    assert not missing.exists() and not missing.parent.exists()
    junk = tmp_path / "notes.db"
    junk.write_text("not a database, just notes\n" * 200)
    r = cli_run("status", "--format", "json", db=f"sqlite:///{junk}")
    assert r.exit_code == 2, r.stdout + r.stderr
    e = json.loads(r.stdout)
    assert e["ok"] is False and "cannot open the store" in e["errors"][0]["message"], e
    assert junk.read_text().startswith("not a database")


def test_status_shows_the_s_c_vlan_pair_the_plan_gave(db):
    r = _plan(db, "examples/intents/acme-hq.yaml", "examples/intents/clinic-west.yaml",
              "--network", "examples/network.yaml", "--format", "json")
    pairs = {s["name"]: f"{s['resources']['s-vlan']}/{s['resources']['c-vlan']}"
             for s in json.loads(r.stdout)["services"]}
    r = cli_run("status", db=db)
    assert r.exit_code == 0, r.stderr
    rows = {ln.split()[1]: ln for ln in r.stdout.splitlines()[1:]}
    for name, pair in pairs.items():
        assert f"s/c-vlan={pair}" in rows[name].split(), rows[name]
        assert " vlan=" not in rows[name]


def test_history_keeps_one_row_per_transaction(db):
    from orchestrator.resources.store import Store, TransactionRow

    with Store(db).transaction() as s:
        s.add(TransactionRow(id="tx-1", target="lab:x", state="rolled-back", created_at="2026-01-01T00:00:00",
                             summary="tx-1: rolled-back on all 2 device(s) because olt-1: edit-config failed:\n"
                                     "  error-path /interfaces/interface[name='x']\n  error-message bad value"))
        s.add(TransactionRow(id="tx-2", target="lab:x", state="committed", created_at="2026-01-02T00:00:00",
                             summary="tx-2: committed on 2 device(s)"))
    r = cli_run("history", db=db)
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert [ln.split()[0] for ln in lines] == ["tx-2", "tx-1"]
    assert lines[1].endswith("edit-config failed: error-path /interfaces/interface[name='x'] error-message bad value")


def test_lab_verify_of_an_unknown_service_is_an_error(db, tmp_path):
    _plan(db, "examples/intents/acme-hq.yaml", "--network", "examples/network.yaml", "--out", str(tmp_path / "p"))
    r = cli_run("lab", "verify", str(tmp_path / "p"), str(tmp_path / "none.clab.yml"), "--service", "acme-h", db=None)
    assert r.exit_code == 2
    assert "--service acme-h: no such service in the plan" in r.stderr
    assert "fix: did you mean acme-hq? services: acme-hq" in r.stderr and "Traceback" not in r.stderr


def test_lab_generate_into_a_missing_folder_is_an_error(db, tmp_path):
    _plan(db, "examples/intents/acme-hq.yaml", "--network", "examples/network.yaml", "--out", str(tmp_path / "p"))
    target = tmp_path / "no-such-folder" / "x.clab.yml"
    r = cli_run("lab", "generate", str(tmp_path / "p"), "--name", "x", "-o", str(target), db=None)
    assert r.exit_code == 2, r.stdout + r.stderr
    assert f"cannot write {target}" in r.stderr and "fix: give a file in a folder" in r.stderr
    assert "Traceback" not in r.stderr and not target.parent.exists()


UPGRADE = """apiVersion: fullbars.io/v1
kind: SpeedUpgrade
metadata:
  name: shops-to-1g
spec:
  selector:
    site: harbour-park
  rates:
    downstream: 1000M
    upstream: 1000M
"""


def test_bulk_plan_counts_lines_then_names_some_all_with_full_or_json(db, tmp_path):
    _plan(db, "examples/bulk/hundred-shops.yaml", "--network", "examples/network.yaml")
    up = tmp_path / "up.yaml"
    up.write_text(UPGRADE)
    r = _plan(db, str(up), "--format", "json")
    res = json.loads(r.stdout)["services"][0]["resources"]
    changed, capped = res["changed-lines"], res["upstream-capped-by-tenure"]
    assert len(changed) > cli.MAX_NAMES and changed == sorted(changed) and all(n.startswith("shop-") for n in changed)
    assert 0 < len(capped) <= len(changed)

    text = _plan(db, str(up)).stdout
    row = next(ln for ln in text.splitlines() if ln.split()[:1] == ["changed-lines"])
    assert row.split()[1] == f"{len(changed)}:"
    assert row.endswith(f"{changed[cli.MAX_NAMES - 1]}, ... {len(changed) - cli.MAX_NAMES} more (--full)")
    full = _plan(db, str(up), "--full").stdout
    row = next(ln for ln in full.splitlines() if ln.split()[:1] == ["changed-lines"])
    assert row.split(None, 2)[2] == ", ".join(changed)


GRACE = """apiVersion: fullbars.io/v1
kind: ArrearsGrace
metadata:
  name: spring-arrears
spec:
  selector:
    customer:
    - Old Town Bakry
  arrears: {from: 2026-03, to: 2026-05}
  keep-in-service-until: 2026-06-30
"""


def test_a_selector_that_matches_no_line_warns_naming_the_closest_customers(db, tmp_path):
    _plan(db, "examples/intents/bakery-on-main.yaml", "examples/intents/acme-hq.yaml", "--network",
          "examples/network.yaml")
    pol = tmp_path / "grace.yaml"
    pol.write_text(GRACE)
    r = _plan(db, str(pol))
    assert f"warning: spring-arrears: {pol}:7: the selector (customer Old Town Bakry) covers no line" in r.stderr
    assert f"{pol}:7: no line has customer 'Old Town Bakry'" in r.stderr
    assert "fix: closest customers: Old Town Bakery" in r.stderr
    assert "ACME" not in r.stderr  # not close
    assert "lines              0" in r.stdout
    shown = json.loads(_plan(db, str(pol), "--format", "json").stdout)  # for machines: each field apart
    assert [(w["file"], w["line"], w["path"]) for s in shown["services"] for w in s["warnings"]] == \
        [(str(pol), 7, "spec.selector"), (str(pol), 7, "spec.selector.customer[0]")]
    assert "Old Town Bakery" in shown["services"][0]["warnings"][1]["fix"]
    # validate says what plan would: the same warnings, in text and JSON
    r = cli_run("validate", str(pol), db=db)
    assert r.exit_code == 0 and f"warning: spring-arrears: {pol}:7: the selector" in r.stderr, r.stdout + r.stderr
    checked = json.loads(cli_run("validate", str(pol), "--format", "json", db=db).stdout)
    assert [w["path"] for w in checked["services"][0]["warnings"]] == ["spec.selector", "spec.selector.customer[0]"]
    pol.write_text(GRACE.replace("Old Town Bakry", "Old Town Bakery").replace("spring-arrears", "bakery-grace"))
    r = _plan(db, str(pol))
    assert "warning" not in r.stderr and "lines              1: bakery-on-main" in r.stdout


def test_network_generate_fits_a_city_of_33_bngs_and_refuses_what_cannot_be(tmp_path):
    """500,000 lines need 33 BNGs of 16 OLTs: more subscriber /14s than 100.64.0.0/10 holds, so
    the rest come from private space; the pools still never overlap and the network loads."""
    import ipaddress

    from orchestrator.network.model import load_network

    r = cli_run("network", "generate", "--olts", "521", "--ports", "32", "--bngs", "33", "--sites", "521", db=None)
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("# Generated") and "240.0.0.0/4" in r.stdout.split("apiVersion")[0]  # said first
    (tmp_path / "net.yaml").write_text(r.stdout)
    net = load_network(tmp_path / "net.yaml")
    assert sorted(b for p in net.pools.values() for b in p.bngs) == sorted([f"bng-{i}" for i in range(1, 34)] * 2)
    pools = [ipaddress.ip_network(p.prefix) for p in net.pools.values()]
    assert len(pools) == 66
    assert not [(a, b) for i, a in enumerate(pools) for b in pools[i + 1:] if a.overlaps(b)]

    bad = cli_run("network", "generate", "--olts", "0", "--bngs", "2", "--type", "epon", db=None)
    assert bad.exit_code == 2
    assert "--olts 0 is not a count" in bad.stderr and "--type 'epon' is not a PON type" in bad.stderr
    assert bad.stdout == ""
    huge = cli_run("network", "generate", "--olts", "40000", "--bngs", "2500", db=None)
    assert huge.exit_code == 2 and "need more public /29s than 240.0.0.0/4 holds" in huge.stderr
    endless = cli_run("network", "generate", "--olts", "100000000", "--ports", "100000", db=None)  # refused at once
    assert endless.exit_code == 2 and "--olts 100000000 is more than" in endless.stderr, endless.stderr
    assert "--ports 100000 is more than" in endless.stderr and endless.stdout == ""


def test_a_new_store_and_the_secret_files_it_reads_are_the_user_s_alone(tmp_path):
    """The SQLite store holds password and token hashes: made 0600 whatever the umask (SQLite gives
    its -wal and -shm files the same mode); an admin password file others may read is refused."""
    import stat

    old = os.umask(0o022)
    try:
        db = f"sqlite:///{tmp_path}/store/store.db"
        r = cli_run("status", db=db)
        assert r.exit_code == 0, r.output
        r = cli_run("plan", "examples/intents/acme-hq.yaml", "--network", "examples/network.yaml", db=db)
        assert r.exit_code == 0, r.output
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "store").glob("store.db*")}
        assert modes and all(m == 0o600 for m in modes.values()), modes
        pw = tmp_path / "admin.password"
        pw.write_text("correct horse battery staple\n")
        pw.chmod(0o644)
        r = cli_run("server", "--admin", "admin", "--admin-password-file", str(pw), "--port", "0", "--for", "1", db=db)
        assert r.exit_code == 2, r.output
        assert "may be read by others (mode 0644)" in r.output and f"chmod 600 {pw}" in r.output, r.output
    finally:
        os.umask(old)


def test_the_server_refuses_a_port_a_host_or_a_network_it_cannot_use_before_it_starts(tmp_path):
    db = f"sqlite:///{tmp_path}/store.db"
    for args, said in ((("--port", "99999"), "--port"), (("--port", "-1"), "--port"),
                       (("--host", "nonexistent.invalid", "--port", "0"), "fix: --host an address of this machine"),
                       (("--network", str(tmp_path / "missing.yaml"), "--port", "0"), "missing.yaml: no such file")):
        r = cli_run("server", *args, "--for", "1", "--workdir", str(tmp_path / "w"), db=db)
        assert r.exit_code == 2 and said in r.output and "Traceback" not in r.output, (args, r.output)
