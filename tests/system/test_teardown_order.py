"""Sandbox + workload teardown in the orders real hosts use, for each bundle
layout (docs/pod-model.md, "teardown"): every request answers 0 and nothing
is left (mounts in the agent's namespace, bundle and scratch directories,
cgroups, runtime state).

Layouts:
  v1   bundle /run/gcs/c/<id>, scratch <bundle>/scratch (no bind)
  v2   bundle /run/gcs/pods/<pod>/<id>, scratch on a separate directory that
       stands in for the SCSI scratch disk (the bundle is bound onto
       <scratch>/bundle; internal/controller/linuxcontainer/layers.go)
  flat bundle /run/gcs/c/<id>, scratch beside it (bound too)
Orders:
  v2            per container, workload then sandbox: CombinedLayers Remove,
                then DeleteContainerState (internal/controller/linuxcontainer/
                container.go)
  v1            workload: Remove, then delete; sandbox: delete only, its layers
                are never removed (internal/hcsoci/resources_lcow.go)
  delete-first  delete, then Remove, for each
"""
import uuid

import pytest

import podlib
from gcsproto import NULL_ID, SYSTEM_NOT_FOUND
from podlib import Stdio

pytestmark = pytest.mark.usefixtures("run_mounts_dir")  # conftest.py


def ok(msg):
    assert msg["Result"] == 0, msg
    return msg


def layers_req(request, bundle, cid=None, lower=(), scratch=None):
    settings = {"ContainerRootPath": bundle + "/rootfs"}
    if request == "Add":
        settings.update({"ContainerID": cid, "Layers": [{"Path": p} for p in lower], "ScratchPath": scratch})
    return {"Request": {"ResourceType": "CombinedLayers", "RequestType": request, "Settings": settings}}


class Ctr:
    def __init__(self, env, layout, cid, pod, disk):
        self.id = cid
        if layout == "v1":
            self.bundle = env.bundle(cid)
            self.scratch = self.bundle + "/scratch"
        elif layout == "v2":
            self.bundle = env.bundle(cid, layout="v2", pod=pod)
            self.scratch = f"{disk}/scratch/{pod}/{cid}"
        else:
            self.bundle = env.bundle(cid)
            self.scratch = f"/run/gcs/c/{cid}.scratch"
            env.paths.append(self.scratch)


def start_detached(env, cid):
    st = Stdio(env, stdout=False, stderr=False)
    return ok(podlib.execute(env.conn, cid, st))["ProcessId"]


LAYOUTS = ["v1", "v2", "flat"]
ORDERS = ["v2", "v1", "delete-first"]


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_pod_teardown(pods, rootfs, layout, order):
    env, c = pods, pods.conn
    sid, wid = podlib.new_id("ab"), podlib.new_id("cd")
    disk = f"/run/mounts/test-disk-{uuid.uuid4().hex[:12]}"  # the V2 scratch disk's mount point
    if layout == "v2":
        env.paths += [disk, f"/run/gcs/pods/{sid}"]
    s, w = Ctr(env, layout, sid, sid, disk), Ctr(env, layout, wid, sid, disk)
    lower = [rootfs]

    ok(c.call("ModifySettings", layers_req("Add", s.bundle, sid, lower, s.scratch), container_id=NULL_ID))
    spec = podlib.sandbox_spec(rootfs, sid)
    spec["root"] = {"path": s.bundle + "/rootfs", "readonly": False}
    ok(podlib.create(c, sid, spec, s.bundle, s.scratch))
    spid = start_detached(env, sid)
    ok(c.call("ModifySettings", layers_req("Add", w.bundle, wid, lower, w.scratch), container_id=NULL_ID))
    spec = podlib.workload_spec(rootfs, sid)
    spec["root"] = {"path": w.bundle + "/rootfs", "readonly": False}
    ok(podlib.create(c, wid, spec, w.bundle, w.scratch))
    wpid = start_detached(env, wid)
    if layout != "v1":
        # the bundle lives on the scratch: the sandbox root's mounts are on the bind
        assert env.mounts_under(s.bundle)[0] == s.bundle, env.mounts_under(s.bundle)

    # the host kills and waits for each, workload first
    for cid, pid in [(wid, wpid), (sid, spid)]:
        ok(c.call("ShutdownForced", container_id=cid))
        assert ok(podlib.wait(c, cid, pid))["ExitCode"] == 137
    while c.notifications:
        c.notifications.pop()

    remove = lambda ctr: ok(c.call("ModifySettings", layers_req("Remove", ctr.bundle), container_id=NULL_ID))
    for ctr in (w, s):
        if order == "v2":
            remove(ctr)
            ok(podlib.delete(c, ctr.id))
        elif order == "v1":
            if ctr is w:
                remove(ctr)
            ok(podlib.delete(c, ctr.id))
        else:
            ok(podlib.delete(c, ctr.id))
            remove(ctr)

    # nothing left
    assert env.mounts_under("/run/gcs") == []
    assert env.mounts_under("/run/mounts") == []
    for ctr in (s, w):
        assert not env.exists(ctr.bundle), ctr.bundle
        assert not env.exists(ctr.scratch), ctr.scratch
    if layout == "v2":
        assert not env.exists(f"/run/gcs/pods/{sid}")
    assert env.runtime_list() == []
    assert env.pods_children() == []
    # repeated after success, answered as upstream: Remove of what is gone is
    # a success (storage.UnmountPath of a missing path), a second delete is
    # "not found"
    remove(s)
    assert podlib.delete(c, sid)["Result"] == SYSTEM_NOT_FOUND
    if layout == "v2" and env.exists(disk):
        env.sh(f"rmdir {disk}/scratch/{sid} {disk}/scratch {disk} 2>/dev/null; true")
