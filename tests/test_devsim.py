"""devsim with the standard models: the shared BBF and 3GPP examples go in and come back equal;
broken variants are refused with the right error-tag and error-path; bad input and crashes
leave other sessions and the datastores intact."""

from __future__ import annotations

import re
import time

import pytest
from lxml import etree
from ncclient.operations.rpc import RPCError

from conformance.agents import DevsimAgent
from conformance.raw import RawClient
from orchestrator.devices.registry import KINDS
from orchestrator.settings import yang_path

NC = "urn:ietf:params:xml:ns:netconf:base:1.0"


def example(name: str) -> str:
    text = (yang_path()[0] / "examples" / name).read_text()
    text = re.sub(r"<\?xml[^>]*>", "", text)
    return re.sub(r"<!--.*?-->", "", text, flags=re.S).strip()


def canonical(kind: str, xml: str) -> str:
    """The same data printed the same way, whatever prefixes or order the sender used."""
    tree = KINDS.get(kind).models.parse(xml)
    try:
        return tree.print_mem("xml", with_siblings=True)
    finally:
        tree.free()


def data_of(reply_xml: str) -> str:
    return re.sub(r"^.*?<data[^>]*>|</data>\s*$", "", reply_xml, flags=re.S)


@pytest.fixture(scope="module")
def olt(tmp_path_factory):
    a = DevsimAgent(tmp_path_factory.mktemp("olt"), kind="olt-bbf").start()
    yield a
    a.stop()


@pytest.fixture
def core(tmp_path):
    a = DevsimAgent(tmp_path / "core", kind="core-3gpp").start()
    yield a
    a.stop()


def push(agent, data: str):
    m = agent.connect()
    try:
        m.edit_config(target="candidate", config=f'<config xmlns="{NC}">{data}</config>')
        m.commit()
        return data_of(m.get_config(source="running").data_xml)
    finally:
        m.discard_changes()
        m.close_session()


def test_olt_takes_the_bbf_chain_and_reads_it_back_equal(olt):
    chain = example("bbf-xpon-olt-onu-chain.xml")
    assert canonical("olt-bbf", push(olt, chain)) == canonical("olt-bbf", chain)


BROKEN = [  # (what, change to the example, error-tag, text in error-path)
    ("onu-id out of range", ("<onu-id>1</onu-id>", "<onu-id>5000</onu-id>"), "invalid-value", "v-ani/onu-id"),
    ("serial too short", ("ABCD12345678", "ABCD1"), "invalid-value", "expected-serial-number"),
    ("unknown T-CONT profile", ("<traffic-descriptor-profile-ref>tdp-100M<", "<traffic-descriptor-profile-ref>tdp-9G<"),
     "data-missing", "traffic-descriptor-profile-ref"),
    ("unknown channel pair", ("<channel-pair-ref>cpair-1</channel-pair-ref>", "<channel-pair-ref>cpair-9</channel-pair-ref>"),
     "data-missing", "channel-pair-ref"),
    ("GEM port in a missing T-CONT", ("<tcont-ref>tcont-onu1-1</tcont-ref>", "<tcont-ref>tcont-x</tcont-ref>"),
     "data-missing", "tcont-ref"),
    ("link to a missing interface", ("<to-interface>vani-onu1</to-interface>", "<to-interface>vani-x</to-interface>"),
     "data-missing", "to-interface"),
    ("unknown leaf", ("<upstream-fec>true</upstream-fec>", "<upstream-fec>true</upstream-fec><laser>on</laser>"),
     "unknown-element", "ani"),
    ("unknown interface type", ("bbf-xponift:ani<", "bbf-xponift:no-such-type<"), "invalid-value", "type"),
    ("bad boolean", ("<upstream-fec>true</upstream-fec>", "<upstream-fec>yes</upstream-fec>"),
     "invalid-value", "upstream-fec"),
    ("unknown namespace", ('<link-table xmlns="urn:bbf:yang:bbf-link-table">', '<link-table xmlns="urn:example:nope">'),
     "unknown-namespace", None),
    ("GEM port id not a number", ("<gemport-id>1024</gemport-id>", "<gemport-id>gem7</gemport-id>"),
     "invalid-value", "gemport-id"),
    # a must with an error-message of its own (most of BBF's): still a must's violation (RFC 7950 15.4)
    ("T-CONT on an interface that is no v-ANI", ("<interface-reference>vani-onu1</interface-reference>",
                                                 "<interface-reference>ct-1/1/1</interface-reference>"),
     "operation-failed", "interface-reference"),
]


