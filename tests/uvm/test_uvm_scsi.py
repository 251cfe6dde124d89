"""SCSI disks for real, in the utility VM: a QEMU virtio-scsi controller
gives real SCSI disks (this machine's kernel has no device-mapper, so
dm-crypt can only run here). The VMBus side is the only fake: a tree under
-sysfs-root maps controller 0's GUID to the virtio-scsi host, and its
bus/scsi is the VM's real /sys/bus/scsi, so the lookups, the block devices
and the unplug (the sysfs delete) are the kernel's own.

An ext4 disk is mounted and written from a crun container; an encrypted
scratch disk (dm-crypt with an ephemeral key, formatted xfs) is written and
removed with a V1 Remove that omits Encrypted, which still closes the crypt
device; the raw image holds no plaintext; the unplug removes the disk from
the VM. docs/architecture.md, "Devices"."""
import os
import shutil
import subprocess
import tempfile
import time

import pytest

import podlib
from gcsproto import E_FAIL, NULL_ID
from uvm import DEFAULT_GCS_ARGS, ROOTFS, UVM, UvmPodEnv, booted

GUID0 = "df6d0690-79e5-55b6-a5ec-c1e2f77f580a"
FAKESYS = "/tmp/fakesys"
MiB = 1 << 20


@pytest.fixture(scope="module")
def images():
    d = tempfile.mkdtemp(prefix="gcs-scsi-")
    ext4 = os.path.join(d, "lun1.img")
    src = os.path.join(d, "lun1.d")
    os.makedirs(src)
    with open(os.path.join(src, "marker"), "w") as f:
        f.write("from-the-host\n")
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", src, ext4, "32M"], check=True, capture_output=True)
    crypt = os.path.join(d, "lun2.img")
    with open(crypt, "wb") as f:
        f.truncate(320 * MiB)  # mkfs.xfs's smallest
    yield {"lun1": ext4, "lun2": crypt}
    shutil.rmtree(d)


@pytest.fixture(scope="module")
def vm(images):
    disks = ["-device", "virtio-scsi-pci,id=scsi0"]
    for lun in (1, 2):
        disks += ["-drive", f"file={images[f'lun{lun}']},if=none,id=d{lun},format=raw,cache=writethrough",
                  "-device", f"scsi-hd,drive=d{lun},bus=scsi0.0,channel=0,scsi-id=0,lun={lun}"]
    yield from booted(lambda: UVM(gcs_args=DEFAULT_GCS_ARGS + ["-runtime", "crun", "-sysfs-root", FAKESYS,
                                                            "-device-timeout-ms", "20000"],
                                  timeout=1200, extra_args=disks))


@pytest.fixture
def env(vm):
    vm.conn.notifications.clear()
    vm.conn.stash.clear()
    e = UvmPodEnv(vm, "crun")
    yield e
    left = e.leaks()
    left += [f"dm device {n}" for n in dm_devices(e)]
    left += [f"mount {m}" for m in e.mounts_under("/run/mounts")]
    if e.exists("/run/mounts/scsi"):
        left.append("directory /run/mounts/scsi")
    assert not left, "left behind in the VM: " + ", ".join(left)


def modify(conn, rtype, request, settings):
    return conn.call("ModifySettings", {"Request": {"ResourceType": rtype, "RequestType": request,
                                                    "Settings": settings}}, container_id=NULL_ID, timeout=300)


def expect(msg, hr, text=None):
    assert msg["Result"] == hr, msg
    if text:
        assert text in msg["ErrorMessage"], msg["ErrorMessage"]
    return msg


def dm_devices(env):
    rc, out = env.sh("cat /sys/block/dm-*/dm/name 2>/dev/null; ls /dev/mapper 2>/dev/null")
    return sorted(set(x for x in out.split() if x != "control"))


def mount_line(env, path):
    lines = [ln for m, ln in env.mountinfo() if m == path]
    return lines[0].split() if lines else None


