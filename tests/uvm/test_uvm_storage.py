"""Device-backed layers and Plan 9 shares for real, in the utility VM (this
machine's kernel has neither device-mapper nor 9p): QEMU's nvdimm gives
/dev/pmem0, packed on the host side the way hcsshim packs layers (several
read-only ext4 layers in one device, each mapped with dm-linear, one with
dm-verity from `veritysetup format`), and diod serves a directory over
Plan 9 on the development mapping of port 564 (TCP 30564).

A workload whose rootfs is CombinedLayers over the two pmem layers (and
the base rootfs) with a scratch directory starts, writes, is deleted; the
same pod with its scratch on a blank SCSI disk (QEMU virtio-scsi, mapped
to controller 0 by a fake VMBus tree under -sysfs-root as in
test_uvm_scsi.py), Added on the container root as a V1 host does; a
layer in use is not unmounted; a corrupted verity layer and a wrong root
digest are refused; Remove leaves no mount, no dm device, no directory.
docs/architecture.md, "Device-backed layers" and "Plan 9 shares"."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

import podlib
from podlib import Stdio
from gcsproto import E_FAIL, NULL_ID
from uvm import DEFAULT_GCS_ARGS, ROOTFS, UVM, UvmPodEnv, booted, in_empty_netns, map_scsi_controller0

from layers import LAYER, MiB, ext4, page_up, verity_format  # noqa: E402

PMEM_SIZE = 128 * MiB
SCRATCH_SIZE = 64 * MiB
SCRATCH_LUN = 1
FAKESYS = "/tmp/fakesys"
PLAN9_TCP = 30564  # the serial transport's mapping of vsock port 564 (src/transport/transport.h)


def need(*tools):
    for t in tools:
        if not shutil.which(t):
            pytest.skip(f"{t} not installed (scripts/install-uvm-deps)")


@pytest.fixture(scope="module")
def layers():
    """pmem0's image: layer A (plain) at 0, layer B (verity) after it, and
    C, a copy of B with one byte of its first data block flipped."""
    need("mkfs.ext4", "veritysetup")
    d = tempfile.mkdtemp(prefix="gcs-pmem-")
    a, b = os.path.join(d, "a.img"), os.path.join(d, "b.img")
    ext4(a, {"etc/layer-a": "from-layer-a\n", "etc/shadowed": "a\n"})
    ext4(b, {"etc/layer-b": "from-layer-b\n", "etc/shadowed": "b\n"})
    vinfo = verity_format(b)
    with open(b, "rb") as f:
        bdata = f.read()
    cdata = bytearray(bdata)
    cdata[3000] ^= 0xFF  # block 0 (the ext4 superblock's block): the mount reads it
    size_a, size_b = page_up(os.path.getsize(a)), page_up(len(bdata))
    off_b = size_a
    off_c = off_b + size_b
    img = os.path.join(d, "pmem0.img")
    with open(img, "wb") as f:
        with open(a, "rb") as fa:
            f.write(fa.read())
        f.seek(off_b)
        f.write(bdata)
        f.seek(off_c)
        f.write(bytes(cdata))
        f.truncate(PMEM_SIZE)
    yield {"img": img, "a": (0, size_a), "b": (off_b, size_b), "c": (off_c, size_b), "verity": vinfo, "dir": d}
    shutil.rmtree(d)


def boot(*gcs_args, **kw):
    yield from booted(lambda: UVM(gcs_args=DEFAULT_GCS_ARGS + ["-runtime", "crun", *gcs_args], timeout=1200, **kw))


@pytest.fixture(scope="module")
def scratch_disk():
    """A blank disk for the SCSI scratch: the V1 Add formats it (ext4)."""
    d = tempfile.mkdtemp(prefix="gcs-scratch-")
    img = os.path.join(d, "scratch.img")
    with open(img, "wb") as f:
        f.truncate(SCRATCH_SIZE)
    yield img
    shutil.rmtree(d)


@pytest.fixture(scope="module")
def vm(layers, scratch_disk):
    """The cloud kernel (the image's default) with layers on an nvdimm and a
    blank scratch disk at LUN 1 of a virtio-scsi controller, which a fake
    VMBus tree under -sysfs-root maps to controller 0 (as in
    test_uvm_scsi.py)."""
    devs = ["-machine", "nvdimm=on",
            "-object", f"memory-backend-file,id=pm0,share=off,mem-path={layers['img']},size={PMEM_SIZE}",
            "-device", "nvdimm,id=nv0,memdev=pm0",
            "-device", "virtio-scsi-pci,id=scsi0",
            "-drive", f"file={scratch_disk},if=none,id=d1,format=raw,cache=writethrough",
            "-device", f"scsi-hd,drive=d1,bus=scsi0.0,channel=0,scsi-id=0,lun={SCRATCH_LUN}"]
    for v in boot("-sysfs-root", FAKESYS, "-device-timeout-ms", "20000",
                  memory="1024,slots=2,maxmem=4G", extra_args=devs):
        map_scsi_controller0(v, SCRATCH_LUN, FAKESYS)
        yield v


@pytest.fixture(scope="module")
def vm9():
    """The generic kernel of the image (the cloud one has no 9P)."""
    yield from boot()


def pod_env(vm):
    vm.conn.notifications.clear()
    vm.conn.stash.clear()
    e = UvmPodEnv(vm, "crun")
    yield e
    left = e.leaks()
    left += [f"dm device {n}" for n in dm_devices(e)]
    left += [f"layer mount {m}" for m in e.mounts_under("/run/layers")]
    left += [f"share mount {m}" for m in e.mounts_under("/run/mounts")]
    if e.exists("/run/mounts/scsi"):
        left.append("directory /run/mounts/scsi")
    assert not left, "left behind in the VM: " + ", ".join(left)


@pytest.fixture
def env(vm):
    yield from pod_env(vm)


@pytest.fixture
def env9(vm9):
    yield from pod_env(vm9)


def modify(conn, rtype, request, settings):
    return conn.call("ModifySettings", {"Request": {"ResourceType": rtype, "RequestType": request,
                                                    "Settings": settings}}, container_id=NULL_ID, timeout=60)


def expect(msg, hr, text=None):
    assert msg["Result"] == hr, msg
    if text:
        assert text in msg["ErrorMessage"], msg["ErrorMessage"]


def dm_devices(env):
    rc, out = env.sh("cat /sys/block/dm-*/dm/name 2>/dev/null; ls /dev/mapper")
    return sorted(set(x for x in out.split() if x != "control"))


def mapped(layers, key, verity=False, n=0):
    off, size = layers[key]
    s = {"MountPath": f"/run/layers/p{n}-{off}-{size}", "MappingInfo": {"DeviceSizeInBytes": size}}
    if off:
        s["MappingInfo"]["DeviceOffsetInBytes"] = off
    if verity:
        s["VerityInfo"] = dict(layers["verity"])
    return s


def test_pmem_whole_device(env, layers):
    c = env.conn
    rc, out = env.sh("ls -l /dev/pmem0")
    assert rc == 0 and out.startswith("b"), out
    expect(modify(c, "VPMemDevice", "Add", {"MountPath": "/run/layers/p0"}), 0)
    assert env.read("/run/layers/p0/etc/layer-a") == "from-layer-a\n"
    line = [ln for m, ln in env.mountinfo() if m == "/run/layers/p0"][0].split()
    assert line[5].split(",")[0] == "ro" and line[line.index("-") + 1:][:2] == ["ext4", "/dev/pmem0"], line
    expect(modify(c, "VPMemDevice", "Remove", {"MountPath": "/run/layers/p0"}), 0)
    assert not env.exists("/run/layers/p0")


def test_pmem_layers_dm_linear_and_verity_run_a_workload(env, layers):
    c = env.conn
    sa, sb = mapped(layers, "a"), mapped(layers, "b", verity=True)
    expect(modify(c, "VPMemDevice", "Add", sa), 0)
    expect(modify(c, "VPMemDevice", "Add", sb), 0)
    digest = layers["verity"]["RootDigest"]
    off_b, size_b = layers["b"]
    assert dm_devices(env) == sorted([f"dm-linear-pmem0-0-{layers['a'][1]}", f"dm-linear-pmem0-{off_b}-{size_b}",
                                      f"dm-verity-pmem0-{digest}"])
    rc, out = env.sh(f"grep ' {sb['MountPath']} ' /proc/self/mountinfo")
    assert f"/dev/mapper/dm-verity-pmem0-{digest}" in out, out
    assert env.read(sa["MountPath"] + "/etc/layer-a") == "from-layer-a\n"

    sid = podlib.new_id("pm")
    bundle = env.bundle(sid)
    scratch = bundle + "/scratch"
    expect(modify(c, "CombinedLayers", "Add",
                  {"ContainerID": sid, "ContainerRootPath": bundle + "/rootfs", "ScratchPath": scratch,
                   "Layers": [{"Path": sb["MountPath"]}, {"Path": sa["MountPath"]}, {"Path": ROOTFS}]}), 0)
    spec = podlib.sandbox_spec(ROOTFS, sid)
    spec["root"] = {"path": bundle + "/rootfs", "readonly": False}
    spec["process"]["args"] = ["/bin/sh", "-c", "cat /etc/layer-a /etc/layer-b /etc/shadowed; "
                               "echo written > /etc/new && cat /etc/new"]
    expect(podlib.create(c, sid, spec, bundle, scratch), 0)
    # in use by the container's rootfs: neither layer is unmounted
    expect(modify(c, "VPMemDevice", "Remove", sa), E_FAIL, "in use")
    expect(modify(c, "VPMemDevice", "Remove", sb), E_FAIL, "in use")
    st = Stdio(env)
    msg = podlib.execute(c, sid, st)
    expect(msg, 0)
    out, err = st.read_outputs()
    assert out.decode().split() == ["from-layer-a", "from-layer-b", "b", "written"], (out, err)
    assert podlib.wait(c, sid, msg["ProcessId"])["ExitCode"] == 0
    expect(podlib.delete(c, sid), 0)
    expect(modify(c, "CombinedLayers", "Remove", {"ContainerRootPath": bundle + "/rootfs"}), 0)
    expect(modify(c, "VPMemDevice", "Remove", sb), 0)
    expect(modify(c, "VPMemDevice", "Remove", sa), 0)
    assert dm_devices(env) == []
    assert not env.exists(sa["MountPath"]) and not env.exists(sb["MountPath"])
    c.notifications.clear()


def test_pmem_layers_on_an_scsi_scratch_disk_end_to_end(env, layers, scratch_disk):
    """Issue 10's end-to-end pod as a V1 host builds it (hcsshim
    internal/layers/lcow.go): the two pmem layers (dm-linear, B with
    verity), the blank scratch disk Added on the container root
    /run/gcs/c/<cid> with EnsureFilesystem ext4, CombinedLayers with its
    ScratchPath <root>/scratch/<cid> on that disk; the workload writes to its
    rootfs and the write lands on the disk; torn down in the host's order
    (every Remove before DeleteContainerState); nothing left."""
    c = env.conn
    sa, sb = mapped(layers, "a"), mapped(layers, "b", verity=True)
    t0 = time.monotonic()
    expect(modify(c, "VPMemDevice", "Add", sa), 0)
    expect(modify(c, "VPMemDevice", "Add", sb), 0)
    layers_ms = (time.monotonic() - t0) * 1000
    # the pod's sandbox on the image's rootfs; the workload gets the layers
    # (a V1 host releases a sandbox's layers only with the VM)
    sid, wid = podlib.new_id("sb"), podlib.new_id("wl")
    expect(podlib.create(c, sid, podlib.sandbox_spec(ROOTFS, sid), env.bundle(sid)), 0)
    root = env.bundle(wid)
    disk = {"MountPath": root, "Lun": SCRATCH_LUN, "Controller": 0, "ReadOnly": False}
    t0 = time.monotonic()
    expect(modify(c, "MappedVirtualDisk", "Add", dict(disk, EnsureFilesystem=True, Filesystem="ext4")), 0)
    disk_ms = (time.monotonic() - t0) * 1000
    line = [ln for m, ln in env.mountinfo() if m == root][0].split()
    fs, dev = line[line.index("-") + 1:][:2]
    assert fs == "ext4" and dev.startswith("/dev/sd"), line
    scratch = f"{root}/scratch/{wid}"
    rootfs = root + "/rootfs"
    expect(modify(c, "CombinedLayers", "Add",
                  {"ContainerID": wid, "ContainerRootPath": rootfs, "ScratchPath": scratch,
                   "Layers": [{"Path": sb["MountPath"]}, {"Path": sa["MountPath"]}, {"Path": ROOTFS}]}), 0)
    spec = podlib.workload_spec(ROOTFS, sid, args=(
        "/bin/sh", "-c", "cat /etc/layer-a /etc/layer-b /etc/shadowed; "
        "echo written-on-the-scsi-scratch > /etc/new && sync && cat /etc/new"))
    spec["root"] = {"path": rootfs, "readonly": False}
    expect(podlib.create(c, wid, spec, root, scratch), 0)
    # created, not yet run: the disk under its rootfs stays
    expect(modify(c, "MappedVirtualDisk", "Remove", disk), E_FAIL, "in use by container")
    st = Stdio(env)
    t0 = time.monotonic()
    msg = podlib.execute(c, wid, st)
    expect(msg, 0)
    out, err = st.read_outputs()
    assert out.decode().split() == ["from-layer-a", "from-layer-b", "b", "written-on-the-scsi-scratch"], (out, err)
    assert podlib.wait(c, wid, msg["ProcessId"])["ExitCode"] == 0
    run_ms = (time.monotonic() - t0) * 1000
    # the overlay's upper directory is on the disk
    rc, out = env.sh(f"cat {scratch}/upper/etc/new; stat -c %d {root} {scratch}/upper/etc/new")
    assert rc == 0, out
    text, dev_root, dev_file = out.split("\n")[:3]
    assert text == "written-on-the-scsi-scratch" and dev_root == dev_file, out
    # a V1 host's teardown order (internal/resources/resources.go): every
    # Remove, then DeleteContainerState; the exited container no longer
    # holds the disk, and its delete runs with the bundle (on the disk) gone
    expect(modify(c, "CombinedLayers", "Remove", {"ContainerRootPath": rootfs}), 0)
    expect(modify(c, "MappedVirtualDisk", "Remove", disk), 0)
    expect(modify(c, "VPMemDevice", "Remove", sb), 0)
    expect(modify(c, "VPMemDevice", "Remove", sa), 0)
    assert not env.exists(root)
    expect(podlib.delete(c, wid), 0)
    expect(podlib.delete(c, sid), 0)
    assert dm_devices(env) == []
    assert env.mounts_under("/run/layers") == [] and env.mounts_under("/run/gcs") == []
    assert not env.exists(root) and not env.exists(sa["MountPath"]) and not env.exists(sb["MountPath"])
    with open(scratch_disk, "rb") as f:
        assert b"written-on-the-scsi-scratch" in f.read()  # on the raw disk, from the host's side
    c.notifications.clear()
    print(f"in the VM (TCG): two pmem layers Add {layers_ms:.0f} ms; scratch disk Add (mkfs.ext4) "
          f"{disk_ms:.0f} ms; workload start to exit {run_ms:.0f} ms")


def test_verity_refuses_a_corrupted_layer_and_a_wrong_digest(env, layers):
    c = env.conn
    # C: B's bytes with one flipped, B's root digest: dm-verity fails the read
    sc = mapped(layers, "c", verity=True)
    msg = modify(c, "VPMemDevice", "Add", sc)
    expect(msg, E_FAIL, "failed to mount")
    assert dm_devices(env) == [] and not env.exists(sc["MountPath"])
    # the same bytes without verity mount: only verity catches the change
    plain = mapped(layers, "c")
    expect(modify(c, "VPMemDevice", "Add", plain), 0)
    expect(modify(c, "VPMemDevice", "Remove", plain), 0)
    # B with a digest that is not its own
    sb = mapped(layers, "b", verity=True)
    sb["VerityInfo"]["RootDigest"] = "0" * 64
    expect(modify(c, "VPMemDevice", "Add", sb), E_FAIL, "failed to mount")
    # what the host says must match the device's superblock
    sb = mapped(layers, "b", verity=True)
    sb["VerityInfo"]["Salt"] = "00" * 32
    expect(modify(c, "VPMemDevice", "Add", sb), E_FAIL, "VerityInfo.Salt does not match")
    # VerityInfo on a layer without a verity superblock
    sa = mapped(layers, "a", verity=True)
    expect(modify(c, "VPMemDevice", "Add", sa), E_FAIL, "short read of the dm-verity superblock")
    assert dm_devices(env) == []
    assert env.mounts_under("/run/layers") == []


@pytest.fixture
def plan9_server():
    need("diod")
    if not in_empty_netns():
        pytest.skip("diod must listen in QEMU's network namespace: run under unshare --net (make check-uvm)")
    export = tempfile.mkdtemp(prefix="gcs-9p-")
    with open(os.path.join(export, "from-host"), "w") as f:
        f.write("hello over 9p\n")
    log = open(os.path.join(export + ".log"), "wb")
    p = subprocess.Popen(["diod", "-f", "-n", "-l", f"127.0.0.1:{PLAN9_TCP}", "-e", export, "-L", "stderr"],
                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 10
    while True:  # until diod listens
        try:
            socket.create_connection(("127.0.0.1", PLAN9_TCP), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline and p.poll() is None, open(export + ".log").read()
            time.sleep(0.05)
    yield export
    os.kill(p.pid, signal.SIGTERM)  # ours, by pid
    p.wait(10)
    log.close()
    shutil.rmtree(export)
    os.unlink(export + ".log")


def test_plan9_share_mounts_reads_writes_and_goes(env9, plan9_server):
    env = env9
    c = env.conn
    path = "/run/mounts/plan9/1"
    env.paths.append(path)
    expect(modify(c, "MappedDirectory", "Add", {"MountPath": path, "Port": 564, "ShareName": plan9_server}), 0)
    line = [ln for m, ln in env.mountinfo() if m == path]
    assert line and " - 9p " in line[0] and "trans=fd" in line[0] and "msize=65536" in line[0], line
    assert env.read(path + "/from-host") == "hello over 9p\n"
    rc, _ = env.sh(f"echo from-guest > {path}/from-guest")
    assert rc == 0
    with open(os.path.join(plan9_server, "from-guest")) as f:
        assert f.read() == "from-guest\n"
    expect(modify(c, "MappedDirectory", "Remove", {"MountPath": path, "Port": 564, "ShareName": plan9_server}), 0)
    assert not env.exists(path)
    # read-only: upstream's MS_RDONLY (and its "noload")
    ro = "/run/mounts/plan9/2"
    env.paths.append(ro)
    expect(modify(c, "MappedDirectory", "Add", {"MountPath": ro, "Port": 564, "ShareName": plan9_server,
                                                "ReadOnly": True}), 0)
    rc, _ = env.sh(f"echo x > {ro}/nope")
    assert rc != 0
    assert not os.path.exists(os.path.join(plan9_server, "nope"))
    expect(modify(c, "MappedDirectory", "Remove", {"MountPath": ro}), 0)
    assert not env.exists(ro)
    env.sh("rmdir /run/mounts/plan9 /run/mounts 2>/dev/null")
