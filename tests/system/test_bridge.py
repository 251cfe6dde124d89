"""The bridge protocol against the real gcs binary, over both transports."""
import json
import os
import subprocess
import time

import pytest

from gcsproto import (E_NOTIMPL, HDR, INVALID_JSON, NULL_ID, UNSUPPORTED_PROTOCOL, Closed, frame, gcs_binary,
                      req_code, resp_code)

NEGOTIATE_8_1 = bytes.fromhex("010b10107d0000000000000000000000") + (
    b'{"ContainerId":"","ActivityId":"00000000-0000-0000-0000-000000000000",'
    b'"MinimumVersion":4,"MaximumVersion":4}\n')

RESPONSE_8_2 = bytes.fromhex("010b102056010000" + "00" * 8) + (
    b'{"Result":0,"ActivityId":"00000000-0000-0000-0000-000000000000","Version":4,"Capabilities":'
    b'{"SupportedSchemaVersions":[{"Major":2,"Minor":1}],"RuntimeOsType":"Linux","GuestDefinedCapabilities":'
    b'{"NamespaceAddRequestSupported":true,"SignalProcessSupported":true,"DumpStacksSupported":true,'
    b'"DeleteContainerStateSupported":true}}}')


def test_negotiate_exact_bytes(agent):
    assert len(NEGOTIATE_8_1) == 125 and len(RESPONSE_8_2) == 342
    agent.conn.send_bytes(NEGOTIATE_8_1)
    type_, id_, payload = agent.conn.recv_frame()
    got = HDR.pack(type_, HDR.size + len(payload), id_) + payload
    assert got == RESPONSE_8_2


def test_before_negotiation_everything_is_notimpl(agent):
    for name in ["Create", "Start", "ExecuteProcess", "WaitForProcess", "ModifySettings", "DumpStacks",
                 "DeleteContainerState", "GetProperties"]:
        msg = agent.conn.call(name)
        assert msg["Result"] == E_NOTIMPL, (name, msg)
        assert msg["ErrorRecords"][0]["Result"] == E_NOTIMPL
        assert msg["ErrorRecords"][0]["ModuleName"] == "gcs"
        assert msg["ActivityId"] == NULL_ID
    agent.conn.negotiate()
    assert agent.conn.call("DumpStacks")["Result"] == 0


def test_second_negotiation_is_notimpl(agent):
    agent.conn.negotiate()
    msg = agent.conn.call("NegotiateProtocol", {"MinimumVersion": 4, "MaximumVersion": 4})
    assert msg["Result"] == E_NOTIMPL


@pytest.mark.parametrize("lo,hi", [(1, 3), (5, 9), (0, 0)])
def test_unsupported_versions(agent, lo, hi):
    msg = agent.conn.call("NegotiateProtocol", {"MinimumVersion": lo, "MaximumVersion": hi})
    assert msg["Result"] == UNSUPPORTED_PROTOCOL
    # still un-negotiated: the next one works
    agent.conn.negotiate()


def test_range_including_4_selects_4(agent):
    msg = agent.conn.call("NegotiateProtocol", {"MinimumVersion": 1, "MaximumVersion": 9})
    assert msg["Result"] == 0 and msg["Version"] == 4


@pytest.mark.parametrize("code", [0x10101001, 0x10200101, 0x1abcdef1, 0x10100102, 0x20100101, 0x00000000])
def test_unknown_types_get_notimpl_with_swapped_type(agent, code):
    agent.conn.negotiate()
    id_ = agent.conn.send(code, {"ContainerId": "", "ActivityId": NULL_ID})
    type_, msg = agent.conn.response(id_)
    assert type_ == 0x20000000 | (code & 0x0FFFFFFF)
    assert msg["Result"] == E_NOTIMPL
    assert "function not supported" in msg["ErrorMessage"]


def test_not_yet_implemented_rpcs_answer_notimpl(agent):
    agent.conn.negotiate()
    for name in ["UpdateContainer", "LifecycleNotification"]:
        assert agent.conn.call(name)["Result"] == E_NOTIMPL


@pytest.mark.parametrize("payload", [b"{", b"[]", b"nope", b'{"ProcessId":"x"}', b"", b'{"a":1} trailing'])
def test_malformed_json_then_still_answers(agent, payload):
    agent.conn.negotiate()
    id_ = agent.conn.send(req_code("WaitForProcess"), payload)
    type_, msg = agent.conn.response(id_)
    assert type_ == resp_code(req_code("WaitForProcess"))
    assert msg["Result"] == INVALID_JSON
    assert agent.conn.call("DumpStacks")["Result"] == 0


def test_dumpstacks_never_parses_payload(agent):
    agent.conn.negotiate()
    id_ = agent.conn.send(req_code("DumpStacks"), b"not json at all")
    _, msg = agent.conn.response(id_)
    assert msg["Result"] == 0
    assert "gcs" in msg["GuestStacks"]


