"""CoverageFill: measured weak and blind spots of one band filled with new cells on candidate
sites, planned over the radio network on air (orchestrator.coverage, orchestrator.radio): the
cells chosen, their identities, PCIs and neighbour relations both ways, rendered into every gNB
the fill touches (the new cells' and their neighbours')."""

from __future__ import annotations

import hashlib
from pathlib import Path

from orchestrator.errors import FullbarsError, Problem
from orchestrator.radio.bands import BANDS
from orchestrator.services import coverage_checks
from orchestrator.services.base import CrossCheck, Placement, Service

SCRATCH = "coverage-fill"
SHOWN_REASONS = 5
SAME_PLACE = 1e-6  # degrees (about 0.1 m): a candidate named as an older fill's site stands on that pole


def _crossed(area: list[dict], intent) -> list[Problem]:
    """An area whose edges cross (corners out of order) has no single inside, and one whose
    corners lie on a line has none at all: refused."""
    import numpy as np

    from orchestrator.radio.geo import LocalFrame, crossing

    lat, lon = [float(a["latitude"]) for a in area], [float(a["longitude"]) for a in area]
    xy = LocalFrame.around(lat, lon).xy(lat, lon)
    edges = crossing(xy)
    if edges is None:
        x, y = xy[:, 0], xy[:, 1]
        if abs(float(x @ np.roll(y, -1) - y @ np.roll(x, -1))) / 2 < 1.0:  # under a square metre
            return [Problem("the area has no surface: its corners lie on one line", **intent.where("spec.area"),
                            fix="give the corners of a polygon around the area, in order")]
        return []
    i, j = edges
    n = len(area)
    return [Problem(f"the area's edges cross: corners {i + 1}-{i % n + 2} and {j + 1}-{(j + 1) % n + 1}",
                    **intent.where(f"spec.area[{j}]"),
                    fix="give the corners in order around the area (each edge meets only its neighbours)")]


FAR_KM = 50.0  # farther than any cell's reach: the points are not where the radio network is


def _far_from_air(pts, radio) -> float | None:
    """The distance in km from the middle of the points to the nearest gNB on air, when that is
    more than FAR_KM; None when it is not (or there is nothing to measure from)."""
    import numpy as np

    from orchestrator.radio.geo import EARTH_M

    if not len(pts) or not radio.gnbs:
        return None
    lat, lon = np.radians(np.median(pts.lat)), np.radians(np.median(pts.lon))
    glat = np.radians([g.latitude for g in radio.gnbs.values()])
    glon = np.radians([g.longitude for g in radio.gnbs.values()])
    h = np.sin((glat - lat) / 2) ** 2 + np.cos(lat) * np.cos(glat) * np.sin((glon - lon) / 2) ** 2
    km = float(np.min(2 * EARTH_M / 1000 * np.arcsin(np.sqrt(np.minimum(h, 1.0)))))
    return km if km > FAR_KM else None


def _measurements(spec: dict, file: str) -> tuple[Path, Path | None]:
    """(the intent's folder, its measurements file): None for a file outside that folder, which
    an intent may not make fullbars read (and echo in its errors)."""
    home = Path(file).parent.resolve()
    path = (home / spec["measurements"]).resolve()
    return home, path if path.is_relative_to(home) else None


