"""CoverageFill on a generated area (seeded, the generator is in the repository): 500 cells on
air and 2,000 measured points below target. The fill reaches the target, writes the map, the new
cells and gNB configs yanglint accepts; a checker written here (lxml and csv, no planner code)
finds no PCI collision or confusion, no one-way relation and no dangling target anywhere in the
rendered region. A fill that cannot reach the target says, per point, why."""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
from collections import defaultdict
from pathlib import Path

import pytest
from lxml import etree

from conftest import cli, snapshot, yanglint_device

# Written out here again on purpose: the checker shares no code with the planner (coverage_checks).
NS = {
    "me": "urn:3gpp:sa5:_3gpp-common-managed-element",
    "du": "urn:3gpp:sa5:_3gpp-nr-nrm-gnbdufunction",
    "celldu": "urn:3gpp:sa5:_3gpp-nr-nrm-nrcelldu",
    "cucp": "urn:3gpp:sa5:_3gpp-nr-nrm-gnbcucpfunction",
    "cellcu": "urn:3gpp:sa5:_3gpp-nr-nrm-nrcellcu",
    "rel": "urn:3gpp:sa5:_3gpp-nr-nrm-nrcellrelation",
    "nrnet": "urn:3gpp:sa5:_3gpp-nr-nrm-nrnetwork",
    "xcp": "urn:3gpp:sa5:_3gpp-nr-nrm-externalgnbcucpfunction",
    "xcell": "urn:3gpp:sa5:_3gpp-nr-nrm-externalnrcellcu",
}


@pytest.fixture(scope="module")
def area(tmp_path_factory):
    d = tmp_path_factory.mktemp("area")
    r = cli("network", "radio-area", str(d / "area"), "--cells", "500", "--points", "2000", "--seed", "17", db=None)
    assert r.exit_code == 0, r.stderr
    return d / "area"


@pytest.fixture(scope="module")
def filled(area):
    db = f"sqlite:///{area.parent}/store.db"
    out = area.parent / "plan"
    r = cli("plan", str(area / "fill.yaml"), "--network", str(area / "network.yaml"), "--out", str(out), db=db)
    assert r.exit_code == 0, r.stderr
    return out, json.loads((out / "manifest.json").read_text()), r


