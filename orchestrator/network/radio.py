"""The radio network on air (the network description's `radio`): gNB sites and cells, written
inline or imported from CSV files, checked row by row (file, line, column, fix). Cells are kept
as columns so a network of 60,000 sites costs arrays, not objects."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from orchestrator.errors import Problem
from orchestrator.netconf import NETCONF_PORT
from orchestrator.radio.bands import BANDS, arfcn_in_band, arfcn_mhz

SITE_COLUMNS = ("name", "gnb-id", "latitude", "longitude", "height")
CELL_COLUMNS = ("name", "gnb", "cell-local-id", "azimuth", "tilt", "band", "arfcn", "bandwidth", "power", "pci", "tac")
NCI_BITS = 36


@dataclass
class Gnb:
    name: str
    kind: str
    gnb_id: int
    latitude: float
    longitude: float
    height: float
    address: str | None = None
    port: int = NETCONF_PORT


@dataclass
class RadioNetwork:
    mcc: str = "001"
    mnc: str = "01"
    gnb_id_length: int = 22
    environment: str = "uma"
    pci_range: tuple[int, int] = (0, 1007)
    gnb_id_range: tuple[int, int] = (1, 2 ** 22 - 1)
    gnbs: dict[str, Gnb] = field(default_factory=dict)
    cells: dict[str, list] = field(default_factory=lambda: {c: [] for c in CELL_COLUMNS})

    def __len__(self) -> int:
        return len(self.cells["name"])

    def column(self, name: str) -> np.ndarray:
        return np.asarray(self.cells[name])

    def nci(self, gnb_id: int, local_id: int) -> int:
        """The NR cell identity (TS 38.300 8.2): gNB id in the leading gnb-id-length bits."""
        return (gnb_id << (NCI_BITS - self.gnb_id_length)) | local_id


class _Rows:
    """Checks rows (inline entries or CSV lines) into the radio network, collecting problems."""

    def __init__(self, radio: RadioNetwork, problems: list[Problem]):
        self.radio, self.problems = radio, problems
        self.gnb_ids: dict[int, str] = {}
        self.cell_ids: set[tuple[str, int]] = set()
        self.cell_names: set[str] = set()
        self.sites_unread = False

    def bad(self, where: dict, column: str, message: str, fix: str) -> None:
        self.problems.append(Problem(message, file=where["file"], line=where.get("line"),
                                     path=where["path"](column), fix=fix))

    def number(self, row, where, column, kind=float, lo=None, hi=None, default=None):
        raw = row.get(column)
        if raw in (None, ""):
            if default is None:
                self.bad(where, column, f"{column} is missing", f"give the {column}")
            return default
        try:
            v = kind(raw)
        except (TypeError, ValueError):
            self.bad(where, column, f"{column} {str(raw)!r} is not a {'whole ' if kind is int else ''}number",
                     f"write the {column} as a number" + (f" from {lo} to {hi}" if lo is not None else ""))
            return None
        if (lo is not None and v < lo) or (hi is not None and v > hi) or v != v:
            self.bad(where, column, f"{column} {raw} is out of range", f"give a value from {lo} to {hi}")
            return None
        return v

    def site(self, row: dict, where: dict, devices: dict, kind: str = "gnb-3gpp") -> None:
        name = (row.get("name") or "").strip()
        if not name:
            return self.bad(where, "name", "a site has no name", "give every site a name")
        r = self.radio
        gid = self.number(row, where, "gnb-id", int, 0, 2 ** r.gnb_id_length - 1)
        lat = self.number(row, where, "latitude", float, -90, 90)
        lon = self.number(row, where, "longitude", float, -180, 180)
        h = self.number(row, where, "height", float, 1.6, 300, default=25.0)
        if name in devices or name in r.gnbs:
            return self.bad(where, "name", f"device name {name} is used twice", "give every device its own name")
        if gid is not None and gid in self.gnb_ids:
            return self.bad(where, "gnb-id", f"gNB id {gid} of {name} is already {self.gnb_ids[gid]}'s",
                            "give every gNB its own id")
        if None in (gid, lat, lon, h):
            return None
        self.gnb_ids[gid] = name
        r.gnbs[name] = Gnb(name, kind, gid, lat, lon, h, row.get("address") or None,
                           int(row.get("port") or NETCONF_PORT))

    def cell(self, row: dict, where: dict) -> None:
        r = self.radio
        name = (row.get("name") or "").strip()
        if not name:
            return self.bad(where, "name", "a cell has no name", "give every cell a name")
        gnb = (row.get("gnb") or "").strip()
        band = BANDS.get((row.get("band") or "").strip())
        local = self.number(row, where, "cell-local-id", int, 0, 2 ** (NCI_BITS - r.gnb_id_length) - 1)
        az = self.number(row, where, "azimuth", float, 0, 360)
        tilt = self.number(row, where, "tilt", float, -10, 30, default=6.0)
        power = self.number(row, where, "power", float, 0, 60, default=46.0)
        pci = self.number(row, where, "pci", int, 0, 1007)
        tac = self.number(row, where, "tac", int, 0, 2 ** 24 - 1)
        ok = None not in (local, az, tilt, power, pci, tac)
        if gnb not in r.gnbs:
            if not self.sites_unread:  # else every cell would say so: the sites file's problem says it once
                self.bad(where, "gnb", f"cell {name} names gNB {gnb!r}, which is not a site of the radio network",
                         "add the site (radio.gnb or the sites CSV) or correct the name")
            ok = False
        if band is None:
            self.bad(where, "band", f"band {row.get('band')!r} is not one fullbars plans",
                     "bands: " + ", ".join(BANDS))
            return None
        arfcn = self.number(row, where, "arfcn", int, 0, 3279165, default=band.default_arfcn)
        bw = self.number(row, where, "bandwidth", int, 5, 100, default=band.default_bw_mhz)
        if arfcn is not None and not arfcn_in_band(band, arfcn):
            self.bad(where, "arfcn", f"ARFCN {arfcn} ({arfcn_mhz(arfcn):.2f} MHz) is outside band {band.name} "
                     f"({band.dl_mhz[0]:g}-{band.dl_mhz[1]:g} MHz)", f"leave it out for {band.default_arfcn}")
            ok = False
        if bw is not None and bw not in band.bandwidths_mhz:
            self.bad(where, "bandwidth", f"band {band.name} has no {bw} MHz channel",
                     "channels: " + ", ".join(map(str, band.bandwidths_mhz)) + " MHz")
            ok = False
        if name in self.cell_names:
            self.bad(where, "name", f"cell name {name} is used twice", "give every cell its own name")
            ok = False
        if ok and (gnb, local) in self.cell_ids:
            self.bad(where, "cell-local-id", f"gNB {gnb} has two cells with cell-local-id {local}",
                     "number a gNB's cells apart")
            ok = False
        if not ok or arfcn is None or bw is None:
            return None
        self.cell_names.add(name)
        self.cell_ids.add((gnb, local))
        for k, v in zip(CELL_COLUMNS, (name, gnb, local, az % 360, tilt, band.name, arfcn, bw, power, pci, tac)):
            r.cells[k].append(v)


def load_radio(spec: dict | None, file: str, devices: dict, problems: list[Problem]) -> RadioNetwork:
    """spec: the network description's radio container (None: no radio network)."""
    radio = RadioNetwork()
    if not spec:
        return radio
    radio.mcc, radio.mnc = spec["plmn"]["mcc"], spec["plmn"]["mnc"]
    radio.gnb_id_length, radio.environment = spec["gnb-id-length"], spec["environment"]
    radio.pci_range = (spec["pci"]["first"], spec["pci"]["last"])
    first, last, most = spec["gnb-id"]["first"], spec["gnb-id"]["last"], 2 ** radio.gnb_id_length - 1
    radio.gnb_id_range = (first, min(last, most))
    if radio.pci_range[0] > radio.pci_range[1]:
        problems.append(Problem("the PCI range is empty", file=file, path="spec.radio.pci",
                                fix="make last at least first"))
    # Else a new site of a fill is refused for want of a free id, naming a range that has none.
    if first > last:
        problems.append(Problem(f"the gNB id range {first}..{last} is empty", file=file, path="spec.radio.gnb-id",
                                fix="make last at least first"))
    elif first > most:
        problems.append(Problem(f"the gNB id range starts at {first}, above {most}, the largest gNB id of "
                                f"{radio.gnb_id_length} bits", file=file, path="spec.radio.gnb-id.first",
                                fix=f"make first at most {most}, or lengthen gnb-id-length"))
    rows = _Rows(radio, problems)
    for g in spec.get("gnb", []):
        m = g.get("management", {})
        rows.site({"name": g["name"], "gnb-id": g["gnb-id"], "latitude": g["latitude"], "longitude": g["longitude"],
                   "height": g["height"], "address": m.get("address"), "port": m.get("port", NETCONF_PORT)},
                  {"file": file, "path": lambda col, n=g["name"]: f"spec.radio.gnb[{n}].{col}"}, devices, g["kind"])
    imports = spec.get("import", {})
    base = Path(file).parent
    if imports.get("sites"):
        rows.sites_unread = not _read_csv(base / imports["sites"], file, "sites", SITE_COLUMNS, problems,
                                          lambda row, where: rows.site(row, where, devices))
    for c in spec.get("cell", []):
        rows.cell({k: c.get(k) for k in CELL_COLUMNS},
                  {"file": file, "path": lambda col, n=c["name"]: f"spec.radio.cell[{n}].{col}"})
    if imports.get("cells"):
        _read_csv(base / imports["cells"], file, "cells", CELL_COLUMNS, problems, rows.cell)
    return radio


