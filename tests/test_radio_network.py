"""The network description's radio network: gNB sites and cells inline or imported from CSV,
every bad row refused with file, line, column and fix (exit 2, nothing stored)."""

from __future__ import annotations

import shutil

import pytest

from conftest import cli, snapshot
from orchestrator.network.generate_radio import generate
from orchestrator.network.model import load_network

ANY_INTENT = "examples/intents/acme-hq.yaml"  # the network is read, and refused, before intents matter


@pytest.fixture(scope="module")
def area(tmp_path_factory):
    d = tmp_path_factory.mktemp("area")
    generate(d, n_cells=60, n_points=50, seed=3)
    return d


def test_csv_import_gives_sites_cells_and_gnb_devices(area):
    net = load_network(area / "network.yaml")
    assert len(net.radio.gnbs) == 20 and len(net.radio) == 60
    g = net.radio.gnbs["gnb-00003"]
    assert g.gnb_id == 1002 and net.devices["gnb-00003"].kind == "gnb-3gpp"
    assert net.devices["gnb-00003"].role == "gnb"
    i = net.radio.cells["name"].index("gnb-00003-2")
    assert net.radio.cells["gnb"][i] == "gnb-00003" and net.radio.cells["cell-local-id"][i] == 2
    assert net.radio.cells["arfcn"][i] == 632628 and net.radio.cells["bandwidth"][i] == 100
    # NR cell identity: 22 bits of gNB id, 14 of cell id
    assert net.radio.nci(1002, 2) == (1002 << 14) | 2


def test_csv_files_saved_with_a_byte_order_mark_are_read(area, tmp_path):
    """As a spreadsheet saves UTF-8 CSV: the mark was read into the first column's name, and the
    file refused for lacking the column name."""
    shutil.copy(area / "network.yaml", tmp_path / "network.yaml")
    for f in ("sites.csv", "cells.csv"):
        (tmp_path / f).write_bytes(b"\xef\xbb\xbf" + (area / f).read_bytes())
    net = load_network(tmp_path / "network.yaml")
    assert len(net.radio.gnbs) == 20 and len(net.radio) == 60


def test_inline_sites_and_cells_beside_the_csv(area, tmp_path):
    for f in ("sites.csv", "cells.csv"):
        shutil.copy(area / f, tmp_path / f)
    (tmp_path / "network.yaml").write_text((area / "network.yaml").read_text().replace(
        "    import:", """    gnb:
    - {name: roof-1, gnb-id: 3000, latitude: 31.2, longitude: 121.45, height: 32.5}
    cell:
    - {name: roof-1-a, gnb: roof-1, cell-local-id: 1, azimuth: 45, band: n28, pci: 7, tac: 100}
    import:"""))
    net = load_network(tmp_path / "network.yaml")
    i = net.radio.cells["name"].index("roof-1-a")
    assert net.radio.cells["arfcn"][i] == 156100 and net.radio.cells["bandwidth"][i] == 20  # the band's defaults
    assert net.radio.gnbs["roof-1"].height == 32.5 and len(net.radio) == 61


@pytest.mark.parametrize("edit, line, message, path", [
    (lambda rows: rows.__setitem__(3, rows[3].replace(",n78,", ",n99,")), 4, "band 'n99' is not one", "band"),
    (lambda rows: rows.__setitem__(5, rows[5].replace(",632628,", ",100,")), 6, "ARFCN 100 (0.50 MHz) is outside band n78",
     "arfcn"),
    (lambda rows: rows.__setitem__(2, rows[2].replace("gnb-00001,", "gnb-0000x,", 1)), 3, "names gNB 'gnb-0000x'",
     "gnb"),
    (lambda rows: rows.__setitem__(7, rows[7].replace(",6,n78", ",six,n78")), 8, "tilt 'six' is not a number", "tilt"),
    (lambda rows: rows.__setitem__(9, rows[9].rsplit(",", 1)[0]), 10, "line has 10 fields, not 11", None),
    (lambda rows: rows.__setitem__(4, rows[4].replace(",100,46,", ",33,46,")), 5, "band n78 has no 33 MHz channel",
     "bandwidth"),
])
def test_a_bad_cell_row_is_refused_with_its_line(area, tmp_path, db, edit, line, message, path):
    for f in ("sites.csv", "network.yaml"):
        shutil.copy(area / f, tmp_path / f)
    rows = (area / "cells.csv").read_text().splitlines()
    edit(rows)
    (tmp_path / "cells.csv").write_text("\n".join(rows) + "\n")
    r = cli("plan", ANY_INTENT, "--network", str(tmp_path / "network.yaml"), db=db)
    assert r.exit_code == 2, r.stdout + r.stderr
    assert f"cells.csv:{line}: " in r.stderr and message in r.stderr, r.stderr
    if path:
        assert f"at: {path}" in r.stderr
    assert "fix: " in r.stderr and "Traceback" not in r.stderr
    assert not any(rows for t, rows in snapshot(db).items() if t != "alembic_version")  # nothing stored


