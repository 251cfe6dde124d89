"""The unified pod model against the real gcs, a real runtime (runc and crun),
real cgroups and real mounts (in the agent's private mount namespace). Runs
against a local agent and, with GCS_TEST_TARGET=uvm, against gcs in a
utility VM on cgroup v2 or v1: every check of the machine goes through the
PodEnv (podlib), which looks where the agent runs."""
import json

import pytest

import podlib
from gcsproto import ALREADY_EXISTS, E_FAIL, E_INVALIDARG, INVALID_JSON, INVALID_STATE, NOT_FOUND, SYSTEM_NOT_FOUND
from podlib import CT_TYPE, SANDBOX_ID, VPOD_ID

HOSTS_TAIL = ("\n# The following lines are desirable for IPv6 capable hosts\n::1     ip6-localhost ip6-loopback\n"
              "fe00::0 ip6-localnet\nff00::0 ip6-mcastprefix\nff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n")


def ok(msg):
    assert msg["Result"] == 0, msg
    return msg


def config(env, bundle):
    return json.loads(env.read(f"{bundle}/config.json"))


def check_sandbox_root(env, root, hostname):
    assert env.read(f"{root}/hostname") == hostname + "\n"
    first = hostname.split(".")[0]
    line2 = f"127.0.0.1 {hostname}" + (f" {first}" if "." in hostname else "")
    assert env.read(f"{root}/hosts") == f"127.0.0.1 localhost\n{line2}\n" + HOSTS_TAIL
    assert env.read(f"{root}/resolv.conf") == ""
    dirs = env.isdirs(f"{root}/{d}" for d in ["sandboxMounts", "sandboxTmpfsMounts", "hugepages", "logs"])
    assert all(dirs.values()), dirs
    assert env.mode(f"{root}/logs") == 0o777
    mounts = env.mountinfo()
    points = [m for m, _ in mounts]
    assert points.count(f"{root}/sandboxMounts") == 1
    assert points.count(f"{root}/hugepages") == 1
    assert points.count(f"{root}/sandboxTmpfsMounts") == 2  # tmpfs, then the self-bind
    tmpfs = [line for m, line in mounts if m == f"{root}/sandboxTmpfsMounts"]
    assert " - tmpfs " in tmpfs[0]
    for d in ["sandboxMounts", "hugepages", "sandboxTmpfsMounts"]:
        top = [line for m, line in mounts if m == f"{root}/{d}"][-1]  # the mount a bind source sees
        assert "shared:" in top, top


def check_cgroups(env, rels, present=True):
    dirs = [d for rel in rels for d in env.cgroup_dirs(rel).values()]
    assert dirs
    for d, there in env.isdirs(dirs).items():
        assert there == present, (d, present)