MAX_CSV_PROBLEMS = 50  # a wrong file must not bury the screen


def _read_csv(path: Path, network_file: str, what: str, columns, problems: list[Problem], take) -> bool:
    """Whether the file could be read as CSV (its rows' own problems aside)."""
    shown = str(path)
    try:
        fh = open(path, newline="", encoding="utf-8-sig")  # spreadsheets save UTF-8 CSV with a BOM
    except OSError as e:
        problems.append(Problem(f"cannot read the {what} CSV {shown}: {e.strerror}", file=network_file,
                                path=f"spec.radio.import.{what}", fix="give a path relative to the network file"))
        return False
    before = len(problems)
    with fh:
        try:
            reader = csv.DictReader(fh)
            head = [h.strip() for h in (reader.fieldnames or [])]
            need = [c for c in columns if c not in head and c not in ("tilt", "arfcn", "bandwidth", "power", "height")]
            if need:
                problems.append(Problem(f"the {what} CSV lacks the column(s) {', '.join(need)}", file=shown, line=1,
                                        fix="first line: " + ",".join(columns)))
                return False
            reader.fieldnames = head
            for row in reader:
                if len(problems) - before >= MAX_CSV_PROBLEMS:
                    problems.append(Problem(f"more problems in the {what} CSV are not shown", file=shown,
                                            fix="mend the ones above first"))
                    return True
                if None in row or any(v is None for v in row.values()):
                    fields = len(head) + len(row.get(None) or []) - sum(v is None for v in row.values())
                    problems.append(Problem(f"line has {fields} fields, not {len(head)}", file=shown,
                                            line=reader.line_num,
                                            fix="one value per column, in the header's order"))
                    continue
                take(row, {"file": shown, "line": reader.line_num, "path": lambda col: col})
        except (UnicodeDecodeError, csv.Error) as e:
            problems.append(Problem(f"the {what} CSV cannot be read: {e}", file=shown,
                                    fix="save it as UTF-8 comma-separated text"))
            return False
    return True
