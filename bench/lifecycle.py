#!/usr/bin/env python3
"""bench/lifecycle — what gcs adds to a container's life and to an exec.

For each runtime (runc, crun), in one run and one mount namespace:
  end-to-end  create + start + wait + delete of a /bin/true container
              through gcs, against the same runtime commands run directly
              (create, start, wait for the pid, delete) on the same
              config.json the agent wrote;
  exec        ExecuteProcess /bin/true + WaitForProcess, against
              `<runtime> exec <id> /bin/true`;
  memory      gcs RSS idle and with 50 running containers.
Prints medians and ratios; asserts nothing (the machines are noisy).

usage: bench/lifecycle.py [--iterations N] [--runtimes runc,crun] [--containers 50]
"""
import argparse
import json
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "system"))
import podlib  # noqa: E402
from gcsproto import Agent, NULL_ID  # noqa: E402
from podlib import Stdio  # noqa: E402


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    return 0


def ok(msg):
    assert msg["Result"] == 0, msg
    return msg


class NoStdio(Stdio):
    def __init__(self, env):
        super().__init__(env, stdin=False, stdout=False, stderr=False)


class Env:
    def __init__(self, agent):
        self.agent, self.conn, self.port = agent, agent.conn, 0x40000000

    def next_port(self):
        self.port += 1
        return self.port


def gcs_cycle(env, rootfs, i):
    c = env.conn
    cid = f"bl{os.getpid()}x{i:05d}"
    t0 = time.perf_counter()
    spec = podlib.standalone_spec(rootfs, base="defaultlinuxspec.json")
    spec["process"]["args"] = ["/bin/true"]
    ok(podlib.create(c, cid, spec, f"/run/gcs/c/{cid}"))
    pid = ok(podlib.execute(c, cid, NoStdio(env)))["ProcessId"]
    ok(podlib.wait(c, cid, pid))
    c.notification()
    ok(podlib.delete(c, cid))
    return time.perf_counter() - t0


def rt_cmd(runtime, rtroot, bundle):
    """The global options gcs passes too (its JSON log next to the bundle)."""
    return [runtime, "--root", rtroot, "--log", os.path.join(bundle, "runc.log"), "--log-format", "json"]


