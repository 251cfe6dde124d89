"""Processes through the real agent and runtime: the hcsshim pod sequence
(docs/protocol.md §8), stdio, TTYs, signals, waits, notifications,
properties (docs/protocol.md §4.3-§4.8, §5). Against a local agent and, with
GCS_TEST_TARGET=uvm, against gcs in a utility VM (stdio over TCP there)."""
import hashlib
import json
import os
import threading

import pytest

import podlib
from gcsproto import (ALREADY_STOPPED, E_FAIL, E_INVALIDARG, INVALID_STATE, NOT_FOUND, NULL_ID, SYSTEM_NOT_FOUND,
                      TIMEOUT)
from podlib import Stdio


def ok(msg):
    assert msg["Result"] == 0, msg
    return msg


# PID 1 of a pid namespace only dies of SIGTERM if it handles it
INIT_SCRIPT = ("trap 'exit 143' TERM; cat /etc/from-layer2; echo to-stderr >&2; echo written > /new-file; "
               "sleep 1000 & wait")


def layers(env, rootfs):
    """Two layer directories: the busybox rootfs and one with a marker file
    (made where the agent runs)."""
    l2 = env.tmpdir("layer2")
    env.make_file(f"{l2}/etc/from-layer2", "layer two\n")
    return [l2, rootfs]  # the first is top-most


def combined(conn, cid, bundle, lower, scratch):
    return conn.call("ModifySettings", {"Request": {"ResourceType": "CombinedLayers", "RequestType": "Add",
                                                    "Settings": {"ContainerID": cid,
                                                                 "ContainerRootPath": bundle + "/rootfs",
                                                                 "Layers": [{"Path": p} for p in lower],
                                                                 "ScratchPath": scratch}}},
                     container_id=NULL_ID)


def remove_layers(conn, bundle):
    return conn.call("ModifySettings", {"Request": {"ResourceType": "CombinedLayers", "RequestType": "Remove",
                                                    "Settings": {"ContainerRootPath": bundle + "/rootfs"}}},
                     container_id=NULL_ID)


def start(env, cid, **kw):
    st = Stdio(env, **kw)
    msg = podlib.execute(env.conn, cid, st)
    ok(msg)
    return st, msg["ProcessId"]


def exec_in(env, cid, args, stdin=False, tty=False, stderr=True, **proc):
    st = Stdio(env, stdin=stdin, stdout=True, stderr=stderr)
    oci = {"args": args, "cwd": "/", "env": ["PATH=/bin"], "terminal": tty, "user": {"uid": 0, "gid": 0}}
    oci.update(proc)
    msg = podlib.execute(env.conn, cid, st, {"OciProcess": oci})
    ok(msg)
    return st, msg["ProcessId"]


