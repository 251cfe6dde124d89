"""Kernel messages reach the log stream (upstream internal/guest/kmsg): the
real agent reads the real /dev/kmsg; the test injects records by writing to
/dev/kmsg as root (they show in this machine's dmesg, tagged gcs-test-...)
and sees each one at or below -kmsgLogLevel arrive as a "kmsg read" line,
and those above it not. Every line of the stream must parse as JSON, as the
host's decoder requires."""
import json
import os
import time
import uuid

import pytest

from conftest import TARGET

pytestmark = pytest.mark.skipif(TARGET == "uvm" or not os.access("/dev/kmsg", os.W_OK),
                                reason="needs a writable /dev/kmsg on this machine")


def json_lines(agent):
    lines = agent.log().splitlines()
    return [json.loads(ln) for ln in lines]  # any bad line fails the test here


def wait_kmsg(agent, text, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for o in json_lines(agent):
            if o.get("msg") == "kmsg read" and o.get("message") == text:
                return o
        time.sleep(0.02)  # polling the log file with a deadline: the event is the line
    raise AssertionError(f"no kmsg line for {text!r}:\n{agent.log()[-3000:]}")


def inject(prio, text):
    with open("/dev/kmsg", "w") as f:
        f.write(f"<{prio}>{text}\n")


@pytest.mark.parametrize("level, forwarded", [(None, {3, 4}), ("6", {3, 4, 6}), ("3", {3})])
def test_kmsg_records_at_or_below_the_level_reach_the_log(agent_factory, level, forwarded):
    args = ["-log-format", "json"] + (["-kmsgLogLevel", level] if level else [])
    a = agent_factory(mode="unix", args=args)
    a.connect()
    a.conn.negotiate()
    tag = "gcs-test-" + uuid.uuid4().hex[:10]
    for prio in (6, 4, 3, 7):
        inject(prio, f"{tag} p{prio}")
    # the fence: an error record, forwarded at every level tested; when it
    # has arrived, every record injected before it has been read (records
    # come in kernel order). Levels below 3 would need records that reach
    # every console of this machine.
    fence = f"{tag} fence"
    inject(3, fence)
    o = wait_kmsg(a, fence)
    assert o["level"] == "info" and o["priority"] == "Err" and o["facility"] == 1  # user
    assert isinstance(o["seq"], int) and isinstance(o["timesincebootmicro"], int) and o["flags"] == "-"
    got = {o["message"] for o in json_lines(a) if o.get("msg") == "kmsg read" and tag in o.get("message", "")}
    want = {f"{tag} p{p}" for p in forwarded} | {fence}
    assert got == want, (got, want)
    # the records are in kernel order, and each once
    seqs = [o["seq"] for o in json_lines(a) if o.get("msg") == "kmsg read"]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))


def test_no_forwarding_when_the_log_is_kmsg_itself(agent_factory, tmp_path):
    """A log that goes into /dev/kmsg would feed itself: refused, once. (The
    kernel keeps only the first 10 lines a writer sends in 5 s; the refusal
    comes among the agent's first few.)"""
    a = agent_factory(mode="unix", args=["-log-format", "json", "-logfile", "/dev/kmsg", "-kmsgLogLevel", "7"])
    a.connect()
    a.conn.negotiate()
    assert a.conn.call("DumpStacks")["Result"] == 0
    # the agent's lines are in the kernel's log now; read them back from there
    import subprocess
    out = subprocess.run(["dmesg", "-r"], capture_output=True, text=True).stdout
    pid = a.proc.pid
    ours = [ln for ln in out.splitlines() if f'"pid":{pid}' in ln or "kernel messages are not forwarded" in ln]
    assert any("the agent logs into the kernel's log: kernel messages are not forwarded" in ln for ln in ours), ours
    assert not any('"msg":"kmsg read"' in ln for ln in out.splitlines()[-200:])