def test_scsi_disks_ext4_encrypted_unplug(env, images):
    c = env.conn
    rc, out = env.sh("ls -d /sys/bus/scsi/devices/*:0:0:1")
    assert rc == 0, out
    host = os.path.basename(out.strip()).split(":")[0]
    rc, out = env.sh(f"mkdir -p {FAKESYS}/bus/vmbus/devices/{GUID0}/host{host} && "
                     f"ln -sfn /sys/bus/scsi {FAKESYS}/bus/scsi")
    assert rc == 0, out

    # an ext4 disk, written from a container
    m1 = "/run/mounts/scsi/m1"
    t0 = time.monotonic()
    expect(modify(c, "MappedVirtualDisk", "Add", {"MountPath": m1, "Lun": 1}), 0)
    add_ms = (time.monotonic() - t0) * 1000
    line = mount_line(env, m1)
    assert line[line.index("-") + 1] == "ext4" and line[line.index("-") + 2].startswith("/dev/sd"), line
    assert env.read(m1 + "/marker") == "from-the-host\n"
    sid, wid = podlib.new_id("ab"), podlib.new_id("cd")
    expect(podlib.create(c, sid, podlib.sandbox_spec(ROOTFS, sid), env.bundle(sid)), 0)
    mounts = [{"destination": "/data", "type": "bind", "source": m1, "options": ["rbind", "rw"]}]
    spec = podlib.workload_spec(ROOTFS, sid, mounts=mounts,
                                args=("/bin/sh", "-c", "echo written-in-the-vm > /data/f; exec sleep 1000"))
    expect(podlib.create(c, wid, spec, env.bundle(wid)), 0)
    st = podlib.Stdio(env)
    pid = expect(podlib.execute(c, wid, st), 0)["ProcessId"]
    deadline = time.monotonic() + 60
    while not (env.exists(m1 + "/f") and env.read(m1 + "/f")):
        assert time.monotonic() < deadline, "the container did not write to the disk"
        time.sleep(0.05)
    expect(modify(c, "MappedVirtualDisk", "Remove", {"MountPath": m1, "Lun": 1}), E_FAIL, "in use by container")
    expect(podlib.signal(c, wid, pid, 9), 0)
    st.read_outputs()
    expect(podlib.wait(c, wid, pid), 0)
    expect(modify(c, "MappedVirtualDisk", "Remove", {"MountPath": m1, "Lun": 1}), 0)
    expect(podlib.delete(c, wid), 0)
    expect(podlib.delete(c, sid), 0)
    assert b"written-in-the-vm" in open(images["lun1"], "rb").read()  # the plain disk: the text is on it

    # encrypted scratch (xfs, as hcsshim sends it), removed the V1 way: no Encrypted
    m2 = "/run/mounts/scsi/m2"
    name = f"dm-crypt-scsi-contr{host}-lun2-p0"
    t0 = time.monotonic()
    expect(modify(c, "MappedVirtualDisk", "Add", {"MountPath": m2, "Lun": 2, "Encrypted": True,
                                                  "EnsureFilesystem": True, "Filesystem": "xfs"}), 0)
    crypt_ms = (time.monotonic() - t0) * 1000
    assert dm_devices(env) == [name]
    line = mount_line(env, m2)
    assert line[line.index("-") + 1:][:2] == ["xfs", f"/dev/mapper/{name}"], line
    rc, out = env.sh(f"echo secret-plaintext-marker > {m2}/secret && sync")
    assert rc == 0, out
    expect(modify(c, "MappedVirtualDisk", "Remove", {"MountPath": m2, "Lun": 2}), 0)
    assert dm_devices(env) == []
    assert not env.exists(m2)
    assert b"secret-plaintext-marker" not in open(images["lun2"], "rb").read()

    # unplug: the kernel deletes the disk; again: already gone
    expect(modify(c, "SCSIDevice", "Remove", {"Lun": 1}), 0)
    deadline = time.monotonic() + 30
    while env.exists(f"/sys/bus/scsi/devices/{host}:0:0:1"):
        assert time.monotonic() < deadline, "the unplugged disk is still there"
        time.sleep(0.05)
    expect(modify(c, "SCSIDevice", "Remove", {"Lun": 1}), 0)
    # and an Add for it now ends at the deadline, not never
    print(f"in the VM (TCG): ext4 Add {add_ms:.0f} ms; encrypted xfs Add (dm-crypt + mkfs.xfs) {crypt_ms:.0f} ms")
