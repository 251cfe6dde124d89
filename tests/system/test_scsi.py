"""SCSI disks the host attaches: MappedVirtualDisk Add/Remove, SCSIDevice
Remove (unplug), VPCIDevice Add (docs/architecture.md, "Devices").

The machine has no Hyper-V: loop devices stand in for the disks, behind a
fake VMBus/SCSI sysfs tree the test builds (-sysfs-root) and device nodes it
makes with mknod in a directory of its own (-dev-root). Every loop device
is detached by its name at the end, and the test fails if the agent left a
mount, a directory or a busy loop device behind."""
import os
import re
import shutil
import stat
import struct
import subprocess
import threading
import time

import pytest

import podlib
from conftest import _check_no_leaks, _pod_env
from gcsproto import ALREADY_EXISTS, E_FAIL, E_INVALIDARG, NULL_ID

pytestmark = [pytest.mark.usefixtures("run_mounts_dir"),
              pytest.mark.skipif(os.environ.get("GCS_TEST_TARGET", "local") == "uvm",
                                 reason="host-only: builds a fake sysfs tree beside a local agent")]

GUIDS = ["df6d0690-79e5-55b6-a5ec-c1e2f77f580a", "0110f83b-de10-5172-a266-78bca56bf50a",
         "b5d2d8d4-3a75-51bf-945b-3444dc6b8579", "305891a9-b251-5dfe-91a2-c25d9212275b"]
TIMEOUT_MS = 1500


def sh(*cmd, **kw):
    return subprocess.run(list(cmd), check=True, capture_output=True, text=True, **kw).stdout


class Disks:
    """The fake tree and the loop devices behind it."""

    def __init__(self, tmp):
        self.tmp = str(tmp)
        self.sysfs = os.path.join(self.tmp, "sysfs")
        self.dev = os.path.join(self.tmp, "dev")
        os.makedirs(self.sysfs)
        os.makedirs(self.dev)
        self.loops = []  # (name, image)

    def controller(self, index, host):
        os.makedirs(f"{self.sysfs}/bus/vmbus/devices/{GUIDS[index]}/host{host}", exist_ok=True)

    def scsi_dir(self, host, lun):
        return f"{self.sysfs}/bus/scsi/devices/{host}:0:0:{lun}"

    def image(self, name, size_mb=32, fs=None, partition=False):
        img = os.path.join(self.tmp, name + ".img")
        with open(img, "wb") as f:
            f.truncate(size_mb << 20)
        if partition:
            # one primary Linux partition from sector 2048 to the end (an MBR by hand)
            sectors = (size_mb << 20) // 512
            entry = struct.pack("<B3sB3sII", 0, b"\0\0\0", 0x83, b"\0\0\0", 2048, sectors - 2048)
            with open(img, "r+b") as f:
                f.seek(446)
                f.write(entry)
                f.seek(510)
                f.write(b"\x55\xaa")
        elif fs == "ext4":
            sh("mkfs.ext4", "-q", "-F", img)
        elif fs == "xfs":
            sh("mkfs.xfs", "-q", "-f", img)
        return img

    def losetup(self, img, partscan=False):
        args = ["losetup", "-f", "--show"] + (["-P"] if partscan else []) + [img]
        loop = sh(*args).strip()
        self.loops.append(loop)
        return loop

    def node(self, name, loopdev):
        st = os.stat(loopdev)
        os.mknod(os.path.join(self.dev, name), stat.S_IFBLK | 0o600, st.st_rdev)

    def attach(self, host, lun, name, size_mb=32, fs="ext4"):
        """A whole disk at host:0:0:lun named name (sdb, ...)."""
        loop = self.losetup(self.image(name, size_mb, fs))
        os.makedirs(f"{self.scsi_dir(host, lun)}/block/{name}")
        with open(f"{self.scsi_dir(host, lun)}/delete", "w"):
            pass
        self.node(name, loop)
        return loop

    def attach_partitioned(self, host, lun, name):
        """A disk with an MBR and partition 1 from sector 2048. This kernel
        reads no partition tables (no CONFIG_MSDOS_PARTITION), so the
        partition's node is a second loop device over its byte range."""
        img = self.image(name, 32, partition=True)
        loop = self.losetup(img)
        part = sh("losetup", "-f", "--show", "-o", str(2048 * 512), img).strip()
        self.loops.append(part)
        sh("mkfs.ext4", "-q", "-F", part)
        os.makedirs(f"{self.scsi_dir(host, lun)}/block/{name}/{name}1")
        self.node(name, loop)
        self.node(name + "1", part)
        return loop

    def debugfs_cat(self, img, path):
        return sh("debugfs", "-R", f"cat {path}", img)

    def detach(self):
        busy = []
        for loop in self.loops:
            r = subprocess.run(["losetup", "-d", loop], capture_output=True, text=True)
            if r.returncode != 0:
                busy.append(f"{loop}: {r.stderr.strip()}")
        self.loops = []
        return busy


