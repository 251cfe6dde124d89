"""Pod-model rules, errors and the upstream bugs fixed on purpose
(docs/pod-model.md, docs/differences.md), against the real agent and runc."""
import json
import os
import stat
import threading
import time

import pytest

import podlib
from gcsproto import (ALREADY_EXISTS, E_FAIL, E_INVALIDARG, INVALID_JSON, INVALID_STATE, NOT_FOUND, NULL_ID,
                      SYSTEM_NOT_FOUND, req_code)
from podlib import CT_TYPE, SANDBOX_ID, SKIP_NET, VPOD_ID

pytestmark = pytest.mark.skipif(os.environ.get("GCS_TEST_TARGET", "local") == "uvm",
                                reason="host-only: reads the host's cgroups, mounts and runtime state directly")


def ok(msg):
    assert msg["Result"] == 0, msg
    return msg


def err(msg, hr, text=None):
    assert msg["Result"] == hr, msg
    if text:
        assert text in msg["ErrorMessage"], msg["ErrorMessage"]
    return msg


def read(p):
    with open(p) as f:
        return f.read()


def nothing_left(env, *ids):
    for i in ids:
        assert not os.path.exists(f"/run/gcs/c/{i}"), i
        for d in podlib.cgroup_dirs(f"/pods/{i}").values():
            assert not os.path.exists(d), d
    assert podlib.runtime_list(env.runtime, env.rtroot) == []
    assert podlib.mounts_under(env.agent.proc.pid, "/run/gcs") == []


def sandbox(env, rootfs, sid=None, **kw):
    sid = sid or podlib.new_id("5a")
    ok(podlib.create(env.conn, sid, podlib.sandbox_spec(rootfs, sid, **kw), env.bundle(sid)))
    return sid


# ---- classification and IDs (docs/pod-model.md §1.3, §2; docs/differences.md D-3, D-6, D-9, D-10) ----

def test_d10_workload_without_sandbox_id(pods_runc, rootfs):
    w = podlib.new_id()
    s = podlib.workload_spec(rootfs, "")
    err(podlib.create(pods_runc.conn, w, s, pods_runc.bundle(w)), E_INVALIDARG,
        "unsupported 'io.kubernetes.cri.sandbox-id': ''")
    nothing_left(pods_runc, w)


def test_d11_workload_of_missing_pod_is_not_registered(pods_runc, rootfs):
    w, sid = podlib.new_id(), podlib.new_id()
    for _ in range(2):  # not left registered: the same error twice, never "already exists"
        err(podlib.create(pods_runc.conn, w, podlib.workload_spec(rootfs, sid), pods_runc.bundle(w)), E_FAIL,
            f"pod {sid} does not exist for workload container {w}")
    nothing_left(pods_runc, w)


def test_d12_unknown_container_type(pods_runc, rootfs):
    c = podlib.new_id()
    s = podlib.base_spec(rootfs)
    s["annotations"] = {CT_TYPE: "foo"}
    err(podlib.create(pods_runc.conn, c, s, pods_runc.bundle(c)), E_INVALIDARG,
        "unsupported 'io.kubernetes.cri.container-type': 'foo'")
    nothing_left(pods_runc, c)


def test_d13_duplicate_vpod_sandbox_leaves_live_pod_alone_7_3_item_3(pods_runc, rootfs):
    env, pid = pods_runc, pods_runc.agent.proc.pid
    v = podlib.new_id("7a")
    sandbox(env, rootfs, v, vpid=v, hostname="first")
    root = f"/run/gcs/c/virtual-pods/{v}"
    env.paths.append(root)
    before = podlib.mounts_under(pid, root)
    other = podlib.new_id("7b")
    s = podlib.sandbox_spec(rootfs, other, vpid=v, hostname="second")
    s["annotations"][CT_TYPE] = "sandbox"
    err(podlib.create(env.conn, other, s, env.bundle(other)), ALREADY_EXISTS, f"pod {v} already exists")
    assert read(f"{root}/hostname") == "first\n"  # not overwritten
    assert podlib.mounts_under(pid, root) == before  # nothing stacked on the live pod
    assert not os.path.exists(f"/run/gcs/c/{other}")
    ok(podlib.delete(env.conn, v))
    nothing_left(env, v, other)


def test_d19_workload_must_not_set_hostname(pods_runc, rootfs):
    sid = sandbox(pods_runc, rootfs)
    w = podlib.new_id()
    s = podlib.workload_spec(rootfs, sid)
    s["hostname"] = "nope"
    err(podlib.create(pods_runc.conn, w, s, pods_runc.bundle(w)), E_INVALIDARG,
        "workload container must not change hostname: nope")
    assert not os.path.exists(f"/run/gcs/c/{w}")
    ok(podlib.delete(pods_runc.conn, sid))
    nothing_left(pods_runc, sid, w)


