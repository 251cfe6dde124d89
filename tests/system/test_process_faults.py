"""Concurrency, reconnects, faults and leaks around processes."""
import json
import os
import select
import signal as _signal
import threading
import time

import pytest

import podlib
from gcsproto import E_FAIL, NOT_FOUND, NULL_ID, Listener
from podlib import Stdio
from test_processes import exec_in, ok, start
from test_pod_rules import wrapper_env

pytestmark = pytest.mark.skipif(os.environ.get("GCS_TEST_TARGET", "local") == "uvm",
                                reason="host-only: kills and inspects processes on the host directly")


def sandbox_running(env, rootfs):
    sid = podlib.new_id()
    ok(podlib.create(env.conn, sid, podlib.sandbox_spec(rootfs, sid), env.bundle(sid)))
    st, pid = start(env, sid, stdout=False, stderr=False)
    return sid, pid


def stop(env, sid, pid):
    ok(env.conn.call("ShutdownForced", container_id=sid))
    assert ok(podlib.wait(env.conn, sid, pid))["ExitCode"] == 137
    assert env.conn.notification()["ContainerId"] == sid
    ok(podlib.delete(env.conn, sid))


def test_100_concurrent_execs_across_10_containers(pods_runc, rootfs):
    env, c = pods_runc, pods_runc.conn
    ctrs = [sandbox_running(env, rootfs) for _ in range(10)]
    from gcsproto import req_code
    pending = {}
    for i in range(100):
        sid = ctrs[i % 10][0]
        st = Stdio(env)
        oci = {"args": ["/bin/sh", "-c", f"echo out-{i}; echo err-{i} >&2"], "cwd": "/", "env": ["PATH=/bin"],
               "user": {"uid": 0, "gid": 0}}
        pp = dict(st.flags, OciProcess=oci)
        rid = c.send(req_code("ExecuteProcess"), {"ContainerId": sid, "ActivityId": NULL_ID, "Settings": {
            "ProcessParameters": json.dumps(pp), "VsockStdioRelaySettings": st.ports}})
        pending[rid] = (i, sid, st)
    results = {}
    for rid, (i, sid, st) in pending.items():
        _, msg = c.response(rid, timeout=120)
        ok(msg)
        st.accept()
        results[i] = (sid, msg["ProcessId"], st)
    for i, (sid, pid, st) in results.items():
        out, err = st.read_outputs()
        assert out == f"out-{i}\n".encode() and err == f"err-{i}\n".encode()
        assert ok(podlib.wait(c, sid, pid))["ExitCode"] == 0
    for sid, pid in ctrs:
        stop(env, sid, pid)


def test_reconnect_keeps_state_and_delivers_queued_notification_once(pods_runc, rootfs):
    env = pods_runc
    c = env.conn
    sid, pid = sandbox_running(env, rootfs)
    from gcsproto import req_code
    c.send(req_code("WaitForProcess"), {"ContainerId": sid, "ActivityId": NULL_ID, "ProcessId": pid,
                                        "TimeoutInMs": 0xFFFFFFFF})
    c.close()  # the host goes away with a wait pending
    # the container dies while no host is connected
    os.kill(pid, _signal.SIGKILL)
    c2 = env.agent.listener.accept(timeout=5)
    env.agent.conn = c2
    env.conn = c2
    note = c2.notification(timeout=10)  # flushed first, before any negotiation
    assert note["ContainerId"] == sid and note["Type"] == "UnexpectedExit"
    c2.negotiate()
    assert f"container {sid} kind=sandbox state=terminated" in podlib.dump(c2)
    assert ok(podlib.wait(c2, sid, pid))["ExitCode"] == 137  # init stays waitable
    ok(podlib.delete(c2, sid))
    assert c2.notifications == []  # exactly once


def test_stdio_peer_vanishing_does_not_block_the_process(pods_runc, rootfs):
    env, c = pods_runc, pods_runc.conn
    sid, pid = sandbox_running(env, rootfs)
    st, epid = exec_in(env, sid, ["/bin/sh", "-c", "head -c 20000000 /dev/zero; echo done >&2"])
    first = st.socks["StdOut"].recv(4096)
    assert first
    st.socks["StdOut"].close()  # the host vanishes mid-stream
    del st.socks["StdOut"]
    _, err = st.read_outputs()
    assert err == b"done\n"
    assert ok(podlib.wait(c, sid, epid))["ExitCode"] == 0
    stop(env, sid, pid)


def test_init_killed_from_outside(pods_runc, rootfs):
    env, c = pods_runc, pods_runc.conn
    sid = podlib.new_id()
    ok(podlib.create(env.conn, sid, podlib.sandbox_spec(rootfs, sid), env.bundle(sid)))
    st, pid = start(env, sid)
    os.kill(pid, _signal.SIGKILL)  # the pid gcs reported for the container we started
    st.read_outputs()
    assert ok(podlib.wait(c, sid, pid))["ExitCode"] == 137
    assert c.notification()["Type"] == "UnexpectedExit"
    ok(podlib.delete(c, sid))