@pytest.mark.parametrize("kind", ["pod", "virtual-pod", "standalone"])
def test_hcsshim_pod_sequence(pods, rootfs, kind):
    env, c = pods, pods.conn
    sid = podlib.new_id("ab")
    wid = podlib.new_id("cd")
    if kind == "standalone":
        sid = None
    # 4-6: layers, scratch, the combined rootfs (two layers + scratch)
    lower = layers(env, rootfs)
    if sid:
        vp = sid if kind == "virtual-pod" else None
        ok(podlib.create(c, sid, podlib.sandbox_spec(rootfs, sid, vpid=vp), env.bundle(sid)))
        if vp:
            env.paths.append(f"/run/gcs/c/virtual-pods/{sid}")
        sst, spid = start(env, sid)
    wb = env.bundle(wid)
    scratch = f"{wb}/scratch/{wid}"
    ok(combined(c, wid, wb, lower, scratch))
    if sid:
        spec = podlib.workload_spec(rootfs, sid, vpid=sid if kind == "virtual-pod" else None,
                                    args=["/bin/sh", "-c", INIT_SCRIPT])
    else:
        spec = podlib.standalone_spec(rootfs)
        spec["process"]["args"] = ["/bin/sh", "-c", INIT_SCRIPT]
        if env.runtime == "crun":
            # Docker's 2017 seccomp profile lacks syscalls crun's exec uses
            # (it fails stat'ing /proc/self/setgroups); runc is fine with it
            spec["linux"].pop("seccomp", None)
    spec["root"] = {"path": wb + "/rootfs", "readonly": False}
    spec["linux"]["resources"] = {"memory": {"limit": 64 << 20}}
    ok(podlib.create(c, wid, spec, wb, scratch))
    ok(c.call("Start", container_id=wid))
    st, pid = start(env, wid, stdin=True)
    # processes and statistics while it runs
    props = podlib.properties(c, wid, "ProcessList", "Statistics")
    assert pid in [p["ProcessId"] for p in props["ProcessList"]]
    assert props["LCOWMetrics"]["memory"]["usage"]["limit"] == 64 << 20
    assert props["LCOWMetrics"]["memory"]["usage"]["usage"] > 0
    assert podlib.properties(c, wid) == {}
    # an exec with stdin -> stdout
    est, epid = exec_in(env, wid, ["/bin/cat"], stdin=True)
    est.send_stdin(b"hello through stdin\n")
    out, err = est.read_outputs()
    assert out == b"hello through stdin\n" and err == b""
    assert ok(podlib.wait(c, wid, epid))["ExitCode"] == 0
    assert podlib.wait(c, wid, epid)["Result"] == NOT_FOUND  # exec records go after the first delivered wait
    assert env.exists(f"{scratch}/upper/new-file")  # writes land in the scratch
    # a wait that times out leaves the process waitable
    assert podlib.wait(c, wid, pid, timeout_ms=50)["Result"] == TIMEOUT
    # SIGTERM on init: 128+15, GracefulExit
    ok(podlib.signal(c, wid, pid, 15))
    out, err = st.read_outputs()
    assert out == b"layer two\n" and err == b"to-stderr\n"
    assert ok(podlib.wait(c, wid, pid))["ExitCode"] == 143
    assert ok(podlib.wait(c, wid, pid, timeout_ms=0))["ExitCode"] == 143  # init stays waitable
    note = c.notification()
    assert note == {"ContainerId": wid, "ActivityId": NULL_ID, "Type": "GracefulExit", "Operation": "None",
                    "Result": 0}
    assert podlib.signal(c, wid, pid, 15)["Result"] == NOT_FOUND  # already gone
    assert c.call("ShutdownGraceful", container_id=wid)["Result"] == ALREADY_STOPPED
    # the sandbox: ShutdownForced -> 137, ForcedExit
    if sid:
        ok(c.call("ShutdownForced", container_id=sid))
        sst.read_outputs()
        assert ok(podlib.wait(c, sid, spid))["ExitCode"] == 137
        assert c.notification()["Type"] == "ForcedExit"
    # teardown in hcsshim's order: layers, then the container state
    ok(remove_layers(c, wb))
    ok(podlib.delete(c, wid))
    if sid:
        ok(podlib.delete(c, sid))
    assert c.notifications == []
    assert env.mounts_under("/run/gcs") == []


def test_exec_10mib_roundtrip_and_tty_resize(pods, rootfs):
    env, c = pods, pods.conn
    sid = podlib.new_id()
    ok(podlib.create(c, sid, podlib.sandbox_spec(rootfs, sid), env.bundle(sid)))
    st, pid = start(env, sid)
    data = os.urandom(10 << 20)
    est, epid = exec_in(env, sid, ["/bin/cat"], stdin=True, stderr=False)
    t = threading.Thread(target=est.send_stdin, args=(data,))
    t.start()
    out, _ = est.read_outputs(timeout=120)
    t.join()
    assert len(out) == len(data) and hashlib.sha256(out).digest() == hashlib.sha256(data).digest()
    assert ok(podlib.wait(c, sid, epid))["ExitCode"] == 0
    # a TTY exec: resize, then the shell sees it
    tst, tpid = exec_in(env, sid, ["/bin/sh"], stdin=True, tty=True, stderr=False)
    ok(c.call("ResizeConsole", {"ProcessId": tpid, "Height": 33, "Width": 77}, container_id=sid))
    tst.send_stdin(b"stty size; exit 3\n", close=False)
    out, _ = tst.read_outputs()
    assert b"33 77" in out
    assert ok(podlib.wait(c, sid, tpid))["ExitCode"] == 3
    assert c.call("ResizeConsole", {"ProcessId": pid, "Height": 1, "Width": 1}, container_id=sid)["Result"] == E_FAIL
    ok(podlib.signal(c, sid, pid))  # no options: SIGKILL
    st.read_outputs()
    assert ok(podlib.wait(c, sid, pid))["ExitCode"] == 137
    assert c.notification()["Type"] == "ForcedExit"
    ok(podlib.delete(c, sid))


