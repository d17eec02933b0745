"""What devsim says about its own schema, checked by libyang against the standard models and by
fetching it back: yang-library 1.1 (RFC 8525), netconf-monitoring (RFC 6022), get-schema."""

from __future__ import annotations

import re

import pytest
from lxml import etree

from conformance.agents import DevsimAgent
from orchestrator.models.context import model_set

YL = "urn:ietf:params:xml:ns:yang:ietf-yang-library"
MON = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"
CHECKER = model_set((("ietf-yang-library", ()), ("ietf-netconf-monitoring", ()), ("ietf-datastores", ())))


@pytest.fixture(scope="module")
def olt(tmp_path_factory):
    a = DevsimAgent(tmp_path_factory.mktemp("yl"), kind="olt-bbf").start()
    yield a
    a.stop()


def _get(m, top: str, ns: str):
    return m.get(filter=("subtree", f'<{top} xmlns="{ns}"/>')).data_ele.find(f"{{{ns}}}{top}")


def _valid(*els) -> None:
    """Parse as state data with libyang: raises on anything the standard models do not allow."""
    text = "".join(etree.tostring(el, encoding="unicode") for el in els)
    tree = CHECKER.ctx.parse_data_mem(text, "xml", strict=True, validate_present=True)
    tree.free()


def test_yang_library_is_complete_valid_and_matches_the_hello(olt):
    m = olt.connect()
    try:
        lib = _get(m, "yang-library", YL)
        _valid(lib, _get(m, "modules-state", YL))  # one module: validated together
        cap = next(c for c in m.server_capabilities if c.startswith("urn:ietf:params:netconf:capability:yang-library:1.1"))
        assert f"content-id={lib.findtext(f'{{{YL}}}content-id')}" in cap
        assert lib.findtext(f"{{{YL}}}content-id")
        stores = {d.findtext(f"{{{YL}}}name").split(":")[-1] for d in lib.iter(f"{{{YL}}}datastore")}
        assert stores == {"running", "candidate", "startup", "operational"}
        modules = {mod.findtext(f"{{{YL}}}name"): mod for mod in lib.iter(f"{{{YL}}}module")}
        assert {"ietf-netconf", "ietf-netconf-monitoring", "ietf-yang-library", "bbf-xpon"} <= set(modules)
        nc_features = {f.text for f in modules["ietf-netconf"].iter(f"{{{YL}}}feature")}
        assert {"candidate", "confirmed-commit", "validate", "startup"} <= nc_features
        assert "bbf-xpon-base" in {s.findtext(f"{{{YL}}}name") for s in modules["bbf-xpon"].iter(f"{{{YL}}}submodule")}
        assert not list(lib.iter(f"{{{YL}}}location")), "server file paths are no locations for a client"
    finally:
        m.close_session()


def test_netconf_monitoring_is_valid_yang_data(olt):
    m = olt.connect()
    try:
        m.lock("candidate")
        mon = _get(m, "netconf-state", MON)
        _valid(mon)
        locked = mon.find(f".//{{{MON}}}locked-by-session")
        assert locked is not None and locked.text == str(m.session_id)
        m.unlock("candidate")
    finally:
        m.close_session()


def test_every_module_and_submodule_listed_and_advertised_is_served_by_get_schema(olt):
    m = olt.connect()
    try:
        mon = _get(m, "netconf-state", MON)
        listed = {(s.findtext(f"{{{MON}}}identifier"), s.findtext(f"{{{MON}}}version"))
                  for s in mon.iter(f"{{{MON}}}schema")}
        lib = _get(m, "yang-library", YL)
        in_library = {(e.findtext(f"{{{YL}}}name"), e.findtext(f"{{{YL}}}revision") or "")
                      for tag in ("module", "import-only-module", "submodule") for e in lib.iter(f"{{{YL}}}{tag}")}
        assert in_library <= listed
        hello = {(re.search(r"module=([^&]+)", c).group(1), (re.search(r"revision=([0-9-]+)", c) or [None, ""])[1])
                 for c in m.server_capabilities if "?module=" in c}
        assert hello <= listed
        for ident, version in sorted(listed):
            text = m.get_schema(ident, version=version or None).data
            kind = "submodule" if ident in {s.findtext(f"{{{YL}}}name") for s in lib.iter(f"{{{YL}}}submodule")} \
                else "module"
            assert re.match(rf"\s*(/\*.*?\*/\s*|//[^\n]*\n\s*)*{kind}\s+{re.escape(ident)}\s*\{{", text, re.S), ident
            if version:
                assert f"revision {version}" in text or f'revision "{version}"' in text, ident
    finally:
        m.close_session()


@pytest.mark.parametrize("kind", ["fttr", "olt-bbf", "pe-l3nm"])
def test_the_hello_lists_what_is_implemented_and_the_imports_that_have_nothing_to_implement(kind):
    """A NETCONF 1.0 client resolves the imports of what it fetches from the hello's modules alone
    (yangcli's autoload): the modules imported only for their definitions are listed, one revision
    each; a module imported only for its groupings but with data of its own (openconfig-wifi-mac:
    /ssids) is not, since the device does not implement that data."""
    from orchestrator.devices.registry import KINDS
    from orchestrator.devsim import state, yanglib

    models = yanglib.device_models(KINDS.get(kind).models)
    hello = state.announced_modules(models)
    names = [m.name for m in hello]
    assert len(names) == len(set(names)), "one revision per module"
    every = state.all_modules(models)
    implemented = {m.name for m in every if m.implemented}
    assert implemented <= set(names)
    imports_listed = [m for m in hello if not m.implemented]
    assert imports_listed, f"{kind}: no import-only module listed"
    assert all(m.definitions_only for m in imports_listed)
    for i, m in enumerate(hello):  # each after what it imports
        assert not set(m.imports) & set(names[i:]), m.name
    if kind == "fttr":
        assert "openconfig-extensions" in names and "openconfig-wifi-mac" not in names
    if kind == "olt-bbf":
        assert {"bbf-yang-types", "bbf-frame-processing"} <= set(names)
        inet = [m.revision for m in every if m.name == "ietf-inet-types"]
        assert len(inet) > 1 and next(m.revision for m in hello if m.name == "ietf-inet-types") == max(inet)