@pytest.fixture
def disks(tmp_path):
    d = Disks(tmp_path / "disks")
    d.controller(0, 2)
    yield d
    busy = d.detach()
    assert not busy, "loop devices still in use: " + "; ".join(busy)


def _env(request, tmp_path, disks, runtime, timeout_ms=TIMEOUT_MS):
    return _pod_env(request.getfixturevalue("agent_factory"), tmp_path, runtime,
                    extra=["-sysfs-root", disks.sysfs, "-dev-root", disks.dev,
                           "-device-timeout-ms", str(timeout_ms)])


@pytest.fixture
def scsi(request, tmp_path, disks):
    env = _env(request, tmp_path, disks, "runc")
    yield env
    _check_no_leaks(env)


@pytest.fixture
def scsi_rt(request, tmp_path, disks, runtime):
    env = _env(request, tmp_path, disks, runtime)
    yield env
    _check_no_leaks(env)


def modify(conn, rtype, request, settings, timeout=30):
    return conn.call("ModifySettings", {"Request": {"ResourceType": rtype, "RequestType": request,
                                                    "Settings": settings}},
                     container_id=NULL_ID, timeout=timeout)


def disk(conn, request, timeout=30, **settings):
    return modify(conn, "MappedVirtualDisk", request, settings, timeout)


def expect(msg, hr, text=None):
    assert msg["Result"] == hr, msg
    if text:
        assert re.search(text, msg.get("ErrorMessage", "")), msg["ErrorMessage"]
    return msg


def mount_of(env, path):
    """(fstype, per-mount options, optional fields) of the mount at path, or None."""
    for point, line in env.mountinfo():
        if point == path:
            left, right = line.split(" - ")
            return right.split()[0], left.split()[5], " ".join(left.split()[6:])
    return None


def in_agent(env, path):
    """path as the agent's mount namespace sees it."""
    return f"/proc/{env.agent.proc.pid}/root{path}"


def track(env, *paths):
    env.paths.extend(paths)


# ---- Add, use from a container, Remove ----

