"""Change requests from the command line: the same use cases the server's API calls
(orchestrator/app/changes.py), acting as the local user: submit plans into a bundle, the
submitter cannot approve (four-eyes) and nothing changes, a bad intent names the file as given,
withdraw ends it, and the audit has each step by the local user."""

from __future__ import annotations

import os
import pwd
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
    me = pwd.getpwuid(os.geteuid()).pw_name  # the account, whatever $LOGNAME says
    assert steps == [("change-submit", me, True), ("change-withdraw", me, True)], steps
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


def test_withdrawing_a_change_gives_back_the_version_another_open_change_planned_differently(db, tmp_path):
    """A plans acme-hq static, B plans it at 1G by DHCP; withdrawing B gives the store A's version
    back (A's bundle gives it), with its address block: it stayed B's, and the block A's bundle
    gives went to the next line."""
    work = ["--workdir", str(tmp_path / "work")]
    r = cli("change", "submit", str(ACME), "--target", "production", "--title", "A", "--network", str(NETWORK),
            *work, db=db)
    assert r.exit_code == 0, r.output
    held = lambda: sorted(row[1:] for row in snapshot(db)["allocations"] if "acme-hq" in row)  # noqa: E731
    as_a = held()
    other = tmp_path / "acme-hq.yaml"
    other.write_text(ACME.read_text().replace("downstream: 500M", "downstream: 1G")
                     .replace("mode: static", "mode: dhcp"))
    r = cli("change", "submit", str(other), "--target", "production", "--title", "B", *work, db=db)
    assert r.exit_code == 0, r.output
    assert held() != as_a
    r = cli("change", "withdraw", "2", db=db)
    assert r.exit_code == 0, r.output
    assert held() == as_a
    r = cli("audit", "--subject", "change:2", "--format", "json", db=db)
    assert json.loads(r.output)["rows"][0]["detail"]["undone"] == ["acme-hq"]
    r = cli("status", "--format", "json", db=db)
    [acme] = [sv for sv in json.loads(r.output)["services"] if sv["name"] == "acme-hq"]
    assert "1G" not in json.dumps(acme)


def test_withdrawing_the_older_of_two_changes_of_a_new_line_then_the_newer_takes_the_line_away(db, tmp_path):
    """A plans acme-hq new, B plans it at 1G; A withdrawn (B changed it since: left to B), then
    B: the line was put back as A planned it, holding its values, though no open change wants it."""
    work = ["--workdir", str(tmp_path / "work")]
    r = cli("change", "submit", str(ACME), "--target", "production", "--title", "A", "--network", str(NETWORK),
            *work, db=db)
    assert r.exit_code == 0, r.output
    other = tmp_path / "acme-hq.yaml"
    other.write_text(ACME.read_text().replace("downstream: 500M", "downstream: 1G"))
    assert cli("change", "submit", str(other), "--target", "production", "--title", "B", *work, db=db).exit_code == 0
    for n in ("1", "2"):
        r = cli("change", "withdraw", n, db=db)
        assert r.exit_code == 0, r.output
    assert not any("acme-hq" in row for row in snapshot(db)["allocations"])
    r = cli("status", "--format", "json", db=db)
    assert "acme-hq" not in [sv["name"] for sv in json.loads(r.output)["services"]]


def test_four_eyes_on_the_cli_takes_the_account_not_the_environment(db, tmp_path, monkeypatch):
    """$LOGNAME and $USER are anyone's to set: approving as 'alice' that way is still the submitter."""
    work = ["--workdir", str(tmp_path / "work")]
    r = cli("change", "submit", str(ACME), "--target", "production", "--title", "acme", "--network", str(NETWORK),
            *work, db=db)
    assert r.exit_code == 0, r.output
    for var in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.setenv(var, "alice")
    r = cli("audit", "--subject", "change:1", "--format", "json", db=db)
    assert json.loads(r.output)["rows"][0]["actor"] == pwd.getpwuid(os.geteuid()).pw_name != "alice"
    r = cli("change", "withdraw", "1", db=db)
    assert json.loads(cli("audit", "--subject", "change:1", "--format", "json", db=db).output)["rows"][0]["actor"] \
        != "alice"


def test_a_title_or_description_with_control_characters_is_refused(db, tmp_path):
    """A newline would print a line of its own in `change list` (a fake 'approved'); an escape
    sequence would reach the operator's terminal."""
    from orchestrator.resources.store import Store

    work = ["--workdir", str(tmp_path / "work")]
    Store(db)  # there already: a refusal on a store it makes leaves none (test_output_formats)
    before = snapshot(db)
    for title, shown in (("ok\nchange 99: approved  by noc", "\\n"), ("ok\x1b]0;x\x07\x1b[2J", "\\x1b"),
                         ("ok\u2028fake", "\\u2028")):
        r = cli("change", "submit", str(ACME), "--target", "production", "--title", title, "--network", str(NETWORK),
                *work, db=db)
        assert r.exit_code == 2 and f"the title holds the control character {shown}" in r.stderr, r.output
        assert "\x1b" not in r.output
    for title, code in (("roll \u202eout tuo\u202c ok", "U+202E"), ("acme\u2066 hq\u2069", "U+2066"),
                        ("acme\u200bhq", "U+200B"), ("\ufeffacme", "U+FEFF")):
        r = cli("change", "submit", str(ACME), "--target", "production", "--title", title, "--network", str(NETWORK),
                *work, db=db)
        assert r.exit_code == 2 and f"the title holds the invisible or direction-changing character {code}" \
            in r.stderr, r.output
    r = cli("environment", "production", "--description", "a\x1b[31m", db=db)
    assert r.exit_code == 2 and "the description holds the control character \\x1b" in r.stderr, r.output
    assert snapshot(db) == before
    r = cli("environment", "production", "--description", "Region east: 60 OLTs", db=db)
    assert r.exit_code == 0, r.output
