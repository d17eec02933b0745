"""The schema a device serves: its models plus the server's own (ietf-netconf with the
capabilities devsim implements as features, netconf-monitoring, yang-library), an RFC 8525
yang-library that lists every module and submodule with its features and deviations, and the
text of each for get-schema (RFC 6022). Locations are left out: the schemas are fetched over
NETCONF, and server file paths mean nothing to a client."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import libyang
from lxml import etree

from orchestrator.models.context import ModelSet, model_set

YL = "urn:ietf:params:xml:ns:yang:ietf-yang-library"
DS = "urn:ietf:params:xml:ns:yang:ietf-datastores"
DATASTORES = ("running", "candidate", "startup", "operational")

# what devsim itself implements, as YANG modules and features
SERVER_MODULES = (
    ("ietf-netconf", ("candidate", "confirmed-commit", "rollback-on-error", "validate", "startup", "xpath")),
    ("ietf-netconf-monitoring", ()),
    ("ietf-netconf-with-defaults", ()),
    ("ietf-netconf-nmda", ("with-defaults",)),
    ("ietf-netconf-notifications", ()),
    ("ietf-yang-library", ()),
    ("ietf-datastores", ()),
)


def device_models(kind_models: ModelSet) -> ModelSet:
    """The device kind's models with the server's own beside them."""
    have = {name for name, _ in kind_models.specs}
    return model_set(kind_models.specs + tuple(s for s in SERVER_MODULES if s[0] not in have))


@functools.lru_cache(maxsize=None)
def _library(models: ModelSet) -> tuple[str, dict[tuple[str, str], str]]:
    """(yang-library and modules-state XML, {(name, revision): file} of every module and submodule)."""
    tree = models.ctx.get_yanglib_data(content_id(models))
    try:
        text = tree.print_mem("xml", with_siblings=True, pretty=False)
    finally:
        tree.free()
    root = etree.fromstring(f"<x>{text}</x>".encode())
    files = {}
    for loc in root.xpath("//*[local-name()='location' or (local-name()='schema' and ../*[local-name()='revision'])]"):
        parent = loc.getparent()
        key = (parent.findtext(f"{{{loc.nsmap[None]}}}name"), parent.findtext(f"{{{loc.nsmap[None]}}}revision") or "")
        if (loc.text or "").startswith("file://"):
            files[key] = loc.text[len("file://"):]
        parent.remove(loc)
    lib = root.find(f"{{{YL}}}yang-library")
    schema = lib.find(f"{{{YL}}}schema")
    anchor = lib.find(f"{{{YL}}}content-id")
    for ds in DATASTORES:
        el = etree.Element(f"{{{YL}}}datastore", nsmap={"ds": DS})
        etree.SubElement(el, f"{{{YL}}}name").text = f"ds:{ds}"
        etree.SubElement(el, f"{{{YL}}}schema").text = schema.findtext(f"{{{YL}}}name")
        anchor.addprevious(el)
    return "".join(etree.tostring(c, encoding="unicode") for c in root), files


def yang_library(models: ModelSet) -> str:
    return _library(models)[0]


@functools.lru_cache(maxsize=None)
def content_id(models: ModelSet) -> str:
    """Changes whenever the set of modules, revisions or features does (RFC 8525 content-id)."""
    text = "".join(f"{m.name()}@{_revision(m)};" for m in _modules(models))
    text += "".join(f"{n}:{','.join(f)};" for n, f in models.specs)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _modules(models: ModelSet):
    import _libyang

    idx = _libyang.ffi.new("uint32_t *")
    while True:
        m = _libyang.lib.ly_ctx_get_module_iter(models.ctx.cdata, idx)
        if m == _libyang.ffi.NULL:
            return
        yield libyang.Module(models.ctx, m)


def _revision(m) -> str:
    revs = [r.date() for r in m.revisions()]
    return revs[0] if revs else ""


@functools.lru_cache(maxsize=None)
def served(models: ModelSet) -> tuple[tuple[str, str, str], ...]:
    """(name, revision, namespace) of every module and submodule the yang-library lists (a
    submodule with its module's namespace): what get-schema serves."""
    lib = etree.fromstring(f"<x>{_library(models)[0]}</x>".encode()).find(f"{{{YL}}}yang-library")
    out = []
    for m in lib.iter(f"{{{YL}}}module", f"{{{YL}}}import-only-module"):
        ns = m.findtext(f"{{{YL}}}namespace")
        for e in (m, *m.iter(f"{{{YL}}}submodule")):
            out.append((e.findtext(f"{{{YL}}}name"), e.findtext(f"{{{YL}}}revision") or "", ns))
    return tuple(dict.fromkeys(out))


def schema_text(models: ModelSet, identifier: str, version: str | None) -> str | None:
    """A module's or submodule's YANG text: its file as written, or libyang's print of a module
    built into libyang (yang, ietf-yang-library, ...)."""
    for (name, rev), path in sorted(_library(models)[1].items()):
        if name == identifier and (not version or version == rev):
            return Path(path).read_text(encoding="utf-8")
    for m in _modules(models):
        if m.name() == identifier and (not version or version == _revision(m)):
            return m.print_mem("yang")
    return None