def test_add_use_remove(scsi_rt, disks, rootfs):
    """An ext4 disk at /run/mounts/scsi/m1 (the V1 layout), written through a
    container's bind mount; Remove is refused while the container runs,
    then unmounts and removes the directories it made."""
    env, c = scsi_rt, scsi_rt.conn
    disks.attach(2, 1, "sdb")
    target = "/run/mounts/scsi/m1"
    track(env, "/run/mounts/scsi")
    t0 = time.monotonic()
    expect(disk(c, "Add", MountPath=target, Lun=1), 0)
    add_ms = (time.monotonic() - t0) * 1000
    fstype, opts, _ = mount_of(env, target)
    assert fstype == "ext4" and opts.startswith("rw"), (fstype, opts)
    assert stat.S_IMODE(os.stat(in_agent(env, "/run/mounts/scsi")).st_mode) == 0o700  # as upstream
    # the same path again is refused and changes nothing
    expect(disk(c, "Add", MountPath=target, Lun=1), ALREADY_EXISTS, "already mounted")

    sid, wid = podlib.new_id("ab"), podlib.new_id("cd")
    expect(podlib.create(c, sid, podlib.sandbox_spec(rootfs, sid), env.bundle(sid)), 0)
    mounts = [{"destination": "/data", "type": "bind", "source": target, "options": ["rbind", "rw"]}]
    spec = podlib.workload_spec(rootfs, sid, mounts=mounts,
                                args=("/bin/sh", "-c", f"echo written-by-{env.runtime} > /data/f; exec sleep 1000"))
    expect(podlib.create(c, wid, spec, env.bundle(wid)), 0)
    st = podlib.Stdio(env)
    pid = expect(podlib.execute(c, wid, st), 0)["ProcessId"]
    f = in_agent(env, target + "/f")
    deadline = time.monotonic() + 20
    while not (os.path.exists(f) and open(f).read()):
        assert time.monotonic() < deadline, "the container did not write to the disk"
        time.sleep(0.02)
    assert open(f).read() == f"written-by-{env.runtime}\n"
    # nothing is unmounted while a container uses it
    expect(disk(c, "Remove", MountPath=target, Lun=1), E_FAIL, f"in use by container {wid}")
    assert mount_of(env, target)
    expect(podlib.signal(c, wid, pid, 9), 0)
    st.read_outputs()
    expect(podlib.wait(c, wid, pid), 0)
    # a V1 host removes the disk after the task exited, before the delete
    expect(disk(c, "Remove", MountPath=target, Lun=1), 0)
    assert mount_of(env, target) is None
    assert not os.path.exists(in_agent(env, "/run/mounts/scsi"))
    expect(disk(c, "Remove", MountPath=target, Lun=1), 0)  # again: nothing there, as upstream
    expect(podlib.delete(c, wid), 0)
    expect(podlib.delete(c, sid), 0)
    print(f"Add of an existing ext4 disk: {add_ms:.1f} ms")


def test_scratch_on_container_root_with_mkfs(scsi, disks, rootfs):
    """The V1 scratch: a blank disk with EnsureFilesystem ext4 mounted on the
    container root /run/gcs/c/<cid>; mkfs runs once (a second Add after a
    Remove finds ext4 and keeps the data); the overlay on it holds it."""
    env, c = scsi, scsi.conn
    img = disks.image("sdc", 64, fs=None)
    loop = disks.losetup(img)
    os.makedirs(f"{disks.scsi_dir(2, 3)}/block/sdc")
    disks.node("sdc", loop)
    wid = podlib.new_id("ef")
    root = env.bundle(wid)
    t0 = time.monotonic()
    expect(disk(c, "Add", MountPath=root, Lun=3, EnsureFilesystem=True, Filesystem="ext4"), 0)
    mkfs_ms = (time.monotonic() - t0) * 1000
    assert mount_of(env, root)[0] == "ext4"
    assert "formatting SCSI disk" in env.agent.log()
    # the rootfs overlay's scratch on the disk: the disk cannot go first
    expect(c.call("ModifySettings", {"Request": {
        "ResourceType": "CombinedLayers", "RequestType": "Add",
        "Settings": {"ContainerRootPath": root + "/rootfs", "Layers": [{"Path": rootfs}],
                     "ScratchPath": root + "/scratch"}}}, container_id=NULL_ID), 0)
    expect(disk(c, "Remove", MountPath=root, Lun=3), E_FAIL, "unmount failed|in use")
    assert mount_of(env, root)
    expect(c.call("ModifySettings", {"Request": {
        "ResourceType": "CombinedLayers", "RequestType": "Remove",
        "Settings": {"ContainerRootPath": root + "/rootfs"}}}, container_id=NULL_ID), 0)
    with open(in_agent(env, root + "/keep"), "w") as f:
        f.write("kept\n")
    expect(disk(c, "Remove", MountPath=root, Lun=3), 0)
    assert not os.path.exists(in_agent(env, root))
    formats = env.agent.log().count("formatting SCSI disk")
    t0 = time.monotonic()
    expect(disk(c, "Add", MountPath=root, Lun=3, EnsureFilesystem=True, Filesystem="ext4"), 0)
    again_ms = (time.monotonic() - t0) * 1000
    assert env.agent.log().count("formatting SCSI disk") == formats
    assert open(in_agent(env, root + "/keep")).read() == "kept\n"
    expect(disk(c, "Remove", MountPath=root, Lun=3), 0)
    print(f"EnsureFilesystem ext4 Add of a blank 64 MiB disk (mkfs): {mkfs_ms:.1f} ms; "
          f"the same Add once formatted: {again_ms:.1f} ms")