def test_the_fill_reaches_the_target_with_a_map_and_the_list_of_new_cells(filled):
    out, m, _ = filled
    res = m["services"]["weak-spots"]["resources"]
    assert res["points"] == 2000 and res["before"]["share"] < 5  # the points were measured below target
    assert res["reached"] and res["after"]["share"] >= 95.0, res["stopped"]
    assert 0 < len(res["new-cells"]) <= 3 * 36 and len(res["new-sites"]) <= 36
    png = (out / "weak-spots" / "map.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    rows = list(csv.DictReader((out / "weak-spots" / "new-cells.csv").open()))
    assert {r["name"] for r in rows} == set(res["new-cells"])
    for r in rows:  # NR cell identity: gNB id in the leading 22 of 36 bits
        assert int(r["nci"]) == (int(r["gnb-id"]) << 14) | int(r["cell-local-id"])
        assert r["arfcn"] == "632628" and r["bandwidth"] == "100" and r["tac"] == "100"
    report = json.loads((out / "weak-spots" / "report.json").read_text())
    assert len(report["below-target"]) == 2000 - res["after"]["served"]
    # every gNB with a new cell, and every gNB a new cell became a neighbour of, is in the plan
    assert {r["gnb"] for r in rows} <= set(m["devices"])


def test_every_gnb_config_passes_yanglint(filled, yanglint):
    out, m, _ = filled
    for dev in sorted(m["devices"]):
        res = yanglint_device(yanglint, out, dev)
        assert res.returncode == 0, f"{dev}: {res.stderr}"


def _on_air(area: Path) -> dict:
    """(gNB name, cell-local-id) → PCI of every cell on air, from the CSV files themselves."""
    return {(r["gnb"], r["cell-local-id"]): int(r["pci"]) for r in csv.DictReader((area / "cells.csv").open())}


def _region(out: Path, devices) -> tuple[dict, dict, dict, dict]:
    """From the rendered configs: pci[(gnb, cell)], arfcn[(gnb, cell)], relations[(gnb, cell)] →
    [(gnb, cell)], external[(gnb, cell) as seen by dev] → PCI it claims."""
    pci, arfcn, rel, ext = {}, {}, defaultdict(list), {}
    for dev in devices:
        root = etree.parse(str(out / f"{dev}.xml")).getroot()
        me = root.findtext("me:ManagedElement/me:id", namespaces=NS)
        for c in root.iterfind(".//celldu:NRCellDU", NS):
            key = (me, c.findtext("celldu:attributes/celldu:cellLocalId", namespaces=NS))
            pci[key] = int(c.findtext("celldu:attributes/celldu:nRPCI", namespaces=NS))
            arfcn[key] = c.findtext("celldu:attributes/celldu:arfcnDL", namespaces=NS)
        for cu in root.iterfind(".//cellcu:NRCellCU", NS):
            key = (me, cu.findtext("cellcu:attributes/cellcu:cellLocalId", namespaces=NS))
            for r in cu.iterfind("rel:NRCellRelation", NS):
                dn = dict(p.split("=", 1) for p in r.findtext("rel:attributes/rel:adjacentNRCellRef",
                                                             namespaces=NS).split(","))
                if "ExternalNRCellCU" in dn:
                    rel[key].append((dn["ExternalGNBCUCPFunction"], dn["ExternalNRCellCU"].removeprefix("CELL-")))
                else:
                    rel[key].append((dn["ManagedElement"], dn["NRCellCU"].removeprefix("CELL-")))
        for g in root.iterfind("nrnet:NRNetwork/xcp:ExternalGNBCUCPFunction", NS):
            for x in g.iterfind("xcell:ExternalNRCellCU", NS):
                ext[(dev, g.findtext("xcp:id", namespaces=NS),
                     x.findtext("xcell:attributes/xcell:cellLocalId", namespaces=NS))] = int(
                    x.findtext("xcell:attributes/xcell:nRPCI", namespaces=NS))
    return pci, arfcn, rel, ext


def test_no_pci_collision_or_confusion_anywhere_in_the_region(filled, area):
    """An independent checker: the configs and the CSV files, nothing of the planner."""
    out, m, _ = filled
    _check_region(out, m, area)


def test_no_clash_when_new_cells_may_only_take_few_pcis(area, tmp_path, db):
    """With 60 PCIs for the new cells, the neighbours' PCIs crowd them: the rules must bind."""
    intent = _variant(area, tmp_path)
    net = tmp_path / "network.yaml"
    net.write_text(net.read_text().replace("    environment: uma", "    environment: uma\n    pci: {first: 0, last: 59}"))
    r = cli("plan", str(intent), "--network", str(net), "--out", str(tmp_path / "p"), db=db)
    assert r.exit_code == 0, r.stderr
    m = json.loads((tmp_path / "p" / "manifest.json").read_text())
    assert all(c["pci"] < 60 for c in m["services"]["weak-spots"]["resources"]["new-cells"].values())
    _check_region(tmp_path / "p", m, area)


def _check_region(out: Path, m: dict, area: Path) -> None:
    pci, arfcn, rel, ext = _region(out, m["devices"])
    on_air = _on_air(area)
    for k, v in on_air.items():  # cells on air keep their PCI
        if k in pci:
            assert pci[k] == v, k
    known = on_air | pci
    collisions, confusions, one_way, dangling, wrong_ext = [], [], [], [], []
    for cell, targets in rel.items():
        seen = {}
        for t in targets:
            if t not in known:
                dangling.append((cell, t))
                continue
            if t[0] != cell[0]:
                if ext.get((cell[0], t[0], t[1])) != known[t]:
                    wrong_ext.append((cell, t))
            if known[t] == pci[cell]:
                collisions.append((cell, t))
            if known[t] in seen:
                confusions.append((cell, seen[known[t]], t))
            seen[known[t]] = t
            if t in rel and cell not in rel[t]:
                one_way.append((cell, t))
            if t in pci and t not in rel:
                one_way.append((cell, t))
    assert sum(len(t) for t in rel.values()) > 1000  # the region is not trivially small
    assert (collisions, confusions, one_way, dangling, wrong_ext) == ([], [], [], [], [])
    by_site = defaultdict(list)
    for (g, c), p in pci.items():
        by_site[(g, arfcn[(g, c)])].append(p)
    for site, pcis in by_site.items():  # co-sited cells: PCIs and PCI mod 3 apart
        assert len(set(pcis)) == len(pcis) and len({p % 3 for p in pcis}) == len(pcis), site


def test_planning_again_gives_the_same_bytes(filled, area, tmp_path):
    out, m, _ = filled
    again = tmp_path / "again"
    r = cli("plan", str(area / "fill.yaml"), "--network", str(area / "network.yaml"), "--out", str(again),
            db=f"sqlite:///{tmp_path}/store.db")
    assert r.exit_code == 0, r.stderr
    m2 = json.loads((again / "manifest.json").read_text())
    assert m2["services"]["weak-spots"]["files"] == m["services"]["weak-spots"]["files"]
    assert {d: i["files"] for d, i in m2["devices"].items()} == {d: i["files"] for d, i in m["devices"].items()}


def _variant(src: Path, dest: Path, **spec) -> Path:
    """The area's intent with some of its spec replaced, beside copies of its files."""
    import yaml

    for f in ("network.yaml", "sites.csv", "cells.csv", "points.csv"):
        shutil.copy(src / f, dest / f)
    doc = yaml.safe_load((src / "fill.yaml").read_text())
    doc["spec"].update(spec)
    (dest / "fill.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return dest / "fill.yaml"


def test_a_fill_held_by_its_limit_says_why_each_point_stays_below_target(area, tmp_path, db):
    intent = _variant(area, tmp_path, limits={"new-sites": 2, "new-cells": 4})
    r = cli("plan", str(intent), "--network", str(tmp_path / "network.yaml"), "--out", str(tmp_path / "p"), db=db)
    assert r.exit_code == 0, r.stderr
    res = json.loads((tmp_path / "p" / "manifest.json").read_text())["services"]["weak-spots"]["resources"]
    assert not res["reached"] and len(res["new-cells"]) <= 4 and len(res["new-sites"]) <= 2
    assert res["stopped"] in ("limit of 4 new cells reached", "limit of 2 new sites reached")
    assert f"the fill reaches {res['after']['share']}% of the points, not the 95% asked" in r.stdout + r.stderr
    report = json.loads((tmp_path / "p" / "weak-spots" / "report.json").read_text())
    assert len(report["below-target"]) == 2000 - res["after"]["served"] > 0
    assert all(b["why"] for b in report["below-target"])
    assert any("the fill stopped: limit of" in b["why"] for b in report["below-target"])


def test_points_no_candidate_can_reach_are_named_with_the_reason(area, tmp_path, db):
    far = [{"name": "far-pole", "latitude": 31.5, "longitude": 121.9, "height": 20, "sectors": [0], "bands": ["n78"]}]
    intent = _variant(area, tmp_path, candidate=far)
    r = cli("plan", str(intent), "--network", str(tmp_path / "network.yaml"), "--out", str(tmp_path / "p"), db=db)
    assert r.exit_code == 0, r.stderr
    report = json.loads((tmp_path / "p" / "weak-spots" / "report.json").read_text())
    assert report["new-cells"] == {} and report["stopped"] == "no candidate sector brings another point to target"
    assert len(report["below-target"]) == report["points"] - report["after"]["served"]
    assert {b["why"] for b in report["below-target"][:5]} == {
        "no candidate reaches -105 dBm here (the strongest, far-pole sector 0°, is out of range)"}


def test_measurements_as_geojson_give_the_same_fill(area, tmp_path, db, filled):
    feats = []
    for r in csv.DictReader((area / "points.csv").open()):
        feats.append({"type": "Feature", "geometry": {"type": "Point",
                                                      "coordinates": [float(r["longitude"]), float(r["latitude"])]},
                      "properties": {k: r[k] for k in ("id", "band", "rsrp", "sinr", "measured-at")}})
    intent = _variant(area, tmp_path, measurements="points.geojson")
    (tmp_path / "points.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    r = cli("plan", str(intent), "--network", str(tmp_path / "network.yaml"), "--out", str(tmp_path / "p"), db=db)
    assert r.exit_code == 0, r.stderr
    res = json.loads((tmp_path / "p" / "manifest.json").read_text())["services"]["weak-spots"]["resources"]
    assert res == filled[1]["services"]["weak-spots"]["resources"]


def test_a_band_written_in_capitals_is_the_same_band(area, tmp_path, db, filled):
    """Rows of band N78 were skipped: a fill of n78 planned without them, or, every row written
    so, was refused for holding no point on band n78."""
    intent = _variant(area, tmp_path)
    rows = list(csv.reader((tmp_path / "points.csv").read_text().splitlines()))
    with (tmp_path / "points.csv").open("w", newline="") as f:
        csv.writer(f).writerows([rows[0]] + [[*r[:3], r[3].upper() if i % 2 else r[3], *r[4:]]
                                             for i, r in enumerate(rows[1:])])
    r = cli("plan", str(intent), "--network", str(tmp_path / "network.yaml"), "--out", str(tmp_path / "p"), db=db)
    assert r.exit_code == 0, r.stderr
    res = json.loads((tmp_path / "p" / "manifest.json").read_text())["services"]["weak-spots"]["resources"]
    assert res == filled[1]["services"]["weak-spots"]["resources"]


@pytest.mark.parametrize("change, expect", [
    (lambda d, rows: rows.__setitem__(7, rows[7].split(",")[0] + ",x,121.4,n78,-100,1,2026-11-30"),
     ["points.csv:8: latitude 'x' of point", "at: latitude", "fix: a number from -90 to 90"]),
    (lambda d, rows: rows.__setitem__(3, rows[3].rsplit(",", 3)[0] + ",-20,3,2026-11-30"),
     ["points.csv:4: rsrp -20 of point", "out of range", "fix: a number from -156 to -31"]),
    (lambda d, rows: rows.__setitem__(0, "id,lat,lon,band,rsrp"),
     ["points.csv:1: the measurements CSV lacks the column(s) latitude, longitude",
      "fix: first line: id,latitude,longitude,band,rsrp,sinr,measured-at"]),
    (lambda d, rows: rows.__setitem__(5, rows[4]),
     ["points.csv:6: point p00004 is measured twice on band n78"]),
    (lambda d, rows: rows.__setitem__(2, rows[2].rsplit(",", 1)[0] + ",last tuesday"),
     ["points.csv:3: measured-at 'last tuesday' of point", "at: measured-at", "fix: an ISO 8601 date or time"]),
])
def test_a_bad_measurement_is_refused_with_file_line_and_fix(area, tmp_path, db, change, expect):
    intent = _variant(area, tmp_path)
    rows = (tmp_path / "points.csv").read_text().splitlines()
    change(tmp_path, rows)
    (tmp_path / "points.csv").write_text("\n".join(rows) + "\n")
    r = cli("plan", str(intent), "--network", str(tmp_path / "network.yaml"), "--out", str(tmp_path / "p"), db=db)
    assert r.exit_code == 2, r.stdout
    for e in expect:
        assert e in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "p").exists()
    assert not any(rows for t, rows in snapshot(db).items() if t != "alembic_version")


@pytest.mark.parametrize("spec, expect", [
    ({"band": "n99"}, ["band 'n99' is not one fullbars plans", "at: spec.band", "fix: bands: n1, n3, n28"]),
    ({"measurements": "nowhere.csv"}, ["cannot read the measurements file", "at: spec.measurements"]),
    ({"band": "n28"}, ["no candidate may carry band n28", "the measurements hold no point on band n28"]),
    ({"candidate": [{"name": "c1", "gnb": "gnb-99999", "sectors": [0], "bands": ["n78"]}]},
     ["candidate c1 names gNB 'gnb-99999', which is not on air", "at: spec.candidate[0].gnb"]),
    ({"candidate": [{"name": "c1", "gnb": "gnb-00001", "latitude": 31.2, "longitude": 121.45, "sectors": [0],
                     "bands": ["n78"]}]},  # the position was ignored
     ["candidate c1 names gNB 'gnb-00001' and gives its latitude and longitude too",
      "at: spec.candidate[0].latitude", "fix: leave out latitude and longitude"]),
    ({"candidate": [{"name": "gnb-00001", "latitude": 31.2, "longitude": 121.45, "sectors": [0], "bands": ["n78"]}]},
     ["candidate gnb-00001 would be a new gNB, but a device of that name exists", "fix: rename the candidate"]),
    ({"area": [{"latitude": 31.2, "longitude": 121.4}]}, ["an area needs at least 3 corners", "at: spec.area"]),
    ({"area": [{"latitude": 31.2, "longitude": 121.4}, {"latitude": 31.3, "longitude": 121.4},
               {"latitude": 31.3, "longitude": 121.5}, {"latitude": 31.2, "longitude": 121.4}]},
     ["at: spec.area[3]", "fix: leave out the last entry: it repeats the first"]),  # a closed ring, as GeoJSON writes it
    ({"area": [{"latitude": 31.2, "longitude": 121.4}, {"latitude": 31.25, "longitude": 121.45},
               {"latitude": 31.3, "longitude": 121.5}]}, ["the area has no surface", "at: spec.area"]),
    ({"target": {"share": 0}}, ["at: spec.target.share", "fix: use a number from 1 to 100"]),  # a decimal's range
    ({"area": [{"latitude": 10, "longitude": 10}, {"latitude": 10.1, "longitude": 10},
               {"latitude": 10.1, "longitude": 10.1}]},
     ["none of the 2000 measured points lies inside the area", "at: spec.area"]),
])
def test_a_bad_intent_is_refused_with_path_and_fix(area, tmp_path, db, spec, expect):
    intent = _variant(area, tmp_path, **spec)
    r = cli("plan", str(intent), "--network", str(tmp_path / "network.yaml"), db=db)
    assert r.exit_code == 2, r.stdout
    for e in expect:
        assert e in r.stderr, r.stderr
    assert f"{intent}:" in r.stderr and "Traceback" not in r.stderr


def test_a_problem_with_a_list_as_a_whole_is_at_the_line_of_its_key(area, tmp_path, db):
    """spec.area and spec.candidate, whose values are lists: they were reported at the line of
    spec's first key."""
    intent = _variant(area, tmp_path, band="n28", area=[{"latitude": 31.2, "longitude": 121.4}])
    r = cli("plan", str(intent), "--network", str(tmp_path / "network.yaml"), db=db)
    assert r.exit_code == 2, r.stdout
    keys = {ln.strip(): i for i, ln in enumerate(intent.read_text().splitlines(), 1) if ln.startswith("  ")}
    assert f"{intent}:{keys['area:']}: an area needs at least 3 corners" in r.stderr, r.stderr
    assert f"{intent}:{keys['candidate:']}: no candidate may carry band n28" in r.stderr, r.stderr


def test_a_geojson_feature_that_is_not_a_point_is_named(area, tmp_path, db):
    """Named by its place in the file and the line it begins at (indented, one key a line)."""
    intent = _variant(area, tmp_path, measurements="p.geojson")
    good = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [121.4, 31.2]},
            "properties": {"id": "p, [1]", "band": "n78", "rsrp": -90, "sinr": 3}}
    (tmp_path / "p.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [good, {
        "type": "Feature", "geometry": {"type": "LineString", "coordinates": [[1, 2], [3, 4]]}, "properties": {}},
        {**good, "properties": {**good["properties"], "id": "p2", "rsrp": "loud"}}]}, indent=1))
    r = cli("plan", str(intent), "--network", str(tmp_path / "network.yaml"), db=db)
    assert r.exit_code == 2
    # json.dumps(indent=1) opens each feature on a line of its own: "  {"
    starts = [i for i, ln in enumerate((tmp_path / "p.geojson").read_text().splitlines(), 1) if ln == "  {"]
    second, third = starts[1], starts[2]
    assert f"p.geojson:{second}: the feature is not a Point" in r.stderr and "at: features[1]" in r.stderr, r.stderr
    assert f"p.geojson:{third}: rsrp 'loud' of point p2 is not a number" in r.stderr, r.stderr


