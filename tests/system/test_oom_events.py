"""OOM and memory events from the kernel's notifications, not polling
(src/host/memevents.c): a container that outgrows its memory limit is
really OOM-killed on this machine's cgroup v1 memory controller, and the
agent logs "container OOM event" with the container and its pod at once
(measured against the init's exit line), the container's statistics count
the kill; a pod tree that outgrows /pods logs upstream's "memory usage for
cgroup exceeded threshold" for /pods; the agent itself crossing
-gcs-mem-limit-bytes logs the same for /gcs (v1 threshold eventfd)."""
import datetime
import json
import os
import socket
import struct

import pytest

import podlib
from conftest import TARGET, _check_no_leaks, _pod_env
from gcsproto import req_code
from podlib import Stdio

pytestmark = pytest.mark.skipif(TARGET == "uvm" or not os.path.isdir("/sys/fs/cgroup/memory"),
                                reason="a local agent on cgroup v1 with the memory controller")

# allocates ~200 MB in the shell's memory (command substitution keeps it all)
HOG = ["/bin/sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived"]


def lines(agent):
    return agent.log_entries()


def wait_line(agent, pred, what, timeout=30.0):
    return agent.wait_log_entry(pred, what, timeout)


def ts(o):
    t = o["time"].rstrip("Z")
    if "." in t:
        head, frac = t.split(".")
        t = f"{head}.{frac[:6]:0<6}"
    return datetime.datetime.fromisoformat(t)


def run_init(env, cid):
    st = Stdio(env)
    msg = podlib.execute(env.conn, cid, st)
    assert msg["Result"] == 0, msg
    return st, msg["ProcessId"]


def pod_with_hog(env, rootfs, limit=None):
    c = env.conn
    sid, wid = podlib.new_id("os"), podlib.new_id("ow")
    assert podlib.create(c, sid, podlib.sandbox_spec(rootfs, sid), env.bundle(sid))["Result"] == 0
    sst, spid = run_init(env, sid)
    spec = podlib.workload_spec(rootfs, sid, args=HOG)
    if limit:
        spec["linux"]["resources"] = {"memory": {"limit": limit, "swap": limit}}
    assert podlib.create(c, wid, spec, env.bundle(wid))["Result"] == 0
    st, pid = run_init(env, wid)
    out, _ = st.read_outputs(timeout=120)
    code = podlib.wait(c, wid, pid, timeout=120)["ExitCode"]
    assert out == b"" and code == 137, (out, code)  # SIGKILLed by the OOM killer, never "survived"
    return sid, wid, pid, (sst, spid)


def finish(env, sid, wid, sandbox):
    c = env.conn
    assert podlib.delete(c, wid)["Result"] == 0
    sst, spid = sandbox
    podlib.signal(c, sid, spid, 9)
    sst.read_outputs()
    podlib.wait(c, sid, spid)
    assert podlib.delete(c, sid)["Result"] == 0


def test_container_oom_event_names_container_and_pod(agent_factory, tmp_path, rootfs, runtime):
    env = _pod_env(agent_factory, tmp_path, runtime, ["-log-format", "json"])
    try:
        sid, wid, pid, sandbox = pod_with_hog(env, rootfs, limit=24 << 20)
        ev = wait_line(env.agent, lambda o: o["msg"] == "container OOM event" and o.get("container") == wid,
                       "container OOM event")
        assert ev["level"] == "warning" and ev["pod"] == sid and ev["count"] >= 1 and ev["oom_kills"] >= 1
        assert ev["cgroup"].endswith(wid)
        exited = wait_line(env.agent, lambda o: o["msg"] == "process exited" and o.get("pid") == pid, "exit")
        latency = abs((ts(ev) - ts(exited)).total_seconds())
        print(f"OOM event line vs init exit line: {latency * 1000:.1f} ms")
        assert latency < 1.0  # the old poll could be a whole second late; an event is not
        # the count shows in the container's statistics
        stats = podlib.properties(env.conn, wid, "Statistics")["LCOWMetrics"]
        assert stats["memory_oom_control"]["oom_kill"] >= 1
        finish(env, sid, wid, sandbox)
        # the sandbox never OOMed, and deleting cgroups is not an event
        evs = [o for o in lines(env.agent) if o["msg"] == "container OOM event"]
        assert all(o["container"] == wid for o in evs), evs
        assert not any(o["msg"] == "memory usage for cgroup exceeded threshold" for o in lines(env.agent))
    finally:
        _check_no_leaks(env)


def test_pods_cgroup_oom_is_logged(agent_factory, tmp_path, rootfs):
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    pods_limit = 48 << 20
    env = _pod_env(agent_factory, tmp_path, "runc",
                   ["-log-format", "json", "-root-mem-reserve-bytes", str(total - pods_limit)])
    try:
        limit = int(open("/sys/fs/cgroup/memory/pods/memory.limit_in_bytes").read())
        assert abs(limit - pods_limit) < (1 << 20), limit
        sid, wid, pid, sandbox = pod_with_hog(env, rootfs)  # no limit of its own: /pods is the limit
        ev = wait_line(env.agent, lambda o: o["msg"] == "memory usage for cgroup exceeded threshold"
                       and o.get("cgroup") == "/pods", "/pods event")
        assert ev["level"] == "warning" and ev["cgroup_version"] == "v1" and ev["count"] >= 1
        assert ev["thresholdBytes"] == limit
        # v1 counts a kill in the victim's own cgroup only: the workload's
        stats = podlib.properties(env.conn, wid, "Statistics")["LCOWMetrics"]
        assert stats["memory_oom_control"]["oom_kill"] >= 1
        finish(env, sid, wid, sandbox)
    finally:
        _check_no_leaks(env)


def test_gcs_threshold_event(agent_factory, tmp_path):
    threshold = 8 << 20
    a = agent_factory(mode="unix", args=["-log-format", "json", "-gcs-mem-limit-bytes", str(threshold)])
    conn = a.connect()
    conn.negotiate()
    usage = int(open("/sys/fs/cgroup/memory/gcs/memory.usage_in_bytes").read())
    assert usage < threshold, f"the agent already uses {usage} bytes"
    assert not any(o["msg"] == "memory usage for cgroup exceeded threshold" for o in lines(a))
    # one 24 MiB request: the agent holds the whole frame before decoding it
    body = json.dumps({"ContainerId": "x", "Pad": "p" * (24 << 20)}).encode()
    hdr = struct.pack("<IIQ", req_code("ModifySettings"), 16 + len(body), 77)
    conn.send_bytes(hdr + body)
    conn.response(77, timeout=60)
    ev = wait_line(a, lambda o: o["msg"] == "memory usage for cgroup exceeded threshold"
                   and o.get("cgroup") == "/gcs", "/gcs event")
    assert ev["thresholdBytes"] == threshold and ev["memoryUsage"] > threshold and ev["cgroup_version"] == "v1"
