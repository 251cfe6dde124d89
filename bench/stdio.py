#!/usr/bin/env python3
"""bench/stdio — what the reconnecting relay and the tee log cost a
container's stdout, and how soon a re-accepted host gets its replay.

For each runtime (runc, crun), one agent, in one run:
  plain      an exec'd process writing SIZE bytes to stdout (execs keep the
             plain relay: splice from the pipe to the socket);
  reconnect  a container init writing SIZE bytes (the reconnecting relay:
             copies through a buffer, records the replay tail);
  tee        the same with io.microsoft.container.lcow.tee-log-path (every
             byte also appended to a file in the VM);
  redial     the host drops the init's stdout and comes back: the time from
             listening again to the first replayed byte (includes the
             100 ms re-dial cadence), and from the accept to that byte.
Throughput is the host reading SIZE bytes to EOF; medians of --iterations.
Prints ratios against plain; asserts nothing (the machines are shared).

usage: bench/stdio.py [--iterations N] [--size MiB] [--runtimes runc,crun]
"""
import argparse
import os
import select
import shutil
import socket
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "system"))
import podlib  # noqa: E402
from gcsproto import Agent, Listener  # noqa: E402
from podlib import Stdio  # noqa: E402

TEE = "io.microsoft.container.lcow.tee-log-path"


def ok(msg):
    if msg["Result"] != 0:
        raise RuntimeError(msg)
    return msg


def drain(sock, want):
    """Read to EOF; seconds from the first byte to EOF (the process's start-up
    is not the relay's)."""
    got = 0
    t0 = None
    while True:
        b = sock.recv(1 << 20)
        if not b:
            break
        if t0 is None:
            t0 = time.monotonic()
        got += len(b)
    dt = time.monotonic() - t0
    sock.close()
    if got != want:
        raise RuntimeError(f"read {got} bytes, want {want}")
    return dt


def writer(size):
    return ["/bin/sh", "-c", f"dd if=/dev/zero bs=65536 count={size // 65536} 2>/dev/null"]


def run_init(agent, rootfs, size, tee):
    c = agent.conn
    sid = podlib.new_id("be")
    spec = podlib.sandbox_spec(rootfs, sid)
    spec["process"]["args"] = writer(size)
    if tee:
        spec["annotations"][TEE] = "bench.log"
    ok(podlib.create(c, sid, spec, f"/run/gcs/c/{sid}"))
    st = Stdio(agent_env(agent), stdout=True, stderr=False)
    pid = ok(podlib.execute(c, sid, st))["ProcessId"]
    dt = drain(st.socks["StdOut"], size)
    ok(podlib.wait(c, sid, pid))
    ok(podlib.delete(c, sid))
    return dt


def run_exec(agent, sid, size):
    c = agent.conn
    st = Stdio(agent_env(agent), stdout=True, stderr=False)
    oci = {"args": writer(size), "cwd": "/", "env": ["PATH=/bin"], "terminal": False, "user": {"uid": 0, "gid": 0}}
    pid = ok(podlib.execute(c, sid, st, {"OciProcess": oci}))["ProcessId"]
    dt = drain(st.socks["StdOut"], size)
    ok(podlib.wait(c, sid, pid))
    return dt


class _Env:
    """The little of podlib.LocalPodEnv that Stdio needs."""

    def __init__(self, agent):
        self.agent = agent
        self.port = 0x40000000 + 0x1000

    def next_port(self):
        self.port += 1
        return self.port

    def listen(self, port):
        return Listener(self.agent.sockdir, port)


_envs = {}


def agent_env(agent):
    return _envs.setdefault(id(agent), _Env(agent))


