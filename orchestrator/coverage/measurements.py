"""Measured points (CSV or GeoJSON): id, latitude, longitude, band, RSRP, SINR, when measured.
A point measured on several bands has a row (or feature) per band. Every bad row is reported
with its file, line (CSV; GeoJSON: the line its feature begins at, and the feature), the column
and a fix."""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from orchestrator.errors import Problem

COLUMNS = ("id", "latitude", "longitude", "band", "rsrp", "sinr", "measured-at")
RANGES = {"latitude": (-90, 90), "longitude": (-180, 180), "rsrp": (-156, -31), "sinr": (-23, 40)}
MAX_PROBLEMS = 50
MAX_BYTES = 512 * 1024 * 1024


@dataclass
class Points:
    ids: list[str] = field(default_factory=list)
    lat: list[float] = field(default_factory=list)
    lon: list[float] = field(default_factory=list)
    rsrp: list[float] = field(default_factory=list)  # nan: not measured
    sinr: list[float] = field(default_factory=list)
    measured: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    def arrays(self):
        return (np.asarray(self.lat, float), np.asarray(self.lon, float), np.asarray(self.rsrp, float),
                np.asarray(self.sinr, float))

    def keep(self, mask) -> "Points":
        idx = np.flatnonzero(mask)
        return Points(*([getattr(self, f)[i] for i in idx] for f in self.__dataclass_fields__))


def read_points(path: Path, band: str, where: dict) -> tuple[Points, list[Problem]]:
    """The points of one band. where: file/line/path of the intent's `measurements` leaf, for
    problems with the file as a whole."""
    problems: list[Problem] = []
    shown = str(path)
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise IsADirectoryError
        if size > MAX_BYTES:
            return Points(), [Problem(f"the measurements file {shown} holds {size} bytes", **where,
                                      fix=f"split it: at most {MAX_BYTES // 2**20} MiB per file")]
        raw = path.read_bytes()
    except OSError as e:
        return Points(), [Problem(f"cannot read the measurements file {shown}: {e.strerror or 'not a file'}", **where,
                                  fix="give a CSV or GeoJSON file, relative to the intent file")]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        return Points(), [Problem(f"the measurements file {shown} is not UTF-8 text (byte {e.start})", **where,
                                  fix="save it as UTF-8")]
    if "\x00" in text:
        return Points(), [Problem(f"the measurements file {shown} holds NUL bytes", **where,
                                  fix="give a CSV or GeoJSON text file")]
    reader = _geojson if path.suffix.lower() in (".geojson", ".json") else _csv
    pts = Points()
    seen: dict[str, int] = {}
    for row, loc in reader(text, shown, problems):
        if len(problems) >= MAX_PROBLEMS:
            problems.append(Problem("more problems in this file are not shown", file=shown,
                                    fix="mend the ones above first"))
            break
        _take(row, loc, band, pts, seen, problems)
    if reader is _geojson:
        _feature_lines(text, shown, problems)
    return pts, problems


_FEATURE = re.compile(r"features\[(\d+)\]")
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},]|-?[\d.]+(?:[eE][-+]?\d+)?|true|false|null')


def _feature_lines(text: str, shown: str, problems: list[Problem]) -> None:
    """Give a problem in features[i] the line where that feature begins (json keeps no lines):
    one pass over the document's tokens, made only when there are such problems."""
    want = {}
    for p in problems:
        m = _FEATURE.match(p.path or "") if p.file == shown and p.line is None else None
        if m:
            want.setdefault(int(m.group(1)), []).append(p)
    if not want:
        return
    depth, key, inside, expect, index = 0, None, False, False, 0
    line, counted = 1, 0
    for m in _TOKEN.finditer(text):
        tok = m.group()
        if inside and depth == 2 and expect and tok not in ",]}":
            expect = False
            if index in want:
                line += text.count("\n", counted, m.start())
                counted = m.start()
                for p in want.pop(index):
                    p.line = line
                if not want:
                    return
            index += 1
        if tok in "[{":
            depth += 1
            if tok == "[" and depth == 2 and key == '"features"' and not inside:
                inside, expect = True, True
        elif tok in "]}":
            depth -= 1
            if inside and depth < 2:
                return
        elif tok == ",":
            expect = inside and depth == 2
        elif depth == 1 and tok.startswith('"'):
            key = tok