def test_xfs_detected_not_reformatted(scsi, disks):
    """D-41: upstream's probe knows only ext4, so EnsureFilesystem xfs
    reformats an xfs disk on every Add; gcs finds xfs and keeps the data."""
    env, c = scsi, scsi.conn
    img = disks.image("sdd", 320, fs=None)
    loop = disks.losetup(img)
    os.makedirs(f"{disks.scsi_dir(2, 4)}/block/sdd")
    disks.node("sdd", loop)
    target = "/run/mounts/scsi/0_4_0"  # the V2 layout
    track(env, "/run/mounts/scsi")
    expect(disk(c, "Add", MountPath=target, Lun=4, EnsureFilesystem=True, Filesystem="xfs"), 0)
    assert mount_of(env, target)[0] == "xfs"
    with open(in_agent(env, target + "/keep"), "w") as f:
        f.write("kept\n")
    expect(disk(c, "Remove", MountPath=target, Lun=4, EnsureFilesystem=True, Filesystem="xfs"), 0)
    assert env.agent.log().count("formatting SCSI disk") == 1
    expect(disk(c, "Add", MountPath=target, Lun=4, EnsureFilesystem=True, Filesystem="xfs"), 0)
    assert env.agent.log().count("formatting SCSI disk") == 1
    assert open(in_agent(env, target + "/keep")).read() == "kept\n"
    # an xfs disk without Filesystem: found by the probe (upstream: ext4 only)
    expect(disk(c, "Remove", MountPath=target, Lun=4), 0)
    expect(disk(c, "Add", MountPath=target, Lun=4), 0)
    assert mount_of(env, target)[0] == "xfs"
    expect(disk(c, "Remove", MountPath=target, Lun=4), 0)


def test_read_only_partition_and_options(scsi, disks):
    """ReadOnly mounts MS_RDONLY (noload for ext4); Partition 1 mounts sdb1;
    Options apply propagation only ("rw" is ignored, as upstream)."""
    env, c = scsi, scsi.conn
    disks.attach_partitioned(2, 5, "sde")
    target = "/run/mounts/scsi/m5"
    track(env, "/run/mounts/scsi")
    expect(disk(c, "Add", MountPath=target, Lun=5, Partition=1, ReadOnly=True, Options=["rw", "rshared"]), 0)
    fstype, opts, optional = mount_of(env, target)
    assert fstype == "ext4" and opts.startswith("ro"), opts
    assert "shared:" in optional, optional
    assert disks.dev + "/sde1" in [line for p, line in env.mountinfo() if p == target][0]
    with pytest.raises(OSError) as e:
        open(in_agent(env, target + "/x"), "w")
    assert e.value.errno == 30  # EROFS
    expect(disk(c, "Remove", MountPath=target, Lun=5, Partition=1, ReadOnly=True), 0)
    assert mount_of(env, target) is None
    # a partition that never appears: the wait ends with a clear error
    expect(disk(c, "Add", MountPath=target, Lun=5, Partition=2), E_FAIL, "partition 2: deadline exceeded after 1500 ms: no partition 2")
    assert not os.path.exists(in_agent(env, target))


def test_block_dev_link(scsi, disks):
    """BlockDev: a symlink to the device node instead of a mount."""
    env, c = scsi, scsi.conn
    disks.attach(2, 6, "sdf")
    target = "/run/mounts/scsi/m6"
    track(env, "/run/mounts/scsi")
    expect(disk(c, "Add", MountPath=target, Lun=6, BlockDev=True), 0)
    link = in_agent(env, target)
    assert os.path.islink(link) and os.readlink(link) == os.path.join(disks.dev, "sdf")
    assert mount_of(env, target) is None
    expect(disk(c, "Remove", MountPath=target, Lun=6, BlockDev=True), 0)
    assert not os.path.lexists(link)
    assert not os.path.exists(in_agent(env, "/run/mounts/scsi"))