def redial(agent, rootfs, rounds):
    """(listen -> first byte, accept -> first byte) in ms, per round."""
    c = agent.conn
    sid = podlib.new_id("bf")
    spec = podlib.sandbox_spec(rootfs, sid)
    spec["process"]["args"] = ["/bin/sh", "-c", "dd if=/dev/zero bs=65536 count=4 2>/dev/null; exec sleep 1000"]
    ok(podlib.create(c, sid, spec, f"/run/gcs/c/{sid}"))
    st = Stdio(agent_env(agent), stdout=True, stderr=False)
    pid = ok(podlib.execute(c, sid, st))["ProcessId"]
    port = st.ports["StdOut"]
    s = st.socks["StdOut"]
    got = 0
    while got < 4 * 65536:
        got += len(s.recv(1 << 20))
    out = []
    for i in range(rounds):
        s.close()
        lost = "host connection lost"
        deadline = time.monotonic() + 10
        while agent.log().count(lost) < i + 1:  # the guest noticed
            if time.monotonic() > deadline:
                raise RuntimeError("the drop was not noticed")
            time.sleep(0.005)
        lst = Listener(agent.sockdir, port)
        t_listen = time.monotonic()
        conn = lst.accept(10)
        t_acc = time.monotonic()
        lst.close()
        s = socket.socket(fileno=conn.rfd)
        select.select([s], [], [], 10)
        first = s.recv(1 << 20)
        t_first = time.monotonic()
        if not first:
            raise RuntimeError("no replay")
        got = len(first)
        while got < 128 * 1024:  # the whole replay
            got += len(s.recv(1 << 20))
        out.append(((t_first - t_listen) * 1e3, (t_first - t_acc) * 1e3))
    s.close()
    ok(c.call("ShutdownForced", container_id=sid))
    ok(podlib.wait(c, sid, pid))
    ok(podlib.delete(c, sid))
    return out


def bench(runtime, iterations, size):
    tmp = tempfile.mkdtemp(prefix=f"gcs-bench-stdio-{runtime}-")
    try:
        rootfs = podlib.make_rootfs(os.path.join(tmp, "rootfs"))
        args = ["-runtime", runtime, "-runtime-root", os.path.join(tmp, "rt"), "-loglevel", "info"]
        wrap = ["sh", "-c", 'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$0" "$@"'] if runtime == "crun" else None
        a = Agent(tmp, mode="unix", args=args, wrap=wrap)
        a.connect()
        a.conn.negotiate()
        try:
            host = podlib.new_id("bd")
            spec = podlib.sandbox_spec(rootfs, host)
            ok(podlib.create(a.conn, host, spec, f"/run/gcs/c/{host}"))
            hst = Stdio(agent_env(a), stdout=False, stderr=False)
            hpid = ok(podlib.execute(a.conn, host, hst))["ProcessId"]
            plain, rec, tee = [], [], []
            for _ in range(iterations):  # interleaved, so drift hits all three alike
                plain.append(run_exec(a, host, size))
                rec.append(run_init(a, rootfs, size, False))
                tee.append(run_init(a, rootfs, size, True))
            ok(a.conn.call("ShutdownForced", container_id=host))
            ok(podlib.wait(a.conn, host, hpid))
            ok(podlib.delete(a.conn, host))
            rd = redial(a, rootfs, max(iterations, 5))
        finally:
            a.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    mib = size / (1 << 20)
    p, r, t = (statistics.median(x) for x in (plain, rec, tee))
    print(f"stdio {runtime}: {mib:.0f} MiB to the host, median of {iterations}")
    print(f"  plain relay (exec)        {mib / p:8.1f} MiB/s")
    print(f"  reconnecting relay (init) {mib / r:8.1f} MiB/s   speed vs plain {p / r:5.2f}")
    print(f"  reconnecting + tee        {mib / t:8.1f} MiB/s   speed vs plain {p / t:5.2f}")
    lf = statistics.median(x[0] for x in rd)
    af = statistics.median(x[1] for x in rd)
    print(f"  re-accept -> first replayed byte: {lf:6.1f} ms from listening again (100 ms re-dial cadence), "
          f"{af:5.2f} ms from the accept (median of {len(rd)})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--size", type=int, default=256, help="MiB per run")
    ap.add_argument("--runtimes", default="runc,crun")
    o = ap.parse_args()
    for rt in o.runtimes.split(","):
        if not shutil.which(rt):
            print(f"stdio {rt}: not installed, skipped")
            continue
        bench(rt, o.iterations, o.size << 20)


if __name__ == "__main__":
    main()
