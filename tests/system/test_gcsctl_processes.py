"""gcsctl's process commands against the real gcs with runc: start, exec,
vm-exec, kill, shutdown, wait, ps, stats, run, pod. As in test_gcsctl.py the
agent has no Python listener: every gcsctl run is one bridge connection."""
import json
import os
import subprocess

import pytest

import podlib
from test_gcsctl import GCSCTL, ctl_env, gcsctl, listing, ok  # noqa: F401 (ctl_env is a fixture)

pytestmark = pytest.mark.skipif(os.environ.get("GCS_TEST_TARGET", "local") == "uvm",
                                reason="host-only: gcsctl talks to a local agent's unix transport")

SLEEPER = ["/bin/sh", "-c", "while :; do sleep 3600; done"]


@pytest.fixture(scope="module")
def rfs(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("ctlrootfs") / "rootfs")
    ok(None, "make-rootfs", d)
    return d


def standalone(env, rfs, *args, extra=()):
    cid = podlib.new_id("p")
    env.bundle(cid)
    ok(env, "create", cid, "--kind", "standalone", "--rootfs", rfs, *extra, *(["--", *args] if args else []))
    return cid


def running(env, rfs, *args, extra=()):
    cid = standalone(env, rfs, *args, extra=extra)
    pid = int(ok(env, "start", cid, "-d"))
    assert podlib.pid_alive(pid)
    return cid, pid


def info(env, cid):
    return {c["id"]: c for c in listing(env)["containers"]}.get(cid)


def test_start_attached_streams_output_and_exits_with_the_code(ctl_env, rfs):
    env = ctl_env
    cid = standalone(env, rfs, "/bin/sh", "-c", "echo out; echo err >&2; exit 7")
    rc, out, err = gcsctl(env, "start", cid)
    assert (rc, out, err) == (7, "out\n", "err\n")
    assert info(env, cid)["state"] == "terminated"
    ok(env, "delete", cid)


def test_start_detached_prints_the_init_pid(ctl_env, rfs):
    env = ctl_env
    cid, pid = running(env, rfs)
    c = info(env, cid)
    assert c["pid"] == pid and c["state"] == "running"
    ok(env, "shutdown", cid, "--force")
    assert gcsctl(env, "wait", cid, pid)[:2] == (137, "137\n")
    ok(env, "delete", cid)


def test_exec_stdin_env_cwd_user_and_exit_code(ctl_env, rfs):
    env = ctl_env
    cid, _ = running(env, rfs)
    assert ok(env, "exec", cid, "-i", "--", "/bin/cat", stdin="hi\n") == "hi\n"
    big = "".join(f"line {i}\n" for i in range(50000))  # more than the socket buffers in both directions
    assert ok(env, "exec", cid, "-i", "--", "/bin/cat", stdin=big) == big
    # without -i the process gets no stdin at all: cat ends at once
    assert ok(env, "exec", cid, "--", "/bin/cat", stdin="ignored\n") == ""
    rc, out, err = gcsctl(env, "exec", cid, "--", "/bin/sh", "-c", "echo e >&2; exit 3")
    assert (rc, out, err) == (3, "", "e\n")
    out = ok(env, "exec", cid, "--user", "65534:65534", "--cwd", "/tmp", "--env", "A=b", "--env", "PATH=/bin",
             "--", "/bin/sh", "-c", 'echo $A $(pwd) $(id -u):$(id -g)')
    assert out.split() == ["b", "/tmp", "65534:65534"]
    # default environment: PATH (runc adds HOME)
    envs = ok(env, "exec", cid, "--", "/bin/env").splitlines()
    assert "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" in envs and "A=b" not in envs
    # a terminal: output through the pty (no stderr stream), exit code still carried
    rc, out, err = gcsctl(env, "exec", cid, "-t", "--", "/bin/sh", "-c", "echo tty; echo e2 >&2; exit 4")
    assert (rc, out.replace("\r\n", "\n"), err) == (4, "tty\ne2\n", "")
    # a process killed by a signal: 128 + signal
    assert gcsctl(env, "exec", cid, "--", "/bin/sh", "-c", "kill -9 $$")[0] == 137
    # exec into a container that does not exist
    rc, _, err = gcsctl(env, "exec", "no-such-ctr", "--", "/bin/true")
    assert rc == 1 and "0xc037010e" in err, err
    ok(env, "shutdown", cid, "--force")
    ok(env, "delete", cid)


