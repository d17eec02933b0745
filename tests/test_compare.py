"""Is every intended value on the device (orchestrator/netconf/compare.py)."""

from __future__ import annotations

from lxml import etree

from orchestrator.netconf.compare import missing

NC = "urn:ietf:params:xml:ns:netconf:base:1.0"


def test_an_empty_intended_config_lacks_nothing():
    """A device whose every service was deleted is given an empty config; once it runs nothing,
    nothing it was given is missing (the commit of such a removal was taken for a lost one)."""
    assert missing(f'<config xmlns="{NC}"/>', etree.fromstring(f'<data xmlns="{NC}"/>')) == []


def test_a_value_the_device_lacks_is_named_by_its_path():
    intended = f'<config xmlns="{NC}"><system xmlns="urn:x"><name>a</name><mtu>9000</mtu></system></config>'
    running = etree.fromstring(f'<data xmlns="{NC}"><system xmlns="urn:x"><name>a</name></system></data>')
    assert missing(intended, running) == ["system/mtu"]
