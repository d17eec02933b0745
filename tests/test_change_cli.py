"""Change requests from the command line: the same use cases the server's API calls
(orchestrator/app/changes.py), acting as the local user: submit plans into a bundle, the
submitter cannot approve (four-eyes) and nothing changes, a bad intent names the file as given,
withdraw ends it, and the audit has each step by the local user."""

from __future__ import annotations

import getpass
import json

from conftest import EXAMPLES, cli, snapshot

NETWORK = EXAMPLES / "network.yaml"
ACME = EXAMPLES / "intents/acme-hq.yaml"


def test_change_requests_from_the_cli(db, tmp_path):
    work = ["--workdir", str(tmp_path / "work")]
    r = cli("change", "submit", str(ACME), "--target", "production", "--title", "acme line", "--network", str(NETWORK),
            *work, db=db)
    assert r.exit_code == 0 and "change 1: planned  acme line" in r.output, r.output
    bundles = list((tmp_path / "work" / "changes").glob("*/bundle/manifest.json"))
    assert len(bundles) == 1 and set(json.loads(bundles[0].read_text())["devices"]) == {"olt-1", "bng-east"}

    kept = snapshot(db)
    r = cli("change", "approve", "1", db=db)
    assert r.exit_code == 2 and "someone else must approve it (four-eyes)" in r.output, r.output
    assert snapshot(db) == kept

    bad = tmp_path / "shop.yaml"
    bad.write_text(ACME.read_text().replace("downstream:", "downstrem:"))
    r = cli("change", "submit", str(bad), "--target", "production", "--title", "typo", *work, db=db)
    assert r.exit_code == 2 and "error: shop.yaml:" in r.output and "downstrem" in r.output, r.output
    assert "Traceback" not in r.output

    assert any("acme-hq" in row for row in snapshot(db)["allocations"])  # planned, as `fullbars plan` keeps it
    r = cli("change", "withdraw", "1", db=db)
    assert r.exit_code == 0 and "change 1: withdrawn" in r.output, r.output
    # what its plan did to the store goes with it: a later change does not carry the line along
    assert not any("acme-hq" in row for row in snapshot(db)["allocations"])
    r = cli("change", "submit", str(EXAMPLES / "intents/clinic-west.yaml"), "--target", "production",
            "--title", "clinic", *work, db=db)
    assert r.exit_code == 0, r.output
    [clinic] = [p for p in (tmp_path / "work" / "changes").glob("*/bundle/manifest.json") if p != bundles[0]]
    assert set(json.loads(clinic.read_text())["services"]) == {"clinic-west"}
    r = cli("change", "pause", "1", db=db)
    assert r.exit_code == 2 and "change 1 is withdrawn: it cannot pause" in r.output, r.output
    r = cli("change", "list", db=db)
    assert r.output.count("change ") == 2, r.output  # the refused submission made none
    r = cli("audit", "--subject", "change:1", "--format", "json", db=db)
    steps = [(a["action"], a["actor"], a["origin"].startswith("cli@")) for a in reversed(json.loads(r.output)["rows"])]
    assert steps == [("change-submit", getpass.getuser(), True), ("change-withdraw", getpass.getuser(), True)], steps
    assert json.loads(r.output)["rows"][0]["detail"]["undone"] == ["acme-hq"]


def test_withdrawing_a_change_keeps_what_another_open_change_planned_the_same(db, tmp_path):
    """Two engineers submit the same line; one withdraws. The other change's bundle still gives
    the line its values, so the store keeps them (they were undone and handed to the next line)."""
    work = ["--workdir", str(tmp_path / "work")]
    for title in ("first", "second"):
        r = cli("change", "submit", str(ACME), "--target", "production", "--title", title, "--network", str(NETWORK),
                *work, db=db)
        assert r.exit_code == 0, r.output
    held = sorted(row for row in snapshot(db)["allocations"] if "acme-hq" in row)
    assert held
    r = cli("change", "withdraw", "1", db=db)
    assert r.exit_code == 0 and "change 1: withdrawn" in r.output, r.output
    assert sorted(row for row in snapshot(db)["allocations"] if "acme-hq" in row) == held
    r = cli("audit", "--subject", "change:1", "--format", "json", db=db)
    assert json.loads(r.output)["rows"][0]["detail"]["undone"] == []
    r = cli("change", "withdraw", "2", db=db)  # the last open change that planned it: now it goes
    assert r.exit_code == 0, r.output
    assert not any("acme-hq" in row for row in snapshot(db)["allocations"])