def test_d22_new_workload_after_sandbox_deleted_is_refused(pods_runc, rootfs):
    env = pods_runc
    sid = sandbox(env, rootfs)
    w1, w2 = podlib.new_id(), podlib.new_id()
    ok(podlib.create(env.conn, w1, podlib.workload_spec(rootfs, sid), env.bundle(w1)))
    ok(podlib.delete(env.conn, sid))
    err(podlib.create(env.conn, w2, podlib.workload_spec(rootfs, sid), env.bundle(w2)), INVALID_STATE,
        f"pod {sid} is being removed")
    ok(podlib.delete(env.conn, w1))
    err(podlib.create(env.conn, w2, podlib.workload_spec(rootfs, sid), env.bundle(w2)), E_FAIL,
        f"pod {sid} does not exist")
    nothing_left(env, sid, w1, w2)


def test_d25_skip_networking_any_case_writes_empty_resolv_conf(pods_runc, rootfs):
    sid = podlib.new_id()
    s = podlib.sandbox_spec(rootfs, sid)
    s["annotations"][SKIP_NET] = "TRUE"
    ok(podlib.create(pods_runc.conn, sid, s, pods_runc.bundle(sid)))
    assert read(f"/run/gcs/c/{sid}/resolv.conf") == ""
    ok(podlib.delete(pods_runc.conn, sid))
    nothing_left(pods_runc, sid)


def test_sandbox_needs_its_network_namespace(pods_runc, rootfs):
    sid = podlib.new_id()
    s = podlib.sandbox_spec(rootfs, sid, skip_net=False, netns="8f0d2c4a-1b3e-4f5a-9c7d-2e6b8a0f1c3d")
    err(podlib.create(pods_runc.conn, sid, s, pods_runc.bundle(sid)), NOT_FOUND,
        "network namespace 8f0d2c4a-1b3e-4f5a-9c7d-2e6b8a0f1c3d not found")
    nothing_left(pods_runc, sid)


@pytest.mark.parametrize("vpid", ["a/b", ".", "..", "../x", "/abs", "x/../y", ""])
def test_strict_virtual_pod_ids_7_3_item_9(pods_runc, rootfs, vpid):
    sid = podlib.new_id()
    s = podlib.sandbox_spec(rootfs, sid)
    s["annotations"][VPOD_ID] = vpid
    msg = podlib.create(pods_runc.conn, sid, s, pods_runc.bundle(sid))
    if vpid == "":
        ok(msg)  # empty means "not a virtual pod"
        ok(podlib.delete(pods_runc.conn, sid))
    else:
        assert msg["Result"] != 0 and "invalid virtual pod ID" in msg["ErrorMessage"], msg
    assert not os.path.exists("/run/gcs/c/virtual-pods")
    nothing_left(pods_runc, sid)


def test_null_container_id_refused_on_create_7_3_item_10(pods_runc, rootfs):
    s = podlib.sandbox_spec(rootfs, NULL_ID)
    msg = podlib.create(pods_runc.conn, NULL_ID, s, "/run/gcs/c/nullid")
    assert msg["Result"] != 0, msg
    assert not os.path.exists("/run/gcs/c/nullid")


@pytest.mark.parametrize("cid", ["../x", "a/b", "x" * 300, "", "-lead", "sp ace"])
def test_container_ids_that_reach_paths_are_checked(pods_runc, rootfs, cid):
    s = podlib.sandbox_spec(rootfs, "s")
    msg = podlib.create(pods_runc.conn, cid, s, "/run/gcs/c/idcheck")
    assert msg["Result"] != 0, msg
    assert not os.path.exists("/run/gcs/c/idcheck")


def test_duplicate_container_id(pods_runc, rootfs):
    sid = sandbox(pods_runc, rootfs)
    err(podlib.create(pods_runc.conn, sid, podlib.sandbox_spec(rootfs, sid), pods_runc.bundle(sid)),
        ALREADY_EXISTS, "already exists")
    ok(podlib.delete(pods_runc.conn, sid))
    nothing_left(pods_runc, sid)


def test_vpod_sandbox_override_ignores_container_type(pods_runc, rootfs):
    """id == virtual pod id makes it the sandbox whatever the annotation says (docs/pod-model.md §1.3 step 4)."""
    v = podlib.new_id("9a")
    s = podlib.workload_spec(rootfs, "whatever", vpid=v)
    ok(podlib.create(pods_runc.conn, v, s, pods_runc.bundle(v)))
    pods_runc.paths.append(f"/run/gcs/c/virtual-pods/{v}")
    assert os.path.isfile(f"/run/gcs/c/virtual-pods/{v}/hosts")
    assert f"pod {v} " in podlib.dump(pods_runc.conn)
    ok(podlib.delete(pods_runc.conn, v))
    nothing_left(pods_runc, v)


