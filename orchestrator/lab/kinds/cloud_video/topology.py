"""The part of a plan's lab that cloud video needs: the OLT's link to the PE the cameras' S/C
pair rides (as a dedicated line's PON site has it), a camera host on a UNI of its own of the
line's ONU (labelled with the onu-v-enet it stands for, so the OLT's plane gives it the cameras'
chain and the CPE keeps the line's), and a host standing for the video platform on the PE's
platform port (one per port: a port carries one link)."""

from __future__ import annotations

from orchestrator.lab.kinds.broadband.plane import ONU_LABEL, UNI_LABEL
from orchestrator.lab.ifnames import port_if
from orchestrator.lab.kinds.dedicated.topology import SITE_LABEL

KIND = "CloudVideo"
CAMERA, PLATFORM = "camera", "platform"
PLATFORM_LABEL = "fullbars.platform"


def camera_host(service: str) -> str:
    return f"cam-{service}"


def platform_host(platform: str) -> str:
    return f"vp-{platform}"


def add(manifest: dict, nodes: dict, links: list, hosts: bool) -> None:
    used = {e for ln in links for e in ln["endpoints"]}

    def link(a: str, b: str) -> None:
        if a not in used and b not in used:  # a port carries one link
            used.update((a, b))
            links.append({"endpoints": [a, b]})

    unis: dict[str, int] = {}
    for svc, s in sorted(manifest["services"].items()):
        r = s.get("resources", {})
        if s.get("kind") != KIND or "sites" not in r:  # a plan of an older release: plan it again
            continue
        cam, plat = r["sites"]["cameras"], r["sites"][r["platform-site"]]
        if cam["olt"] in nodes and cam["pe"] in nodes:
            link(f"{cam['olt']}:{port_if(cam['olt-interface'])}", f"{cam['pe']}:{port_if(cam['pe-interface'])}")
        if not hosts:
            continue
        if cam["olt"] in nodes:
            unis[cam["olt"]] = unis.get(cam["olt"], 0) + 1
            host = camera_host(svc)
            nodes[host] = {"kind": "linux", "image": "fullbars/host:latest",
                           "labels": {"fullbars.kind": "host", "fullbars.role": CAMERA, "fullbars.service": svc,
                                      SITE_LABEL: "cameras", ONU_LABEL: cam["onu-serial"], UNI_LABEL: cam["onu-venet"]}}
            link(f"{cam['olt']}:uni{unis[cam['olt']]}", f"{host}:eth1")
        host = platform_host(r["platform-site"])
        if plat["pe"] in nodes and host not in nodes:
            nodes[host] = {"kind": "linux", "image": "fullbars/host:latest",
                           "labels": {"fullbars.kind": "host", "fullbars.role": PLATFORM,
                                      PLATFORM_LABEL: r["platform-site"], SITE_LABEL: r["platform-site"]}}
            link(f"{plat['pe']}:{port_if(plat['port'])}", f"{host}:eth1")
