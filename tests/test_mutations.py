"""The lab's mutation suite (bench/mutations.py, faults as data in tests/mutations/): without a
lab, every fault of every scenario fits the configs a plan of that scenario renders, each intent
kind has at least 10 faults of different kinds, and the faults issue 13 lists as missed are in
it; with a lab (as root), the reduced set (faults marked `ci`) of one scenario per kind is
pushed into a running lab, fault by fault, and verify must fail naming each one, with the good
config back afterwards. The full set: python bench/mutations.py."""

from __future__ import annotations

import json
import os
import re
import sys
from collections import Counter

import pytest

from conftest import REPO
from test_lab import _require_lab_tools

sys.path.insert(0, str(REPO / "bench"))

import mutations  # noqa: E402

SCENARIOS = mutations.scenarios()
# What the issue lists as missed, per kind: (device role in the fault name, what it changes)
MISSED = {"BusinessBroadband": ["bng-downstream-rate-low", "bng-upstream-rate-low", "olt-network-side-match",
                                "olt-gem-port-deleted", "olt-vani-disabled", "bng-dhcp-client-address"],
          "FttrWifi": ["ssid-downgraded-to-open", "room-radios-disabled"],
          "Campus5G": ["upf-snssai", "upf-dnn-snssai", "gnb-cells-without-the-snssai", "smf-ue-pool"],
          # the lab task of issue 18: a wrong route target or VLAN on one end
          "DedicatedLine": ["pe-l3-route-target", "pe-l3-route-target-of-another-vpn", "pe-l2-access-vlan"]}


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    """Each scenario planned once (no lab): its plan folder."""
    out = {}
    for name in SCENARIOS:
        sc = mutations.load(name)
        for var in sc.get("secrets", []):
            os.environ[var] = f"passphrase of {var}"
        work = tmp_path_factory.mktemp(name)
        out[name] = (sc, mutations.plan_scenario(sc, work))
    return out


def test_every_kind_has_ten_faults_of_different_kinds_and_the_missed_ones(planned):
    by_kind = {}
    for sc, _ in planned.values():
        by_kind.setdefault(sc["kind"], []).extend(sc["faults"])
    assert set(MISSED) <= set(by_kind)
    for kind, faults in by_kind.items():
        names = [f["name"] for f in faults]
        assert len(faults) >= 10 and len(set(names)) == len(names), (kind, names)
        # different kinds of fault: leaves changed, entries deleted, on several devices and leaves
        leaves = Counter(re.sub(r"\[[^]]*\]", "", f["xpath"]).rsplit("/", 1)[-1] for f in faults)
        assert len(leaves) >= 6 and any(f.get("delete") for f in faults) and len({f["device"] for f in faults}) >= 1
        assert set(MISSED.get(kind, [])) <= set(names), set(MISSED.get(kind, [])) - set(names)


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_fault_fits_the_planned_config_and_names_a_planned_service(planned, name):
    from orchestrator.netconf.secrets import Secrets

    sc, plan = planned[name]
    m = json.loads((plan / "manifest.json").read_text())
    for f in sc["faults"]:
        good = (plan / f"{f['device']}.xml").read_text()
        bad = mutations.mutate(good, f, sc["namespaces"])
        assert bad != good, f["name"]
        # a device running the fault is told from one still running the good config (a device
        # holds a passphrase's value, not its reference)
        secrets = Secrets.for_kind(m["devices"][f["device"]]["kind"], good, bad)
        on_device = (lambda x: secrets.fill(x)) if secrets else (lambda x: x)
        assert mutations.took(f, good, on_device(bad).encode(), sc["namespaces"]), f["name"]
        assert not mutations.took(f, good, on_device(good).encode(), sc["namespaces"]), f["name"]
        assert f["service"].split("/")[0] in m["services"], f["name"]
        re.compile(f["expect"])


def test_a_fault_whose_xpath_selects_nothing_is_refused_by_name(planned):
    sc, plan = planned["harbour-broadband"]
    f = dict(sc["faults"][0], xpath="//if:interface[if:name='no-such']/if:enabled", name="typo")
    with pytest.raises(mutations.MutationError, match="typo: .* selects nothing on bng-east"):
        mutations.mutate((plan / "bng-east.xml").read_text(), f, sc["namespaces"])


@pytest.mark.parametrize("name", SCENARIOS)
def test_in_a_running_lab_verify_names_every_fault_of_the_reduced_set(tmp_path, name):
    _require_lab_tools()
    res = mutations.run_scenario(name, tmp_path, f"fbf{SCENARIOS.index(name)}{os.getpid() % 10000}", ci=True)
    assert res["rows"], "no fault of this scenario is marked ci"
    missed = [r for r in res["rows"] if not mutations.caught(r)]
    assert missed == [], mutations.report(missed)
    assert res["restored"], res["after"]
