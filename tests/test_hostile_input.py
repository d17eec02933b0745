"""Hostile input (issue 19), one test per bug the fuzzer found; the golden cases
(tests/golden/errors/: bad-enumeration, rate-*, *-other-case, campus-subnet-*, campus-sd-no-sd,
fttr-ssid-too-long, fttr-channel-width, upgrade-above-line-rate) hold the messages."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from conftest import EXAMPLES, REPO, cli, snapshot, yanglint_device

NET = "examples/network.yaml"
LINE = """apiVersion: fullbars.io/v1
kind: BusinessBroadband
metadata:
  name: {name}
spec:
  customer: {customer}
  site: old-town
  onu:
    serial: GPON0000000{n}
"""


def test_every_enumeration_and_bits_leaf_describes_its_values():
    """An invalid enumeration value once raised TypeError while the fix was written: every leaf
    of every service model (and the network's) must describe what it takes."""
    from orchestrator.models.instance import _allowed
    from orchestrator.models.service_models import service_models

    enums = 0
    for mod in service_models().ctx:
        if not mod.name().startswith("fullbars-"):
            continue
        for node in mod.children():
            for sn in _walk(node):
                if sn.keyword() in ("leaf", "leaf-list"):
                    desc = _allowed(sn)
                    if sn.type().basename() == "enumeration":
                        enums += 1
                        names = [e.name() for e in sn.type().enums()]
                        assert desc == "one of: " + ", ".join(names)
    assert enums >= 5


def _walk(sn):
    yield sn
    if sn.keyword() in ("container", "list", "choice", "case"):
        for c in sn.children():
            yield from _walk(c)


@pytest.mark.parametrize("content, says, line", [  # the line where the bad byte is
    (b"apiVersion: fullbars.io/v1\nkind: Business\x00Broadband\n", "#x0000 is not allowed in YAML", 2),
    (b"apiVersion: fullbars.io/v1\nkind: \x0bBusinessBroadband\n", "#x000b is not allowed in YAML", 2),
    (b"apiVersion: fullbars.io/v1\n\xff\xfe\x00binary", "not UTF-8 text", 2),
])
def test_control_and_binary_bytes_are_clean_errors(tmp_path, db, content, says, line):
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(content)
    for args, store in ((("validate", str(bad)), None), (("plan", str(bad), "--network", NET), db)):
        r = cli(*args, db=store)
        assert r.exit_code == 2, r.stderr
        assert says in r.stderr and f"{bad}:{line}:" in r.stderr


@pytest.mark.parametrize("escape, shown", [("\\0", "\\x00"), ("\\e[31m", "\\x1b"), ("\\uFFFF", "\\uffff")])
def test_a_character_xml_cannot_carry_in_a_quoted_value_is_named_at_its_leaf(tmp_path, escape, shown):
    """libyang stopped at a NUL as at the end of the input ("Unexpected end-of-input", at: spec)."""
    f = tmp_path / "ctl.yaml"
    f.write_text((EXAMPLES / "intents/acme-hq.yaml").read_text().replace(
        "customer: ACME Logistics Ltd", f'customer: "ACME{escape}Logistics"'))
    r = cli("validate", str(f), db=None)
    assert r.exit_code == 2
    assert f"{f}:7: the value holds the character {shown}, which NETCONF (XML) cannot carry\n  at: spec.customer" \
        in r.stderr


def test_a_directory_as_intent_path_is_a_clean_error_from_the_real_command(tmp_path):
    r = subprocess.run([sys.executable, "-m", "orchestrator", "plan", str(tmp_path), "--network",
                        NET, "--db", f"sqlite:///{tmp_path}/s.db"],
                       cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"{tmp_path}: a directory, not an intent file" in r.stderr and "*.yaml" in r.stderr


@pytest.mark.parametrize("where", ["customer", "unknown key", "enumeration"])
def test_a_ten_megabyte_value_is_echoed_at_most_80_characters(tmp_path, db, where):
    huge = "q" * 10_000_000
    text = (EXAMPLES / "intents/acme-hq.yaml").read_text()
    text = {"customer": text.replace("ACME Logistics Ltd", huge),
            "unknown key": text.replace("  customer:", f"  ? {huge}\n  : 1\n  customer:"),  # a long key: `? `
            "enumeration": text.replace("mode: static", f"mode: {huge}")}[where]
    f = tmp_path / "huge.yaml"
    f.write_text(text)
    r = cli("validate", str(f), db=None)
    assert r.exit_code == 2
    assert "q" * 80 in r.stderr and "q" * 81 not in r.stderr
    assert "(10000000 characters)" in r.stderr and len(r.stderr) < 2000


def test_a_trailing_document_separator_is_accepted(tmp_path, db):
    f = tmp_path / "acme-hq.yaml"
    f.write_text((EXAMPLES / "intents/acme-hq.yaml").read_text() + "---\n")
    assert cli("validate", str(f), "--network", NET, db=None).exit_code == 0
    r = cli("plan", str(f), "--network", NET, db=db)
    assert r.exit_code == 0, r.stderr
    assert "create    BusinessBroadband acme-hq" in r.stdout


def test_the_rate_cap_is_refused_by_validate_without_a_network(tmp_path, db):
    f = tmp_path / "fast.yaml"
    f.write_text((EXAMPLES / "intents/acme-hq.yaml").read_text().replace("downstream: 500M", "downstream: 999999G"))
    r = cli("validate", str(f), db=None)
    assert r.exit_code == 2 and "at most 999G" in r.stderr and "spec.rates.downstream" in r.stderr


def test_validate_with_a_network_checks_the_line_rate_of_a_pinned_gpon_port(tmp_path, db):
    f = tmp_path / "line.yaml"
    f.write_text(LINE.format(name="gpon-line", customer="G", n=1)
                 + "  rates:\n    downstream: 2500M\n    upstream: 300M\n"
                 + "  placement:\n    olt: olt-4\n    pon-port: 1/1/16\n")
    r = cli("validate", str(f), "--network", NET, db=None)
    assert r.exit_code == 2
    assert "downstream 2500M is more than PON port olt-4 1/1/16 carries (2488M line rate)" in r.stderr


def test_a_line_on_an_olt_with_a_gpon_port_plans_and_yanglint_accepts_it(tmp_path, db, yanglint):
    """The OLT's config holds every port's channel termination: the GPON one's PON-ID was 8 hex
    digits where bbf-xpon wants 14, so no line on that OLT could be planned."""
    lines = []
    for n, port in ((1, "1/1/16"), (2, "1/1/1")):  # the GPON port, and an XGS-PON port of the same OLT
        f = tmp_path / f"line-{n}.yaml"
        f.write_text(LINE.format(name=f"line-{n}", customer=f"C{n}", n=n)
                     + f"  placement:\n    olt: olt-4\n    pon-port: {port}\n")
        lines.append(str(f))
    out = tmp_path / "out"
    r = cli("plan", *lines, "--network", NET, "--out", str(out), db=db)
    assert r.exit_code == 0, r.stderr
    config = (out / "olt-4.xml").read_text()
    assert re.findall(r"<gpon-pon-id>([^<]*)</gpon-pon-id>", config) == ["00000000000010"]
    res = yanglint_device(yanglint, out, "olt-4")
    assert res.returncode == 0, res.stderr


def test_customer_names_that_begin_or_end_beyond_ascii_plan_and_yanglint_accepts_them(tmp_path, db, yanglint):
    """A name whose last (or first) character takes several bytes in UTF-8 was cut inside that
    character when libyang-python read the value back, and the plan failed with a traceback."""
    names = ["Café", "Tea ☕", "Ångström AB", "☕ Bar", "Zoë Ltd"]
    lines = []
    for n, customer in enumerate(names, 1):
        f = tmp_path / f"line-{n}.yaml"
        f.write_text(LINE.format(name=f"line-{n}", customer=f'"{customer}"', n=n), encoding="utf-8")
        lines.append(str(f))
    out = tmp_path / "out"
    r = cli("plan", *lines, "--network", NET, "--out", str(out), db=db)
    assert r.exit_code == 0, r.stderr
    bng = next(d for d, v in json.loads((out / "manifest.json").read_text())["devices"].items()
               if v["kind"].startswith("bng"))
    config = (out / f"{bng}.xml").read_text(encoding="utf-8")
    for n, customer in enumerate(names, 1):
        assert f"<description>{customer} (line-{n})</description>" in config, customer
    res = yanglint_device(yanglint, out, bng)
    assert res.returncode == 0, res.stderr


def test_an_upgrade_past_a_gpon_port_line_rate_blames_the_upgrade(tmp_path, db):
    line = tmp_path / "line.yaml"
    line.write_text(LINE.format(name="gpon-line", customer="G", n=1)
                    + "  placement:\n    olt: olt-4\n    pon-port: 1/1/16\n")
    assert cli("plan", str(line), "--network", NET, db=db).exit_code == 0
    before = snapshot(db)
    upg = tmp_path / "upg.yaml"
    upg.write_text("apiVersion: fullbars.io/v1\nkind: SpeedUpgrade\nmetadata:\n  name: to-5g\nspec:\n"
                   "  selector:\n    site: old-town\n  rates:\n    downstream: 5G\n")
    r = cli("plan", str(upg), db=db)
    assert r.exit_code == 2
    assert "line gpon-line would get 5G downstream, more than PON port olt-4 1/1/16 carries (2488M line rate)" \
        in r.stderr
    assert f"{upg}:9:" in r.stderr and "leave gpon-line out of the upgrade's selector" in r.stderr
    assert snapshot(db) == before


@pytest.mark.parametrize("channel, width, ok", [
    (165, 20, True), (165, 40, False), (161, 80, True), (144, 80, True), (144, 160, False),
    (128, 160, True), (14, 40, False), (13, 40, True),
])
def test_channel_width_combinations_follow_the_band_plan(channel, width, ok):
    from orchestrator.services.fttr_wifi import CHANNELS, WIDE

    band = "2.4GHz" if channel <= 14 else "5GHz"
    assert (channel in WIDE.get((band, width), CHANNELS[band])) is ok


def test_an_intent_from_a_pipe_is_read_and_a_named_pipe_no_one_writes_is_empty_not_a_hang(tmp_path):
    """A shell's process substitution (`fullbars validate <(...)`) is a pipe with its writer
    there: it is read. A named pipe nobody writes to is an empty file, refused at once; the open
    used to wait for a writer forever."""
    import os

    fifo = tmp_path / "nobody-writes.yaml"
    os.mkfifo(fifo)
    r = cli("validate", str(fifo), "--network", NET, db=None)
    assert r.exit_code == 2 and "holds no YAML document" in r.stderr, r.stdout + r.stderr
    read, write = os.pipe()
    os.write(write, (EXAMPLES / "lab" / "dock-office.yaml").read_bytes())
    os.close(write)
    try:
        r = cli("validate", f"/dev/fd/{read}", "--network", NET, db=None)
    finally:
        os.close(read)
    assert r.exit_code == 0 and "dock-office" in r.stdout, r.stdout + r.stderr


def test_a_selector_whose_tenure_range_is_empty_is_refused_not_only_warned(tmp_path):
    """min above max covers no line whatever the store holds: an error at the leaf, with its fix."""
    grace = tmp_path / "grace.yaml"
    grace.write_text((REPO / "examples/grace/spring-arrears.yaml").read_text().replace(
        "customer: [Harbour customer 3]", "min-tenure-years: 5\n    max-tenure-years: 2\n   "))
    r = cli("validate", str(grace), db=None)
    assert r.exit_code == 2, r.output
    assert f"{grace}:10: max-tenure-years is below min-tenure-years" in r.stderr
    assert "at: spec.selector.max-tenure-years" in r.stderr and "fix: raise max-tenure-years" in r.stderr
    grace.write_text(grace.read_text().replace("max-tenure-years: 2", "max-tenure-years: 5"))
    r = cli("validate", str(grace), "--network", str(EXAMPLES / "network.yaml"), db=None)
    assert r.exit_code == 0, r.output
