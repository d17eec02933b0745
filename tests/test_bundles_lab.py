"""From lab to production, exactly (issue 12): a bundle applied to a lab and verified there, then
applied to a second environment of namespaced devices described as production, which started
from a config of its own. Production ends up running, canonically, what the lab verified; a
bundle with one edited byte, an unverified bundle and a stale bundle are refused with exit 2 and
the store as it was; the lab's record is untouched by production's apply (drift: in sync).
One scenario, two small labs (an OLT and a BNG each; the lab has the line's CPE)."""

from __future__ import annotations

import os
import shutil

import pytest

from conftest import EXAMPLES, cli, snapshot
from lab_environment import as_environment
from test_lab import _require_lab_tools

NETWORK = EXAMPLES / "network.yaml"
ACME = EXAMPLES / "intents/acme-hq.yaml"
PROD_SECRET = "FULLBARS_TEST_PRODUCTION_PASSWORD"


def _canonical_running(endpoints: dict, kinds: dict[str, str]) -> dict[str, str]:
    from orchestrator.netconf.session import Session
    from orchestrator.plan import canonical

    out = {}
    for dev, kind in sorted(kinds.items()):
        s = Session(endpoints[dev], kind)
        try:
            out[dev] = canonical.sha(kind, s.running_xml())
        finally:
            s.close()
    return out


