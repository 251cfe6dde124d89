"""Live migration (docs/protocol.md §1.3 "Reconnecting output"): a container
init's stdout and stderr survive the host going away and coming back. The
harness plays the host: it drops the stdio connections and the bridge (and
stops listening, as a host being swapped does), waits on an event, listens
again on the same ports and checks what arrives against what the process
wrote, by upstream's rule (internal/guest/transport/reconnect.go): on each
re-dial the last 128 KiB sent before the drop are sent again, then what was
written while the host was away, then the live stream.

Local agent on the unix transport, runc and crun; the first test also in
the utility VM (GCS_TEST_TARGET=uvm: stdio over TCP, the bridge on
virtio-serial), the others read the agent's files and are host-only."""
import os
import re
import select
import socket
import time

import pytest

import podlib
from gcsproto import Listener
from podlib import Stdio

TARGET = os.environ.get("GCS_TEST_TARGET", "local")
local_only = pytest.mark.skipif(TARGET == "uvm", reason="host-only: reads the agent's files and log directly")

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


def in_vm(env):
    return hasattr(env, "vm")


def agent_log(env):
    return env.agent.log()


def log_fields(env, message):
    """The fields (as strings) of every agent log entry carrying message: in
    the VM the decoded JSON objects of the log port, locally the key=value
    pairs of the agent's text log."""
    if in_vm(env):
        return [{k: str(v) for k, v in e.items()} for e in list(env.vm.log.entries)
                if message in str(e.get("msg", ""))]
    out = []
    for line in agent_log(env).splitlines():
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
    """The host goes away: its stdio connections, the bridge and its listener
    (in the VM: the bridge chardev's connection, until gcs has seen it go)."""
    for s in st.socks.values():
        s.close()
    if in_vm(env):
        env.vm.conn.close()
        env.vm.wait_closed_port()
        return
    env.agent.conn.close()
    env.agent.listener.close()


def come_back(env, ports, timeout=10.0):
    """The host is back: listen on the same ports, take the bridge and
    negotiate again, then take the re-dialled stdio connections."""
    lst = {name: env.listen(port) for name, port in ports.items()}
    t0 = time.monotonic()
    if in_vm(env):
        env.vm.connect(60)
        env.vm.negotiate(60)
        env.conn = env.vm.conn
    else:
        env.agent.listener = Listener(env.agent.sockdir)
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


def expected(name, n, pad=PAD, every=1):
    return b"".join(f"{name} {i:06d} {pad}\n".encode() for i in range(0, n, every))


