"""Saved plans (bundles): `plan --out DIR` writes per device the whole intended config, the edit,
the reverse edit and the base it was computed against, a manifest with the sha256 of every file
and a bundle id; `apply DIR`, `lab push` and `ansible-apply` refuse, naming device and file, a
bundle whose files do not match, and a stale one, with exit 2 and the store as it was. Real SQLite
stores; the refusals come before any device is reached (the lab test applies bundles for real:
tests/test_bundles_lab.py)."""

from __future__ import annotations

import hashlib
import json

import pytest

from conftest import EXAMPLES, cli, record_applied, snapshot

NETWORK = str(EXAMPLES / "network.yaml")
ACME = str(EXAMPLES / "intents/acme-hq.yaml")


@pytest.fixture
def bundle(tmp_path, db, monkeypatch):
    monkeypatch.setenv("FULLBARS_NETCONF_PASSWORD", "not-used-no-device-is-reached")
    out = tmp_path / "acme"
    r = cli("plan", ACME, "--network", NETWORK, "--out", str(out), db=db)
    assert r.exit_code == 0, r.output
    return out


def _committed(db: str, env: str, configs: dict[str, tuple[str, str]]) -> None:
    from orchestrator.resources.store import Store
    from orchestrator.rollout.transaction import Change, Journal, new_id

    changes = [Change(d, kind, None, config) for d, (kind, config) in configs.items()]
    j = Journal(Store(db), new_id())
    j.start(env, "apply", changes)
    j.state("committed", summary="test", remember=changes)


def test_a_bundle_holds_bases_hashes_and_its_id(bundle):
    from orchestrator.plan.bundle import EMPTY_SHA, load

    m = json.loads((bundle / "manifest.json").read_text())
    for dev, d in m["devices"].items():
        assert set(d["files"]) == {f"{dev}.xml", f"{dev}.edit.xml", f"{dev}.reverse.xml", f"{dev}.diff", f"{dev}.owners.json"}
        for name, sha in d["files"].items():
            assert hashlib.sha256((bundle / name).read_bytes()).hexdigest() == sha
        assert d["base"] == EMPTY_SHA and d["bases"] == {}  # no environment has given it anything yet
    assert load(bundle).id == hashlib.sha256((bundle / "manifest.json").read_bytes()).hexdigest()


def test_bases_name_what_each_environment_gave_the_device(tmp_path, db, bundle):
    from orchestrator.plan.bundle import load

    b = load(bundle)
    _committed(db, "env:production", {dev: (d["kind"], b.intended(dev)) for dev, d in b.devices.items()})
    again = tmp_path / "again"
    r = cli("plan", ACME, "--target", "staging", "--out", str(again), db=db)
    assert r.exit_code == 0, r.output
    m = json.loads((again / "manifest.json").read_text())
    assert m["environment"] == "env:staging"
    for dev in b.devices:
        sha = hashlib.sha256(b.intended(dev).encode()).hexdigest()
        assert m["devices"][dev]["bases"] == {"env:production": sha}
        assert m["devices"][dev]["changed"]  # staging has nothing yet: the edit is the whole config


@pytest.mark.parametrize("command", ["apply", "lab push", "ansible-apply"])
def test_a_bundle_with_one_edited_byte_is_refused_naming_device_and_file(bundle, db, tmp_path, command):
    olt = bundle / "olt-1.xml"
    text = olt.read_bytes()
    at = text.index(b"ACME0000A001")
    olt.write_bytes(text[:at] + b"B" + text[at + 1:])  # one byte: another ONU serial
    lab = tmp_path / "x.clab.yml"
    args = {"apply": ["apply", str(bundle), "--target", "production"],
            "lab push": ["lab", "push", str(bundle), str(lab)],
            "ansible-apply": ["ansible-apply", str(bundle), "--target", "production"]}[command]
    before = snapshot(db)
    r = cli(*args, db=db)
    assert r.exit_code == 2, r.output
    assert f"{olt}: device olt-1: file olt-1.xml does not match the bundle's manifest" in r.output, r.output
    assert "plan again" in r.output and "Traceback" not in r.output
    assert snapshot(db) == before


def test_a_stale_bundle_is_refused_say_re_plan(bundle, db):
    from orchestrator.plan.bundle import load

    b = load(bundle)
    other = {dev: (d["kind"], b.intended(dev).replace("ACME0000A001", "ACME0000A002"))
             for dev, d in b.devices.items()}
    _committed(db, "env:production", other)  # production was given something since the plan
    before = snapshot(db)
    for args in (["apply", str(bundle), "--target", "production"],
                 ["ansible-apply", str(bundle), "--target", "production"]):
        r = cli(*args, db=db)
        assert r.exit_code == 2, r.output
        for dev in b.devices:
            assert f"device {dev}: the bundle is stale for env:production" in r.output, r.output
        assert "re-plan" in r.output
        assert snapshot(db) == before
    # staging is not production: there the bundle's bases still hold (the evidence is another matter)
    r = cli("apply", str(bundle), "--target", "staging", db=db)
    assert "is stale" not in r.output and "requires lab evidence" in r.output, r.output
    assert "fullbars environment staging --evidence optional" in r.output


def test_ansible_refuses_edits_computed_from_another_environment(bundle, db, tmp_path):
    """ansible-apply ships the edit files as they are: they must start from the target's record."""
    from orchestrator.plan.bundle import load

    b = load(bundle)
    _committed(db, "env:production", {dev: (d["kind"], b.intended(dev)) for dev, d in b.devices.items()})
    fresh = tmp_path / "fresh"
    r = cli("plan", ACME, "--target", "staging", "--out", str(fresh), db=db)  # edits from staging (empty)
    assert r.exit_code == 0, r.output
    r = cli("ansible-apply", str(fresh), "--target", "production", db=db)
    assert r.exit_code == 2 and "the bundle's edit starts from config" in r.output, r.output
    assert "olt-1.edit.xml" in r.output


