"""Live migration (docs/protocol.md §1.3 "Reconnecting output"): a container
init's stdout and stderr survive the host going away and coming back. The
harness plays the host: it drops the stdio connections and the bridge (and
stops listening, as a host being swapped does), waits on an event, listens
again on the same ports and checks what arrives against what the process
wrote, by upstream's rule (internal/guest/transport/reconnect.go): on each
re-dial the last 128 KiB sent before the drop are sent again, then what was
written while the host was away, then the live stream.

Local agent, unix transport, runc and crun."""
import os
import re
import select
import socket
import time

import pytest

import podlib
from gcsproto import Listener
from podlib import Stdio

REPLAY = 128 * 1024
BACKLOG = 1024 * 1024
TEE_PATH = "io.microsoft.container.lcow.tee-log-path"
PAD = "x" * 50


def ok(msg):
    assert msg["Result"] == 0, msg
    return msg


def wait_for(pred, what, timeout=30.0, step=0.01):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(step)


def log_fields(env, message):
    """The key=value fields of every agent log line carrying message."""
    out = []
    for line in env.agent.log().splitlines():
        if message in line:
            out.append(dict(re.findall(r'(\w+)=("[^"]*"|\S+)', line)))
    return out


def tee_file(env, sid, rel):
    return f"/run/gcs/c/{sid}/logs/{rel}"


def read_file(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def recv_some(socks, bufs, until, timeout=30.0):
    """Read every socket in socks (name -> socket) into bufs until until(bufs)."""
    deadline = time.monotonic() + timeout
    while not until(bufs):
        left = deadline - time.monotonic()
        assert left > 0, "timed out reading process output"
        r, _, _ = select.select(list(socks.values()), [], [], left)
        for s in r:
            name = next(k for k, v in socks.items() if v is s)
            chunk = s.recv(1 << 20)
            assert chunk, f"{name} ended early"
            bufs[name] += chunk


def drop_host(env, st):
    """The host goes away: its stdio connections, the bridge and its listener."""
    for s in st.socks.values():
        s.close()
    env.agent.conn.close()
    env.agent.listener.close()


def come_back(env, ports, timeout=10.0):
    """The host is back: listen on the same ports, take the bridge and
    negotiate again, then take the re-dialled stdio connections."""
    lst = {name: Listener(env.agent.sockdir, port) for name, port in ports.items()}
    env.agent.listener = Listener(env.agent.sockdir)
    t0 = time.monotonic()
    env.agent.conn = env.conn = env.agent.listener.accept(timeout)
    env.conn.negotiate()
    socks = {}
    for name, l in lst.items():
        c = l.accept(timeout)
        socks[name] = socket.socket(fileno=c.rfd)
        l.close()
    return socks, t0


def read_to_eof(socks, timeout=60.0):
    out = {k: b"" for k in socks}
    open_ = dict(socks)
    deadline = time.monotonic() + timeout
    while open_:
        left = deadline - time.monotonic()
        assert left > 0, "timed out reading to EOF"
        r, _, _ = select.select(list(open_.values()), [], [], left)
        for s in r:
            name = next(k for k, v in open_.items() if v is s)
            chunk = s.recv(1 << 20)
            if chunk:
                out[name] += chunk
            else:
                del open_[name]
                s.close()
    return out


def sandbox_with_init(env, rootfs, script, tee=None, extra_ann=None, mounts=()):
    sid = podlib.new_id("1e")
    spec = podlib.sandbox_spec(rootfs, sid)
    spec["process"]["args"] = ["/bin/sh", "-c", script]
    if tee:
        spec["annotations"][TEE_PATH] = tee
    spec["annotations"].update(extra_ann or {})
    spec["mounts"] += list(mounts)
    ok(podlib.create(env.conn, sid, spec, env.bundle(sid)))
    return sid


def expected(name, n, pad=PAD):
    return b"".join(f"{name} {i:06d} {pad}\n".encode() for i in range(n))


# out: a burst of BURST lines (past the replay size), then slow numbered
# lines every few ms; err: a few lines during the burst only
BURST, TOTAL, ERRS = 2500, 3300, 100
WRITER = (f"i=0; while [ $i -lt {TOTAL} ]; do printf 'out %06d {PAD}\\n' $i; "
          f"[ $i -lt {ERRS} ] && printf 'err %06d {PAD}\\n' $i >&2; i=$((i+1)); "
          f"[ $i -gt {BURST} ] && busybox usleep 2000; done; exit 0")


def test_reconnect_replays_the_tail_and_loses_nothing(pods, rootfs):
    env = pods
    sid = sandbox_with_init(env, rootfs, WRITER, tee="writer.log")
    st = Stdio(env, stdout=True, stderr=True)
    pid = ok(podlib.execute(env.conn, sid, st))["ProcessId"]
    ports = dict(st.ports)
    old = {"StdOut": b"", "StdErr": b""}
    # the host reads the burst and a little of the slow part, then goes away
    recv_some(st.socks, old, lambda b: b["StdOut"].count(b"\n") >= BURST + 50 and
              b["StdErr"].count(b"\n") >= ERRS)
    drop_host(env, st)
    wait_for(lambda: len(log_fields(env, "host connection lost")) == 2, "both streams to notice")
    # host away until the process has written its last line (the tee log has it) and exited
    tee = tee_file(env, sid, "writer.log")
    last = f"out {TOTAL - 1:06d} {PAD}\n".encode()
    wait_for(lambda: read_file(tee).endswith(last), "the last line in the tee log")
    wait_for(lambda: "process exited" in env.agent.log(), "the init to exit")
    assert env.conn.notifications == []
    socks, _ = come_back(env, ports)
    new = read_to_eof(socks)

    lost = {f["stream"]: f for f in log_fields(env, "host connection lost")}
    back = {f["stream"]: f for f in log_fields(env, "stdio relay: reconnected")}
    for name, stream, want in [("StdOut", "stdout", expected("out", TOTAL)), ("StdErr", "stderr",
                                                                              expected("err", ERRS))]:
        sent = int(lost[stream]["sent"])
        replay = min(REPLAY, sent)
        assert int(back[stream]["replay_bytes"]) == replay
        # what the old connection got is a prefix of what was written, and
        # was all sent before the drop
        assert want.startswith(old[name]) and len(old[name]) <= sent
        # the new connection: the last `replay` bytes sent, then everything after
        assert new[name] == want[sent - replay:], name
        # so the replayed region duplicates exactly the tail of what was sent
        if stream == "stdout":
            assert sent > REPLAY  # the burst made the 128 KiB bound count
    # the exit: waitable on the new bridge, and its notification goes out
    # once, after the new negotiation (it follows the delivered wait, 4.5)
    assert ok(podlib.wait(env.conn, sid, pid))["ExitCode"] == 0
    note = env.conn.notification()
    assert note["ContainerId"] == sid and note["Type"] == "UnexpectedExit"
    assert len(log_fields(env, "container exit notification")) == 1
    ok(podlib.delete(env.conn, sid))
    assert env.conn.notifications == []
    assert env.mounts_under("/run/gcs") == []
