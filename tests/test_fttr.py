"""FTTR WiFi planning: the example plans, yanglint (an independent tool) accepts what fullbars
validated with libyang and refuses what the model forbids, rooms and channels come out as
intended, and secret leaves hold references, never values."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from conftest import EXAMPLES, cli, snapshot, yanglint_device
from orchestrator.errors import FullbarsError

FTTR = {"f": "urn:fullbars:yang:fullbars-fttr", "if": "urn:ietf:params:xml:ns:yang:ietf-interfaces"}
INTENTS = [str(EXAMPLES / "fttr/studio-line.yaml"), str(EXAMPLES / "fttr/studio-wifi.yaml")]


@pytest.fixture
def planned(tmp_path, db):
    out = tmp_path / "plan"
    r = cli("plan", *INTENTS, "--network", str(EXAMPLES / "network.yaml"), "--out", str(out), db=db)
    assert r.exit_code == 0, r.stderr
    return out, r.stdout


def _tree(out, device="fttr-studio"):
    return etree.fromstring((out / f"{device}.xml").read_bytes())


def test_example_plans_the_unit_and_its_line(planned, yanglint):
    out, _ = planned
    m = json.loads((out / "manifest.json").read_text())
    assert sorted(m["devices"]) == ["bng-east", "fttr-studio", "olt-1"]
    assert m["services"]["studio-wifi"]["devices"] == ["fttr-studio"]
    for dev in m["devices"]:
        r = yanglint_device(yanglint, out, dev)
        assert r.returncode == 0, f"{dev}: {r.stderr}"
    t = _tree(out)
    rooms = {i.findtext("if:name", namespaces=FTTR): i.findtext("f:room-unit/f:expected-serial-number", namespaces=FTTR)
             for i in t.iterfind(".//if:interface", FTTR)}
    assert rooms == {"room-office": "FTTR00000A01", "room-studio": "FTTR00000A02",
                     "room-kitchen": "FTTR00000A03", "room-lounge": "FTTR00000A04"}
    assert {int(r.text) for r in t.iterfind(".//f:room-unit/f:rates/f:downstream", FTTR)} == {10**9}


def test_channel_plan_gives_neighbouring_units_different_channels(planned):
    out, _ = planned
    t = _tree(out)

    def ch(unit, radio_id):
        return int(unit.find(f"f:radio[f:id='{radio_id}']/f:channel", FTTR).text)
    main = t.find("f:fttr/f:main-unit", FTTR)
    rooms = [i.find("f:room-unit", FTTR) for i in t.iterfind(".//if:interface", FTTR)]
    five = [ch(main, 2)] + [ch(r, 2) for r in rooms]
    assert sorted(five) == [36, 52, 100, 116, 132]  # five units, five channels from the intent's list


def test_passphrases_are_references_in_config_and_plan_output(planned, monkeypatch):
    out, stdout = planned
    t = _tree(out)
    ssids = {s.findtext("f:name", namespaces=FTTR): (s.findtext("f:opmode", namespaces=FTTR),
                                                     s.findtext("f:wpa3-psk", namespaces=FTTR), s.findtext("f:mfp", namespaces=FTTR))
             for s in t.iterfind("f:fttr/f:ssid", FTTR)}
    assert ssids == {"Studio": ("WPA3_SAE", "env:FULLBARS_PSK_STUDIO", "true"),
                     "Studio-Guest": ("WPA3_2_SAE_TRANSITION", "env:FULLBARS_PSK_STUDIO_GUEST", "true")}
    assert "passphrase-ref env:FULLBARS_PSK_STUDIO" in stdout


def test_yanglint_refuses_an_ssid_without_its_passphrase(planned, yanglint):
    """The model's own rule, checked by an independent tool: WPA3-SAE needs wpa3-psk."""
    out, _ = planned
    text = (out / "fttr-studio.xml").read_text()
    assert "<wpa3-psk>env:FULLBARS_PSK_STUDIO_GUEST</wpa3-psk>" in text
    (out / "fttr-studio.xml").write_text(text.replace("<wpa3-psk>env:FULLBARS_PSK_STUDIO_GUEST</wpa3-psk>", ""))
    r = yanglint_device(yanglint, out, "fttr-studio")
    assert r.returncode != 0 and "wpa3-psk" in r.stderr