def test_kill_and_wait_report_exit_codes(ctl_env, rfs):
    env = ctl_env
    trap = "trap 'exit 143' TERM; while :; do sleep 1 & wait; done"
    a, apid = running(env, rfs, "/bin/sh", "-c", trap)
    b, bpid = running(env, rfs)
    # a timed wait on a running process fails (exit 1), the process stays waitable
    rc, out, err = gcsctl(env, "wait", a, apid, "--timeout", "100")
    assert rc == 1 and out == "" and "0xc0370109" in err, err
    ok(env, "kill", a)  # default: SIGTERM to the init
    assert gcsctl(env, "wait", a, apid)[:2] == (143, "143\n")
    ok(env, "kill", b, bpid, "--signal", "9")
    assert gcsctl(env, "wait", b, bpid)[:2] == (137, "137\n")
    # the exit notifications that arrived meanwhile are not errors for later commands
    assert {c["id"]: c["state"] for c in listing(env)["containers"]} == {a: "terminated", b: "terminated"}
    rc, _, err = gcsctl(env, "kill", a)
    assert rc == 1 and "HRESULT" in err
    for cid in [a, b]:
        ok(env, "delete", cid)


def test_graceful_shutdown(ctl_env, rfs):
    env = ctl_env
    cid, pid = running(env, rfs, "/bin/sh", "-c", "trap 'exit 42' TERM; while :; do sleep 1 & wait; done")
    ok(env, "shutdown", cid)
    assert gcsctl(env, "wait", cid, pid)[0] == 42
    ok(env, "delete", cid)


def test_ps_and_stats(ctl_env, rfs):
    env = ctl_env
    cid, pid = running(env, rfs, "/bin/sh", "-c", "sleep 1000 & sleep 1001 & wait", extra=("--memory", "48m"))
    pids = [int(p) for p in ok(env, "ps", cid).split()]
    assert pid in pids and len(pids) == 3, pids
    brief = ok(env, "stats", cid, "--brief").splitlines()
    assert brief[0].startswith("memory usage ") and brief[0].endswith(f" limit {48 << 20}"), brief
    assert int(brief[0].split()[2]) > 0
    assert brief[1].startswith("cpu total ") and brief[2] == "pids current 3", brief
    full = json.loads(ok(env, "stats", cid))
    assert full["memory"]["usage"]["limit"] == 48 << 20 and full["pids"]["current"] == 3
    rc, _, err = gcsctl(env, "ps", "no-such-ctr")
    assert rc == 1 and "0xc037010e" in err
    ok(env, "shutdown", cid, "--force")
    gcsctl(env, "wait", cid, pid)
    ok(env, "delete", cid)


def test_run_removes_the_container_unless_keep(ctl_env, rfs):
    env = ctl_env
    r1, r2, r3 = podlib.new_id("r1"), podlib.new_id("r2"), podlib.new_id("r3")
    for r in (r1, r2, r3):
        env.bundle(r)
    rc, out, err = gcsctl(env, "run", r1, "--rootfs", rfs, "--", "/bin/sh", "-c", "echo ran; exit 5")
    assert (rc, out, err) == (5, "ran\n", "")
    assert ok(env, "run", r2, "--rootfs", rfs, "-i", "--", "/bin/cat", stdin="hi\n") == "hi\n"
    assert ok(env, "run", r3, "--rootfs", rfs, "--keep", "--hostname", "h3", "--", "/bin/hostname") == "h3\n"
    assert [c["id"] for c in listing(env)["containers"]] == [r3]
    assert podlib.runtime_list("runc", env.rtroot) == [r3]
    ok(env, "delete", r3)
    # a process that cannot start: failure, and the container is still removed
    rc, _, err = gcsctl(env, "run", podlib.new_id("r4"), "--rootfs", rfs, "--", "/no/such/binary")
    assert rc == 1 and err
    assert listing(env)["containers"] == []


