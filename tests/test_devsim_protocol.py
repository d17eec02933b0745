"""devsim at the protocol level, with raw bytes: RFC 6242 framing whatever the packet
boundaries, the hello as clients really send it, and RFC 6241's rpc-reply and rpc-error rules."""

from __future__ import annotations

import random

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