def test_rooms_default_to_the_line_rates(tmp_path, db):
    line = (EXAMPLES / "fttr/studio-line.yaml").read_text().replace("upstream: 1000M", "upstream: 500M")
    (tmp_path / "line.yaml").write_text(line)
    out = tmp_path / "plan"
    r = cli("plan", str(tmp_path / "line.yaml"), INTENTS[1], "--network", str(EXAMPLES / "network.yaml"),
            "--out", str(out), db=db)
    assert r.exit_code == 0, r.stderr
    ups = {int(u.text) for u in _tree(out).iterfind(".//f:room-unit/f:rates/f:upstream", FTTR)}
    assert ups == {500 * 10**6}


def test_planning_fttr_alone_uses_the_stored_line(tmp_path, db):
    assert cli("plan", INTENTS[0], "--network", str(EXAMPLES / "network.yaml"), db=db).exit_code == 0
    out = tmp_path / "plan"
    r = cli("plan", INTENTS[1], "--out", str(out), db=db)
    assert r.exit_code == 0, r.stderr
    m = json.loads((out / "manifest.json").read_text())
    assert list(m["devices"]) == ["fttr-studio"]
    assert m["services"]["studio-wifi"]["resources"]["address-block"] == "203.0.113.0/29"


# --- secrets -------------------------------------------------------------------------------

def test_secret_leaves_of_every_kind_exist_in_its_models():
    from orchestrator.devices.registry import KINDS

    seen = 0
    for name in KINDS.names():
        kind = KINDS.get(name)
        for path in kind.secrets:
            nodes = list(kind.models.ctx.find_path(path))
            assert nodes and nodes[0].keyword() == "leaf", f"{name}: {path}"
            seen += 1
    assert seen >= 2


def test_edit_gets_the_value_and_replies_are_masked(planned, monkeypatch):
    from orchestrator.netconf.secrets import MASK, Secrets

    out, _ = planned
    monkeypatch.setenv("FULLBARS_PSK_STUDIO", "s3cret-studio-pass")
    monkeypatch.setenv("FULLBARS_PSK_STUDIO_GUEST", "s3cret-guest-pass")
    intended = (out / "fttr-studio.xml").read_text()
    sec = Secrets.for_kind("fttr", intended)
    assert Secrets.for_kind("olt-bbf", intended) is None  # kinds without secret leaves: nothing to do
    wire = sec.fill(intended)
    assert "s3cret-studio-pass" in wire and "s3cret-guest-pass" in wire and "env:STUDIO" not in wire
    reply = etree.fromstring(wire.replace("s3cret-guest-pass", "set-by-someone-else").encode())
    masked = etree.tostring(sec.mask(reply), encoding="unicode")
    assert "s3cret" not in masked and "set-by-someone-else" not in masked
    assert "env:FULLBARS_PSK_STUDIO" in masked and MASK in masked
    assert sec.scrub('invalid value "s3cret-studio-pass"') == 'invalid value "(the value of env:FULLBARS_PSK_STUDIO)"'
    with pytest.raises(Exception) as e:
        sec.fill(masked)  # a masked value cannot be sent back: fullbars does not know it
    assert "no reference" in str(e.value) and "set-by-someone-else" not in str(e.value)


def test_unset_secret_names_the_reference_only(planned, monkeypatch):
    from orchestrator.errors import FullbarsError
    from orchestrator.netconf.secrets import Secrets

    out, _ = planned
    monkeypatch.delenv("FULLBARS_PSK_STUDIO", raising=False)
    sec = Secrets.for_kind("fttr", (out / "fttr-studio.xml").read_text())
    with pytest.raises(FullbarsError) as e:
        sec.fill((out / "fttr-studio.xml").read_text())
    assert "env:FULLBARS_PSK_STUDIO names an unset environment variable" in e.value.render()


def _with_ssid_ref(tmp_path, ref: str) -> str:
    text = Path(INTENTS[1]).read_text()
    assert "passphrase-ref: env:FULLBARS_PSK_STUDIO\n" in text
    f = tmp_path / "studio-wifi.yaml"
    f.write_text(text.replace("passphrase-ref: env:FULLBARS_PSK_STUDIO\n", f"passphrase-ref: {ref}\n"))
    return str(f)