def direct_cycle(runtime, rtroot, bundle, i):
    cid = f"bd{os.getpid()}x{i:05d}"
    pidfile = os.path.join(bundle, "pid")
    base = rt_cmd(runtime, rtroot, bundle)
    t0 = time.perf_counter()
    subprocess.run(base + ["create", "--bundle", bundle, "--pid-file", pidfile, cid],
                   check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    pid = int(open(pidfile).read())
    fd = os.pidfd_open(pid)
    subprocess.run(base + ["start", cid], check=True)
    select.select([fd], [], [], 30)
    os.close(fd)
    subprocess.run(base + ["delete", cid], check=True)
    return time.perf_counter() - t0


def bench_runtime(runtime, args, tmp, rootfs):
    rt = os.path.join(tmp, f"rt-{runtime}")
    wrap = ["sh", "-c", 'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$0" "$@"'] if runtime == "crun" else None
    agent = Agent(os.path.join(tmp, f"agent-{runtime}"), mode="unix", mountns=False, wrap=wrap,
                  args=["-runtime", runtime, "-runtime-root", rt, "-loglevel", "info"])
    agent.connect()
    agent.conn.negotiate()
    env = Env(agent)
    gpid = agent.proc.pid
    try:
        idle = rss_kib(gpid)
        # a bundle for the direct runs: the agent's own config.json for a standalone /bin/true
        spec = podlib.standalone_spec(rootfs, base="defaultlinuxspec.json")
        spec["process"]["args"] = ["/bin/true"]
        probe = f"blprobe{os.getpid()}"
        ok(podlib.create(env.conn, probe, spec, f"/run/gcs/c/{probe}"))
        cfg = json.load(open(f"/run/gcs/c/{probe}/config.json"))
        ok(podlib.delete(env.conn, probe))
        bundle = os.path.join(tmp, f"direct-{runtime}")
        os.makedirs(bundle)
        for f in ["hostname", "hosts", "resolv.conf"]:
            open(os.path.join(bundle, f), "w").write("")
        for m in cfg["mounts"]:
            if m.get("source", "").startswith("/run/gcs/c/"):
                m["source"] = os.path.join(bundle, os.path.basename(m["source"]))
        cfg["linux"]["cgroupsPath"] = f"/gcs-bench-direct/{runtime}"
        json.dump(cfg, open(os.path.join(bundle, "config.json"), "w"))
        direct_root = os.path.join(tmp, f"rt-direct-{runtime}")

        g, d = [], []
        for i in range(args.iterations):  # interleaved, so drift hits both
            g.append(gcs_cycle(env, rootfs, i))
            d.append(direct_cycle(runtime, direct_root, bundle, i))
        gm, dm = statistics.median(g) * 1e3, statistics.median(d) * 1e3

        # exec latency in one running container, both ways
        sid = f"blx{os.getpid()}"
        spec = podlib.standalone_spec(rootfs, base="defaultlinuxspec.json")
        spec["process"]["args"] = ["/bin/sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"]
        ok(podlib.create(env.conn, sid, spec, f"/run/gcs/c/{sid}"))
        ipid = ok(podlib.execute(env.conn, sid, NoStdio(env)))["ProcessId"]
        ge, de = [], []
        oci = {"args": ["/bin/true"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}}
        for _ in range(args.iterations):
            t0 = time.perf_counter()
            epid = ok(podlib.execute(env.conn, sid, NoStdio(env), {"OciProcess": oci}))["ProcessId"]
            ok(podlib.wait(env.conn, sid, epid))
            ge.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            subprocess.run(rt_cmd(runtime, rt, f"/run/gcs/c/{sid}") + ["exec", sid, "/bin/true"], check=True)
            de.append(time.perf_counter() - t0)
        gem, dem = statistics.median(ge) * 1e3, statistics.median(de) * 1e3
        ok(env.conn.call("ShutdownForced", container_id=sid))
        ok(podlib.wait(env.conn, sid, ipid))
        env.conn.notification()
        ok(podlib.delete(env.conn, sid))

        # memory with N running containers
        ids = []
        for i in range(args.containers):
            cid = f"blm{os.getpid()}x{i:03d}"
            spec = podlib.standalone_spec(rootfs, base="defaultlinuxspec.json")
            spec["process"]["args"] = ["/bin/sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"]
            ok(podlib.create(env.conn, cid, spec, f"/run/gcs/c/{cid}"))
            ids.append((cid, ok(podlib.execute(env.conn, cid, NoStdio(env)))["ProcessId"]))
        full = rss_kib(gpid)
        for cid, pid in ids:
            ok(env.conn.call("ShutdownForced", container_id=cid))
            ok(podlib.wait(env.conn, cid, pid))
            env.conn.notification()
            ok(podlib.delete(env.conn, cid))
        per = (full - idle) / max(args.containers, 1)
        print(f"bench/lifecycle [{runtime}] {args.iterations} iterations")
        print(f"  create+start+wait+delete  gcs {gm:7.1f} ms   direct {dm:7.1f} ms   ratio {gm / dm:.3f} "
              f"(goal <= 1.10)")
        print(f"  exec /bin/true + wait     gcs {gem:7.1f} ms   direct {dem:7.1f} ms   ratio {gem / dem:.3f} "
              f"(goal <= 1.10)")
        print(f"  gcs RSS idle {idle} KiB (goal <= 2048); with {args.containers} running {full} KiB: "
              f"{per:.1f} KiB per container (goal <= 16)")
    finally:
        agent.stop()
        # the direct runs' cgroups, depth first (the runtime leaves parents behind)
        for ctl in os.listdir("/sys/fs/cgroup"):
            top = os.path.join("/sys/fs/cgroup", ctl, "gcs-bench-direct")
            if not os.path.isdir(top):
                continue
            if os.path.ismount(os.path.join("/sys/fs/cgroup", ctl)):
                for root, dirs, _ in os.walk(top, topdown=False):
                    os.rmdir(root)
            else:  # an unmounted hierarchy's directory on the tmpfs: plain files
                shutil.rmtree(top, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--runtimes", default="runc,crun")
    ap.add_argument("--containers", type=int, default=50)
    args = ap.parse_args()
    if os.environ.get("GCS_BENCH_NS") != "1":
        # one private mount namespace for the agent and the direct runs alike
        os.environ["GCS_BENCH_NS"] = "1"
        os.execvp("unshare", ["unshare", "--mount", "--propagation", "private", "--", sys.executable] + sys.argv)
    tmp = tempfile.mkdtemp(prefix="gcs-bench-lifecycle.")
    try:
        rootfs = podlib.make_rootfs(os.path.join(tmp, "rootfs"))
        for r in args.runtimes.split(","):
            if shutil.which(r):
                bench_runtime(r, args, tmp, rootfs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