# ---- host paths are validated before any side effect (docs/differences.md D-2) ----

@pytest.mark.parametrize("bundle,scratch,hr", [
    ("/tmp/gcs-outside-allowed", "", E_INVALIDARG),
    ("/run/gcs/c/../../etc/x", "", E_INVALIDARG),
    ("relative/path", "", E_INVALIDARG),
    ("/run/gcs", "", E_INVALIDARG),
    ("/run/gcs/c/okbundle", "/", E_INVALIDARG),
    ("/run/gcs/c/okbundle", "/etc", E_INVALIDARG),
    ("", "", INVALID_JSON),
])
def test_bad_host_paths_rejected_before_side_effects_7_3_item_2(pods_runc, rootfs, bundle, scratch, hr):
    sid = podlib.new_id()
    msg = podlib.create(pods_runc.conn, sid, podlib.sandbox_spec(rootfs, sid), bundle, scratch)
    err(msg, hr)
    assert not os.path.exists("/run/gcs/c/okbundle")
    assert not os.path.exists("/tmp/gcs-outside-allowed")
    nothing_left(pods_runc, sid)


@pytest.mark.parametrize("mutate,text", [
    (lambda d: d.pop("OciSpecification"), "OciSpecification is missing"),
    (lambda d: d["OciSpecification"].pop("process"), "process"),
    (lambda d: d["OciSpecification"].pop("root"), "root"),
    (lambda d: d["OciSpecification"].pop("linux"), "linux"),
    (lambda d: d["OciSpecification"]["root"].update(path="rel"), "root.path"),
    (lambda d: d.update(SchemaVersion={"Major": 2, "Minor": 0}), "schema version 2.0"),
    (lambda d: d.update(SchemaVersion={"Major": 1, "Minor": 9}), "schema version 1.9"),
])
def test_malformed_container_documents(pods_runc, rootfs, mutate, text):
    sid = podlib.new_id()
    doc = podlib.settings(podlib.sandbox_spec(rootfs, sid), pods_runc.bundle(sid))
    mutate(doc)
    msg = pods_runc.conn.call("Create", {"ContainerConfig": json.dumps(doc)}, container_id=sid)
    err(msg, INVALID_JSON, text)
    nothing_left(pods_runc, sid)


def test_sandbox_mount_escape_rejected_7_3_item_8(pods_runc, rootfs):
    env = pods_runc
    sid = sandbox(env, rootfs)
    for src in ["sandbox://../sandboxMountsX", "sandbox://../../etc", "sandbox-tmp://../sandboxTmpfsMountsX",
                "hugepages://2M/../../x"]:
        w = podlib.new_id()
        s = podlib.workload_spec(rootfs, sid, mounts=[{"destination": "/d", "type": "bind", "source": src,
                                                        "options": ["rbind"]}])
        msg = podlib.create(env.conn, w, s, env.bundle(w))
        assert msg["Result"] != 0, (src, msg)
        assert not os.path.exists(f"/run/gcs/c/{sid}/sandboxMountsX")
        assert not os.path.exists(f"/run/gcs/c/{sid}/sandboxTmpfsMountsX")
    # the pod is intact and still takes workloads
    w = podlib.new_id()
    ok(podlib.create(env.conn, w, podlib.workload_spec(rootfs, sid), env.bundle(w)))
    ok(podlib.delete(env.conn, w))
    ok(podlib.delete(env.conn, sid))
    nothing_left(env, sid)


def test_workload_annotations_reach_the_spec_d14_d23_d24(pods_runc, rootfs):
    env = pods_runc
    sid = sandbox(env, rootfs)
    w = podlib.new_id()
    s = podlib.workload_spec(rootfs, sid)
    s["annotations"].update({"io.microsoft.container.lcow.tee-log-dir-mount": "/var/log/pod",
                             "io.microsoft.lcow.shm.size-kb": "65536", "io.microsoft.lcow.rlimitcore": "1;2"})
    ok(podlib.create(env.conn, w, s, env.bundle(w)))
    cfg = json.loads(read(f"/run/gcs/c/{w}/config.json"))
    m = {x["destination"]: x for x in cfg["mounts"]}
    assert m["/var/log/pod"]["source"] == f"/run/gcs/c/{sid}/logs"
    assert m["/dev/shm"]["options"] == ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]
    assert {"type": "RLIMIT_CORE", "soft": 1, "hard": 2} in cfg["process"]["rlimits"]
    ok(podlib.delete(env.conn, w))
    ok(podlib.delete(env.conn, sid))
    nothing_left(env, sid, w)