@pytest.mark.parametrize("what,change,tag,path", BROKEN, ids=[b[0] for b in BROKEN])
def test_olt_refuses_broken_variants(olt, what, change, tag, path):
    chain = example("bbf-xpon-olt-onu-chain.xml")
    assert change[0] in chain
    with pytest.raises(RPCError) as e:
        push(olt, chain.replace(change[0], change[1], 1))
    err = (e.value.errors or [e.value])[0] if getattr(e.value, "errors", None) else e.value
    assert err.tag == tag, err.message
    if path:  # error-path's XML prefixes (module names) left out
        assert path in re.sub(r"[\w.-]+:", "", err.path or ""), err.path
    m = olt.connect()
    assert "tcont-x" not in m.get_config(source="running").data_xml
    m.close_session()


@pytest.mark.parametrize("name", ["3gpp-amf-function.xml", "3gpp-smf-upf-function.xml"])
def test_core_takes_the_3gpp_examples(core, name):
    data = example(name)
    assert canonical("core-3gpp", push(core, data)) == canonical("core-3gpp", data)


def test_core_refuses_a_bad_plmn(core):
    with pytest.raises(RPCError) as e:
        push(core, example("3gpp-amf-function.xml").replace("<mcc>001</mcc>", "<mcc>01A</mcc>", 1))
    assert e.value.tag == "invalid-value" and "mcc" in e.value.path




def test_bad_input_closes_only_that_session(tmp_path):
    a = DevsimAgent(tmp_path / "d", kind="bng-ietf").start()
    try:
        good = a.connect()
        bad = a.connect()
        # malformed XML in a well-framed message: a clean rpc-error, session stays
        with pytest.raises(RPCError) as e:
            bad.dispatch(etree.fromstring('<no-such-op xmlns="urn:example:nope"/>'))
        assert e.value.tag == "operation-not-supported"
        assert "<data" in bad.get_config(source="running").data_xml  # that session still works
        # broken framing: the session is closed, the device keeps serving others
        chan = bad._session._channel
        chan.sendall(b"\n#abc\nthis is not a chunk header")
        time.sleep(0.5)
        assert "<data" in good.get_config(source="running").data_xml
        third = a.connect()
        third.close_session()
        good.close_session()
    finally:
        a.stop()


def test_datastores_survive_a_crash(tmp_path):
    a = DevsimAgent(tmp_path / "d", kind="olt-bbf").start()
    chain = example("bbf-xpon-olt-onu-chain.xml")
    push(a, chain)
    a.kill()  # SIGKILL: no chance to save anything on the way out
    b = DevsimAgent(tmp_path / "d", kind="olt-bbf")
    b.start()
    try:
        m = b.connect()
        assert canonical("olt-bbf", data_of(m.get_config(source="running").data_xml)) == canonical("olt-bbf", chain)
        m.close_session()
    finally:
        b.stop()


def test_pending_confirmed_commit_reverts_after_a_crash(tmp_path):
    a = DevsimAgent(tmp_path / "d", kind="bng-ietf").start()
    m = a.connect()
    cfg = (f'<config xmlns="{NC}"><interfaces xmlns="urn:ietf:params:xml:ns:yang:ietf-interfaces"><interface>'
           '<name>eth9</name><type xmlns:ianaift="urn:ietf:params:xml:ns:yang:iana-if-type">ianaift:ethernetCsmacd'
           "</type></interface></interfaces></config>")
    m.edit_config(target="candidate", config=cfg)
    m.commit(confirmed=True, timeout="300")
    a.kill()
    b = DevsimAgent(tmp_path / "d", kind="bng-ietf")
    b.start()
    try:
        m = b.connect()
        assert "eth9" not in m.get_config(source="running").data_xml
        m.close_session()
    finally:
        b.stop()


