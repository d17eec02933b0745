"""devsim at the protocol level, with raw bytes: RFC 6242 framing whatever the packet
boundaries, the hello as clients really send it, and RFC 6241's rpc-reply and rpc-error rules."""

from __future__ import annotations

import random
import re

import pytest

from conformance.agents import DevsimAgent
from conformance.raw import HELLO_10, HELLO_11, NC, RawClient, chunk
from orchestrator.devsim.framing import Framer, FramingError

GET_CONFIG = (f'<rpc message-id="7" xmlns="{NC}"><get-config><source><running/></source></get-config></rpc>').encode()


@pytest.fixture(scope="module")
def device(tmp_path_factory):
    a = DevsimAgent(tmp_path_factory.mktemp("proto"), kind="bng-ietf").start()
    yield a
    a.stop()


# --- framing, cut at every kind of place ----------------------------------------------------
def _split(stream: bytes, rng: random.Random) -> list[bytes]:
    cuts = sorted(rng.sample(range(1, len(stream)), rng.randint(0, min(12, len(stream) - 1))))
    return [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)])]


def _read(pieces: list[bytes], switch_after_hello: bool) -> list[bytes]:
    f, out = Framer(10_000), []
    for p in pieces:
        for msg in f.feed(p):
            out.append(msg)
            if msg == b"<hello/>" and switch_after_hello:
                f.chunked = True  # as the server does when the hello names base:1.1
    return out


def test_chunked_messages_are_found_whatever_the_packet_boundaries():
    stream = b"<hello/>]]>]]>" + b"\n#5\nabcde\n#12\nfghijklmnopq\n##\n" + b"\n#1\nx\n##\n"
    rng = random.Random(6242)
    for _ in range(400):
        pieces = _split(stream, rng)
        assert _read(pieces, True) == [b"<hello/>", b"abcdefghijklmnopq", b"x"], pieces
    assert _read([stream], True) == [b"<hello/>", b"abcdefghijklmnopq", b"x"]  # all in one read


def test_end_of_message_framing_whatever_the_packet_boundaries():
    stream = b"<hello/>]]>]]>\n<rpc a='1'/>]]>]]><rpc a='2'/>]]>]]>"
    rng = random.Random(4741)
    for _ in range(400):
        assert _read(_split(stream, rng), False) == [b"<hello/>", b"\n<rpc a='1'/>", b"<rpc a='2'/>"], stream


@pytest.mark.parametrize("bad", [b"\n#0\nx", b"\n#abc\n", b"\n#12345678901\n", b"\n#4294967296\n" + b"x" * 5,
                                 b"\n##\n", b"x\n#1\na\n##\n"])
def test_bad_chunk_headers_end_the_stream(bad):
    f = Framer(1 << 40)
    f.chunked = True
    with pytest.raises(FramingError):
        list(f.feed(bad))


# --- the hello as clients send it ---------------------------------------------------------
def test_hello_and_first_rpc_in_one_packet_base_1_1(device):
    c = RawClient(device, HELLO_11, chunk(GET_CONFIG))  # what OpenSSH's `ssh -s netconf` < file does
    r = c.reply()
    assert 'message-id="7"' in r and "<data" in r, r
    c.close()


def test_hello_and_first_rpc_in_one_packet_base_1_0(device):
    c = RawClient(device, HELLO_10, GET_CONFIG + b"]]>]]>")
    r = c.reply()
    assert 'message-id="7"' in r and "<data" in r, r
    c.close()


@pytest.mark.parametrize("hello", [HELLO_11, HELLO_10], ids=["base-1.1", "base-1.0"])
def test_line_break_before_the_xml_declaration_is_accepted(device, hello):
    # scrapli-netconf sends "\n<?xml ...?><hello ...": XML wants its declaration first
    c = RawClient(device, b'\n<?xml version="1.0" encoding="utf-8"?>' + hello)
    c.send(b'\n<?xml version="1.0" encoding="utf-8"?>' + GET_CONFIG)
    r = c.reply()
    assert "rpc-error" not in r and 'message-id="7"' in r and "<data" in r, r
    c.close()


def test_unreadable_hello_closes_the_session(device):
    c = RawClient(device, b"<hello xmlns='urn:ietf:params:xml:ns:netconf:base:1.0'><capabilities>]]>]]>")
    assert c.closed()


# --- rpc-reply and rpc-error as RFC 6241 spells them ----------------------------------------
def _tree(reply: str):
    from lxml import etree

    return etree.fromstring(reply.split("?>", 1)[-1].encode())


def test_every_rpc_attribute_comes_back_escaped_and_with_its_namespace(device):
    c = RawClient(device)
    c.send(f'<rpc message-id="a&amp;b&lt;&quot;" xmlns="{NC}" xmlns:ex="urn:example:app" ex:trace="t-1 &amp; 2">'
           "<get-config><source><running/></source></get-config></rpc>".encode())
    reply = _tree(c.reply())  # raises when the reply is not well-formed
    assert reply.get("message-id") == 'a&b<"'
    assert reply.get("{urn:example:app}trace") == "t-1 & 2"
    c.close()


