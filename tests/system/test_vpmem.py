"""ModifySettings VPMemDevice, locally: a loop device over a real ext4 image
stands in for /dev/pmem<N> (its node made under the agent's -dev-root).
Add mounts it read-only at upstream's /run/layers/p<N>, a container runs on
an overlay of it, Remove takes it off; every error path leaves nothing.
The dm-linear and dm-verity cases need device-mapper, which this machine's
kernel lacks: they run in the utility VM (tests/uvm/test_uvm_storage.py);
here they must fail cleanly. docs/architecture.md, "Device-backed layers"."""
import os
import shutil
import stat
import subprocess
import time

import pytest

import podlib
from gcsproto import ALREADY_EXISTS, E_FAIL, E_INVALIDARG, NULL_ID, req_code

pytestmark = pytest.mark.skipif(os.environ.get("GCS_TEST_TARGET", "local") == "uvm",
                                reason="host-only: loop devices and a -dev-root of the test's own")

for tool in ("mkfs.ext4", "losetup"):
    if not shutil.which(tool):
        pytestmark = pytest.mark.skip(reason=f"{tool} not installed")


def modify(conn, rtype, request, settings=None, cid=NULL_ID):
    req = {"ResourceType": rtype, "RequestType": request}
    if settings is not None:
        req["Settings"] = settings
    return conn.call("ModifySettings", {"Request": req}, container_id=cid, timeout=30)


def expect(msg, hr, text=None):
    assert msg["Result"] == hr, msg
    if text:
        assert text in msg["ErrorMessage"], msg["ErrorMessage"]


def make_ext4(path, files, size_mb=8):
    """A real ext4 image of the files {relative path: text}."""
    src = str(path) + ".d"
    for rel, text in files.items():
        os.makedirs(os.path.dirname(os.path.join(src, rel)), exist_ok=True)
        with open(os.path.join(src, rel), "w") as f:
            f.write(text)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-b", "4096", "-d", src, str(path), f"{size_mb}M"], check=True,
                   capture_output=True)
    shutil.rmtree(src)
    return str(path)


class Loops:
    """Loop devices the test attached, detached by name at the end."""

    def __init__(self):
        self.devs = []

    def attach(self, image, ro=True):
        out = subprocess.run(["losetup", "--find", "--show"] + (["-r"] if ro else []) + [image], check=True,
                             capture_output=True, text=True).stdout.strip()
        self.devs.append(out)
        return out

    def detach_all(self):
        for d in self.devs:
            subprocess.run(["losetup", "-d", d], capture_output=True)
        left = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
        for d in self.devs:
            assert d + ":" not in left, f"loop device {d} still attached: {left}"


def mknod_like(dev, node):
    st = os.stat(dev)
    os.mknod(node, stat.S_IFBLK | 0o600, st.st_rdev)


@pytest.fixture
def loops():
    lp = Loops()
    yield lp
    lp.detach_all()


@pytest.fixture
def env(request, tmp_path, loops, runtime):
    """A pod environment (runc and crun) whose agent finds device nodes in
    a directory of the test's own."""
    from conftest import _pod_env, _check_no_leaks
    devroot = tmp_path / "dev"
    devroot.mkdir()
    existed = os.path.isdir("/run/layers")
    e = _pod_env(request.getfixturevalue("agent_factory"), tmp_path, runtime, extra=["-dev-root", str(devroot)])
    e.devroot = str(devroot)
    yield e
    _check_no_leaks(e)
    if not existed:
        try:
            os.rmdir("/run/layers")
        except OSError:
            pass


def pmem(env, loops, n, files):
    img = make_ext4(os.path.join(env.tmpdir(f"img{n}"), "layer.ext4"), files)
    mknod_like(loops.attach(img), os.path.join(env.devroot, f"pmem{n}"))
    return img


def mounted(env, path):
    return [m for m, _ in env.mountinfo() if m == path]


