"""What the agent registers per pod is gone when the pod goes: DumpStacks
counts the pods, containers and sandbox roots it holds."""
import re

import podlib


def counts(conn):
    text = podlib.dump(conn)
    return {k: int(v) for k, v in re.findall(r"^(pods|containers|sandbox_roots): (\d+)$", text, re.M)}


def test_virtual_pod_sandbox_root_alias_unregistered(pods_runc, rootfs):
    """A virtual-pod sandbox whose container ID is not the virtual pod ID has
    its root registered under both; both entries go with the pod (before,
    the entry under the container ID was never removed and grew per pod)."""
    env, c = pods_runc, pods_runc.conn
    assert counts(c) == {"pods": 0, "containers": 0, "sandbox_roots": 0}
    for _ in range(3):
        vpid, sid = podlib.new_id("vp")[:32], podlib.new_id("ab")
        b = env.bundle(sid)
        assert podlib.create(c, sid, podlib.sandbox_spec(rootfs, sid, vpid=vpid), b)["Result"] == 0
        assert counts(c) == {"pods": 1, "containers": 1, "sandbox_roots": 2}
        assert podlib.delete(c, sid)["Result"] == 0
        assert counts(c) == {"pods": 0, "containers": 0, "sandbox_roots": 0}