def test_attach_only_waits_for_the_device(scsi, disks):
    """No MountPath: the Add only waits for the disk; the bridge answers
    other requests meanwhile, and the Add succeeds when the disk appears."""
    env, c = scsi, scsi.conn
    loop = disks.losetup(disks.image("sdg", 8, fs="ext4"))
    disks.node("sdg", loop)
    body = {"ContainerId": NULL_ID, "ActivityId": NULL_ID,
            "Request": {"ResourceType": "MappedVirtualDisk", "RequestType": "Add", "Settings": {"Lun": 7}}}
    from gcsproto import req_code
    rid = c.send(req_code("ModifySettings"), body)
    deadline = time.monotonic() + 5
    while "waiting for a device" not in env.agent.log():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert podlib.dump(c)  # answered while the Add waits
    os.makedirs(f"{disks.scsi_dir(2, 7)}/block/sdg")
    _, msg = c.response(rid, timeout=10)
    expect(msg, 0)
    expect(disk(c, "Remove", Lun=7), 0)


# ---- errors (docs/architecture.md, "Devices"; upstream's list and the do-better list) ----

def test_errors(scsi, disks):
    env, c = scsi, scsi.conn
    target = "/run/mounts/scsi/e1"
    track(env, "/run/mounts/scsi")
    # controller index above 3: an error, not a crash (upstream panics)
    expect(disk(c, "Add", MountPath=target, Controller=4, Lun=1), E_INVALIDARG, "controller index 4 is out of range")
    expect(disk(c, "Remove", MountPath=target, Controller=255, Lun=1), E_INVALIDARG, "out of range")
    expect(modify(c, "SCSIDevice", "Remove", {"Controller": 4}), E_INVALIDARG, "out of range")
    # a controller that is not there / has no host<N>
    expect(disk(c, "Add", MountPath=target, Controller=1, Lun=1), E_FAIL, "SCSI controller 1: read .*No such file")
    os.makedirs(f"{disks.sysfs}/bus/vmbus/devices/{GUIDS[2]}/channels")
    expect(disk(c, "Add", MountPath=target, Controller=2, Lun=1), E_FAIL, r"host<N> directory not found")
    os.makedirs(f"{disks.sysfs}/bus/vmbus/devices/{GUIDS[3]}/hostx")
    expect(disk(c, "Add", MountPath=target, Controller=3, Lun=1), E_FAIL, "failed to parse controller number from hostx")
    # a disk that never appears: a deadline (upstream waits forever)
    t0 = time.monotonic()
    expect(disk(c, "Add", MountPath=target, Lun=9), E_FAIL, r"SCSI device 2:0:0:9.*deadline exceeded after 1500 ms")
    waited = time.monotonic() - t0
    assert 1.4 < waited < 10, waited
    # two block devices for one SCSI address
    os.makedirs(f"{disks.scsi_dir(2, 10)}/block/sdx")
    os.makedirs(f"{disks.scsi_dir(2, 10)}/block/sdy")
    expect(disk(c, "Add", MountPath=target, Lun=10), E_FAIL, 'more than one block device could match SCSI ID "2:0:0:10"')
    # a blank disk without Filesystem; with an unsupported one; the wrong one
    loop = disks.losetup(disks.image("sdh", 8, fs=None))
    os.makedirs(f"{disks.scsi_dir(2, 11)}/block/sdh")
    disks.node("sdh", loop)
    expect(disk(c, "Add", MountPath=target, Lun=11), E_FAIL,
           "getting device's filesystem: could not get device filesystem type")
    expect(disk(c, "Add", MountPath=target, Lun=11, EnsureFilesystem=True, Filesystem="btrfs"), E_FAIL,
           "unsupported filesystem btrfs requested for device")
    expect(disk(c, "Add", MountPath=target, Lun=11, EnsureFilesystem=True), E_FAIL,
           "unsupported filesystem  requested for device")
    disks.attach(2, 12, "sdi")
    expect(disk(c, "Add", MountPath=target, Lun=12, Filesystem="xfs"), E_FAIL, "mounting: .*Invalid argument|mounting:")
    # mkfs fails: a disk far too small for xfs
    expect(disk(c, "Add", MountPath=target, Lun=11, EnsureFilesystem=True, Filesystem="xfs"), E_FAIL,
           "xfs format: mkfs.xfs .* exited with")
    # a MountPath outside the allowed roots, or with ".."
    expect(disk(c, "Add", MountPath="/etc/x", Lun=12), E_INVALIDARG, "outside the allowed roots")
    expect(disk(c, "Add", MountPath="/run/mounts/../etc", Lun=12), E_INVALIDARG, r"'\.\.'")
    # Encrypted without dm-crypt support in this kernel or build
    msg = disk(c, "Add", MountPath=target, Lun=12, Encrypted=True, EnsureFilesystem=True, Filesystem="xfs")
    assert msg["Result"] != 0 and "failed to mount encrypted device" in msg["ErrorMessage"], msg
    # nothing of any failed Add is left
    assert not os.path.exists(in_agent(env, target))
    assert not os.path.exists(in_agent(env, "/run/mounts/scsi"))
    assert [m for m, _ in env.mountinfo() if m.startswith("/run/mounts")] == []
    # a Remove for something that is not a disk mount is refused
    expect(disk(c, "Remove", Lun=1), 0)  # no MountPath: nothing to do