class CoverageFill(Service):
    kind = "CoverageFill"
    template = "coverage-fill"
    module = "fullbars-coverage-fill"
    top = "coverage-fill"
    cross_check = CrossCheck("coverage", coverage_checks.facts, coverage_checks.across)
    makes_devices = True  # its new sites

    def identity(self, spec: dict) -> dict:
        return {"band": spec["band"], "measurements": spec["measurements"]}

    # --- rules -------------------------------------------------------------------------
    def check(self, intent, ctx) -> list[Problem]:
        radio, spec, out = ctx.network.radio, intent.spec, []
        if not radio.gnbs:
            out.append(Problem("the network description has no radio network to fill", **intent.where("kind"),
                               fix="describe the gNBs and cells on air under radio (or import them from CSV)"))
        if spec["band"] not in BANDS:
            out.append(Problem(f"band {spec['band']!r} is not one fullbars plans", **intent.where("spec.band"),
                               fix="bands: " + ", ".join(BANDS)))
        area = spec.get("area") or []
        if 0 < len(area) < 3:
            out.append(Problem("an area needs at least 3 corners", **intent.where("spec.area"),
                               fix="give the polygon's corners in order, or leave area out for the points' extent"))
        elif area:
            out += _crossed(area, intent)
        serves = False
        for i, c in enumerate(spec["candidate"]):
            at = f"spec.candidate[{i}]"
            for j, b in enumerate(c["bands"]):
                if b not in BANDS:
                    out.append(Problem(f"candidate {c['name']}: band {b!r} is not one fullbars plans",
                                       **intent.where(f"{at}.bands[{j}]"), fix="bands: " + ", ".join(BANDS)))
            serves |= spec["band"] in c["bands"]
            if c.get("gnb"):
                if c["gnb"] not in radio.gnbs:
                    out.append(Problem(f"candidate {c['name']} names gNB {c['gnb']!r}, which is not on air",
                                       **intent.where(f"{at}.gnb"),
                                       fix="name a gNB of the network's radio, or give latitude and longitude "
                                           "for a new site"))
                given = [k for k in ("latitude", "longitude") if k in c]
                if given:  # the cells would stand at the gNB's site, the position written unused
                    out.append(Problem(f"candidate {c['name']} names gNB {c['gnb']!r} and gives its "
                                       f"{' and '.join(given)} too", **intent.where(f"{at}.{given[0]}"),
                                       fix="leave out latitude and longitude to add cells to the gNB on air "
                                           "(at its position), or leave out gnb for a new site at this place"))
            else:
                if "latitude" not in c or "longitude" not in c:
                    out.append(Problem(f"candidate {c['name']} has no position", **intent.where(at),
                                       fix="give latitude and longitude, or gnb: a gNB on air at this place"))
                if c["name"] in ctx.network.devices:
                    out.append(Problem(f"candidate {c['name']} would be a new gNB, but a device of that name exists",
                                       **intent.where(f"{at}.name"),
                                       fix=f"rename the candidate, or write gnb: {c['name']} to add cells to it"))
        if not serves and spec["band"] in BANDS:
            out.append(Problem(f"no candidate may carry band {spec['band']}", **intent.where("spec.candidate"),
                               fix=f"add {spec['band']} to a candidate's bands"))
        pts, problems = self._points(intent, ctx)
        out += problems
        if not problems and pts is not None and not len(pts):
            out.append(Problem(f"the measurements hold no point on band {spec['band']}",
                               **intent.where("spec.measurements"), fix="measure the band, or fill another band"))
        return out

    def input_digest(self, spec: dict, file: str) -> str | None:
        path = _measurements(spec, file)[1]
        if path is None:
            return None  # refused when placed
        try:
            return hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            return None  # refused when placed, naming the file

    def _points(self, intent, ctx):
        key = (SCRATCH, "points", intent.name)
        if key not in ctx.scratch:
            from orchestrator.coverage.measurements import read_points

            home, path = _measurements(intent.spec, intent.file)
            where = intent.where("spec.measurements")
            if path is None:
                ctx.scratch[key] = (None, [Problem(f"the measurements file {intent.spec['measurements']} lies "
                                                   f"outside the intent's folder {home}", **where,
                                                   fix="put the measurements beside the intent file, or below it")])
            else:
                ctx.scratch[key] = read_points(path, intent.spec["band"], where)
        return ctx.scratch[key]

    def wave_order(self, resources: dict, devices: list[str]) -> list[str]:
        # New sites first: nothing serves through them yet, so a canary there risks no one. Then
        # the gNBs on air that get new cells, then those that only gain relations to them.
        new = [g for g in resources.get("new-sites", []) if g in devices]
        grown = sorted({c["gnb"] for c in resources.get("new-cells", {}).values()} - set(new))
        return new + [g for g in grown if g in devices] + sorted(set(devices) - set(new) - set(grown))

    # --- plan --------------------------------------------------------------------------
    def _plan(self, intent, ctx):
        """This fill, after every older fill's new cells are on air (cached per plan)."""
        key = (SCRATCH, "plan", intent.name)
        if key not in ctx.scratch:
            from orchestrator.coverage.fill import plan_fill

            others = [c for it in self._older(intent, ctx) for c in self._plan(it, ctx).new_cells]
            pts, problems = self._points(intent, ctx)
            if problems:
                raise FullbarsError(problems)
            ctx.scratch[key] = plan_fill(ctx.network.radio, intent.spec, pts, others)
        return ctx.scratch[key]

    def _older(self, intent, ctx) -> list:
        """The fills planned before this one (by when they were first planned, then by name)."""
        return sorted((it for it in ctx.intents.values() if it.kind == self.kind and it.name != intent.name
                       and (ctx.created.get(it.name, "~"), it.name) < (ctx.created.get(intent.name, "~"), intent.name)),
                      key=lambda it: (ctx.created.get(it.name, "~"), it.name))

    def _sites_taken(self, intent, ctx) -> list[Problem]:
        """A new site named as an older fill's new site is that site (more sectors on the same
        pole, under its gNB id): one at another place would put its cells on that gNB, wherever its
        own coordinates say. The network description does not know that site (not on air), so the
        check against its devices does not see it."""
        sites = {c.gnb: (it.name, c.latitude, c.longitude) for it in self._older(intent, ctx)
                 for c in self._plan(it, ctx).new_cells if c.new_site}
        out = []
        for i, c in enumerate(intent.spec["candidate"]):
            if c.get("gnb") or c["name"] not in sites or "latitude" not in c or "longitude" not in c:
                continue
            fill, lat, lon = sites[c["name"]]
            if abs(float(c["latitude"]) - lat) > SAME_PLACE or abs(float(c["longitude"]) - lon) > SAME_PLACE:
                out.append(Problem(
                    f"candidate {c['name']} at {c['latitude']}, {c['longitude']} would be a new site, but fill {fill} "
                    f"plans the new site {c['name']} at {lat:g}, {lon:g}: its cells would join that gNB",
                    **intent.where(f"spec.candidate[{i}].name"),
                    fix=f"rename the candidate, or give it {c['name']}'s position to add sectors to that site"))
        return out

    def place(self, intent, ctx) -> Placement:
        from orchestrator.coverage import report, render_vars

        taken = self._sites_taken(intent, ctx)
        if taken:
            raise FullbarsError(taken)
        plan = self._plan(intent, ctx)
        net = ctx.network
        if not len(plan.ok_after):
            raise FullbarsError(Problem(f"none of the {len(self._points(intent, ctx)[0])} measured points lies inside "
                                        f"the area", **intent.where("spec.area"),
                                        fix="check the corners (latitude, longitude), or leave area out"))
        problems = [Problem(f"no PCI fits new cell {n} (every PCI is taken by a neighbour, a neighbour's "
                            f"neighbour or a co-sited cell)", **intent.where("spec.neighbours"),
                            fix="widen radio.pci in the network description, or ask for fewer neighbours")
                    for n in plan.unplaceable]
        problems += [Problem(f"on air, {c}", file=net.file, path="spec.radio",
                             fix="give one of them another PCI in the network description: the fill plans "
                                 "around the PCIs on air and cannot mend them")
                     for c in plan.clashes[:20]]
        lo, hi = net.radio.gnb_id_range
        problems += [Problem(f"new site {g} needs a gNB id, and none of radio.gnb-id {lo}..{hi} is free", file=net.file,
                             path="spec.radio.gnb-id", fix="widen the gNB id range in the network description")
                     for g in plan.no_gnb_id]
        if problems:
            raise FullbarsError(net.located(problems))
        for c in plan.new_cells:  # a new site is a new gNB: a device of this plan
            if c.new_site:
                net.add_made(c.gnb, "gnb-3gpp")
        devices = render_vars.by_gnb(plan, net.radio)
        warnings = []
        summary = report.summary(plan)
        if not plan.ok_after.mean() >= plan.target.share - 1e-9:
            reasons = report.reasons(plan)
            warnings.append(Problem(
                f"the fill reaches {summary['after']['share']}% of the points, not the {plan.target.share * 100:g}% "
                f"asked ({plan.stopped}); {len(plan.reasons)} points stay below target, for example: "
                + "; ".join(f"{pid}: {why}" for pid, why in reasons[:SHOWN_REASONS]),
                **intent.where("spec.target.share"),
                fix=f"see {intent.name}/report.json for every point; add candidates or raise the limits"))
        if not plan.new_cells and plan.ok_before.mean() >= plan.target.share - 1e-9:
            warnings.append(Problem(f"{summary['before']['share']}% of the measured points meet the target already: "
                                    f"the fill adds no cell", **intent.where("spec.measurements"),
                                    fix="nothing to fill here; delete this fill, or measure where coverage is weak"))
        far = _far_from_air(self._points(intent, ctx)[0], net.radio)
        if far is not None:
            warnings.append(Problem(f"the measured points lie {far:.0f} km from the nearest gNB on air",
                                    **intent.where("spec.measurements"),
                                    fix="check their coordinates: latitude and longitude swapped (GeoJSON gives "
                                        "longitude first), or another area's measurements"))
        for n in plan.relaxed:
            warnings.append(Problem(f"new cell {n} shares PCI mod 3 (or mod 30) with a cell of its own site or one of its "
                                    f"strongest neighbours: no PCI free of both was left", **intent.where("spec.neighbours"),
                                    fix="a site of more than 3 cells shares a mod 3 whatever the PCIs; else widen "
                                        "radio.pci in the network description"))
        return Placement(devices=devices, resources=summary, warnings=warnings,
                         artifacts=report.files(plan, intent.name))
