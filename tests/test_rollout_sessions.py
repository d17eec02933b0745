"""A rollout's waves share their devices' sessions: a BNG in every wave is connected to once."""

from __future__ import annotations

import json

import yaml

from conftest import cli
from test_lifecycle import OLTS, _bng_rates, _olt_shapers, lab8  # noqa: F401  (lab8: 8 OLTs, 2 BNGs, lines applied)


def test_devices_in_several_waves_keep_their_session(lab8):  # noqa: F811
    tmp, db, topo = lab8["tmp"], lab8["db"], lab8["topo"]
    up = tmp / "upgrade-sessions.yaml"  # canary olt-1, then olt-2..5 and olt-6..8, each wave with its BNG(s)
    up.write_text(yaml.safe_dump({"apiVersion": "fullbars.io/v1", "kind": "SpeedUpgrade", "metadata": {"name": "to-400m"},
                                  "spec": {"selector": {"downstream": "300M"}, "rates": {"downstream": "400M"},
                                           "rollout": {"canary": 1, "waves": 2}}}))
    r = cli("rollout", str(up), "--target", "lab", "--lab", str(topo), "--json", db=db)
    assert r.exit_code == 0, r.stdout + r.stderr
    rep = json.loads(r.stdout)
    assert [w["outcome"] for w in rep["waves"]] == ["committed"] * 3
    seen: set[str] = set()
    for w in rep["waves"]:
        # connected to: exactly the devices no earlier wave had; the others came with their session
        assert sorted(w["connected"]) == sorted(set(w["devices"]) - seen), w["name"]
        seen |= set(w["devices"])
    assert sum(len(w["devices"]) - len(w["connected"]) for w in rep["waves"]) >= 2  # the BNGs, again and again
    # a reused session did the whole job: every OLT and every line on the BNGs has the new rate
    assert all(_olt_shapers(topo, f"olt-{i}") == {"down-400M"} for i in range(1, OLTS + 1))
    rates = {**_bng_rates(topo, "bng-1"), **_bng_rates(topo, "bng-2")}
    assert set(rates.values()) == {400_000_000}
    r = cli("drift", "--target", "lab", "--lab", str(topo), db=db)
    assert r.exit_code == 0, r.stdout + r.stderr