def test_remove_refuses_what_is_not_a_disk(scsi, disks, rootfs):
    env, c = scsi, scsi.conn
    wid = podlib.new_id("aa")
    root = env.bundle(wid)
    expect(c.call("ModifySettings", {"Request": {
        "ResourceType": "CombinedLayers", "RequestType": "Add",
        "Settings": {"ContainerRootPath": root + "/rootfs", "Layers": [{"Path": rootfs}]}}},
        container_id=NULL_ID), 0)
    expect(disk(c, "Remove", MountPath=root + "/rootfs", Lun=1), E_FAIL, "is not a SCSI disk mount")
    expect(c.call("ModifySettings", {"Request": {
        "ResourceType": "CombinedLayers", "RequestType": "Remove",
        "Settings": {"ContainerRootPath": root + "/rootfs"}}}, container_id=NULL_ID), 0)
    shutil.rmtree(root, ignore_errors=True)


# ---- SCSIDevice: unplug ----

def test_unplug(scsi, disks):
    env, c = scsi, scsi.conn
    disks.attach(2, 1, "sdb")
    target = "/run/mounts/scsi/m1"
    track(env, "/run/mounts/scsi")
    expect(disk(c, "Add", MountPath=target, Lun=1), 0)
    # never from under a mount
    expect(modify(c, "SCSIDevice", "Remove", {"Lun": 1}), E_FAIL, "SCSI device 2:0:0:1 is still mounted at " + target)
    expect(disk(c, "Remove", MountPath=target, Lun=1), 0)
    expect(modify(c, "SCSIDevice", "Remove", {"Lun": 1}), 0)
    assert open(f"{disks.scsi_dir(2, 1)}/delete").read() == "1\n"
    # a device already gone is success
    expect(modify(c, "SCSIDevice", "Remove", {"Lun": 42}), 0)
    assert "SCSI device already gone" in env.agent.log()
    # only Remove, as upstream
    expect(modify(c, "SCSIDevice", "Add", {"Lun": 1}), E_FAIL, 'the RequestType "Add" is not supported')


# ---- VPCIDevice ----

