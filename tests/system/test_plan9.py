"""ModifySettings MappedDirectory, locally: the dial to the host's Plan 9
port (564) goes through the transport (unix:DIR/564 here), and every error
path leaves nothing. This machine's kernel has no 9p, so the mount itself
fails here with the upstream message; the real share (diod on the host
side) is tests/uvm/test_uvm_storage.py. docs/architecture.md, "Plan 9
shares"."""
import os

import pytest

from gcsproto import E_FAIL, E_INVALIDARG, NULL_ID

pytestmark = pytest.mark.skipif(os.environ.get("GCS_TEST_TARGET", "local") == "uvm",
                                reason="host-only: the kernel here lacks 9p; the VM test mounts for real")

HAVE_9P = "9p" in open("/proc/filesystems").read()


def modify(conn, request, settings):
    return conn.call("ModifySettings", {"Request": {"ResourceType": "MappedDirectory", "RequestType": request,
                                                    "Settings": settings}}, container_id=NULL_ID, timeout=30)


def expect(msg, hr, text=None):
    assert msg["Result"] == hr, msg
    if text:
        assert text in msg["ErrorMessage"], msg["ErrorMessage"]


@pytest.mark.skipif(HAVE_9P, reason="this kernel has 9p: the mount would succeed against a fake server")
def test_plan9_dials_the_port_and_cleans_up(pods_runc):
    env, c = pods_runc, pods_runc.conn
    path = "/run/mounts/plan9/7"
    env.paths += [path, "/run/mounts/plan9"]
    # nobody listening on 564: the dial fails, the directory goes again
    expect(modify(c, "Add", {"MountPath": path, "Port": 564, "ShareName": "7"}), E_FAIL,
           f"could not connect to plan9 server for {path}")
    assert not os.path.exists(path)
    # the host's Plan 9 port answers: the agent dials it (through the
    # transport), then the kernel refuses 9p; nothing is left either
    lst = env.listen(564)
    try:
        expect(modify(c, "Add", {"MountPath": path, "Port": 564, "ShareName": "7", "ReadOnly": True}), E_FAIL,
               f"failed to mount directory for mapped directory {path}")
        server = lst.accept(5)  # the dial happened
        os.close(server.rfd)
    finally:
        lst.close()
    assert not os.path.exists(path)
    # Remove of what is not there: success, as upstream
    expect(modify(c, "Remove", {"MountPath": path, "Port": 564, "ShareName": "7"}), 0)
    for d in ("/run/mounts/plan9",):
        if os.path.isdir(d) and not os.listdir(d):
            os.rmdir(d)


def test_plan9_refuses_bad_settings_before_making_anything(pods_runc):
    """D-48: a ShareName with ',' would add options to the 9p mount (the
    aname is pasted into the option string); upstream checks the name only
    in confidential mode."""
    env, c = pods_runc, pods_runc.conn
    path = "/run/mounts/plan9/x"
    env.paths.append(path)
    expect(modify(c, "Add", {"MountPath": path, "Port": 564, "ShareName": "1,access=any"}), E_INVALIDARG,
           "would add mount options")
    expect(modify(c, "Add", {"MountPath": path, "ShareName": "1"}), E_INVALIDARG, "Port 0 is not a port")
    expect(modify(c, "Add", {"MountPath": "/etc/plan9", "Port": 564}), E_INVALIDARG, "MountPath")
    assert not os.path.exists(path)
