#!/usr/bin/env python3
"""bench/network — what a NIC adds to a pod's start, in one run:

  skip    sandbox create + start with skip-pod-networking (the baseline);
  nic     the same sandbox with one NIC (static address, default route)
          that gcs moves into the sandbox's network namespace and
          configures during the create;
  add     ModifySettings Network Add alone (the interface already there:
          the sysfs lookup and the registry entry).

The agent runs in a network namespace made for the run; each NIC is a veth
whose far end sits in a second one. Prints medians and ratios; asserts
nothing (the machines are shared and noisy). Needs root.

usage: bench/network.py [--iterations N] [--runtime runc|crun]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "system"))
import podlib  # noqa: E402
from gcsproto import Agent, NULL_ID  # noqa: E402
from podlib import Stdio  # noqa: E402


def ok(msg):
    assert msg["Result"] == 0, msg
    return msg


def sh(*cmd):
    subprocess.run(list(cmd), check=True, capture_output=True)


class Env:
    def __init__(self, agent):
        self.agent, self.conn, self.port = agent, agent.conn, 0x40000000

    def next_port(self):
        self.port += 1
        return self.port


def network(conn, req, nsid, aid, **kw):
    s = {"NamespaceID": nsid, "ID": aid}
    s.update(kw)
    return conn.call("ModifySettings", {"Request": {"ResourceType": "Network", "RequestType": req, "Settings": s}},
                     container_id=NULL_ID, timeout=30)


def pod_cycle(env, rootfs, nsid, skip):
    """create + start of a sandbox (timed), then kill, wait, delete."""
    c = env.conn
    sid = podlib.new_id("be")
    spec = podlib.sandbox_spec(rootfs, sid, skip_net=skip, netns=nsid)
    spec["process"]["args"] = ["/bin/sleep", "1000"]
    t0 = time.perf_counter()
    ok(podlib.create(c, sid, spec, f"/run/gcs/c/{sid}"))
    st = Stdio(env, stdout=False, stderr=False)
    pid = ok(podlib.execute(c, sid, st))["ProcessId"]
    took = time.perf_counter() - t0
    st.close()
    return sid, pid, took


def pod_end(env, sid, pid):
    c = env.conn
    podlib.signal(c, sid, pid, 9)
    ok(podlib.wait(c, sid, pid))
    c.notification()
    ok(podlib.delete(c, sid))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=15)
    ap.add_argument("--runtime", default="runc")
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/network: needs root (namespaces, veths)")
        return 0
    tag = uuid.uuid4().hex[:6]
    agent_ns, peer_ns = f"gcsbna{tag}", f"gcsbnp{tag}"
    tmp = tempfile.mkdtemp(prefix="gcs-bench-net-")
    sysfs = os.path.join(tmp, "sys")
    rootfs = podlib.make_rootfs(os.path.join(tmp, "rootfs"))
    for ns in (agent_ns, peer_ns):
        sh("ip", "netns", "add", ns)
    agent = None
    try:
        wrap = ["nsenter", f"--net=/run/netns/{agent_ns}", "--"]
        if a.runtime == "crun":
            wrap += ["sh", "-c", 'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$0" "$@"']
        agent = Agent(os.path.join(tmp, "agent"), args=["-runtime", a.runtime, "-runtime-root",
                                                        os.path.join(tmp, "rt"), "-sysfs-root", sysfs,
                                                        "-loglevel", "debug"], wrap=wrap)
        agent.connect()
        agent.conn.negotiate()
        env = Env(agent)
        skip, nic, add = [], [], []
        for i in range(a.iterations + 1):
            # the baseline
            sid, pid, t = pod_cycle(env, rootfs, str(uuid.uuid4()), True)
            pod_end(env, sid, pid)
            # one NIC: the veth and its sysfs entry are made outside the timing
            near, far = f"gb{tag}a{i}", f"gb{tag}p{i}"
            sh("ip", "link", "add", "name", near, "netns", agent_ns, "type", "veth", "peer", "name", far, "netns",
               peer_ns)
            aid, nsid = str(uuid.uuid4()), str(uuid.uuid4())
            os.makedirs(os.path.join(sysfs, "bus", "vmbus", "devices", aid, "net", near))
            t0 = time.perf_counter()
            ok(network(env.conn, "Add", nsid, aid, IPConfigs=[{"IPAddress": "10.66.0.2", "PrefixLength": 24}],
                       Routes=[{"NextHop": "10.66.0.1", "DestinationPrefix": "0.0.0.0/0"}]))
            ta = time.perf_counter() - t0
            sid, pid, tn = pod_cycle(env, rootfs, nsid, False)
            ok(network(env.conn, "Remove", nsid, aid))
            pod_end(env, sid, pid)
            sh("ip", "-n", agent_ns, "link", "del", near)
            if i > 0:  # the first round warms caches
                skip.append(t)
                nic.append(tn)
                add.append(ta)
        ms = lambda v: statistics.median(v) * 1000  # noqa: E731
        print(f"bench/network ({a.runtime}, {a.iterations} iterations, medians):")
        print(f"  sandbox create+start, skip-pod-networking  {ms(skip):8.2f} ms")
        print(f"  sandbox create+start, one NIC configured   {ms(nic):8.2f} ms   ratio {ms(nic) / ms(skip):.3f}")
        print(f"  Network Add alone                          {ms(add):8.2f} ms   "
              f"ratio to the baseline {ms(add) / ms(skip):.3f}")
        print(f"  NIC cost (create+start with NIC - without) {ms(nic) - ms(skip):8.2f} ms")
        # inside the agent: move + configure of the NIC (its log's own timing)
        setup = [float(l.split("duration_ms=")[1].split()[0]) for l in agent.log().splitlines()
                 if "NIC setup finished" in l and "duration_ms=" in l]
        if setup:
            print(f"  NIC move+configure inside the agent        {statistics.median(setup):8.2f} ms   "
                  f"ratio to the baseline {statistics.median(setup) / ms(skip):.4f}")
    finally:
        if agent:
            agent.stop()
        for ns in (agent_ns, peer_ns):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