def test_passphrase_naming_the_netconf_credential_is_refused_and_changes_nothing(tmp_path, db, monkeypatch):
    """Issue 19: a guest SSID whose passphrase was the operator's NETCONF password."""
    monkeypatch.setenv("FULLBARS_NETCONF_PASSWORD", "operator-Netconf-9z")
    assert cli("plan", INTENTS[0], "--network", str(EXAMPLES / "network.yaml"), db=db).exit_code == 0
    before = snapshot(db)
    intent = _with_ssid_ref(tmp_path, "env:FULLBARS_NETCONF_PASSWORD")
    from typer.testing import CliRunner

    from orchestrator.cli import app

    for r in (cli("plan", INTENTS[0], intent, "--network", str(EXAMPLES / "network.yaml"), db=db),
              CliRunner().invoke(app, ["validate", INTENTS[0], intent, "--network", str(EXAMPLES / "network.yaml")])):
        assert r.exit_code == 2, r.stdout
        assert (f"{intent}:24: the secret reference env:FULLBARS_NETCONF_PASSWORD names the NETCONF credential "
                "of the network description") in r.stderr, r.stderr
        assert "at: spec.ssid[0].passphrase-ref" in r.stderr and "fix: put the passphrase where" in r.stderr
        assert "operator-Netconf-9z" not in r.stdout + r.stderr and "Traceback" not in r.stderr
    assert snapshot(db) == before


def test_customer_secret_sources_confine_env_and_files(tmp_path, monkeypatch):
    from orchestrator.netconf import customer_secrets as cs

    psk = tmp_path / "psk"
    psk.mkdir()
    (psk / "studio").write_text("studio-Pass-123\n")
    (tmp_path / "outside").write_text("not-for-customers")
    (psk / "escape").symlink_to(tmp_path / "outside")
    (psk / "inside").symlink_to(psk / "studio")
    monkeypatch.setenv("FULLBARS_CUSTOMER_SECRETS", f"env:FULLBARS_PSK_*, env:SHOP_GUEST_PSK file:{psk}")
    monkeypatch.setenv("FULLBARS_PSK_A", "a-Pass-456")
    monkeypatch.setenv("SHOP_GUEST_PSK", "shop-Pass-789")
    monkeypatch.setenv("SHOP_GUEST_PSK2", "not-allowed")
    assert cs.value("env:FULLBARS_PSK_A") == "a-Pass-456" and cs.value("env:SHOP_GUEST_PSK") == "shop-Pass-789"
    assert cs.value(f"file:{psk}/studio") == "studio-Pass-123" == cs.value(f"file:{psk}/inside")
    assert cs.refusal("env:FULLBARS_PSK_A", device_ref="env:FULLBARS_NETCONF_PASSWORD") is None
    for ref in ("env:SHOP_GUEST_PSK2", "env:HOME", f"file:{psk}/escape", f"file:{psk}/../outside",
                f"file:{tmp_path}/outside", f"file:{psk}", "env:FULLBARS_LAB_PASSWORD"):
        assert cs.refusal(ref) is not None, ref
        with pytest.raises(FullbarsError) as e:
            cs.value(ref)  # refused again when the value would be read, whatever stored the reference
        assert "not-for-customers" not in e.value.render() and "fix: put the passphrase where" in e.value.render()
    monkeypatch.setenv("FULLBARS_CUSTOMER_SECRETS", "env:*")  # a prefix that names every variable
    with pytest.raises(FullbarsError) as e:
        cs.value("env:FULLBARS_PSK_A")
    assert "FULLBARS_CUSTOMER_SECRETS has an entry 'env:*' that is no secret source" in e.value.render()


