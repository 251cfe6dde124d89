"""ModifySettings: the resource table (target, request types, E_NOTIMPL for
the resources not implemented yet, the same wording for every row), and the
mount ledger (what CombinedLayers mounted comes off at delete and at agent
exit). docs/architecture.md, "ModifySettings resources"."""
import os
import shutil

import pytest

import podlib
from gcsproto import ALREADY_EXISTS, E_FAIL, E_NOTIMPL, INVALID_JSON, NULL_ID, SYSTEM_NOT_FOUND

pytestmark = pytest.mark.usefixtures("run_mounts_dir")  # conftest.py

local_only = pytest.mark.skipif(os.environ.get("GCS_TEST_TARGET", "local") == "uvm",
                                reason="host-only: reads the agent's mount table after it exits")


def modify(conn, rtype, request, settings=None, cid=NULL_ID):
    req = {"ResourceType": rtype, "RequestType": request}
    if settings is not None:
        req["Settings"] = settings
    return conn.call("ModifySettings", {"Request": req}, container_id=cid)


def expect(msg, hr, text=None):
    assert msg["Result"] == hr, msg
    if text:
        assert text in msg["ErrorMessage"], msg["ErrorMessage"]


# (resource type, a request type its row accepts, one it refuses)
NOT_YET = [("SecurityPolicy", "Add", None), ("SecurityPolicyFragment", "Update", None)]


@pytest.mark.parametrize("rtype,accepted,refused", NOT_YET)
def test_unimplemented_rows_answer_notimpl(pods_runc, rtype, accepted, refused):
    c = pods_runc.conn
    expect(modify(c, rtype, accepted, {}), E_NOTIMPL, rtype)
    if refused:
        # the request type is checked against the row before E_NOTIMPL
        expect(modify(c, rtype, refused, {}), E_FAIL, f'the RequestType "{refused}" is not supported for {rtype}')
    # a VM resource on a container target (an unknown container first)
    expect(modify(c, rtype, accepted, {}, cid=podlib.new_id()), SYSTEM_NOT_FOUND)


def test_target_and_request_checks(pods_runc, rootfs):
    env, c = pods_runc, pods_runc.conn
    expect(modify(c, "ContainerConstraints", "Update", {}), E_FAIL,
           'the ResourceType "ContainerConstraints" is not supported for UVM')
    expect(modify(c, "CombinedLayers", "Update", {"ContainerRootPath": "/run/gcs/c/x/rootfs"}), E_FAIL,
           'the RequestType "Update" is not supported for CombinedLayers')
    expect(modify(c, "PodCgroupMemoryLimit", "Add"), E_FAIL, 'the RequestType "Add" is not supported')
    expect(modify(c, "CombinedLayers", "Add", "{not json"), INVALID_JSON)
    expect(modify(c, "NoSuchResource", "Add", {}), E_FAIL)
    sid = podlib.new_id("ab")
    podlib.create(c, sid, podlib.sandbox_spec(rootfs, sid), env.bundle(sid))
    expect(modify(c, "CombinedLayers", "Add", {"ContainerRootPath": "/run/gcs/c/x/rootfs"}, cid=sid), E_FAIL,
           'the ResourceType "CombinedLayers" is not supported for containers')
    expect(modify(c, "PodCgroupMemoryLimit", "Update", None, cid=sid), E_FAIL, "not supported for containers")
    # ContainerConstraints takes any request type, as upstream (no Linux part: nothing to do)
    expect(modify(c, "ContainerConstraints", "Remove", {}, cid=sid), 0)
    expect(podlib.delete(c, sid), 0)


def _layers(env, rootfs, wid, bundle, scratch):
    top = env.tmpdir("top-" + wid[:8])
    env.make_file(f"{top}/etc/top-marker", "top\n")
    return modify(env.conn, "CombinedLayers", "Add",
                  {"ContainerID": wid, "ContainerRootPath": bundle + "/rootfs",
                   "Layers": [{"Path": top}, {"Path": rootfs}], "ScratchPath": scratch})


def _mounted(env, path):
    return [m for m, _ in env.mountinfo() if m == path]


@local_only
def test_ledger_unwinds_at_agent_exit(pods_runc, rootfs):
    """The host never sends the Remove: the overlay and the bundle's bind onto
    its scratch (scratch outside the bundle) come off when the agent exits,
    the overlay first."""
    env, c = pods_runc, pods_runc.conn
    wid = podlib.new_id("ee")
    bundle = env.bundle(wid)
    scratch = f"/run/mounts/test-scratch-{wid[:12]}/{wid}"  # stands in for the scratch disk
    env.paths.append(os.path.dirname(scratch))
    expect(_layers(env, rootfs, wid, bundle, scratch), 0)
    assert _mounted(env, bundle + "/rootfs") and _mounted(env, bundle)
    # the same target twice is refused and changes nothing
    expect(_layers(env, rootfs, wid, bundle, scratch), ALREADY_EXISTS, "already mounted")
    assert len(_mounted(env, bundle + "/rootfs")) == 1
    env.agent.stop()
    # the agent's mount namespace is gone with it: its log tells the order
    log = env.agent.log()
    gone_overlay = log.find(f"container rootfs removed")
    gone_bind = log.find("bundle detached from its scratch")
    assert 0 <= gone_overlay < gone_bind, log[-3000:]
    shutil.rmtree(os.path.dirname(scratch))
    os.rmdir(bundle)  # made by the agent as the bind's mount point; the host owns the directory


@pytest.mark.parametrize("remove_first", [True, False])
def test_delete_takes_off_what_layers_mounted(pods, rootfs, remove_first):
    """A V1 host never removes a sandbox's layers before deleting it
    (internal/hcsoci/resources_lcow.go): the overlay the agent mounted is the
    agent's to take off at delete. With the Remove first, the same end."""
    env, c = pods, pods.conn
    sid = podlib.new_id("ab")
    bundle = env.bundle(sid)
    scratch = bundle + "/scratch"
    expect(_layers(env, rootfs, sid, bundle, scratch), 0)
    spec = podlib.sandbox_spec(rootfs, sid)
    spec["root"] = {"path": bundle + "/rootfs", "readonly": False}
    expect(podlib.create(c, sid, spec, bundle, scratch), 0)
    if remove_first:
        expect(modify(c, "CombinedLayers", "Remove", {"ContainerRootPath": bundle + "/rootfs"}), 0)
    expect(podlib.delete(c, sid), 0)
    assert env.mounts_under(bundle) == []
    assert not env.exists(bundle)
    # a Remove after the delete finds nothing mounted: answered as upstream (unmount of nothing)
    msg = modify(c, "CombinedLayers", "Remove", {"ContainerRootPath": bundle + "/rootfs"})
    assert msg["Result"] in (0, E_FAIL), msg