def test_vpci_wait(scsi, disks):
    env, c = scsi, scsi.conn
    guid = "6e5c57a5-8a4f-4c3e-9f0b-2f3a3c1b9a01"
    vdir = f"{disks.sysfs}/bus/vmbus/devices/{guid}"
    # present already
    os.makedirs(f"{vdir}/pci5a3c:00/5a3c:00:00.0")
    expect(modify(c, "VPCIDevice", "Add", {"VMBusGUID": guid}), 0)
    # appears while the Add waits
    guid2 = "6e5c57a5-8a4f-4c3e-9f0b-2f3a3c1b9a02"
    body = {"ContainerId": NULL_ID, "ActivityId": NULL_ID,
            "Request": {"ResourceType": "VPCIDevice", "RequestType": "Add", "Settings": {"VMBusGUID": guid2}}}
    from gcsproto import req_code
    n = env.agent.log().count("waiting for a device")
    rid = c.send(req_code("ModifySettings"), body)
    deadline = time.monotonic() + 5
    while env.agent.log().count("waiting for a device") == n:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.makedirs(f"{disks.sysfs}/bus/vmbus/devices/{guid2}/pci1234:00")
    os.makedirs(f"{disks.sysfs}/bus/vmbus/devices/{guid2}/pci1234:00/1234:00:00.0")
    _, msg = c.response(rid, timeout=10)
    expect(msg, 0)
    # never appears: a deadline (upstream waits forever)
    expect(modify(c, "VPCIDevice", "Add", {"VMBusGUID": "6e5c57a5-8a4f-4c3e-9f0b-2f3a3c1b9a03"}), E_FAIL,
           "VPCI device .*deadline exceeded after 1500 ms")
    # two bus directories
    os.makedirs(f"{vdir}/pci5a3d:00")
    expect(modify(c, "VPCIDevice", "Add", {"VMBusGUID": guid}), E_FAIL, "more than one file could exist")
    # not a GUID: no path outside the VMBus tree is looked at
    expect(modify(c, "VPCIDevice", "Add", {"VMBusGUID": "../../../etc"}), E_INVALIDARG, "is not a GUID")


# ---- agent exit ----

def test_agent_exit_leaves_nothing(request, tmp_path, disks):
    """The host never sends the Removes: at exit the ledger takes every disk
    off (mounts, links, directories), and the loop devices are free."""
    env = _env(request, tmp_path, disks, "runc")
    c = env.conn
    disks.attach(2, 1, "sdb")
    disks.attach(2, 2, "sdc")
    track(env, "/run/mounts/scsi")
    expect(disk(c, "Add", MountPath="/run/mounts/scsi/m1", Lun=1), 0)
    expect(disk(c, "Add", MountPath="/run/mounts/scsi/m2", Lun=2, BlockDev=True), 0)
    pid = env.agent.proc.pid
    env.agent.stop()
    log = env.agent.log()
    assert "SCSI disk unmounted" in log and "SCSI disk link removed" in log, log[-3000:]
    assert not os.path.exists("/run/mounts/scsi")
    _check_no_leaks(env)
    assert pid  # the fixture detaches the loop devices and fails if one is busy


# ---- by hand ----

def test_gcsctl_scsi(tmp_path, disks):
    """gcsctl scsi add / remove / unplug against a real agent."""
    from test_gcsctl import GCSCTL, BareAgent
    from conftest import PodEnv
    rtroot = str(tmp_path / "rtstate")
    agent = BareAgent(tmp_path / "agent", ["-runtime", "runc", "-runtime-root", rtroot, "-sysfs-root", disks.sysfs,
                                           "-dev-root", disks.dev, "-device-timeout-ms", str(TIMEOUT_MS)])
    env = PodEnv(agent, "runc", rtroot, tmp_path)
    env.paths.append("/run/mounts/scsi")

    def ctl(*args):
        p = subprocess.run([GCSCTL, "-d", agent.sockdir, "-t", "20"] + list(args), capture_output=True, text=True,
                           timeout=60)
        return p.returncode, p.stderr

    try:
        disks.attach(2, 3, "sdb", size_mb=320, fs=None)
        assert ctl("scsi", "add", "--ensure-fs", "xfs", "--option", "rshared", "3", "/run/mounts/scsi/m3") == (0, "")
        fstype, _, optional = mount_of(env, "/run/mounts/scsi/m3")
        assert fstype == "xfs" and "shared:" in optional
        rc, err = ctl("scsi", "unplug", "3")
        assert rc == 1 and "still mounted" in err, err
        assert ctl("scsi", "remove", "3", "/run/mounts/scsi/m3") == (0, "")
        assert ctl("scsi", "unplug", "3") == (0, "")
        assert open(f"{disks.scsi_dir(2, 3)}/delete").read() == "1\n"
        rc, err = ctl("scsi", "add", "--controller", "7", "3", "/run/mounts/scsi/m3")
        assert rc == 1 and "0x80070057" in err and "out of range" in err, err
        rc, err = ctl("scsi", "attach", "3")
        assert rc == 2, err
    finally:
        agent.stop()
    _check_no_leaks(env)