@pytest.fixture
def device(tmp_path):
    a = DevsimAgent(tmp_path / "d", kind="bng-ietf").start()
    yield a
    a.stop()


def test_malformed_xml_gets_malformed_message(device):
    c = RawClient(device)
    c.send(b'<rpc message-id="1" xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><get-config>')
    r = c.reply()
    assert "<error-tag>malformed-message</error-tag>" in r and "<error-type>rpc</error-type>" in r
    c.send(b'<rpc message-id="2" xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><get-config><source>'
           b"<running/></source></get-config></rpc>")
    assert 'message-id="2"' in c.reply()  # the session goes on


def test_missing_message_id(device):
    c = RawClient(device)
    c.send(b'<rpc xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><get/></rpc>')
    r = c.reply()
    assert "<error-tag>missing-attribute</error-tag>" in r and "<bad-attribute>message-id</bad-attribute>" in r


def test_message_over_the_limit_closes_that_session_only(device, monkeypatch):
    other = device.connect()
    c = RawClient(device)
    big = b"<rpc message-id='1' xmlns='urn:ietf:params:xml:ns:netconf:base:1.0'><get/>" + b" " * (65 * 2**20)
    try:
        c.chan.sendall(b"\n#%d\n" % len(big) + big[: 2**20])
        for i in range(1, 65):
            c.chan.sendall(big[i * 2**20: (i + 1) * 2**20])
    except OSError:
        pass
    assert "too-big" in c.reply() or c.closed()
    assert c.closed()
    assert "<data" in other.get_config(source="running").data_xml
    other.close_session()


def test_client_gone_mid_message_leaves_device_working(device):
    c = RawClient(device)
    c.chan.sendall(b'\n#500\n<rpc message-id="1" xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><edit-con')
    c.ssh.close()
    m = device.connect()
    assert "<data" in m.get_config(source="running").data_xml
    m.close_session()


def test_public_key_login_and_startup_datastore(tmp_path):
    import asyncssh

    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(tmp_path / "id"))
    (tmp_path / "authorized_keys").write_bytes(key.export_public_key())
    import os
    import subprocess
    import sys

    from conformance.agents import REPO, free_port, manager

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator", "devsim", "--kind", "bng-ietf", "--listen",
                             f"127.0.0.1:{port}", "--state", str(tmp_path / "s"), "--authorized-keys",
                             str(tmp_path / "authorized_keys")], cwd=REPO, stderr=subprocess.PIPE,
                            env=dict(os.environ))
    try:
        proc.stderr.readline()  # "listening"
        m = manager.connect(host="127.0.0.1", port=port, username="fullbars", key_filename=str(tmp_path / "id"),
                            hostkey_verify=False, look_for_keys=False, allow_agent=False, timeout=10)
        cfg = (f'<config xmlns="{NC}"><interfaces xmlns="urn:ietf:params:xml:ns:yang:ietf-interfaces"><interface>'
               '<name>eth1</name><type xmlns:ianaift="urn:ietf:params:xml:ns:yang:iana-if-type">'
               "ianaift:ethernetCsmacd</type></interface></interfaces></config>")
        m.edit_config(target="candidate", config=cfg)
        m.commit()
        m.copy_config(source="running", target="startup")
        assert "eth1" in m.get_config(source="startup").data_xml
        m.delete_config(target="startup")
        assert "eth1" not in m.get_config(source="startup").data_xml
        with pytest.raises(RPCError) as e:
            m.delete_config(target="running")
        assert e.value.tag == "operation-not-supported"  # a datastore it has, not for this
        m.close_session()
        with pytest.raises(Exception):  # the key opens only the configured user's door
            manager.connect(host="127.0.0.1", port=port, username="root", key_filename=str(tmp_path / "id"),
                            hostkey_verify=False, look_for_keys=False, allow_agent=False, timeout=5)
        with pytest.raises(Exception):  # a password is not accepted when only keys are configured
            manager.connect(host="127.0.0.1", port=port, username="fullbars", password="x", hostkey_verify=False,
                            look_for_keys=False, allow_agent=False, timeout=5)
    finally:
        proc.terminate()
        proc.wait()