@pytest.mark.parametrize("ids, message, path", [
    ("{first: 4000, last: 1000}", "the gNB id range 4000..1000 is empty", "spec.radio.gnb-id"),
    ("{first: 5000000, last: 6000000}", "the gNB id range starts at 5000000, above 4194303, the largest gNB id of "
     "22 bits", "spec.radio.gnb-id.first"),
])
def test_a_gnb_id_range_with_no_id_is_refused(area, tmp_path, db, ids, message, path):
    """As an empty PCI range is: it was taken, and a fill's new site then refused for want of a
    free id in it."""
    for f in ("sites.csv", "cells.csv"):
        shutil.copy(area / f, tmp_path / f)
    text = (area / "network.yaml").read_text()
    (tmp_path / "network.yaml").write_text(text.replace("gnb-id:\n      first: 1000\n      last: 4000",
                                                        f"gnb-id: {ids}"))
    r = cli("plan", ANY_INTENT, "--network", str(tmp_path / "network.yaml"), db=db)
    assert r.exit_code == 2, r.stdout + r.stderr
    line = next(i for i, ln in enumerate((tmp_path / "network.yaml").read_text().splitlines(), 1) if "gnb-id:" in ln)
    assert f"network.yaml:{line}: {message}" in r.stderr and f"at: {path}" in r.stderr, r.stderr
    assert "fix: make" in r.stderr and "Traceback" not in r.stderr
    assert not any(rows for t, rows in snapshot(db).items() if t != "alembic_version")


def test_a_bad_site_row_and_a_missing_file(area, tmp_path, db):
    shutil.copy(area / "network.yaml", tmp_path / "network.yaml")
    rows = (area / "sites.csv").read_text().splitlines()
    rows[2] = rows[2].replace(",1001,", ",1000,")  # the gNB id of line 2 again
    (tmp_path / "sites.csv").write_text("\n".join(rows) + "\n")
    r = cli("plan", ANY_INTENT, "--network", str(tmp_path / "network.yaml"), db=db)
    assert r.exit_code == 2
    assert "sites.csv:3: gNB id 1000 of gnb-00002 is already gnb-00001's" in r.stderr
    assert "cannot read the cells CSV" in r.stderr and "at: spec.radio.import.cells" in r.stderr


def test_an_inline_cell_of_an_unknown_gnb_is_refused_at_its_path(area, tmp_path, db):
    for f in ("sites.csv", "cells.csv"):
        shutil.copy(area / f, tmp_path / f)
    (tmp_path / "network.yaml").write_text((area / "network.yaml").read_text().replace(
        "    import:", """    cell:
    - {name: lost-1, gnb: roof-9, cell-local-id: 1, azimuth: 45, band: n78, arfcn: 632628, bandwidth: 15, pci: 7,
       tac: 100}
    import:"""))
    r = cli("plan", ANY_INTENT, "--network", str(tmp_path / "network.yaml"), db=db)
    assert r.exit_code == 2
    assert "cell lost-1 names gNB 'roof-9', which is not a site of the radio network" in r.stderr
    assert "at: spec.radio.cell[lost-1].gnb" in r.stderr
    assert "band n78 has no 15 MHz channel" in r.stderr and "at: spec.radio.cell[lost-1].bandwidth" in r.stderr


def test_an_unreadable_sites_file_is_one_problem_not_one_per_cell(area, tmp_path, db):
    shutil.copy(area / "network.yaml", tmp_path / "network.yaml")
    shutil.copy(area / "cells.csv", tmp_path / "cells.csv")
    (tmp_path / "sites.csv").write_bytes(b"\x89PNG\x00\x01\xff\xfe")
    r = cli("plan", ANY_INTENT, "--network", str(tmp_path / "network.yaml"), db=db)
    assert r.exit_code == 2
    assert "sites.csv: the sites CSV cannot be read" in r.stderr and r.stderr.count("error: ") == 1, r.stderr
