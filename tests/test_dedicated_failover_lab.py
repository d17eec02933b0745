"""Protection of a dedicated line in the lab (as root): ACME's yard is on a fibre to pe-3 and
protected by a second fibre to pe-1 (one L2NM group: primary and secondary). Both uplinks are
wired to the yard's CE; pe-1 keeps its access out of the VPN while pe-3 says its primary is up.
Verify takes pe-3's port to the yard down: the yard reaches the other sites again over pe-1
within the stated time, and again over pe-3 once the port is back. With the protection access
on another VLAN the failover fails, naming the protection. The lab has a name (s5d...) and a
management subnet of its own, so it runs beside other labs."""

from __future__ import annotations

import sys

from conftest import REPO

from test_lab import _require_lab_tools

sys.path.insert(0, str(REPO / "bench"))

import mutations  # noqa: E402

LAB = {"name": "s5d-failover", "mgmt-subnet": "198.18.231.128/26"}


def test_a_protected_site_fails_over_to_its_protection_pe_and_back(tmp_path):
    _require_lab_tools()
    from orchestrator.lab.kinds.dedicated.checks import FAILOVER_S
    from orchestrator.lab.verify import table

    sc = mutations.load("dedicated")
    sc.update(lab=LAB, intents=["examples/dedicated/*.yaml"])  # ACME and Bolt, in a lab of its own
    suite = mutations.Suite(sc, tmp_path, LAB["name"])
    try:
        suite.up()
        # every site of both enterprises as before (reach, isolation, CIR), the yard now on two uplinks
        rep = suite.verify(None, True)
        print(table(rep))
        row = {r["service"]: r for r in rep["services"]}["acme-wan/yard"]
        print("failover:", row.get("failover_s"))
        assert rep["ok"], table(rep)
        assert row["reach"] == {"depot": True, "hq": True} and row["isolation"] == []
        # the failover was played and finished (verify's own bound, FAILOVER_S, is what ok means)
        assert row["failover_s"] is not None and FAILOVER_S == 3.0
        caught = suite.run({f["name"]: f for f in sc["faults"]}["pe-l2-protection-access-vlan"])
        print(caught)
        assert caught["outcome"] == mutations.CAUGHT, caught
        assert caught["restored"], caught
        after = suite.verify(["acme-wan"], False)
        assert after["ok"], table(after)
    finally:
        suite.down()