# out: a burst of BURST lines (past the replay size), then slow numbered
# lines every few ms; err: every ERR_EVERY-th line (so that it keeps writing:
# over TCP a stream only notices a lost host when it writes, as upstream)
BURST, TOTAL, ERR_EVERY = 2500, 3300, 25
WRITER = (f"i=0; while [ $i -lt {TOTAL} ]; do printf 'out %06d {PAD}\\n' $i; "
          f"[ $((i % {ERR_EVERY})) -eq 0 ] && printf 'err %06d {PAD}\\n' $i >&2; i=$((i+1)); "
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
              b["StdErr"].count(b"\n") >= (BURST + 50) // ERR_EVERY)
    drop_host(env, st)
    wait_for(lambda: len(log_fields(env, "host connection lost")) == 2, "both streams to notice", timeout=60)
    if in_vm(env):
        time.sleep(2)  # the host-away period (the tee log is out of reach without the bridge)
    else:
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
    for name, stream, want in [("StdOut", "stdout", expected("out", TOTAL)),
                               ("StdErr", "stderr", expected("err", TOTAL, every=ERR_EVERY))]:
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
    assert len([f for f in log_fields(env, "container exit notification") if f.get("container") == sid]) == 1
    ok(podlib.delete(env.conn, sid))
    assert env.conn.notifications == []
    assert env.mounts_under("/run/gcs") == []


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


@local_only
def test_output_past_the_backlog_is_dropped_logged_and_bounded(pods, rootfs):
    """The host stays away while the process writes ~23 MB: the process is
    not blocked (it finishes and exits while the host is away), the first
    RELAY_BACKLOG_BYTES are kept, the rest is dropped and logged with its
    size, and the agent's memory does not grow with the output."""
    env = pods
    n = 3000000
    script = f"echo ready; read go; busybox seq 1 {n}; echo done"
    sid = sandbox_with_init(env, rootfs, script, tee="flood.log")
    st = Stdio(env, stdin=True, stdout=True, stderr=False)
    pid = ok(podlib.execute(env.conn, sid, st))["ProcessId"]
    port = st.ports["StdOut"]
    old = {"StdOut": b""}
    recv_some({"StdOut": st.socks["StdOut"]}, old, lambda b: b["StdOut"] == b"ready\n")
    agent_pid = env.agent.proc.pid
    hwm_before = vm_hwm_kib(agent_pid)
    st.socks["StdOut"].close()
    wait_for(lambda: log_fields(env, "host connection lost"), "the drop to be noticed")
    st.send_stdin(b"go\n")
    want = b"".join(b"%d\n" % i for i in range(1, n + 1)) + b"done\n"
    tee = tee_file(env, sid, "flood.log")
    wait_for(lambda: os.path.getsize(tee) >= len(b"ready\n") + len(want), f"the flood in the tee log ({tee})", timeout=60)
    wait_for(lambda: "process exited" in env.agent.log(), "the init to exit while the host is away")
    hwm_after = vm_hwm_kib(agent_pid)
    assert read_file(tee) == b"ready\n" + want
    # bounded: the backlog, the replay ring and a buffer (and, under ASan,
    # their shadow), not the 23 MB written
    assert len(want) > 20 * BACKLOG
    print("agent VmHWM KiB before/after the flood:", hwm_before, hwm_after)
    assert hwm_after - hwm_before < 4 * 1024, (hwm_before, hwm_after)
    lst = Listener(env.agent.sockdir, port)
    c = lst.accept(10)
    lst.close()
    new = read_to_eof({"StdOut": socket.socket(fileno=c.rfd)})["StdOut"]
    # the replay ("ready\n", all that was sent), then the first BACKLOG bytes of the outage
    assert new == b"ready\n" + want[:BACKLOG]
    dropped = log_fields(env, "output dropped while the host was away")
    assert [int(f["dropped_bytes"]) for f in dropped] == [len(want) - BACKLOG]
    assert log_fields(env, "backlog full while the host is away")
    assert ok(podlib.wait(env.conn, sid, pid))["ExitCode"] == 0
    st.close()
    ok(podlib.delete(env.conn, sid))


@local_only
def test_d61_tee_log_holds_every_byte_once(pods, rootfs):
    """The tee log has exactly what the process wrote, including what it
    wrote while the host was away, and no second copy of the replay
    (upstream's MultiWriter writes the replayed tail into the file again)."""
    env = pods
    script = (f"i=0; while [ $i -lt {TOTAL} ]; do printf 'out %06d {PAD}\\n' $i; i=$((i+1)); "
              f"[ $i -gt {BURST} ] && busybox usleep 2000; done")
    sid = sandbox_with_init(env, rootfs, script, tee="dir/sub/w.log")
    st = Stdio(env, stdout=True, stderr=False)
    pid = ok(podlib.execute(env.conn, sid, st))["ProcessId"]
    ports = dict(st.ports)
    old = {"StdOut": b""}
    recv_some(st.socks, old, lambda b: b["StdOut"].count(b"\n") >= BURST + 20)
    drop_host(env, st)
    tee = tee_file(env, sid, "dir/sub/w.log")
    want = expected("out", TOTAL)
    wait_for(lambda: read_file(tee) == want, "the whole output in the tee log")
    socks, _ = come_back(env, ports)
    new = read_to_eof(socks)["StdOut"]
    sent = int(log_fields(env, "host connection lost")[0]["sent"])
    replay = min(REPLAY, sent)
    # the host stream, with the replayed region taken out once, is the tee log
    host_stream = want[:sent] + new[replay:]
    assert new[:replay] == want[sent - replay:sent]
    assert host_stream == read_file(tee) == want
    assert ok(podlib.wait(env.conn, sid, pid))["ExitCode"] == 0
    ok(podlib.delete(env.conn, sid))
    assert not os.path.exists(tee)  # the logs go with the pod


@local_only
def test_d60_hostile_tee_paths_refused(pods, rootfs):
    env = pods
    sid = podlib.new_id("5a")
    ok(podlib.create(env.conn, sid, podlib.sandbox_spec(rootfs, sid), env.bundle(sid)))
    logs = f"/run/gcs/c/{sid}/logs"
    outside = env.tmpdir("outside")
    target = os.path.join(outside, "target")
    with open(target, "w") as f:
        f.write("precious\n")
    os.symlink(outside, os.path.join(logs, "evil"))      # a directory symlink planted in logs
    os.symlink(target, os.path.join(logs, "f.log"))      # a file symlink planted in logs
    os.mkfifo(os.path.join(logs, "fifo"))                # something that would block an open
    os.mkdir(os.path.join(logs, "d"))
    os.symlink("/", os.path.join(logs, "d", "up"))       # deeper down
    for bad, text in [("../x.log", "not within sandbox's log dir"), ("/etc/x.log", "relative"),
                      ("a/../b.log", "not within"), ("./a.log", "not within"), ("evil/x.log", "evil"),
                      ("f.log", "f.log"), ("fifo", "fifo"), ("d/up/etc/x.log", "up")]:
        w = podlib.new_id("ba")
        s = podlib.workload_spec(rootfs, sid)
        s["annotations"][TEE_PATH] = bad
        msg = podlib.create(env.conn, w, s, env.bundle(w))
        assert msg["Result"] != 0, bad
        assert text in msg.get("ErrorMessage", "") + str(msg), (bad, msg)
        assert not os.path.exists(f"/run/gcs/c/{w}"), bad
    assert os.listdir(outside) == ["target"]
    assert open(target).read() == "precious\n"
    assert sorted(os.listdir(logs)) == ["d", "evil", "f.log", "fifo"]
    ok(podlib.delete(env.conn, sid))


@local_only
def test_tee_dir_mount_in_the_container_and_gone_with_it(pods, rootfs):
    """Container A tees into the pod's logs directory; container B binds that
    directory (tee-log-dir-mount) and reads A's log there; the bind is B's
    and goes with it."""
    env = pods
    sid = sandbox_with_init(env, rootfs, "echo hello from the sandbox; exec sleep 1000", tee="a/out.log")
    sst = Stdio(env, stdout=True, stderr=False)
    spid = ok(podlib.execute(env.conn, sid, sst))["ProcessId"]
    wait_for(lambda: read_file(tee_file(env, sid, "a/out.log")) == b"hello from the sandbox\n", "the sandbox's tee")
    w = podlib.new_id("b0")
    s = podlib.workload_spec(rootfs, sid)
    s["annotations"]["io.microsoft.container.lcow.tee-log-dir-mount"] = "/var/log/pod"
    ok(podlib.create(env.conn, w, s, env.bundle(w)))
    ok(env.conn.call("Start", container_id=w))
    wst = Stdio(env, stdout=False, stderr=False)
    wpid = ok(podlib.execute(env.conn, w, wst))["ProcessId"]
    # the bind is in B's mount namespace, not in the agent's
    lines = [ln for p, ln in podlib.mountinfo(wpid) if p == "/var/log/pod"]
    assert len(lines) == 1, lines
    assert podlib.mounts_under(env.agent.proc.pid, f"/run/gcs/c/{sid}/logs") == []
    est = Stdio(env, stdout=True, stderr=True)
    oci = {"args": ["/bin/cat", "/var/log/pod/a/out.log"], "cwd": "/", "env": ["PATH=/bin"], "terminal": False,
           "user": {"uid": 0, "gid": 0}}
    epid = ok(podlib.execute(env.conn, w, est, {"OciProcess": oci}))["ProcessId"]
    out, err = est.read_outputs()
    assert (out, err) == (b"hello from the sandbox\n", b"")
    assert ok(podlib.wait(env.conn, w, epid))["ExitCode"] == 0
    ok(env.conn.call("ShutdownForced", container_id=w))
    assert ok(podlib.wait(env.conn, w, wpid))["ExitCode"] == 137
    ok(podlib.delete(env.conn, w))
    assert not podlib.pid_alive(wpid)
    ok(env.conn.call("ShutdownForced", container_id=sid))
    sst.read_outputs()
    assert ok(podlib.wait(env.conn, sid, spid))["ExitCode"] == 137
    ok(podlib.delete(env.conn, sid))
    assert not os.path.exists(f"/run/gcs/c/{sid}/logs")
    assert env.mounts_under("/run/gcs") == []


@local_only
def test_exec_and_stdin_do_not_reconnect(pods, rootfs):
    """As upstream: only the init's stdout and stderr re-dial. An exec's
    stdout that loses its host is drained to nowhere and the exec runs on;
    the init's stdin losing its host is EOF to the init."""
    env = pods
    sid = sandbox_with_init(env, rootfs, "cat; echo stdin-closed; exec sleep 1000")
    sst = Stdio(env, stdin=True, stdout=True, stderr=False)
    spid = ok(podlib.execute(env.conn, sid, sst))["ProcessId"]
    est = Stdio(env, stdout=True, stderr=False)
    oci = {"args": ["/bin/sh", "-c", "echo first; read x; i=0; while [ $i -lt 2000 ]; do echo $i; i=$((i+1)); done"],
           "cwd": "/", "env": ["PATH=/bin"], "terminal": False, "user": {"uid": 0, "gid": 0}}
    est.flags["CreateStdInPipe"] = True
    est.ports["StdIn"] = env.next_port()
    est.listeners = {"StdIn": env.listen(est.ports["StdIn"]), **est.listeners}
    epid = ok(podlib.execute(env.conn, sid, est, {"OciProcess": oci}))["ProcessId"]
    got = {"StdOut": b""}
    recv_some({"StdOut": est.socks["StdOut"]}, got, lambda b: b["StdOut"] == b"first\n")
    eport = est.ports["StdOut"]
    est.socks["StdOut"].close()
    lst = Listener(env.agent.sockdir, eport)
    est.send_stdin(b"go\n")
    assert ok(podlib.wait(env.conn, sid, epid))["ExitCode"] == 0  # it ran on, writing to nowhere
    r, _, _ = select.select([lst.sock], [], [], 0.5)
    assert not r, "an exec's stdout re-dialled"
    lst.close()
    assert not any(f["port"] == str(eport) for f in log_fields(env, "host connection lost"))
    # the init's stdin: the host goes away -> EOF, and the init's stdout is still there
    sst.socks["StdIn"].close()
    got = {"StdOut": b""}
    recv_some({"StdOut": sst.socks["StdOut"]}, got, lambda b: b["StdOut"] == b"stdin-closed\n")
    ok(env.conn.call("ShutdownForced", container_id=sid))
    sst.read_outputs()
    assert ok(podlib.wait(env.conn, sid, spid))["ExitCode"] == 137
    ok(podlib.delete(env.conn, sid))


@local_only
def test_shutdown_while_the_host_is_away_gives_up(pods, rootfs):
    """Teardown stops the re-dial (upstream's stdioReconnectStopped): a
    ShutdownForced while the init's stdout has no host finishes the stream,
    and the exit is delivered without the host ever coming back."""
    env = pods
    sid = sandbox_with_init(env, rootfs, "echo up; exec sleep 1000")
    st = Stdio(env, stdout=True, stderr=False)
    pid = ok(podlib.execute(env.conn, sid, st))["ProcessId"]
    recv_some(st.socks, {"StdOut": b""}, lambda b: b["StdOut"] == b"up\n")
    st.socks["StdOut"].close()
    wait_for(lambda: log_fields(env, "re-dial failed"), "the re-dial to start")
    ok(env.conn.call("ShutdownForced", container_id=sid))
    assert ok(podlib.wait(env.conn, sid, pid))["ExitCode"] == 137
    assert env.conn.notification()["Type"] == "ForcedExit"
    assert log_fields(env, "torn down while the host is away")
    ok(podlib.delete(env.conn, sid))


@local_only
def test_two_drops_replay_the_same_rule(pods, rootfs):
    """A second host swap: the replay is again the last 128 KiB of the
    process's output sent before that drop (a replay is not recorded as
    output again)."""
    env = pods
    sid = sandbox_with_init(env, rootfs, WRITER.replace(f"-eq 0 ]", "-eq -1 ]"), tee="two.log")
    st = Stdio(env, stdout=True, stderr=False)
    pid = ok(podlib.execute(env.conn, sid, st))["ProcessId"]
    ports = dict(st.ports)
    want = expected("out", TOTAL)
    got = {"StdOut": b""}
    recv_some(st.socks, got, lambda b: b["StdOut"].count(b"\n") >= BURST + 20)
    streams = [got["StdOut"]]
    for cycle in (1, 2):
        drop_host(env, st)
        wait_for(lambda: len(log_fields(env, "host connection lost")) == cycle, "the drop")
        tee = tee_file(env, sid, "two.log")
        n = read_file(tee).count(b"\n")
        wait_for(lambda: read_file(tee).count(b"\n") >= min(n + 100, TOTAL), "output while away")
        socks, _ = come_back(env, ports)
        st.socks = socks
        sent = int(log_fields(env, "host connection lost")[cycle - 1]["sent"])
        if cycle == 1:
            # the new stream starts with the tail of what was sent, then goes on
            new = {"StdOut": b""}
            recv_some(socks, new, lambda b: len(b["StdOut"]) >= REPLAY + 1000)
            assert new["StdOut"] == want[sent - REPLAY:sent - REPLAY + len(new["StdOut"])]
            streams.append(new["StdOut"])
        else:
            rest = read_to_eof(socks)["StdOut"]
            assert rest == want[sent - REPLAY:]
    assert [int(f["replay_bytes"]) for f in log_fields(env, "stdio relay: reconnected")] == [REPLAY, REPLAY]
    assert ok(podlib.wait(env.conn, sid, pid))["ExitCode"] == 0
    ok(podlib.delete(env.conn, sid))


@local_only
def test_terminal_init_reconnects(pods, rootfs):
    """With process.terminal the pty's output is the stdout stream; it
    re-dials and replays the same way. The stderr socket carries nothing and,
    as upstream (which never writes it), is not re-dialled."""
    env = pods
    n = 400
    script = (f"i=0; while [ $i -lt {n} ]; do printf 'tty %06d {PAD}\\n' $i; i=$((i+1)); "
              f"[ $i -gt 100 ] && busybox usleep 2000; done")
    sid = podlib.new_id("7e")
    spec = podlib.sandbox_spec(rootfs, sid)
    spec["process"]["args"] = ["/bin/sh", "-c", script]
    spec["process"]["terminal"] = True
    spec["annotations"][TEE_PATH] = "tty.log"
    ok(podlib.create(env.conn, sid, spec, env.bundle(sid)))
    st = Stdio(env, stdout=True, stderr=True)
    pid = ok(podlib.execute(env.conn, sid, st))["ProcessId"]
    ports = dict(st.ports)
    old = {"StdOut": b"", "StdErr": b""}
    recv_some({"StdOut": st.socks["StdOut"]}, old, lambda b: b["StdOut"].count(b"\n") >= 120)
    drop_host(env, st)
    del ports["StdErr"]
    tee = tee_file(env, sid, "tty.log")
    want = expected("tty", n).replace(b"\n", b"\r\n")
    wait_for(lambda: read_file(tee) == want, "the whole output in the tee log")
    socks, _ = come_back(env, ports)
    new = read_to_eof(socks)
    sent = int([f for f in log_fields(env, "host connection lost") if f["stream"] == "stdout"][0]["sent"])
    assert sent < REPLAY and new["StdOut"] == want
    assert want.startswith(old["StdOut"])
    assert [f["stream"] for f in log_fields(env, "host connection lost")] == ["stdout"]
    assert ok(podlib.wait(env.conn, sid, pid))["ExitCode"] == 0
    ok(podlib.delete(env.conn, sid))