WRAP_FAIL_START_EXEC = """#!/bin/sh
log=""; prev=""
for a in "$@"; do [ "$prev" = "--log" ] && log="$a"; prev="$a"; done
for a in "$@"; do
  case "$a" in start|exec)
    [ -n "$log" ] && echo "{\\"level\\":\\"error\\",\\"msg\\":\\"wrapper: $a refused on purpose\\"}" >> "$log"
    exit 1;;
  esac
done
exec runc "$@"
"""


def test_runtime_failing_at_start_and_exec(agent_factory, tmp_path, rootfs):
    env = wrapper_env(agent_factory, tmp_path, WRAP_FAIL_START_EXEC)
    c = env.conn
    sid = podlib.new_id()
    ok(podlib.create(c, sid, podlib.sandbox_spec(rootfs, sid), env.bundle(sid)))
    st = Stdio(env)
    msg = podlib.execute(c, sid, st)
    assert msg["Result"] == E_FAIL and "start refused on purpose" in msg["ErrorMessage"], msg
    st.close()
    # still created, never started: delete works and leaves nothing
    ok(podlib.delete(c, sid))
    assert podlib.runtime_list("runc", env.rtroot) == []


def test_leak_soak_200_cycles(pods_runc, rootfs):
    """pod run / exec / delete, 200 times: the agent's fds and RSS stay flat."""
    env, c = pods_runc, pods_runc.conn
    gpid = env.agent.proc.pid

    def fds():
        return len(os.listdir(f"/proc/{gpid}/fd"))

    def rss():
        with open(f"/proc/{gpid}/status") as f:
            return int([x for x in f if x.startswith("VmRSS")][0].split()[1])

    def cycle():
        sid = podlib.new_id()
        ok(podlib.create(c, sid, podlib.sandbox_spec(rootfs, sid), f"/run/gcs/c/{sid}"))
        st, pid = start(env, sid, stdout=False, stderr=False)
        est, epid = exec_in(env, sid, ["/bin/echo", "hi"])
        assert est.read_outputs()[0] == b"hi\n"
        assert ok(podlib.wait(c, sid, epid))["ExitCode"] == 0
        stop(env, sid, pid)
        assert not os.path.exists(f"/run/gcs/c/{sid}")

    for _ in range(20):  # warm up allocator pools
        cycle()
    fd0, rss0 = fds(), rss()
    for _ in range(180):
        cycle()
    fd1, rss1 = fds(), rss()
    print(f"soak: fds {fd0}->{fd1}, RSS {rss0}->{rss1} KiB")
    assert fd1 == fd0
    if not os.environ.get("GCS_SAN"):  # ASan's quarantine keeps freed memory resident on purpose
        assert rss1 <= rss0 * 1.05 + 64, (rss0, rss1)
    assert podlib.pods_children() == []


WRAP_FAIL_EXEC = WRAP_FAIL_START_EXEC.replace("start|exec)", "exec)")


def test_runtime_failing_at_exec(agent_factory, tmp_path, rootfs):
    env = wrapper_env(agent_factory, tmp_path, WRAP_FAIL_EXEC)
    c = env.conn
    sid, pid = sandbox_running(env, rootfs)
    st = Stdio(env, stdin=True)
    oci = {"args": ["/bin/cat"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}}
    msg = podlib.execute(c, sid, st, {"OciProcess": oci})
    assert msg["Result"] == E_FAIL and "exec refused on purpose" in msg["ErrorMessage"], msg
    st.close()
    # no process record, no leaked fds: the container goes on and stops cleanly
    assert "execs=0" in podlib.dump(c)
    gpid = env.agent.proc.pid
    n0 = len(os.listdir(f"/proc/{gpid}/fd"))
    for _ in range(5):
        st = Stdio(env, stdin=True)
        assert podlib.execute(c, sid, st, {"OciProcess": oci})["Result"] == E_FAIL
        st.close()
    assert len(os.listdir(f"/proc/{gpid}/fd")) == n0
    stop(env, sid, pid)


def test_oom_kill_exit_code_and_agent_log(pods_runc, rootfs):
    """A container over its memory limit is OOM-killed (137), and the agent
    logs it: at the init's exit, and as the container's OOM event (which a
    delete right after the exit must not trip over: the event may still be
    settling then). The /pods-level watch of docs/pod-model.md §4.6 only sees
    /pods itself running out on v1."""
    env, c = pods_runc, pods_runc.conn
    cid = podlib.new_id()
    spec = podlib.standalone_spec(rootfs, base="lcow-default.json")
    spec["process"]["args"] = ["/bin/dd", "if=/dev/zero", "of=/dev/null", "bs=256M", "count=1"]
    spec["linux"]["resources"] = {"memory": {"limit": 32 << 20, "swap": 32 << 20}}
    ok(podlib.create(c, cid, spec, env.bundle(cid)))
    st, pid = start(env, cid)
    st.read_outputs()
    assert ok(podlib.wait(c, cid, pid))["ExitCode"] == 137
    assert c.notification()["Type"] == "UnexpectedExit"
    deadline = time.monotonic() + 10
    while "container OOM-killed" not in env.agent.log():
        assert time.monotonic() < deadline, "no OOM log line from the agent"
        select_wait = min(0.2, deadline - time.monotonic())
        select.select([], [], [], max(select_wait, 0))  # the log file is the event
    ok(podlib.delete(c, cid))
    assert 'msg="container OOM event" container=' + cid in env.agent.log()
