"""Limits enforced for real, in a VM on pure cgroup v2: a pod's memory.max,
pids.max and cpu.max written (converted from the OCI resources), a container
over its memory limit OOM-killed (exit code 137), a fork bomb stopped at
pids.max, and statistics read from v2 in the v1 (LCOWMetrics) shape."""
import time

import podlib
from podlib import Stdio


def ok(msg):
    assert msg["Result"] == 0, msg
    return msg


def start(env, cid, **kw):
    st = Stdio(env, **kw)
    msg = ok(podlib.execute(env.conn, cid, st))
    return st, msg["ProcessId"]


def pod(env, res=None):
    sid = podlib.new_id("ab")
    res = res or {"memory": {"limit": 64 << 20}, "pids": {"limit": 64},
                  "cpu": {"quota": 50000, "period": 100000}}
    ok(podlib.create(env.conn, sid, podlib.sandbox_spec(podlib_rootfs(), sid, resources=res), env.bundle(sid)))
    st, pid = start(env, sid)
    return sid, st, pid


def podlib_rootfs():
    from uvm import ROOTFS
    return ROOTFS


def workload(env, sid, args, res):
    wid = podlib.new_id("cd")
    spec = podlib.workload_spec(podlib_rootfs(), sid, args=args)
    spec["linux"]["resources"] = res
    ok(podlib.create(env.conn, wid, spec, env.bundle(wid)))
    ok(env.conn.call("Start", container_id=wid))
    st, pid = start(env, wid)
    return wid, st, pid


def finish(env, sid, spid, sst, wids):
    c = env.conn
    for w in wids:
        ok(podlib.delete(c, w))
    ok(c.call("ShutdownForced", container_id=sid))
    sst.read_outputs()
    assert ok(podlib.wait(c, sid, spid))["ExitCode"] == 137
    ok(podlib.delete(c, sid))
    c.notifications.clear()


def test_pod_limits_written_and_stats_in_v1_shape(env):
    assert env.cgroup_version == 2
    c = env.conn
    sid, sst, spid = pod(env)
    cg = f"/sys/fs/cgroup/pods/{sid}"
    rc, out = env.sh(f"cat {cg}/memory.max {cg}/pids.max {cg}/cpu.max")
    assert rc == 0 and out.splitlines() == ["67108864", "64", "50000 100000"], out
    wid, st, pid = workload(env, sid, ["/bin/sh", "-c", "trap 'exit 0' TERM; sleep 1000 & echo ready; wait"],
                            {"memory": {"limit": 32 << 20}, "pids": {"limit": 16}})
    first = b""
    while not first.endswith(b"\n"):  # the sleeper is forked once "ready" is out
        chunk = st.socks["StdOut"].recv(64)
        assert chunk, first
        first += chunk
    assert first == b"ready\n"
    assert env.read(f"{cg}/{wid}/memory.max").strip() == str(32 << 20)
    m = podlib.properties(c, wid, "Statistics")["LCOWMetrics"]
    assert m["memory"]["usage"]["limit"] == 32 << 20
    assert 0 < m["memory"]["usage"]["usage"] < 32 << 20
    assert m["pids"]["current"] >= 2 and m["pids"]["limit"] == 16
    assert m["cpu"]["usage"]["total"] > 0
    ok(podlib.signal(c, wid, pid, 15))
    st.read_outputs()
    assert ok(podlib.wait(c, wid, pid))["ExitCode"] == 0
    finish(env, sid, spid, sst, [wid])


def test_over_its_memory_limit_a_container_is_oom_killed(env):
    c = env.conn
    sid, sst, spid = pod(env)
    # awk doubles a string until it holds 64 MiB: twice the 32 MiB limit (exec: awk is the init)
    hog = "BEGIN { s = \"x\"; while (length(s) < 67108864) s = s s; print \"survived\", length(s) }"
    wid, st, pid = workload(env, sid, ["/bin/awk", hog], {"memory": {"limit": 32 << 20}})
    out, _ = st.read_outputs(timeout=120)
    assert b"survived" not in out
    assert ok(podlib.wait(c, wid, pid, timeout=120))["ExitCode"] == 137  # SIGKILL from the OOM killer
    events = dict(line.split() for line in env.read(f"/sys/fs/cgroup/pods/{sid}/{wid}/memory.events").splitlines())
    assert int(events["oom_kill"]) >= 1, events
    # the agent saw it through inotify on memory.events: one event line with
    # the container and its pod, and the kill in the container's statistics
    m = podlib.properties(c, wid, "Statistics")["LCOWMetrics"]
    assert m["memory_oom_control"]["oom_kill"] >= 1, m
    # on the log stream the host reads (port 109, JSON objects)
    e = env.vm.log.wait(lambda e: e.get("msg") == "container OOM event" and e.get("container") == wid,
                        timeout=30, what="container OOM event")
    assert e["pod"] == sid and e["level"] in ("warning", "info", "error"), e
    finish(env, sid, spid, sst, [wid])


def test_a_fork_bomb_stops_at_pids_max(env):
    c = env.conn
    sid, sst, spid = pod(env)
    # start sleepers until fork fails; ash gives up ("can't fork") and exits
    bomb = "n=0; while true; do sleep 1000 & n=$((n+1)); echo $n; done"
    wid, st, pid = workload(env, sid, ["/bin/sh", "-c", bomb], {"pids": {"limit": 32}})
    out, err = st.read_outputs(timeout=120)
    code = ok(podlib.wait(c, wid, pid, timeout=120))["ExitCode"]
    counts = [int(x) for x in out.split()]
    assert code != 0, (code, out[-200:], err)
    assert b"fork" in err, err
    # the shell itself is one of the 32 tasks
    assert counts and 24 <= counts[-1] <= 31, counts[-5:]
    cg = f"/sys/fs/cgroup/pods/{sid}/{wid}"
    events = dict(line.split() for line in env.read(f"{cg}/pids.events").splitlines())
    assert int(events["max"]) >= 1, events
    # the namespace's init is gone: every sleeper went with it
    assert env.read(f"{cg}/pids.current").strip() == "0"
    finish(env, sid, spid, sst, [wid])