def test_an_unverified_bundle_is_refused_where_evidence_is_required(bundle, db):
    before = snapshot(db)
    r = cli("apply", str(bundle), "--target", "production", db=db)
    assert r.exit_code == 2, r.output
    assert "env:production requires lab evidence: no passing lab verification" in r.output, r.output
    assert "fullbars lab verify" in r.output
    assert snapshot(db) == before


def test_canonical_form_ignores_order_and_prefixes_not_values():
    from orchestrator.plan import canonical

    a = """<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">
<interfaces xmlns="urn:ietf:params:xml:ns:yang:ietf-interfaces" xmlns:ianaift="urn:ietf:params:xml:ns:yang:iana-if-type">
<interface><name>a</name><type>ianaift:ethernetCsmacd</type><enabled>true</enabled></interface>
<interface><name>b</name><type>ianaift:l2vlan</type></interface>
</interfaces></config>"""
    b = """<data xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">
<interfaces xmlns="urn:ietf:params:xml:ns:yang:ietf-interfaces" xmlns:x="urn:ietf:params:xml:ns:yang:iana-if-type">
<interface><name>b</name><type>x:l2vlan</type></interface>
<interface><enabled>true</enabled><type>x:ethernetCsmacd</type><name>a</name></interface>
</interfaces></data>"""
    assert canonical.sha("bng-ietf", a) == canonical.sha("bng-ietf", b)
    assert canonical.sha("bng-ietf", a) != canonical.sha("bng-ietf", a.replace("<enabled>true", "<enabled>false"))
    assert canonical.sha("bng-ietf", a) != canonical.sha("bng-ietf", a.replace("<name>b</name>", "<name>c</name>"))


def test_intents_applied_where_evidence_is_required_need_it_too(db, monkeypatch, tmp_path):
    """Planned again at apply time, intents reach production only as configs a lab verified; the
    refusal keeps nothing of the plan (the line's new rate)."""
    monkeypatch.setenv("FULLBARS_NETCONF_PASSWORD", "not-used-no-device-is-reached")
    r = cli("plan", ACME, "--network", NETWORK, db=db)
    assert r.exit_code == 0, r.output
    before = snapshot(db)
    faster = tmp_path / "acme-hq.yaml"
    faster.write_text((EXAMPLES / "intents/acme-hq.yaml").read_text().replace("downstream: 500M", "downstream: 1G"))
    r = cli("apply", str(faster), "--target", "production", db=db)
    assert r.exit_code == 2, r.output
    assert "env:production requires lab evidence: no passing lab verification of the intended configs of these " \
           "intents" in r.output, r.output
    assert snapshot(db) == before


def test_a_bundle_applied_after_a_later_plan_of_its_devices_still_says_whose_its_config_is(tmp_path, db):
    """dock-office planned into a bundle; harbour-cafe (same OLT and BNG) planned after it, so the
    store keeps ownership for that newer plan's configs only; then the older bundle is applied.
    Its devices' record must still name the services each part belongs to (the bundle holds its
    ownership): status shows dock-office in service on both, and a later plan of harbour-cafe
    keeps dock-office, in service, on them."""
    from orchestrator.plan.bundle import load
    from orchestrator.resources.store import Store

    dock, cafe = (str(EXAMPLES / "lab" / f"{n}.yaml") for n in ("dock-office", "harbour-cafe"))
    first = tmp_path / "dock"
    assert cli("plan", dock, "--network", NETWORK, "--out", str(first), db=db).exit_code == 0
    b = load(first)
    assert set(b.devices) == {"olt-1", "bng-east"}
    assert cli("plan", cafe, db=db).exit_code == 0
    with Store(db).transaction(write=False) as s:  # the store no longer holds the bundle's ownership
        assert all(Store.owners(s, dev, b.intended(dev)) is None for dev in b.devices)
    record_applied(db, first)
    with Store(db).transaction(write=False) as s:
        for dev in b.devices:
            assert "dock-office" in {n for who in Store.owners(s, dev, b.intended(dev)).values() for n in who}
    st = json.loads(cli("status", "--format", "json", db=db).stdout)
    svc = {x["name"]: x for x in st["services"]}
    assert svc["dock-office"]["state"] == "in service", svc["dock-office"]
    assert svc["harbour-cafe"]["state"] == "not applied", svc["harbour-cafe"]
    p = json.loads(cli("plan", cafe, "--format", "json", db=db).stdout)
    assert p["held_back"] == {}
    bng = {d["device"]: d for d in p["devices"]}["bng-east"]
    assert "(dock-office)" not in bng["edit"] and sorted(bng["services"]) == ["dock-office", "harbour-cafe"]


def test_a_removal_s_bundle_given_to_the_lab_alone_keeps_the_service_held_until_production_has_it(db, tmp_path):
    """One bundle goes to the lab, then to production. Given to the lab, the removal it carries
    cannot end: production's devices still run the service, and its values must not go to
    another line. Given to production too, it ends, and the values are free."""
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store

    result = plan(Store(db), NETWORK, [ACME])
    record_applied(db, result)  # the lab's devices
    record_applied(db, result, environment="env:production")
    bundle = tmp_path / "delete-acme"
    r = cli("delete", "acme-hq", "--out", str(bundle), db=db)
    assert r.exit_code == 0, r.output
    record_applied(db, bundle)
    status = cli("status", db=db).stdout
    assert "acme-hq" in status and "PENDING-REMOVAL" in status, status
    record_applied(db, bundle, environment="env:production")
    assert "acme-hq" not in cli("status", db=db).stdout