def test_delete_unknown_and_podcgroupmemorylimit(pods_runc):
    c = pods_runc.conn
    err(podlib.delete(c, podlib.new_id()), SYSTEM_NOT_FOUND)
    req = {"Request": {"ResourceType": "PodCgroupMemoryLimit", "RequestType": "Update"}}
    ok(c.call("ModifySettings", req, container_id=NULL_ID))
    for rt in ["Add", "Remove", "PreAdd"]:  # as upstream uvm_state_test.go
        req = {"Request": {"ResourceType": "PodCgroupMemoryLimit", "RequestType": rt}}
        err(c.call("ModifySettings", req, container_id=NULL_ID), E_FAIL, "RequestType")


# ---- fault injection: a runtime that fails, hangs, or fails after creating ----

WRAP_FAIL = """#!/bin/sh
log=""; prev=""
for a in "$@"; do [ "$prev" = "--log" ] && log="$a"; prev="$a"; done
for a in "$@"; do
  if [ "$a" = create ]; then
    [ -n "$log" ] && echo '{"level":"error","msg":"wrapper: create refused on purpose"}' >> "$log"
    exit 1
  fi
done
exec runc "$@"
"""

WRAP_HANG = """#!/bin/sh
for a in "$@"; do [ "$a" = create ] && exec sleep 1000; done
exec runc "$@"
"""

WRAP_FAIL_AFTER_CREATE = """#!/bin/sh
log=""; prev=""; create=0
for a in "$@"; do [ "$prev" = "--log" ] && log="$a"; [ "$a" = create ] && create=1; prev="$a"; done
runc "$@" || exit $?
if [ $create = 1 ]; then
  echo '{"level":"error","msg":"wrapper: failing after a successful create"}' >> "$log"
  exit 1
fi
"""


def wrapper_env(agent_factory, tmp_path, script, extra=()):
    from conftest import PodEnv
    path = tmp_path / "fake-runtime"
    path.write_text(script)
    path.chmod(0o755)
    rtroot = str(tmp_path / "rtstate")
    a = agent_factory(mode="unix", args=["-runtime", str(path), "-runtime-root", rtroot] + list(extra))
    a.connect()
    a.conn.negotiate()
    env = PodEnv(a, "runc", rtroot, tmp_path)
    return env


@pytest.mark.parametrize("kind", ["sandbox", "standalone"])
def test_runtime_fails_at_create_nothing_left_7_3_item_5(agent_factory, tmp_path, rootfs, kind):
    env = wrapper_env(agent_factory, tmp_path, WRAP_FAIL)
    cid = podlib.new_id()
    spec = podlib.sandbox_spec(rootfs, cid) if kind == "sandbox" else podlib.standalone_spec(rootfs)
    err(podlib.create(env.conn, cid, spec, env.bundle(cid)), E_FAIL, "wrapper: create refused on purpose")
    nothing_left(env, cid)
    assert "pods: 0" in podlib.dump(env.conn) and "containers: 0" in podlib.dump(env.conn)


def test_runtime_fails_after_creating_is_deleted_7_3_item_4(agent_factory, tmp_path, rootfs):
    env = wrapper_env(agent_factory, tmp_path, WRAP_FAIL_AFTER_CREATE)
    cid = podlib.new_id()
    err(podlib.create(env.conn, cid, podlib.sandbox_spec(rootfs, cid), env.bundle(cid)), E_FAIL,
        "failing after a successful create")
    nothing_left(env, cid)  # the runtime container it made was deleted


def test_hanging_runtime_is_killed_and_bridge_stays_responsive(agent_factory, tmp_path, rootfs):
    env = wrapper_env(agent_factory, tmp_path, WRAP_HANG, extra=["-runtime-timeout", "3"])
    cid = podlib.new_id()
    doc = podlib.settings(podlib.sandbox_spec(rootfs, cid), env.bundle(cid))
    t0 = time.monotonic()
    create_id = env.conn.send(req_code("Create"), {"ContainerId": cid, "ActivityId": NULL_ID,
                                                   "ContainerConfig": json.dumps(doc)})
    # while the runtime hangs, other requests are answered at once
    assert env.conn.call("DumpStacks", container_id=NULL_ID)["Result"] == 0
    err(podlib.delete(env.conn, cid), INVALID_STATE, "still being created")
    assert time.monotonic() - t0 < 2.0
    _, msg = env.conn.response(create_id, timeout=30)
    err(msg, E_FAIL)
    assert "timed out" in msg["ErrorMessage"] or "timeout" in msg["ErrorMessage"], msg
    nothing_left(env, cid)