@pytest.mark.parametrize("virtual", [False, True])
def test_pod_create_and_delete(ctl_env, rfs, tmp_path, virtual):
    env = ctl_env
    S, W1, W2 = podlib.new_id("ps"), podlib.new_id("pw1"), podlib.new_id("pw2")
    for c in (S, W1, W2):
        env.bundle(c)
    if virtual:
        env.paths.append(f"/run/gcs/c/virtual-pods/{S}")
    desc = {"sandbox": {"id": S, "rootfs": rfs, "hostname": "podh", "vpid": S if virtual else None},
            "workloads": [{"id": W1, "args": ["/bin/sh", "-c", "while :; do sleep 1; done"]},
                          {"id": W2, "args": ["/bin/sleep", "999"], "memory": 32 << 20}]}
    f = tmp_path / "pod.json"
    f.write_text(json.dumps(desc))
    out = ok(env, "pod", f)
    lines = out.splitlines()
    assert [ln.split()[:2] for ln in lines] == [["vpod" if virtual else "pod", S], ["workload", W1],
                                              ["workload", W2]]
    lst = listing(env)
    ctrs = {c["id"]: c for c in lst["containers"]}
    assert set(ctrs) == {S, W1, W2} and all(c["state"] == "running" for c in ctrs.values())
    assert all(c["pod"] == S for c in ctrs.values())
    for ln in lines:
        assert int(ln.split()[-1]) == ctrs[ln.split()[1]]["pid"]
    assert ok(env, "exec", W1, "--", "/bin/cat", "/etc/hostname") == "podh\n"
    assert [p["id"] for p in lst["pods"]] == [S]
    out = ok(env, "pod", "--delete", f)
    assert [ln.split()[0] for ln in out.splitlines()] == [W2, W1, S]
    assert "exit 137, deleted" in out.splitlines()[0]
    assert listing(env) == {"pods": [], "containers": []}
    # again: nothing left to delete is not a failure
    assert ok(env, "pod", "--delete", f).count("not found") == 3


def test_pod_file_errors(tmp_path):
    f = tmp_path / "bad.json"
    for doc in ["{not json", '{"workloads": []}', '{"sandbox": {"id": "a"}}',
                '{"sandbox": {"id": "a", "rootfs": "/", "vpid": "b"}}',
                '{"sandbox": {"id": "a", "rootfs": "/"}, "workloads": [{"id": "w", "args": []}]}']:
        f.write_text(doc)
        rc, _, err = gcsctl(None, "pod", f, timeout=10)
        assert rc == 1 and "pod:" in err, (doc, err)


def test_vm_exec(ctl_env):
    env = ctl_env
    rc, out, err = gcsctl(env, "vm-exec", "--", "/bin/sh", "-c", "echo vm; echo e >&2; exit 4")
    assert (rc, out, err) == (4, "vm\n", "e\n")
    assert ok(env, "vm-exec", "-i", "--", "/bin/cat", stdin="to the vm\n") == "to the vm\n"
    out = ok(env, "vm-exec", "--env", "X=y", "--cwd", "/tmp", "--", "/bin/sh", "-c", "echo $X $(pwd)")
    assert out == "y /tmp\n"
    rc, out, _ = gcsctl(env, "vm-exec", "-t", "--", "/bin/sh", "-c", "test -t 1 && echo tty")
    assert rc == 0 and out.replace("\r\n", "\n") == "tty\n"


@pytest.mark.parametrize("args", [
    ["start"], ["start", "a", "b"], ["start", "a", "-d", "-i"], ["start", "a", "--bogus"],
    ["exec", "a"], ["exec", "a", "--"], ["exec", "--", "true"], ["exec", "a", "--user", "x", "--", "true"],
    ["exec", "a", "--env", "NOEQUALS", "--", "true"], ["vm-exec"], ["vm-exec", "x", "--", "true"],
    ["kill"], ["kill", "a", "notapid"], ["kill", "a", "--signal", "TERM"], ["kill", "a", "1", "2"],
    ["shutdown"], ["shutdown", "a", "--now"], ["wait", "a"], ["wait", "a", "0"], ["wait", "a", "1", "--timeout", "x"],
    ["ps"], ["ps", "a", "b"], ["stats"], ["stats", "a", "--long"], ["run"], ["run", "a"],
    ["pod"], ["pod", "a", "b"], ["pod", "--remove", "f"],
])
def test_process_usage_errors_exit_2(args):
    rc, out, err = gcsctl(None, *args, timeout=10)
    assert rc == 2, (args, rc, out, err)
    assert "usage:" in err


def test_help_lists_the_process_commands():
    out = ok(None, "help")
    for cmd in ["start", "exec", "vm-exec", "kill", "shutdown", "wait", "ps", "stats", "run", "pod"]:
        assert f"gcsctl {cmd}" in out, cmd
    assert "--detach" in ok(None, "start", "--help")
    assert "--brief" in ok(None, "help", "stats")