def test_a_journalled_reference_outside_the_sources_is_not_filled(planned, monkeypatch):
    """A reference that reached a config some other way (an old journal row, a store edited by
    hand) is checked again as the edit is sent: the value never goes on the wire."""
    from orchestrator.netconf.secrets import Secrets

    out, _ = planned
    monkeypatch.setenv("FULLBARS_PSK_STUDIO", "s3cret-studio-pass")
    monkeypatch.setenv("FULLBARS_NETCONF_PASSWORD", "operator-Netconf-9z")
    text = (out / "fttr-studio.xml").read_text().replace("env:FULLBARS_PSK_STUDIO_GUEST", "env:FULLBARS_NETCONF_PASSWORD")
    sec = Secrets.for_kind("fttr", text)
    with pytest.raises(FullbarsError) as e:
        sec.fill(text)
    assert "env:FULLBARS_NETCONF_PASSWORD names a variable outside" in e.value.render()
    assert "operator-Netconf-9z" not in e.value.render()


def test_fttr_model_passes_pyang_lint_as_our_other_models_do():
    """pyang --lint: nothing beyond what every fullbars model shows (revision reference, mandatory top)."""
    from orchestrator import settings

    paths = ":".join(str(p) for p in settings.search_dirs())
    pyang = Path(sys.executable).with_name("pyang")  # installed with fullbars' test extras
    assert pyang.exists(), "pyang is missing: pip install -e '.[test]' (scripts/setup.sh does it)"
    for f in ("devices/fullbars-fttr.yang", "services/fullbars-fttr-wifi.yang"):
        r = subprocess.run([str(pyang), "--lint", "-p", paths, str(settings.OWN_YANG / f)], capture_output=True, text=True)
        errors = [ln for ln in r.stderr.splitlines() if "error" in ln and "4.10: top-level node" not in ln]
        assert errors == [], r.stderr


def test_a_line_feeding_fttr_is_deleted_with_its_fttr_service(db):
    assert cli("plan", *INTENTS, "--network", str(EXAMPLES / "network.yaml"), db=db).exit_code == 0
    r = cli("delete", "studio-line", db=db)
    assert r.exit_code == 2 and "delete this FTTR service with its line" in r.stderr
    r = cli("delete", "studio-line", "studio-wifi", db=db)  # either order: each is placed before any goes
    assert r.exit_code == 0, r.stderr
    assert "studio-wifi  →  fttr-studio" in r.stdout and "studio-line  →  bng-east, olt-1" in r.stdout


def test_a_new_rate_of_the_line_reaches_its_rooms(planned, db, tmp_path):
    """The FTTR unit is a device of its own, which a plan of the line alone does not name: the
    plan still rebuilds it, because the FTTR service's placement looked the line up."""
    line = tmp_path / "studio-line.yaml"
    line.write_text((EXAMPLES / "fttr/studio-line.yaml").read_text().replace("upstream: 1000M", "upstream: 500M"))
    out = tmp_path / "again"
    r = cli("plan", str(line), "--out", str(out), db=db)
    assert r.exit_code == 0, r.stderr
    assert "fttr-studio" in json.loads((out / "manifest.json").read_text())["devices"], r.stdout
    ups = {int(u.text) for u in _tree(out).iterfind(".//f:room-unit/f:rates/f:upstream", FTTR)}
    assert ups == {500 * 10**6}, ups


def test_a_line_lowered_below_a_gigabit_or_a_unit_taken_out_is_refused_at_its_fttr_service(planned, db, tmp_path):
    """Planning the line alone places its FTTR service again: a line lowered below 1G, or a
    network without the main unit, is refused there (not planned, leaving a store no later plan
    of the FTTR service accepts, nor a traceback), and nothing changes."""
    before = snapshot(db)
    line = tmp_path / "studio-line.yaml"
    line.write_text((EXAMPLES / "fttr/studio-line.yaml").read_text().replace("downstream: 1000M", "downstream: 500M"))
    assert "downstream: 500M" in line.read_text()
    r = cli("plan", str(line), db=db)
    assert r.exit_code == 2, r.stdout + r.stderr
    assert "FTTR WiFi needs a gigabit line" in r.stderr and "delete this FTTR service (studio-wifi)" in r.stderr
    # at the FTTR service's own line, read again from its file (the store keeps no line map)
    at = next(i for i, text in enumerate(Path(INTENTS[1]).read_text().splitlines(), 1) if text.startswith("  line:"))
    assert f"error: {INTENTS[1]}:{at}: line studio-line is 500M downstream" in r.stderr, r.stderr
    net = tmp_path / "network.yaml"
    text = (EXAMPLES / "network.yaml").read_text()
    net.write_text(text.replace("  - name: fttr-studio\n", "  - name: fttr-gone\n", 1))
    assert net.read_text() != text
    r = cli("plan", INTENTS[0], "--network", str(net), db=db)
    assert r.exit_code == 2, r.stdout + r.stderr
    assert "'fttr-studio' is not a main FTTR unit of the network description" in r.stderr, r.stderr
    assert snapshot(db) == before