def _pin(db: str, old: str, new: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(db)
    with engine.begin() as c:
        c.execute(text("UPDATE verifications SET configs = replace(configs, :a, :b)"), {"a": old, "b": new})
    engine.dispose()


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    """A lab and a 'production' of namespaced devices, production given another config first."""
    _require_lab_tools()
    from orchestrator.lab.generate import from_plan
    from orchestrator.lab.push import push
    from orchestrator.lab.runtime import open_lab

    tmp = tmp_path_factory.mktemp("bundles")
    old_dir = os.environ.get("FULLBARS_LAB_DIR")
    os.environ["FULLBARS_LAB_DIR"] = str(tmp / "labs")
    db = f"sqlite:///{tmp}/store.db"
    r = cli("plan", str(ACME), "--network", str(NETWORK), "--out", str(tmp / "v1"), db=db)
    assert r.exit_code == 0, r.output
    # production's own starting config: the same line at 1G, planned in a store of its own
    faster = tmp / "acme-1g.yaml"
    faster.write_text(ACME.read_text().replace("downstream: 500M", "downstream: 1G"))
    r = cli("plan", str(faster), "--network", str(NETWORK), "--out", str(tmp / "prod-start"),
            db=f"sqlite:///{tmp}/other.db")
    assert r.exit_code == 0, r.output
    tag = os.getpid() % 100000
    lab_file, prod_file = tmp / "lab.clab.yml", tmp / "prod.clab.yml"
    lab_file.write_text(from_plan(tmp / "v1", f"fbbl{tag}"))
    prod_file.write_text(from_plan(tmp / "v1", f"fbbp{tag}", cpes=False))
    labs = [open_lab(lab_file), open_lab(prod_file)]
    try:
        for lab in labs:
            lab.up(timeout=60)
        st = labs[1].load_state()
        assert all(r["ok"] for r in push(tmp / "prod-start", st))
        # production as a network description names it: management addresses, a secret reference, known hosts
        as_environment(NETWORK, tmp, st, PROD_SECRET)
        os.environ[PROD_SECRET] = st["password"]
        yield {"tmp": tmp, "db": db, "lab": lab_file, "prod": prod_file, "prodnet": tmp / "production.yaml"}
    finally:
        for lab in labs:
            lab.down()
        os.environ.pop(PROD_SECRET, None)
        if old_dir is None:
            os.environ.pop("FULLBARS_LAB_DIR", None)
        else:
            os.environ["FULLBARS_LAB_DIR"] = old_dir


def test_lab_verified_bundle_reaches_production_exactly(two):
    from orchestrator.network.model import load_network
    from orchestrator.plan.bundle import load
    from orchestrator.rollout.targets import lab_target, network_target

    tmp, db, v1 = two["tmp"], two["db"], two["tmp"] / "v1"
    prod = ["--target", "production", "--network", str(two["prodnet"])]
    kinds = {dev: d["kind"] for dev, d in load(v1).devices.items()}
    lab_t = lab_target(two["lab"])
    prod_t = network_target("production", load_network(two["prodnet"]))
    assert set(kinds) == {"olt-1", "bng-east"}

    r = cli("apply", str(v1), "--target", "lab", "--lab", str(two["lab"]), "--confirm-timeout", "60", db=db)
    assert r.exit_code == 0, r.output
    r = cli("lab", "verify", str(v1), str(two["lab"]), db=db)
    assert r.exit_code == 0, r.output
    assert "verification 1 passed: bundle " + load(v1).id in r.output, r.output
    verified = _canonical_running(lab_t.endpoints, kinds)
    before_prod = _canonical_running(prod_t.endpoints, kinds)
    assert all(before_prod[d] != verified[d] for d in kinds)  # production started elsewhere

    # one edited byte
    edited = tmp / "v1-edited"
    shutil.copytree(v1, edited)
    olt = edited / "olt-1.xml"
    olt.write_text(olt.read_text().replace("ACME0000A001", "ACME0000A00F"))
    # the same line at another rate, planned against production: nothing verified it
    slower = tmp / "acme-300m.yaml"
    slower.write_text(ACME.read_text().replace("downstream: 500M", "downstream: 300M"))
    r = cli("plan", str(slower), "--target", "production", "--out", str(tmp / "unverified"), db=db)
    assert r.exit_code == 0, r.output
    r = cli("plan", str(ACME), db=db)  # the store's intent back as verified
    assert r.exit_code == 0, r.output
    for bundle, said in ((edited, f"{olt}: device olt-1: file olt-1.xml does not match the bundle's manifest"),
                         (tmp / "unverified", "env:production requires lab evidence: no passing lab verification")):
        kept = snapshot(db)
        r = cli("apply", str(bundle), *prod, db=db)
        assert r.exit_code == 2, r.output
        assert said in r.output and "nothing was changed" in r.output and "Traceback" not in r.output, r.output
        assert snapshot(db) == kept  # production's record (and everything else) unchanged
        assert _canonical_running(prod_t.endpoints, kinds) == before_prod

    # a device that does not end up running what was verified (here: the verification pins another
    # config for olt-1) is found after the commit, before confirming: everything rolls back
    _pin(db, verified["olt-1"], "0" * 64)
    kept = snapshot(db)["environment_configs"]
    r = cli("apply", str(v1), *prod, "--confirm-timeout", "60", db=db)
    assert r.exit_code == 1 and "rolled-back" in r.output, r.output
    assert "not the lab-verified 000000000000" in r.output, r.output
    assert snapshot(db)["environment_configs"] == kept
    assert _canonical_running(prod_t.endpoints, kinds) == before_prod
    _pin(db, "0" * 64, verified["olt-1"])

    r = cli("apply", str(v1), *prod, "--confirm-timeout", "60", db=db)
    assert r.exit_code == 0, r.output
    landed = _canonical_running(prod_t.endpoints, kinds)
    print("lab-verified:", verified, "\nproduction:  ", landed)
    assert landed == verified
    for dev, sha in verified.items():
        assert f"{dev}: running config canonical sha256 {sha} = lab-verified" in r.output, r.output

    r = cli("drift", "--target", "lab", "--lab", str(two["lab"]), db=db)
    assert r.exit_code == 0 and r.output.count(": in sync") == 2, r.output
    r = cli("drift", *prod, db=db)
    assert r.exit_code == 0 and r.output.count(": in sync") == 2, r.output

    # v1 again: production's record has moved on since v1 was planned
    kept = snapshot(db)
    r = cli("apply", str(v1), *prod, db=db)
    assert r.exit_code == 2, r.output
    assert "device olt-1: the bundle is stale for env:production" in r.output and "re-plan" in r.output, r.output
    assert snapshot(db) == kept