def test_a_geojson_integer_too_large_for_a_float_is_out_of_range_and_an_id_of_0_is_an_id(area, tmp_path, db):
    """rsrp written as an integer of 400 digits overflowed float() and one of 5000 json refused
    to read at all (ValueError, a traceback); an id of 0 was taken for none."""
    intent = _variant(area, tmp_path, measurements="p.geojson")
    feats = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [121.4, 31.2]},
              "properties": {"id": pid, "band": "n78", "rsrp": rsrp, "sinr": 3}}
             for pid, rsrp in ((0, "loud"), ("p1", "BIG"), ("p2", "HUGE"))]
    text = json.dumps({"type": "FeatureCollection", "features": feats}, indent=1)
    (tmp_path / "p.geojson").write_text(text.replace('"BIG"', "-1" + "0" * 400).replace('"HUGE"', "-1" + "0" * 5000))
    r = cli("plan", str(intent), "--network", str(tmp_path / "network.yaml"), "--out", str(tmp_path / "p"), db=db)
    assert r.exit_code == 2, r.stdout
    starts = [i for i, ln in enumerate((tmp_path / "p.geojson").read_text().splitlines(), 1) if ln == "  {"]
    assert f"p.geojson:{starts[0]}: rsrp 'loud' of point 0 is not a number" in r.stderr, r.stderr
    for i, pid in ((1, "p1"), (2, "p2")):
        assert f"p.geojson:{starts[i]}: rsrp -1000" in r.stderr and f"of point {pid} is out of range" in r.stderr
        assert f"at: features[{i}].properties.rsrp" in r.stderr, r.stderr
    assert "fix: a number from -156 to -31" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "p").exists()
    assert not any(rows for t, rows in snapshot(db).items() if t != "alembic_version")


