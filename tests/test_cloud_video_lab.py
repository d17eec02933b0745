"""Cloud video in the lab (as root): the North Shop line and its eight 4M cameras pushed into
real agents (olt-1 and the pe-vpn pe-1 on devsim); the cameras run as UDP streams from a host
on their own UNI of the line's ONU, over the customer's L3VPN, to a host standing for the
platform, while the line's CPE loads the line upstream with a bulk TCP flow. The platform gets
the cameras' reservation and the bulk flow the line's own upstream, as the OLT and PE realized
their running configs; a config fault that starves the cameras fails verify, naming it. The lab
has a name (s5d...) and a management subnet of its own, so it runs beside other labs."""

from __future__ import annotations

import sys

from conftest import REPO

from test_lab import _require_lab_tools

sys.path.insert(0, str(REPO / "bench"))

import mutations  # noqa: E402

RESERVED, LINE_UP = 8 * 4_000_000, 300_000_000


def _figures(row: dict) -> str:
    return f"cameras {row['measured_cameras_bps'] / 1e6:.1f} Mbit/s, bulk {row['measured_bulk_bps'] / 1e6:.1f} Mbit/s"


def test_cameras_get_their_reservation_beside_a_loaded_line_and_a_starving_fault_is_caught(tmp_path):
    _require_lab_tools()
    sc = mutations.load("cloud-video")
    sc["lab"] = {"name": "s5d-camlab", "mgmt-subnet": "198.18.231.64/26"}  # apart from the scenario's own
    faults = {f["name"]: f for f in sc["faults"]}
    suite = mutations.Suite(sc, tmp_path, sc["lab"]["name"])
    try:
        suite.up()
        good = suite.verify(None, True)
        rows = {r["service"]: r for r in good["services"]}
        cams = rows["north-shop-cameras"]
        print("good:", _figures(cams), cams.get("notes", ""))
        assert good["ok"], [(r["service"], r["problems"]) for r in good["services"] if not r["ok"]]
        # what the platform received of the cameras, with the line loaded beside them (0.85: the
        # measure's own allowance on a busy machine, said in its notes)
        assert cams["expected_cameras_bps"] == RESERVED and cams["expected_bulk_bps"] == LINE_UP
        assert 0.85 * RESERVED <= cams["measured_cameras_bps"] <= RESERVED, _figures(cams)
        assert 0.85 * LINE_UP <= cams["measured_bulk_bps"] <= LINE_UP, _figures(cams)
        # the line's own check passes beside the cameras: its CPE keeps the ONU's main UNI
        assert rows["north-shop"]["ok"], rows["north-shop"]["problems"]

        for name in ("olt-cameras-reservation-low", "olt-cameras-gem-on-the-line-tcont", "pe-cameras-ce-to-pe-low"):
            row = suite.run(faults[name])
            print(name, "->", row["outcome"], row["by"])
            assert row["outcome"] == mutations.CAUGHT, row
            assert row["restored"], row
        # the starved rate itself is measured, not only read from the config
        bad = mutations.mutate((suite.plan / "olt-1.xml").read_text(), faults["olt-cameras-reservation-low"],
                               sc["namespaces"])
        suite._push("olt-1", bad)
        starved = {r["service"]: r for r in suite.verify(["north-shop-cameras"], True)["services"]}["north-shop-cameras"]
        print("starved:", _figures(starved))
        assert starved["measured_cameras_bps"] < 0.5 * RESERVED, _figures(starved)
        assert any(p.startswith("the cameras' aggregate: expected 32 Mbit/s") for p in starved["problems"])
        suite._push("olt-1", (suite.plan / "olt-1.xml").read_text())
        after = suite.verify(None, False)
        assert after["ok"], [(r["service"], r["problems"]) for r in after["services"] if not r["ok"]]
    finally:
        suite.down()