def test_every_kind_of_pod_at_once_then_mixed_delete(pods, rootfs):
    """One VM holding a V1 pod (sandbox + 2 workloads), two virtual pods
    (sandbox + workload each), a V2-layout pod and a standalone container."""
    c = pods.conn
    S1, W1a, W1b = podlib.new_id("a1"), podlib.new_id("a2"), podlib.new_id("a3")
    VA, WA, VB, WB = podlib.new_id("b1"), podlib.new_id("b2"), podlib.new_id("c1"), podlib.new_id("c2")
    P2, S2, W2 = "pod-" + podlib.new_id()[:12], podlib.new_id("d1"), podlib.new_id("d2")
    X = podlib.new_id("e1")

    # V1 pod: the sandbox limits its pod cgroup
    res = {"memory": {"limit": 256 << 20}, "cpu": {"shares": 512}, "pids": {"limit": 300}}
    ok(podlib.create(c, S1, podlib.sandbox_spec(rootfs, S1, hostname="pod1.example.com", resources=res),
                     pods.bundle(S1)))
    ok(podlib.create(c, W1a, podlib.workload_spec(rootfs, S1, mounts=[
        {"destination": "/data", "type": "bind", "source": "sandbox://shared/data", "options": ["rbind"]}]),
        pods.bundle(W1a)))
    ok(podlib.create(c, W1b, podlib.workload_spec(rootfs, S1), pods.bundle(W1b)))
    # two virtual pods sharing the VM: the sandbox's id is the virtual pod id
    for V, W in [(VA, WA), (VB, WB)]:
        ok(podlib.create(c, V, podlib.sandbox_spec(rootfs, V, vpid=V, hostname="vp"), pods.bundle(V)))
        ok(podlib.create(c, W, podlib.workload_spec(rootfs, "ignored-for-vpods", vpid=V), pods.bundle(W)))
    pods.paths += [f"/run/gcs/c/virtual-pods/{VA}", f"/run/gcs/c/virtual-pods/{VB}"]
    # the V2 shim layout
    ok(podlib.create(c, S2, podlib.sandbox_spec(rootfs, S2, hostname="v2pod"), pods.bundle(S2, "v2", P2)))
    ok(podlib.create(c, W2, podlib.workload_spec(rootfs, S2), pods.bundle(W2, "v2", P2)))
    pods.paths.append(f"/run/gcs/pods/{P2}")
    # a standalone container from Docker's spec (its 2017 seccomp profile; the >64 KiB request is test_fixtures.py's)
    ok(podlib.create(c, X, podlib.standalone_spec(rootfs), pods.bundle(X)))

    # ---- every cgroup under every v1 controller (docs/pod-model.md §4.3) ----
    check_cgroups(pods, [f"/pods/{sid}" for sid in [S1, VA, VB, S2]] +
                  [f"/pods/{sid}/{sid}" for sid in [S1, VA, VB, S2]] +
                  [f"/pods/{sid}/{w}" for sid, w in [(S1, W1a), (S1, W1b), (VA, WA), (VB, WB), (S2, W2)]] +
                  [f"/pods/{X}"])
    if pods.cgroup_version == 1:
        expect = {("memory", "memory.limit_in_bytes"): str(256 << 20), ("cpu", "cpu.shares"): "512",
                  ("pids", "pids.max"): "300"}
    else:  # converted (docs/pod-model.md §4.5): weight = 1 + (512 - 2) * 9999 / 262142
        expect = {("memory", "memory.max"): str(256 << 20), ("cpu", "cpu.weight"): "20",
                  ("pids", "pids.max"): "300"}
    for (ctrl, name), want in expect.items():
        assert pods.read(pods.cgroup_file(ctrl, f"/pods/{S1}", name)).strip() == want, name

    # ---- sandbox roots: V1 = bundle, vpod = parent/virtual-pods/<vpid>, V2 = bundle ----
    check_sandbox_root(pods, f"/run/gcs/c/{S1}", "pod1.example.com")
    check_sandbox_root(pods, f"/run/gcs/c/virtual-pods/{VA}", "vp")
    check_sandbox_root(pods, f"/run/gcs/c/virtual-pods/{VB}", "vp")
    check_sandbox_root(pods, f"/run/gcs/pods/{P2}/{S2}", "v2pod")
    assert pods.isdir(f"/run/gcs/c/{S1}/sandboxMounts/shared/data")

    # ---- config.json as the runtime got it ----
    assert config(pods, f"/run/gcs/c/{S1}")["linux"]["cgroupsPath"] == f"/pods/{S1}/{S1}"
    assert config(pods, f"/run/gcs/c/{X}")["linux"]["cgroupsPath"] == f"/pods/{X}"
    for sid, w, root in [(S1, W1a, f"/run/gcs/c/{S1}"), (VA, WA, f"/run/gcs/c/virtual-pods/{VA}"),
                         (S2, W2, f"/run/gcs/pods/{P2}/{S2}")]:
        cfgw = config(pods, f"/run/gcs/c/{w}" if sid != S2 else f"/run/gcs/pods/{P2}/{w}")
        assert cfgw["linux"]["cgroupsPath"] == f"/pods/{sid}/{w}"
        assert "windows" not in cfgw
        binds = {m["destination"]: m for m in cfgw["mounts"]}
        for f in ["hostname", "hosts", "resolv.conf"]:
            assert binds[f"/etc/{f}"]["source"] == f"{root}/{f}"
            assert binds[f"/etc/{f}"]["options"] == ["bind", "ro"]  # root.readonly
    data = [m for m in config(pods, f"/run/gcs/c/{W1a}")["mounts"] if m["destination"] == "/data"][0]
    assert data["source"] == f"/run/gcs/c/{S1}/sandboxMounts/shared/data"

    # ---- the runtime holds them all, created; the agent lists them ----
    ids = [S1, W1a, W1b, VA, WA, VB, WB, S2, W2, X]
    assert sorted(pods.runtime_list()) == sorted(ids)
    d = podlib.dump(c)
    assert "pods: 4" in d and "containers: 10" in d
    pids = {i: podlib.container_pid(d, i) for i in ids}
    assert all(pids.values()) and all(pods.pids_alive(pids.values()).values()), pids

    # ---- delete in mixed order ----
    ok(podlib.delete(c, WA))
    ok(podlib.delete(c, S1))  # the V1 sandbox before its workloads: the pod waits for them
    assert pods.isdir(f"/run/gcs/c/{S1}/sandboxMounts/shared/data")
    check_cgroups(pods, [f"/pods/{S1}"])
    assert podlib.delete(c, S1)["Result"] == SYSTEM_NOT_FOUND  # twice: already gone
    ok(podlib.delete(c, X))
    ok(podlib.delete(c, VA))
    assert not pods.exists(f"/run/gcs/c/virtual-pods/{VA}")  # docs/differences.md D-1: no vpod root leak
    ok(podlib.delete(c, W1a))
    ok(podlib.delete(c, S2))
    ok(podlib.delete(c, W2))
    assert not pods.exists(f"/run/gcs/pods/{P2}")  # the empty V2 pod directory
    ok(podlib.delete(c, W1b))  # the last member: pod S1 goes now
    check_cgroups(pods, [f"/pods/{S1}"], present=False)
    assert not pods.exists(f"/run/gcs/c/{S1}")
    ok(podlib.delete(c, WB))
    ok(podlib.delete(c, VB))

    assert pods.pods_children() == []
    assert pods.runtime_list() == []
    assert pods.mounts_under("/run/gcs") == []
    assert not any(pods.pids_alive(pids.values()).values())
    assert not any(pods.isdirs(pods.paths).values()), pods.paths
    assert not pods.exists("/run/gcs/c/virtual-pods")
    d = podlib.dump(c)
    assert "pods: 0" in d and "containers: 0" in d