def test_a_geojson_feature_s_own_id_names_its_point(area, tmp_path, db):
    """RFC 7946 gives a feature's identifier as its "id" member, beside properties: such points
    were refused as having no id."""
    intent = _variant(area, tmp_path, measurements="p.geojson")
    feat = {"type": "Feature", "id": "f1", "geometry": {"type": "Point", "coordinates": [121.4, 31.2]},
            "properties": {"band": "n78", "rsrp": "loud", "sinr": 3}}
    (tmp_path / "p.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [feat]}))
    r = cli("plan", str(intent), "--network", str(tmp_path / "network.yaml"), db=db)
    assert r.exit_code == 2, r.stdout
    assert "rsrp 'loud' of point f1 is not a number" in r.stderr and "has no id" not in r.stderr, r.stderr


def _copy_with_a_pci_of_a_neighbour(out: Path, m: dict, dest: Path) -> str:
    """The plan's configs with one new cell's PCI set to its first neighbour's (on its own gNB)."""
    shutil.copytree(out, dest)
    dev = next(d for d in sorted(m["devices"]) if d.startswith("pole-"))
    text = (dest / f"{dev}.xml").read_text()
    root = etree.fromstring(text.encode())
    first = root.find(".//cellcu:NRCellCU", NS)
    target = dict(p.split("=", 1) for p in first.findtext("rel:NRCellRelation/rel:attributes/rel:adjacentNRCellRef",
                                                          namespaces=NS).split(","))
    if "ExternalNRCellCU" in target:
        theirs = root.find(f"nrnet:NRNetwork/xcp:ExternalGNBCUCPFunction[xcp:id='{target['ExternalGNBCUCPFunction']}']"
                           f"/xcell:ExternalNRCellCU[xcell:id='{target['ExternalNRCellCU']}']", NS)
        new = theirs.findtext("xcell:attributes/xcell:nRPCI", namespaces=NS)
    else:
        new = root.find(f".//celldu:NRCellDU[celldu:id='{target['NRCellCU']}']", NS).findtext(
            "celldu:attributes/celldu:nRPCI", namespaces=NS)
    cell = root.find(".//celldu:NRCellDU", NS).find("celldu:attributes/celldu:nRPCI", NS)
    cell.text = new
    (dest / f"{dev}.xml").write_text(etree.tostring(root, encoding="unicode"))
    return dev


def test_the_checker_and_the_cross_check_catch_a_pci_copied_from_a_neighbour(filled, area, tmp_path):
    from orchestrator.services import coverage_checks

    out, m, _ = filled
    dev = _copy_with_a_pci_of_a_neighbour(out, m, tmp_path / "broken")
    with pytest.raises(AssertionError):
        _check_region(tmp_path / "broken", m, area)
    facts = {d: {"coverage": coverage_checks.facts("gnb", etree.parse(str(tmp_path / "broken" / f"{d}.xml")))}
             for d in m["devices"]}
    found = [p.message for p in coverage_checks.check(facts)]
    assert any(msg.startswith(f"PCI collision: {dev} cell CELL-1") for msg in found), found
    # the planned configs pass the same cross-check
    facts = {d: {"coverage": coverage_checks.facts("gnb", etree.parse(str(out / f"{d}.xml")))} for d in m["devices"]}
    assert coverage_checks.check(facts) == []


def test_the_cross_check_catches_a_wrong_nrtci_and_an_nr_cell_identity_held_twice(filled):
    """A relation whose nRTCI is not its target's NR cell identity, and two gNBs given one gNB id
    (so their cells share NR cell identities), each named with device and cell."""
    from orchestrator.services import coverage_checks

    out, m, _ = filled
    trees = {d: etree.parse(str(out / f"{d}.xml")) for d in m["devices"]}
    a, b = sorted(m["services"]["weak-spots"]["resources"]["new-sites"])[:2]
    rel = trees[a].find(".//rel:NRCellRelation", NS)
    rel_id = rel.findtext("rel:id", namespaces=NS)
    rel.find("rel:attributes/rel:nRTCI", NS).text = "7"
    b_id = trees[b].find(".//du:GNBDUFunction/du:attributes/du:gNBId", NS)
    b_id.text = trees[a].findtext(".//du:GNBDUFunction/du:attributes/du:gNBId", namespaces=NS)
    found = [p.message for p in coverage_checks.check(
        {d: {"coverage": coverage_checks.facts("gnb", t)} for d, t in trees.items()})]
    assert any(msg.startswith(f"{a}: cell CELL-1's relation to ") and "carries nRTCI 7; that cell's NR cell identity"
               in msg for msg in found), (rel_id, found)
    assert any(msg.startswith("NR cell identity ") and f"{a} CELL-1" in msg and f"{b} CELL-1" in msg
               for msg in found), found


def test_a_later_fill_counts_the_cells_an_older_fill_planned(filled, area, tmp_path):
    """Over the same points, a second fill starts where the first ended and needs no cell."""
    import yaml

    out, m, _ = filled
    doc = yaml.safe_load((area / "fill.yaml").read_text())
    doc["metadata"]["name"] = "second-look"
    doc["spec"]["candidate"] = [dict(c, name=c["name"] + "-b") for c in doc["spec"]["candidate"]]
    (area / "second.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    r = cli("plan", str(area / "second.yaml"), "--out", str(tmp_path / "p"), db=f"sqlite:///{area.parent}/store.db")
    assert r.exit_code == 0, r.stderr
    res = json.loads((tmp_path / "p" / "manifest.json").read_text())["services"]["second-look"]["resources"]
    first = m["services"]["weak-spots"]["resources"]
    assert res["before"] == first["after"] and res["new-cells"] == {} and res["reached"]


def test_a_later_fill_adding_cells_on_an_older_fill_s_new_site_keeps_its_gnb_id(filled, area, tmp_path):
    """A stricter fill over the same candidates wants more sectors on poles the first fill made
    sites of: those cells join the site under the gNB id the first fill gave it (its neighbours'
    relations carry it), where each fill once numbered the pole for itself."""
    import yaml

    out, m, _ = filled
    db = tmp_path / "store.db"
    with sqlite3.connect(area.parent / "store.db") as src, sqlite3.connect(db) as dst:
        src.backup(dst)  # the first fill's store as it stands (with what its write-ahead log holds)
    doc = yaml.safe_load((area / "fill.yaml").read_text())
    doc["metadata"]["name"] = "stricter"
    doc["spec"]["target"].update(rsrp=-95, share=99)
    (area / "stricter.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    r = cli("plan", str(area / "stricter.yaml"), "--out", str(tmp_path / "p"), db=f"sqlite:///{db}")
    assert r.exit_code == 0, r.stderr
    first = m["services"]["weak-spots"]["resources"]["new-cells"]
    ids = {c["gnb"]: c["gnb-id"] for c in first.values()}
    cells = json.loads((tmp_path / "p" / "manifest.json").read_text())["services"]["stricter"]["resources"]["new-cells"]
    shared = {n: c for n, c in cells.items() if c["gnb"] in ids}
    assert shared, "the stricter fill should add cells on the first fill's sites"
    assert all(c["gnb-id"] == ids[c["gnb"]] for c in shared.values()), shared


def test_a_later_fill_s_new_site_named_as_an_older_fill_s_but_elsewhere_is_refused(filled, area, tmp_path):
    """Same name, same pole: more sectors on the older fill's site. Same name elsewhere would put
    the new cells on that gNB, with coordinates 2 km from it: refused, naming both places."""
    import yaml

    out, m, _ = filled
    db = tmp_path / "store.db"
    with sqlite3.connect(area.parent / "store.db") as src, sqlite3.connect(db) as dst:
        src.backup(dst)
    first = m["services"]["weak-spots"]["resources"]["new-sites"]
    doc = yaml.safe_load((area / "fill.yaml").read_text())
    doc["metadata"]["name"] = "elsewhere"
    moved = next(i for i, c in enumerate(doc["spec"]["candidate"]) if c["name"] in first)
    doc["spec"]["candidate"][moved]["latitude"] += 0.02
    (area / "elsewhere.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    before = snapshot(f"sqlite:///{db}")
    r = cli("plan", str(area / "elsewhere.yaml"), db=f"sqlite:///{db}")
    name = doc["spec"]["candidate"][moved]["name"]
    assert r.exit_code == 2, r.stdout + r.stderr
    assert f"fill weak-spots plans the new site {name} at" in r.stderr, r.stderr
    assert f"at: spec.candidate[{moved}].name" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert snapshot(f"sqlite:///{db}") == before


@pytest.mark.parametrize("name, content, expect", [
    ("../outside.csv", None, "lies outside the intent's folder"),
    ("/etc/passwd", None, "lies outside the intent's folder"),
    ("folder.csv", "DIR", "cannot read the measurements file"),
    ("nul.csv", b"id,latitude,longitude,band,rsrp\np1,31.2,121.4,n78,-100\x00\n", "holds NUL bytes"),
    ("latin1.csv", "id,latitude,longitude,band,rsrp\np\xe9,31.2,121.4,n78,-100\n".encode("latin-1"),
     "is not UTF-8 text"),
    ("broken.geojson", b'{"type": "FeatureCollection", "features": [', "broken.geojson:1: the GeoJSON cannot be read"),
])
def test_a_measurements_file_that_cannot_be_used_is_refused(area, tmp_path, db, name, content, expect):
    sub = tmp_path / "intent"
    sub.mkdir()
    intent = _variant(area, sub, measurements=name)
    if content == "DIR":
        (sub / name).mkdir()
    elif content is not None:
        (sub / name).write_bytes(content)
    (tmp_path / "outside.csv").write_text((area / "points.csv").read_text())
    r = cli("plan", str(intent), "--network", str(sub / "network.yaml"), db=db)
    assert r.exit_code == 2, r.stdout
    assert expect in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert "at: spec.measurements" in r.stderr or name.endswith(".geojson")  # a problem inside it: its own line
    assert "root:" not in r.stderr  # nothing of /etc/passwd is echoed


def test_a_pci_clash_already_on_air_is_refused_naming_the_cells(area, tmp_path, db):
    intent = _variant(area, tmp_path)
    rows = (tmp_path / "cells.csv").read_text().splitlines()
    first, second = rows[1].split(","), rows[2].split(",")  # two sectors of gnb-00001: neighbours
    second[9] = first[9]
    rows[2] = ",".join(second)
    (tmp_path / "cells.csv").write_text("\n".join(rows) + "\n")
    r = cli("plan", str(intent), "--network", str(tmp_path / "network.yaml"), db=db)
    assert r.exit_code == 2, r.stdout
    assert (f"on air, cells gnb-00001-1 and gnb-00001-2 are neighbours with the same PCI {first[9]}"
            in r.stderr), r.stderr
    assert "network.yaml" in r.stderr and "at: spec.radio" in r.stderr and "fix: give one of them another PCI" in r.stderr


def test_an_area_keeps_only_the_points_inside_it(area, tmp_path, db):
    rows = list(csv.DictReader((area / "points.csv").open()))
    west = sum(float(r["longitude"]) < 121.45 for r in rows)
    corners = [{"latitude": 31.0, "longitude": 121.3}, {"latitude": 31.4, "longitude": 121.3},
               {"latitude": 31.4, "longitude": 121.45}, {"latitude": 31.0, "longitude": 121.45}]
    intent = _variant(area, tmp_path, area=corners)
    r = cli("plan", str(intent), "--network", str(tmp_path / "network.yaml"), "--out", str(tmp_path / "p"), db=db)
    assert r.exit_code == 0, r.stderr
    res = json.loads((tmp_path / "p" / "manifest.json").read_text())["services"]["weak-spots"]["resources"]
    assert 0 < west < 2000 and res["points"] == west


def test_an_area_with_crossing_edges_is_refused_at_its_corner(area, tmp_path, db):
    """Corners out of order make a bow tie, with no single inside: refused, naming the edges."""
    corners = [{"latitude": 31.0, "longitude": 121.3}, {"latitude": 31.4, "longitude": 121.45},
               {"latitude": 31.4, "longitude": 121.3}, {"latitude": 31.0, "longitude": 121.45}]
    intent = _variant(area, tmp_path, area=corners)
    r = cli("plan", str(intent), "--network", str(tmp_path / "network.yaml"), db=db)
    assert r.exit_code == 2, r.stdout
    assert "the area's edges cross: corners 1-2 and 3-4" in r.stderr, r.stderr
    assert "at: spec.area[2]" in r.stderr and "fix: give the corners in order" in r.stderr
    assert snapshot(db)["intents"] == []  # nothing kept


def test_points_on_an_area_s_edge_are_inside_it_either_way_round():
    import numpy as np

    from orchestrator.radio.geo import crossing, inside

    square = np.array([[0, 0], [100, 0], [100, 100], [0, 100]], float)
    pts = np.array([[50, 50], [100, 50], [0, 0], [50, 100], [100.5, 50], [50, -0.5]], float)
    for poly in (square, square[::-1]):
        assert inside(poly, pts).tolist() == [True, True, True, True, False, False]
        assert crossing(poly) is None
    assert crossing(square[[0, 2, 1, 3]]) == (0, 2)  # a bow tie


def test_new_sites_without_a_free_gnb_id_are_refused(area, tmp_path, db):
    intent = _variant(area, tmp_path)
    net = tmp_path / "network.yaml"
    net.write_text(net.read_text().replace("last: 4000", "last: 1001"))  # 1000..1166 are on air
    r = cli("plan", str(intent), "--network", str(net), db=db)
    assert r.exit_code == 2, r.stdout
    assert "new site pole-1-1 needs a gNB id, and none of radio.gnb-id 1000..1001 is free" in r.stderr, r.stderr
    # (a container's place is its first key's line)
    at = next(i for i, ln in enumerate(net.read_text().splitlines(), 1) if "first: 1000" in ln)
    assert f"{net}:{at}: new site" in r.stderr and "at: spec.radio.gnb-id" in r.stderr, r.stderr


def test_plan_as_json_names_the_fills_files(area, db):
    r = cli("plan", str(area / "fill.yaml"), "--network", str(area / "network.yaml"), "--format", "json", db=db)
    assert r.exit_code == 0, r.stderr
    svc = json.loads(r.stdout)["services"][0]
    assert svc["artifacts"] == ["map.png", "new-cells.csv", "report.json"] and svc["resources"]["reached"]


def test_deleting_a_fill_keeps_what_gnbs_on_air_ran_before_it(area, tmp_path):
    """A fill renders each gNB it touches whole, the cells on air with its own: deleting it
    leaves the gNBs on air with no service, and their edits would delete everything (the cells
    on air went off air). Where the device ran that before fullbars first configured it, the plan
    is refused and says how to get it back; a new site of the fill, which fullbars made, goes."""
    from orchestrator.plan.pipeline import plan
    from orchestrator.errors import FullbarsError
    from orchestrator.network.model import load_network
    from orchestrator.resources.store import DeviceConfigRow, Store, TransactionRow, TxDeviceRow

    for on_air_before in (False, True):
        store = Store(f"sqlite:///{tmp_path}/{on_air_before}.db")
        first = plan(store, str(area / "network.yaml"), [str(area / "fill.yaml")])
        new_sites = {d.device for d in first.devices} - set(load_network(str(area / "network.yaml")).devices)
        assert new_sites and len(new_sites) < len(first.devices)  # the fill adds sites and cells on air
        with store.transaction() as s:  # as a committed transaction records it
            s.add(TransactionRow(id="tx-fill", target="env:production", kind="apply", state="committed"))
            for d in first.devices:
                top = etree.fromstring(d.intended.encode())[0]
                before = (f"<data>{etree.tostring(top, encoding='unicode')}</data>"
                          if on_air_before and d.device not in new_sites else "<data/>")
                s.add(TxDeviceRow(tx="tx-fill", device=d.device, kind=d.kind, state="confirmed", before=before))
                s.add(DeviceConfigRow(environment="env:production", device=d.device, kind=d.kind, config=d.intended,
                                      digest=""))
        if not on_air_before:
            gone = plan(store, None, delete=["weak-spots"], environment="env:production")
            assert {d.device for d in gone.devices} == {d.device for d in first.devices}
            continue
        with pytest.raises(FullbarsError) as e:
            plan(store, None, delete=["weak-spots"], environment="env:production")
        said = e.value.render()
        assert "which the device ran before fullbars first configured it" in said and "fullbars rollback TX" in said
        on_air = {d.device for d in first.devices} - new_sites
        assert all(f"{g}: no service is left on it" in said for g in on_air), said
        assert not any(f"{g}: no service" in said for g in new_sites), said


def test_a_changed_fill_that_no_longer_wants_a_new_site_takes_it_off_the_air(area, tmp_path):
    """A new site the fill made, applied, then left out when the fill changes (its candidate
    withdrawn): the site is in the plan with an empty config whose edit deletes what it was
    given. It was left out of the plan: its cells stayed on air, which no record kept any more."""
    import yaml

    from orchestrator.network.model import load_network
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import DeviceConfigRow, Store, TransactionRow, TxDeviceRow

    store = Store(f"sqlite:///{tmp_path}/store.db")
    first = plan(store, str(area / "network.yaml"), [str(area / "fill.yaml")])
    new_sites = sorted({d.device for d in first.devices} - set(load_network(str(area / "network.yaml")).devices))
    with store.transaction() as s:  # as a committed transaction records it
        s.add(TransactionRow(id="tx-fill", target="env:production", kind="apply", state="committed"))
        for d in first.devices:
            s.add(TxDeviceRow(tx="tx-fill", device=d.device, kind=d.kind, state="confirmed", before="<data/>"))
            s.add(DeviceConfigRow(environment="env:production", device=d.device, kind=d.kind, config=d.intended,
                                  digest=""))
    doc = yaml.safe_load((area / "fill.yaml").read_text())
    dropped = new_sites[0]
    doc["spec"]["candidate"] = [c for c in doc["spec"]["candidate"] if c["name"] != dropped]
    changed = area / "fill-without-a-site.yaml"  # beside the measurements it names
    changed.write_text(yaml.safe_dump(doc))
    try:
        again = {d.device: d for d in plan(store, None, [str(changed)], environment="env:production").devices}
    finally:
        changed.unlink()
    assert dropped in again, sorted(again)
    assert etree.fromstring(again[dropped].intended.encode()).find("*") is None
    assert 'operation="delete"' in again[dropped].edit and f"<id>{dropped}</id>" in again[dropped].edit


def test_new_measurements_make_the_fill_a_changed_one(area, tmp_path, db):
    """The fill's text is the same, its measurements are not (a new drive test): the plan says
    the fill changes. It said "0 to create, 0 to change" while its gNBs' edits changed."""
    intent = _variant(area, tmp_path)
    r = cli("plan", str(intent), "--network", str(tmp_path / "network.yaml"), db=db)
    assert r.exit_code == 0, r.stderr
    r = cli("plan", str(intent), "--format", "json", db=db)
    assert [s["action"] for s in json.loads(r.stdout)["services"]] == ["unchanged"]
    rows = (tmp_path / "points.csv").read_text().splitlines()
    (tmp_path / "points.csv").write_text("\n".join(rows[:len(rows) // 2]) + "\n")  # half the points, measured again
    r = cli("plan", str(intent), "--format", "json", db=db)
    assert r.exit_code == 0, r.stderr
    shown = json.loads(r.stdout)
    assert [s["action"] for s in shown["services"]] == ["update"] and shown["summary"]["create"] == 1, shown["summary"]


@pytest.mark.parametrize("change, said", [
    (lambda r: [*r[:4], "-70", "20", r[6]], "of the measured points meet the target already: the fill adds no cell"),
    (lambda r: [r[0], f"{float(r[1]) + 5:.7f}", *r[2:]], "km from the nearest gNB on air"),  # another area's
])
def test_a_fill_that_can_do_nothing_says_why(area, tmp_path, db, change, said):
    """Every point good already, or the points far from the radio network (another area's, or
    latitude and longitude swapped where both stay in range): the fill is planned and says why
    it adds nothing useful. It said only "reaches 0.0%", or nothing at all."""
    intent = _variant(area, tmp_path)
    rows = list(csv.reader((tmp_path / "points.csv").read_text().splitlines()))
    with (tmp_path / "points.csv").open("w", newline="") as f:
        csv.writer(f).writerows([rows[0]] + [change(r) for r in rows[1:]])
    r = cli("plan", str(intent), "--network", str(tmp_path / "network.yaml"), db=db)
    assert r.exit_code == 0, r.stderr
    assert said in r.stderr and "warning: weak-spots:" in r.stderr, r.stderr


def test_a_radio_area_of_no_cells_or_a_negative_seed_is_refused_and_writes_nothing(tmp_path):
    for args, said in ((("--cells", "0"), "--cells and --points must be at least 1"),
                       (("--seed", "-1"), "--seed -1 is negative")):  # (a traceback, and an empty folder)
        r = cli("network", "radio-area", str(tmp_path / "area"), *args, db=None)
        assert r.exit_code == 2 and said in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert not (tmp_path / "area").exists()


def test_a_fill_and_its_measurements_go_through_a_change_request(tmp_path):
    """The server takes a change's intents by file name: a fill's measurements file beside it is
    data it reads, not an intent (it was refused: 'file name not allowed'). Data alone is no
    change."""
    import httpx

    from server_helpers import make_users, running_server

    d = tmp_path / "area"
    r = cli("network", "radio-area", str(d), "--cells", "60", "--points", "300", "--seed", "5", db=None)
    assert r.exit_code == 0, r.stderr
    fill = (d / "fill.yaml").read_text()
    data = {n: (d / n).read_text() for n in ("points.csv",)}
    assert "points.csv" in fill
    with running_server(tmp_path, "--network", str(d / "network.yaml")) as (url, admin_pw, _):
        with httpx.Client(timeout=120) as client:
            t = make_users(client, url, admin_pw, people={"eve": ["engineer"]}, machines={})
            eve = {"Authorization": f"Bearer {t['eve']}"}
            r = client.post(url + "api/changes", headers=eve, json={"title": "data only", "target": "production",
                                                                   "intents": data})
            assert r.status_code == 422 and "no intent given, only data files" in r.text, r.text
            r = client.post(url + "api/changes", headers=eve, json={"title": "fill", "target": "production",
                                                                   "intents": {"fill.yaml": fill, **data}})
            assert r.status_code == 201, r.text
            assert "weak-spots" in client.get(url + f"api/changes/{r.json()['id']}", headers=eve).text
