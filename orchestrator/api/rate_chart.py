"""The lab evidence's throughput as a bar chart drawn on the server (inline SVG, no JavaScript):
per service and direction, the rate the lab measured beside the rate the intent asks for, on one
scale. Here only the geometry; templates/rate_chart.html draws it."""

from __future__ import annotations

WIDTH = 360  # px of the longest bar
ROW = 18  # px per bar
GAP = 8  # px between one line/direction and the next


def bars(services: list[dict]) -> dict | None:
    """services: the rows `fullbars lab verify` records (measured_*_bps, expected_*_bps). None
    when no row has a rate to draw (services that check something else)."""
    rows = []
    for s in services:
        for way in ("down", "up"):
            target = s.get(f"expected_{way}_bps")
            if not target:  # no rate (or out of service, as planned): nothing to compare
                continue
            rows.append({"label": f"{s['service']} {way}", "target": target,
                         "measured": s.get(f"measured_{way}_bps") or 0, "ok": bool(s.get("ok"))})
    if not rows:
        return None
    top = max(max(r["target"], r["measured"]) for r in rows)
    y = 0
    for r in rows:
        r.update(y=y, target_w=round(WIDTH * r["target"] / top, 1), measured_w=round(WIDTH * r["measured"] / top, 1),
                 measured_mbps=r["measured"] / 1e6, target_mbps=r["target"] / 1e6)
        y += 2 * ROW + GAP
    return {"rows": rows, "width": WIDTH, "row": ROW, "height": y}