def _csv(text: str, shown: str, problems: list[Problem]):
    reader = csv.DictReader(text.splitlines())
    try:
        head = [h.strip().lower() for h in (reader.fieldnames or [])]
    except csv.Error as e:
        problems.append(Problem(f"the CSV cannot be read: {e}", file=shown, line=1, fix="comma-separated text"))
        return
    need = [c for c in ("id", "latitude", "longitude", "band", "rsrp") if c not in head]
    if need:
        problems.append(Problem(f"the measurements CSV lacks the column(s) {', '.join(need)}", file=shown, line=1,
                                fix="first line: " + ",".join(COLUMNS)))
        return
    reader.fieldnames = head
    try:
        for row in reader:
            loc = {"file": shown, "line": reader.line_num}
            if None in row or any(v is None for v in row.values()):
                problems.append(Problem(f"the line does not have the {len(head)} fields of the header", **loc,
                                        fix="one value per column, in the header's order"))
                continue
            yield row, loc
    except csv.Error as e:
        problems.append(Problem(f"the CSV cannot be read: {e}", file=shown, line=reader.line_num,
                                fix="comma-separated text, quotes closed"))


def _geojson(text: str, shown: str, problems: list[Problem]):
    try:
        # Integers are kept as written, as the CSV's text is, for _take's float() to read: json's
        # int() refuses more than 4300 digits (a ValueError naming no place), and float() of a
        # huge int overflows, where float() of its text is an infinity _take refuses as out of range.
        doc = json.loads(text, parse_int=str)
    except (json.JSONDecodeError, RecursionError) as e:
        problems.append(Problem(f"the GeoJSON cannot be read: {getattr(e, 'msg', e)}", file=shown,
                                line=getattr(e, "lineno", None), fix="a GeoJSON FeatureCollection"))
        return
    feats = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(feats, list):
        problems.append(Problem("the GeoJSON is not a FeatureCollection", file=shown, path="features",
                                fix='{"type": "FeatureCollection", "features": [...]}'))
        return
    for i, f in enumerate(feats):
        loc = {"file": shown, "path": f"features[{i}]"}
        geom = f.get("geometry") if isinstance(f, dict) else None
        coords = geom.get("coordinates") if isinstance(geom, dict) and geom.get("type") == "Point" else None
        if not isinstance(coords, list) or len(coords) < 2:
            problems.append(Problem("the feature is not a Point", **loc,
                                    fix='"geometry": {"type": "Point", "coordinates": [longitude, latitude]}'))
            continue
        props = f.get("properties") if isinstance(f.get("properties"), dict) else {}
        row = {k: props.get(k) for k in COLUMNS}
        if row["id"] is None:  # RFC 7946 3.2: a feature's identifier is its own "id" member
            row["id"] = f.get("id")
        row["longitude"], row["latitude"] = coords[0], coords[1]
        yield row, loc


def _take(row: dict, loc: dict, band: str, pts: Points, seen: dict, problems: list[Problem]) -> None:
    def at(col):
        if "path" in loc:
            return {"file": loc["file"], "path": f"{loc['path']}.{'geometry' if col in ('latitude', 'longitude') else 'properties'}.{col}"}
        return {"file": loc["file"], "line": loc["line"], "path": col}

    pid = "" if row.get("id") is None else str(row.get("id")).strip()  # 0 (or false) is an id
    if not pid:
        problems.append(Problem("a point has no id", **at("id"), fix="give every point an id"))
        return
    vals = {}
    for col in ("latitude", "longitude", "rsrp", "sinr"):
        raw = row.get(col)
        if raw in (None, "") and col in ("sinr",):
            vals[col] = math.nan
            continue
        try:
            v = float(raw)
        except (TypeError, ValueError):
            problems.append(Problem(f"{col} {str(raw)!r} of point {pid} is not a number", **at(col),
                                    fix=f"a number from {RANGES[col][0]} to {RANGES[col][1]}"))
            return
        lo, hi = RANGES[col]
        if not lo <= v <= hi:
            problems.append(Problem(f"{col} {raw} of point {pid} is out of range", **at(col),
                                    fix=f"a number from {lo} to {hi}" + (" (dBm, as TS 38.133 reports it)"
                                                                          if col == "rsrp" else "")))
            return
        vals[col] = v
    when = str(row.get("measured-at") or "").strip()
    if when and _instant(when) is None:
        problems.append(Problem(f"measured-at {when!r} of point {pid} is not a date", **at("measured-at"),
                                fix="an ISO 8601 date or time, such as 2026-11-30 or 2026-11-30T14:05:00Z"))
        return
    if str(row.get("band") or "").strip().casefold() != band.casefold():  # TS 38.101 writes n78, drive tests N78
        return
    if pid in seen:
        problems.append(Problem(f"point {pid} is measured twice on band {band}", **at("id"),
                                fix="keep one row per point and band"))
        return
    seen[pid] = len(pts)
    pts.ids.append(pid)
    pts.lat.append(vals["latitude"])
    pts.lon.append(vals["longitude"])
    pts.rsrp.append(vals["rsrp"])
    pts.sinr.append(vals["sinr"])
    pts.measured.append(when)


def _instant(text: str) -> dt.datetime | None:
    """An ISO 8601 date or time as a drive test writes it (Z for UTC included), or None."""
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        return None