def test_vpmem_whole_device_runs_a_container(env, loops, rootfs):
    c = env.conn
    pmem(env, loops, 0, {"etc/layer-marker": "from-pmem\n"})
    p0 = "/run/layers/p0"
    env.paths.append(p0)
    expect(modify(c, "VPMemDevice", "Add", {"MountPath": p0}), 0)  # DeviceNumber 0 omitted, as hcsshim sends it
    assert mounted(env, p0)
    assert stat.S_IMODE(os.stat(p0).st_mode) == 0o700  # upstream's mode
    line = [ln for m, ln in env.mountinfo() if m == p0][0].split()
    assert line[5].split(",")[0] == "ro" and line[line.index("-") + 1] == "ext4", line
    # the same path twice is refused and stacks nothing
    expect(modify(c, "VPMemDevice", "Add", {"MountPath": p0}), ALREADY_EXISTS, "already mounted")
    assert len(mounted(env, p0)) == 1

    # a workload whose rootfs is an overlay over the pmem layer and the base
    sid = podlib.new_id("pm")
    bundle = env.bundle(sid)
    scratch = bundle + "/scratch"
    expect(modify(c, "CombinedLayers", "Add", {"ContainerID": sid, "ContainerRootPath": bundle + "/rootfs",
                                              "Layers": [{"Path": p0}, {"Path": rootfs}], "ScratchPath": scratch}),
           0)
    spec = podlib.sandbox_spec(rootfs, sid)
    spec["root"] = {"path": bundle + "/rootfs", "readonly": False}
    spec["process"]["args"] = ["/bin/sh", "-c", "cat /etc/layer-marker; echo written > /new; cat /new"]
    expect(podlib.create(c, sid, spec, bundle, scratch), 0)
    # in use: the layer is not unmounted under the container
    expect(modify(c, "VPMemDevice", "Remove", {"MountPath": p0}), E_FAIL, "in use")
    assert mounted(env, p0)
    st = podlib.Stdio(env)
    msg = podlib.execute(c, sid, st)
    expect(msg, 0)
    out, err = st.read_outputs()
    assert out.decode().split() == ["from-pmem", "written"], (out, err)
    expect(podlib.wait(c, sid, msg["ProcessId"]), 0)
    expect(podlib.delete(c, sid), 0)
    expect(modify(c, "CombinedLayers", "Remove", {"ContainerRootPath": bundle + "/rootfs"}), 0)
    # the write went to the scratch, never to the read-only layer
    expect(modify(c, "VPMemDevice", "Remove", {"MountPath": p0}), 0)
    assert not mounted(env, p0) and not os.path.exists(p0)
    # a second Remove finds nothing: success, as upstream
    expect(modify(c, "VPMemDevice", "Remove", {"MountPath": p0}), 0)


def test_vpmem_errors_leave_nothing(env, loops):
    c = env.conn
    # outside the allowed roots
    expect(modify(c, "VPMemDevice", "Add", {"MountPath": "/tmp/p0"}), E_INVALIDARG, "MountPath")
    # not ext4: the mount fails and the directory goes again
    zeros = os.path.join(env.tmpdir("zeros"), "zeros.img")
    with open(zeros, "wb") as f:
        f.truncate(4 << 20)
    mknod_like(loops.attach(zeros), os.path.join(env.devroot, "pmem1"))
    p1 = "/run/layers/p1"
    env.paths.append(p1)
    expect(modify(c, "VPMemDevice", "Add", {"DeviceNumber": 1, "MountPath": p1}), E_FAIL,
           f"failed to mount {env.devroot}/pmem1 onto {p1}")
    assert not os.path.exists(p1)
    # not a block device
    with open(os.path.join(env.devroot, "pmem2"), "w"):
        pass
    expect(modify(c, "VPMemDevice", "Add", {"DeviceNumber": 2, "MountPath": "/run/layers/p2"}), E_FAIL,
           "not a block device")
    # MappingInfo needs device-mapper: this kernel has none, a clear error
    pmem(env, loops, 3, {"a": "b"})
    p3 = "/run/layers/p3-0-4096"
    env.paths.append(p3)
    msg = modify(c, "VPMemDevice", "Add", {"DeviceNumber": 3, "MountPath": p3,
                                           "MappingInfo": {"DeviceSizeInBytes": 4096}})
    expect(msg, E_FAIL, "device-mapper")
    assert not os.path.exists(p3)
    # VerityInfo without a root digest is refused before anything is made
    # (with device-mapper missing, the control node is what fails first)
    msg = modify(c, "VPMemDevice", "Add", {"DeviceNumber": 3, "MountPath": "/run/layers/p3",
                                           "VerityInfo": {"Algorithm": "sha256"}})
    assert msg["Result"] != 0
    assert not os.path.exists("/run/layers/p3")
    assert not [m for m, _ in env.mountinfo() if m.startswith("/run/layers")]


def test_vpmem_waits_for_its_device_with_a_deadline(env, loops):
    """D-45: upstream opens /dev/pmem<N> without waiting; gcs waits for the
    node (the host attaches the device just before the Add), and gives up
    after 5 s with a clear error instead of hanging."""
    c = env.conn
    img = make_ext4(os.path.join(env.tmpdir("late"), "late.ext4"), {"late": "yes\n"})
    p4 = "/run/layers/p4"
    env.paths.append(p4)
    dev = loops.attach(img)
    # the node appears while the Add waits: no answer before it does
    rid = c.send(req_code("ModifySettings"),
                 {"ContainerId": NULL_ID, "ActivityId": NULL_ID,
                  "Request": {"ResourceType": "VPMemDevice", "RequestType": "Add",
                              "Settings": {"DeviceNumber": 4, "MountPath": p4}}})
    with pytest.raises(TimeoutError):
        c.response(rid, timeout=0.3)
    mknod_like(dev, os.path.join(env.devroot, "pmem4"))
    _, msg = c.response(rid, timeout=10)
    expect(msg, 0)
    assert mounted(env, p4)
    # never there: a deadline, then the error
    t0 = time.monotonic()
    expect(modify(c, "VPMemDevice", "Add", {"DeviceNumber": 9, "MountPath": "/run/layers/p9"}), E_FAIL,
           "timed out after 5000 ms waiting for")
    assert 4.5 < time.monotonic() - t0 < 15
    assert not os.path.exists("/run/layers/p9")
    # agent exit takes the layer off (the host never sent the Remove)
    env.agent.stop()
    assert "VPMem layer removed" in env.agent.log()
    assert not os.path.exists(p4)
