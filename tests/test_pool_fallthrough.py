"""A line takes its block from the first eligible pool with room, not just the first eligible pool."""

from __future__ import annotations

import json

from conftest import cli, snapshot

NETWORK = """\
apiVersion: fullbars.io/v1
kind: Network
metadata:
  name: two-pools
spec:
  olt:
  - name: olt-a
    site: lab
    uplink:
    - name: uplink-1
      bng: bng-a
      bng-interface: to-olt-a
    pon-port:
    - name: 1/1/1
  bng:
  - name: bng-a
  pool:
  - name: public-small
    type: public-static
    prefix: 192.0.2.0/29
  - name: public-other-bng
    type: public-static
    prefix: 198.51.100.0/29
    bng: [bng-b]
  - name: public-second
    type: public-static
    prefix: 203.0.113.0/28
  bng:
  - name: bng-a
  - name: bng-b
"""


def _line(tmp_path, name: str, serial: str, pool: str | None = None):
    f = tmp_path / f"{name}.yaml"
    extra = f"\n    pool: {pool}" if pool else ""
    f.write_text(f"""apiVersion: fullbars.io/v1
kind: BusinessBroadband
metadata:
  name: {name}
spec:
  customer: C {name}
  site: lab
  onu:
    serial: {serial}
  addressing:
    mode: static{extra}
""")
    return str(f)


def _network(tmp_path, text=NETWORK):
    f = tmp_path / "network.yaml"
    # bng-b exists only so that a pool reserved for another BNG is skipped, not tried
    f.write_text(text.replace("  bng:\n  - name: bng-a\n  pool:", "  pool:"))
    return str(f)


def test_a_full_first_pool_falls_through_to_the_next_with_room(tmp_path, db):
    net = _network(tmp_path)
    first = cli("plan", _line(tmp_path, "first", "TEST00000001"), "--network", net, "--format", "json", db=db)
    assert first.exit_code == 0, first.stderr
    assert json.loads(first.stdout)["services"][0]["resources"]["address-pool"] == "public-small"
    second = cli("plan", _line(tmp_path, "second", "TEST00000002"), "--format", "json", db=db)
    assert second.exit_code == 0, second.stderr
    res = json.loads(second.stdout)["services"][0]["resources"]
    assert res["address-pool"] == "public-second" and res["address-block"] == "203.0.113.0/29"

    # the first pool has room again: the second line keeps the block it holds
    assert cli("delete", "first", db=db).exit_code == 0
    again = cli("plan", str(tmp_path / "second.yaml"), "--format", "json", db=db)
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["services"][0]["resources"]["address-block"] == "203.0.113.0/29"


def test_when_every_pool_is_full_the_error_names_every_pool_tried(tmp_path, db):
    net = _network(tmp_path, NETWORK.replace("203.0.113.0/28", "203.0.113.0/29"))
    for i, name in enumerate(("first", "second"), 1):
        r = cli("plan", _line(tmp_path, name, f"TEST0000000{i}"), "--network", net, db=db)
        assert r.exit_code == 0, r.stderr
    before = snapshot(db)
    r = cli("plan", _line(tmp_path, "third", "TEST00000003"), db=db)
    assert r.exit_code == 2 and "Traceback" not in r.stderr
    assert "public-small (192.0.2.0/29" in r.stderr and "public-second (203.0.113.0/29" in r.stderr
    assert "public-other-bng" not in r.stderr  # reserved for another BNG: not eligible, not tried
    assert f"{tmp_path}/third.yaml:11: " in r.stderr and "at: spec.addressing\n" in r.stderr
    assert snapshot(db) == before