# --- exposure: datastore modes and login throttling -------------------------------------------

def test_datastores_and_state_dir_are_private(tmp_path):
    """The datastores carry secrets (an FTTR unit's passphrases): 0600 in a 0700 dir, also
    for files an older devsim left world-readable."""
    import os
    import stat

    from orchestrator.devsim.device import Device

    d = tmp_path / "s"
    d.mkdir(mode=0o755)
    (d / "running.xml").write_text("<config xmlns='urn:ietf:params:xml:ns:netconf:base:1.0'/>")
    os.chmod(d / "running.xml", 0o644)
    dev = Device("d", KINDS.get("bng-ietf"), d, export_running=True)
    dev.edit("candidate", 1, etree.fromstring(
        f"<config xmlns='{NC}'><interfaces xmlns='urn:ietf:params:xml:ns:yang:ietf-interfaces'><interface>"
        "<name>e1</name><type xmlns:ianaift='urn:ietf:params:xml:ns:yang:iana-if-type'>ianaift:ethernetCsmacd</type>"
        "</interface></interfaces></config>"), "merge", "", "stop-on-error")
    dev.commit(1, False, 600, None, None, None)
    mode = {p.name: stat.S_IMODE(p.stat().st_mode) for p in d.iterdir()}
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    # the snapshot, the journal after it, and the copy of running the lab's personalities read
    assert mode == {"snapshot.xml": 0o600, "journal.1": 0o600, "running.xml": 0o600}


def test_login_throttle_waits_longer_per_failure_per_peer():
    """One function, its clock and sleep replaced: what each attempt is made to wait."""
    import asyncio

    from orchestrator.devsim.throttle import LoginThrottle

    now, waits = [0.0], []

    async def sleep(s):
        waits.append(round(s, 3))
        now[0] += s

    t = LoginThrottle(base=0.5, cap=4.0, clock=lambda: now[0], sleep=sleep)

    async def tries():
        out = [await t.attempt("10.0.0.1", "u", lambda: False) for _ in range(6)]
        out.append(await t.attempt("10.0.0.2", "u", lambda: False))  # another peer: not held back
        out.append(await t.attempt("10.0.0.1", "u", lambda: True))  # the right password still gets in ...
        out.append(await t.attempt("10.0.0.1", "u", lambda: False))  # ... and clears the count
        return out

    assert asyncio.run(tries()) == [False] * 6 + [False, True, False]
    assert waits == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]  # before failures 2..6, then the success; none for 10.0.0.2


def test_devsim_throttles_failed_logins_and_logs_no_password(tmp_path):
    from ncclient import manager
    from ncclient.transport.errors import AuthenticationError

    a = DevsimAgent(tmp_path / "d", kind="bng-ietf", password="right-Pass-77q").start()
    try:
        for wrong in ("wrong-Pass-1", "wrong-Pass-2", "wrong-Pass-3"):
            with pytest.raises(AuthenticationError):
                manager.connect(host=a.host, port=a.port, username="fullbars", password=wrong, hostkey_verify=False,
                                look_for_keys=False, allow_agent=False, timeout=20)
        a.connect().close_session()  # the right password after the waits
    finally:
        a.stop()
    log = a.proc.stderr.read().decode()
    waits = re.findall(r"login failed for user 'fullbars' from 127\.0\.0\.1 \(failure (\d)\): its next attempt "
                       r"waits ([\d.]+) s", log)
    assert waits == [("1", "0.5"), ("2", "1.0"), ("3", "2.0")], log
    assert "Pass" not in log