def test_waits_on_unknown_and_errors(pods_runc, rootfs):
    env, c = pods_runc, pods_runc.conn
    assert podlib.wait(c, podlib.new_id(), 1)["Result"] == SYSTEM_NOT_FOUND
    assert podlib.wait(c, NULL_ID, 999999)["Result"] == NOT_FOUND
    sid = podlib.new_id()
    ok(podlib.create(c, sid, podlib.sandbox_spec(rootfs, sid), env.bundle(sid)))
    assert podlib.wait(c, sid, 1)["Result"] == NOT_FOUND
    assert podlib.signal(c, sid, 1, 9)["Result"] == NOT_FOUND
    # a stream asked for without a port is refused, nothing dialled
    msg = c.call("ExecuteProcess", {"Settings": {"ProcessParameters": json.dumps({"CreateStdOutPipe": True}),
                                                 "VsockStdioRelaySettings": {}}}, container_id=sid)
    assert msg["Result"] == E_INVALIDARG, msg
    assert c.call("GetProperties", {"Query": "{}"}, container_id=NULL_ID)["Result"] == E_FAIL
    # running containers cannot be deleted (docs/differences.md D-14), and stay intact
    st, pid = start(env, sid)
    assert podlib.delete(c, sid)["Result"] == INVALID_STATE
    assert env.exists(f"/run/gcs/c/{sid}/config.json")
    ok(c.call("ShutdownForced", container_id=sid))
    st.read_outputs()
    assert ok(podlib.wait(c, sid, pid))["ExitCode"] == 137
    c.notification()
    ok(podlib.delete(c, sid))


def test_uvm_process(pods_runc):
    env, c = pods_runc, pods_runc.conn
    st = Stdio(env, stdin=True)
    ok(podlib.execute(c, NULL_ID, st, {"CommandLine": "sh -c 'read x; echo got $x; echo e >&2; exit 4'",
                                       "WorkingDirectory": "/tmp", "Environment": {"A": "1"}}))
    msg = c.call("DumpStacks", container_id=NULL_ID)
    assert "uvm processes: 1" in msg["GuestStacks"]
    st.send_stdin(b"it\n")
    out, err = st.read_outputs()
    assert out == b"got it\n" and err == b"e\n"
    # the pid from the response is in the VM's namespace
    msg2 = podlib.execute(c, NULL_ID, Stdio(env, stdout=False, stderr=False), {"CommandArgs": []})
    assert msg2["Result"] == E_INVALIDARG  # empty argv is an error, not a crash


def test_uvm_process_exit_code_and_console(pods_runc):
    env, c = pods_runc, pods_runc.conn
    st = Stdio(env)
    msg = ok(podlib.execute(c, NULL_ID, st, {"CommandArgs": ["/bin/sh", "-c", "echo $A; exit 4"],
                                             "Environment": {"A": "env-ok"}}))
    out, _ = st.read_outputs()
    assert out == b"env-ok\n"
    assert ok(podlib.wait(c, NULL_ID, msg["ProcessId"]))["ExitCode"] == 4
    assert podlib.wait(c, NULL_ID, msg["ProcessId"])["Result"] == NOT_FOUND
    tst = Stdio(env, stdin=True, stderr=False)
    msg = ok(podlib.execute(c, NULL_ID, tst, {"CommandArgs": ["/bin/sh"], "EmulateConsole": True}))
    ok(c.call("ResizeConsole", {"ProcessId": msg["ProcessId"], "Height": 20, "Width": 90}, container_id=NULL_ID))
    tst.send_stdin(b"stty size; exit 0\n", close=False)
    out, _ = tst.read_outputs()
    assert b"20 90" in out
    assert ok(podlib.wait(c, NULL_ID, msg["ProcessId"]))["ExitCode"] == 0