def test_500_pipelined_requests(agent):
    agent.conn.negotiate()
    ids = {}
    blob = b""
    for i in range(500):
        id_ = 1000 + i
        kind = ["DumpStacks", "UpdateContainer", "WaitForProcess-bad"][i % 3]
        if kind == "WaitForProcess-bad":
            blob += frame(req_code("WaitForProcess"), id_, b"{bad")
        else:
            blob += frame(req_code(kind), id_, {"ContainerId": "", "ActivityId": NULL_ID})
        ids[id_] = kind
    agent.conn.send_bytes(blob)
    seen = {}
    while len(seen) < 500:
        type_, id_, payload = agent.conn.recv_raw(timeout=20)
        assert id_ in ids and id_ not in seen
        seen[id_] = json.loads(payload)
    for id_, kind in ids.items():
        expect = {"DumpStacks": 0, "UpdateContainer": E_NOTIMPL, "WaitForProcess-bad": INVALID_JSON}[kind]
        assert seen[id_]["Result"] == expect


def test_without_v4_everything_is_notimpl(agent_factory, mode):
    a = agent_factory(mode=mode, v4=False)
    c = a.connect()
    msg = c.call("NegotiateProtocol", {"MinimumVersion": 4, "MaximumVersion": 4})
    assert msg["Result"] == E_NOTIMPL


def test_json_log_format(agent_factory):
    a = agent_factory(mode="unix", args=["-log-format", "json"])
    a.connect().negotiate()
    lines = [json.loads(line) for line in a.log().splitlines() if line.strip()]
    assert lines and all({"time", "level", "msg"} <= set(line) for line in lines)
    assert any(line["msg"] == "GCS started" for line in lines)
    assert any(line["msg"] == "protocol negotiated" for line in lines)


# ---- connection-level behaviour (unix transport: gcs re-dials) ----

@pytest.mark.parametrize("size", [0, 15])
def test_size_below_16_drops_connection_and_redials(agent_factory, size):
    a = agent_factory(mode="unix")
    c = a.connect()
    c.negotiate()
    c.send_bytes(HDR.pack(req_code("DumpStacks"), size, 1))
    assert c.wait_closed(timeout=5)
    c.close()
    t0 = time.monotonic()
    c2 = a.listener.accept(timeout=1.0)
    assert time.monotonic() - t0 < 1.0
    # a new connection starts un-negotiated
    assert c2.call("DumpStacks")["Result"] == E_NOTIMPL
    c2.negotiate()
    assert c2.call("DumpStacks")["Result"] == 0
    a.conn = c2


def test_oversize_header_drops_connection_and_redials(agent_factory):
    a = agent_factory(mode="unix", args=["-max-frame-bytes", str(1 << 20)])
    c = a.connect()
    c.negotiate()
    c.send_bytes(HDR.pack(req_code("DumpStacks"), (1 << 20) + 1, 1))
    assert c.wait_closed(timeout=5)
    c.close()
    c2 = a.listener.accept(timeout=1.0)
    c2.negotiate()
    a.conn = c2


def test_default_cap_accepts_large_frames(agent_factory):
    """A 17 MiB request is within the documented 32 MiB cap: it is read and answered."""
    a = agent_factory(mode="unix")
    c = a.connect()
    c.negotiate()
    big = {"ContainerId": "", "ActivityId": NULL_ID, "Pad": "x" * (17 << 20)}
    id_ = c.send(req_code("UpdateContainer"), big)
    _, msg = c.response(id_, timeout=30)
    assert msg["Result"] == E_NOTIMPL


def test_host_disconnect_then_reconnect_requires_negotiation(agent_factory):
    a = agent_factory(mode="unix")
    c = a.connect()
    c.negotiate()
    c.close()
    c2 = a.listener.accept(timeout=2.0)
    assert c2.call("DumpStacks")["Result"] == E_NOTIMPL
    c2.negotiate()
    a.conn = c2


def test_stdio_eof_exits_cleanly(agent_factory):
    a = agent_factory(mode="stdio")
    c = a.connect()
    c.negotiate()
    a.proc.stdin.close()
    assert a.proc.wait(timeout=5) == 0


def test_sigterm_exits_zero(agent_factory):
    a = agent_factory(mode="unix")
    a.connect().negotiate()
    a.proc.terminate()
    assert a.proc.wait(timeout=5) == 0


def test_unknown_flag_usage_exit_2():
    p = subprocess.run([gcs_binary(), "-no-such-flag"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 2
    assert "flag provided but not defined: -no-such-flag" in p.stderr
    assert "-use-inouterr" in p.stderr


def test_help_exit_0():
    p = subprocess.run([gcs_binary(), "-h"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 0
    assert "-transport" in p.stderr