def test_ansible_path_refuses_devices_with_secret_leaves(planned):
    """Ansible ships the artifacts as they are, and they hold only the references."""
    from orchestrator.errors import FullbarsError
    from orchestrator.rollout.ansible import run

    out, _ = planned
    with pytest.raises(FullbarsError) as e:
        run(out, None, ["olt-1", "fttr-studio"])
    assert "fttr-studio: device kinds with secret leaves cannot go through Ansible" in e.value.render()


def test_network_check_of_an_fttr_service_points_at_its_line(db):
    from orchestrator.errors import FullbarsError
    from orchestrator.resources.store import Store
    from orchestrator.rollout.check import check

    assert cli("plan", *INTENTS, "--network", str(EXAMPLES / "network.yaml"), db=db).exit_code == 0
    with pytest.raises(FullbarsError) as e:
        check(Store(db), None, "studio-wifi")
    assert "fix: check the line that feeds it: fullbars check studio-line" in e.value.render()


def _with_rooms(tmp_path, n: int) -> str:
    text = (EXAMPLES / "fttr/studio-wifi.yaml").read_text()
    start, end = text.index("  room:\n"), text.index("  ssid:\n")
    rooms = "".join(f"  - {{name: room{i}, serial: FTTR00000B{i:02d}}}\n" for i in range(1, n + 1))
    f = tmp_path / "wifi.yaml"
    f.write_text(text[:start] + "  room:\n" + rooms + text[end:])
    return str(f)


def test_rooms_take_the_line_block_addresses_after_gateway_and_cpe(planned):
    out, _ = planned
    m = json.loads((out / "manifest.json").read_text())
    block = ipaddress.ip_network(m["services"]["studio-line"]["resources"]["address-block"])
    rooms = m["services"]["studio-wifi"]["resources"]["rooms"]
    hosts = list(block.hosts())  # gateway, the line's CPE, then the rooms in the intent's order
    assert [rooms[r]["address"] for r in ("office", "studio", "kitchen", "lounge")] == \
        [f"{h}/29" for h in hosts[2:6]]


def test_more_rooms_than_a_bigger_block_serves_need_a_bigger_pool(tmp_path, db):
    """Five rooms do not fit a /29; with a pool of /28 blocks named by the line they do."""
    net = (EXAMPLES / "network.yaml").read_text()
    net = net.replace("  - name: public-west\n", "  - name: public-east-28\n    type: public-static\n"
                      "    prefix: 192.0.2.0/24\n    block-length: 28\n  - name: public-west\n")
    netf = tmp_path / "network.yaml"
    netf.write_text(net)
    wifi = _with_rooms(tmp_path, 5)
    r = cli("plan", INTENTS[0], wifi, "--network", str(netf), db=db)
    assert r.exit_code == 2 and "Traceback" not in r.stderr
    assert "has addresses for 4 room(s)" in r.stderr and "at: spec.room[4]" in r.stderr
    assert "block-length 28 or less under spec.addressing.pool such as public-east-28" in r.stderr
    line = tmp_path / "line.yaml"
    line.write_text(Path(INTENTS[0]).read_text().replace("mode: static", "mode: static\n    pool: public-east-28"))
    r = cli("plan", str(line), wifi, "--network", str(netf), "--format", "json", db=db)
    assert r.exit_code == 0, r.stderr
    rooms = next(s for s in json.loads(r.stdout)["services"] if s["name"] == "studio-wifi")["resources"]["rooms"]
    assert [rooms[f"room{i}"]["address"] for i in range(1, 6)] == [f"192.0.2.{i}/28" for i in range(3, 8)]