def _error(reply: str) -> dict:
    """The first rpc-error's fields; error-path with its prefixes resolved, written with `if:` for
    ietf-interfaces whatever prefix the server chose (RFC 6241: an XPath in the element's scope)."""
    root = _tree(reply)
    err = root.find(f"{{{NC}}}rpc-error")
    assert err is not None, reply
    out = {etree_local(e): (e.text or "").strip() for e in err if len(e) == 0}
    path = err.find(f"{{{NC}}}error-path")
    if path is not None:
        names = {p: u for p, u in path.nsmap.items() if p}
        short = {"urn:ietf:params:xml:ns:yang:ietf-interfaces": "if"}

        def resolve(m):
            assert m.group(1) in names, f"prefix {m.group(1)} is not bound in error-path: {reply}"
            return short.get(names[m.group(1)], names[m.group(1)]) + ":"
        out["error-path"] = re.sub(r"([A-Za-z_][\w.-]*):(?=[A-Za-z_])", resolve, out["error-path"])
    info = err.find(f"{{{NC}}}error-info")
    out.update({f"info:{etree_local(e)}": (e.text or "").strip() for e in (info if info is not None else [])})
    return out


def etree_local(e) -> str:
    return e.tag.split("}", 1)[-1]


@pytest.mark.parametrize("op,bad", [
    ("<get-config><source><running/></source><bogus/></get-config>", "bogus"),
    ("<get><with-defaults>report-all</with-defaults><bogus/></get>", "with-defaults"),
    ("<lock><target><candidate/></target><force/></lock>", "force"),
    ("<discard-changes><now/></discard-changes>", "now"),
])
def test_unknown_parameters_are_refused_not_ignored(device, op, bad):
    c = RawClient(device)
    c.send(f'<rpc message-id="1" xmlns="{NC}">{op}</rpc>'.encode())
    err = _error(c.reply())
    assert err["error-tag"] == "unknown-element" and err["error-type"] == "protocol", err
    assert err["info:bad-element"] == bad
    c.close()


def test_a_parameter_in_a_foreign_namespace_is_an_unknown_namespace(device):
    c = RawClient(device)
    c.send(f'<rpc message-id="1" xmlns="{NC}"><get><x:depth xmlns:x="urn:example:x">2</x:depth></get></rpc>'.encode())
    err = _error(c.reply())
    assert err["error-tag"] == "unknown-namespace", err
    assert err["info:bad-element"] == "depth" and err["info:bad-namespace"] == "urn:example:x"
    c.close()


def test_malformed_message_is_not_sent_on_a_base_1_0_session(device):
    c = RawClient(device, HELLO_10)
    c.send(f'<rpc message-id="1" xmlns="{NC}"><get-config>'.encode())
    err = _error(c.reply())
    assert err["error-tag"] != "malformed-message" and err["error-type"] == "rpc", err
    c.send(GET_CONFIG)
    assert 'message-id="7"' in c.reply()
    c.close()


IF = "urn:ietf:params:xml:ns:yang:ietf-interfaces"
TYPE = '<type xmlns:ianaift="urn:ietf:params:xml:ns:yang:iana-if-type">ianaift:ethernetCsmacd</type>'


def _edit(c, inner: str) -> dict:
    c.send(f'<rpc message-id="1" xmlns="{NC}"><edit-config><target><candidate/></target><config>'
           f'<interfaces xmlns="{IF}">{inner}</interfaces></config></edit-config></rpc>'.encode())
    return _error(c.reply())


def test_error_path_names_the_list_entry_by_its_keys(device):
    c = RawClient(device)
    # the key follows the bad leaf: libyang has not read it yet when it fails
    err = _edit(c, f"<interface><name>ok-1</name>{TYPE}</interface>"
                   f"<interface><enabled>maybe</enabled><name>bad-2</name>{TYPE}</interface>")
    assert err["error-path"] == "/if:interfaces/if:interface[if:name='bad-2']/if:enabled", err
    # a missing mandatory leaf is found at commit, by validation of the whole candidate
    c.send(f'<rpc message-id="2" xmlns="{NC}"><discard-changes/></rpc>'.encode())
    c.reply()
    c.send(f'<rpc message-id="3" xmlns="{NC}"><edit-config><target><candidate/></target><config>'
           f'<interfaces xmlns="{IF}"><interface><name>ok-1</name>{TYPE}</interface>'
           f"<interface><name>no-type</name></interface></interfaces></config></edit-config></rpc>".encode())
    assert "<ok/>" in c.reply()
    c.send(f'<rpc message-id="4" xmlns="{NC}"><validate><source><candidate/></source></validate></rpc>'.encode())
    err = _error(c.reply())
    assert err["error-path"] == "/if:interfaces/if:interface[if:name='no-type']/if:type", err
    c.send(f'<rpc message-id="5" xmlns="{NC}"><discard-changes/></rpc>'.encode())
    c.close()


def test_unknown_element_and_namespace_in_config_name_the_element(device):
    c = RawClient(device)
    err = _edit(c, f"<interface><name>e1</name>{TYPE}<laser>on</laser></interface>")
    assert err["error-tag"] == "unknown-element" and err["info:bad-element"] == "laser", err
    c.send(f'<rpc message-id="1" xmlns="{NC}"><edit-config><target><candidate/></target><config>'
           '<widgets xmlns="urn:example:nope"><w>1</w></widgets></config></edit-config></rpc>'.encode())
    err = _error(c.reply())
    assert err["error-tag"] == "unknown-namespace", err
    assert err["info:bad-element"] == "widgets" and err["info:bad-namespace"] == "urn:example:nope"
    c.close()
