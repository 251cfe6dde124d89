#!/usr/bin/env python3
"""bench/scsi — what a MappedVirtualDisk Add costs through gcs.

One agent, loop devices standing in for SCSI disks behind a fake VMBus/SCSI
sysfs tree (as tests/system/test_scsi.py builds it), in one run:
  existing ext4   Add + Remove of an ext4 disk through gcs, against
                  `mount` + `umount` of the same device run directly in a
                  private mount namespace (one shell for both);
  mkfs ext4       Add with EnsureFilesystem ext4 of a blank disk + Remove,
                  against `mkfs.ext4 -q -F` + `mount` + `umount` run directly;
  re-Add          the same EnsureFilesystem Add once the disk is formatted
                  (libblkid finds ext4: no mkfs).
Prints medians and ratios; asserts nothing (the machines are noisy). Needs
root and losetup; detaches its loop devices by name.

usage: bench/scsi.py [--iterations N]
"""
import argparse
import os
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "system"))
from gcsproto import Agent, NULL_ID  # noqa: E402

GUID0 = "df6d0690-79e5-55b6-a5ec-c1e2f77f580a"
MiB = 1 << 20


def ok(msg):
    assert msg["Result"] == 0, msg
    return msg


def disk(conn, request, **s):
    return ok(conn.call("ModifySettings", {"Request": {"ResourceType": "MappedVirtualDisk", "RequestType": request,
                                                       "Settings": s}}, container_id=NULL_ID, timeout=120))


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def wipe(dev):
    with open(dev, "r+b") as f:
        f.write(b"\0" * MiB)
        os.fsync(f.fileno())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=10)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="gcs-bench-scsi-")
    run_mounts_existed = os.path.isdir("/run/mounts")
    loops = []
    agent = None
    try:
        sysfs, dev = os.path.join(tmp, "sys"), os.path.join(tmp, "dev")
        os.makedirs(f"{sysfs}/bus/vmbus/devices/{GUID0}/host2")
        os.makedirs(dev)
        nodes = {}
        for lun, name, fs in ((1, "sdb", "ext4"), (2, "sdc", None)):
            img = os.path.join(tmp, name + ".img")
            with open(img, "wb") as f:
                f.truncate(64 * MiB)
            if fs:
                subprocess.run(["mkfs.ext4", "-q", "-F", img], check=True)
            loop = subprocess.run(["losetup", "-f", "--show", img], check=True, capture_output=True,
                                  text=True).stdout.strip()
            loops.append(loop)
            os.makedirs(f"{sysfs}/bus/scsi/devices/2:0:0:{lun}/block/{name}")
            os.mknod(os.path.join(dev, name), stat.S_IFBLK | 0o600, os.stat(loop).st_rdev)
            nodes[lun] = os.path.join(dev, name)
        agent = Agent(os.path.join(tmp, "agent"), args=["-loglevel", "info", "-sysfs-root", sysfs, "-dev-root", dev])
        agent.connect()
        agent.conn.negotiate()
        c = agent.conn
        mnt = os.path.join(tmp, "mnt")
        os.makedirs(mnt)
        target = "/run/mounts/bench-scsi/m1"

        def direct(script):
            subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-ec", script], check=True,
                           capture_output=True)

        res = {k: [] for k in ("gcs", "direct", "gcs_mkfs", "direct_mkfs", "readd")}
        for _ in range(args.iterations):
            res["gcs"].append(timed(lambda: (disk(c, "Add", MountPath=target, Lun=1),
                                             disk(c, "Remove", MountPath=target, Lun=1))))
            res["direct"].append(timed(lambda: direct(f"mount {nodes[1]} {mnt}; umount {mnt}")))
            wipe(nodes[2])
            res["gcs_mkfs"].append(timed(lambda: (
                disk(c, "Add", MountPath=target, Lun=2, EnsureFilesystem=True, Filesystem="ext4"),
                disk(c, "Remove", MountPath=target, Lun=2))))
            res["readd"].append(timed(lambda: (
                disk(c, "Add", MountPath=target, Lun=2, EnsureFilesystem=True, Filesystem="ext4"),
                disk(c, "Remove", MountPath=target, Lun=2))))
            wipe(nodes[2])
            res["direct_mkfs"].append(timed(lambda: direct(
                f"mkfs.ext4 -q -F {nodes[2]}; mount {nodes[2]} {mnt}; umount {mnt}")))
        med = {k: statistics.median(v) for k, v in res.items()}
        print(f"bench/scsi ({args.iterations} iterations, 64 MiB loop devices, medians)")
        print(f"  existing ext4: gcs Add+Remove {med['gcs']:.1f} ms, mount+umount directly {med['direct']:.1f} ms, "
              f"ratio {med['gcs'] / med['direct']:.2f}")
        print(f"  mkfs ext4:     gcs EnsureFilesystem Add+Remove {med['gcs_mkfs']:.1f} ms, mkfs+mount+umount "
              f"directly {med['direct_mkfs']:.1f} ms, ratio {med['gcs_mkfs'] / med['direct_mkfs']:.2f}")
        print(f"  re-Add:        EnsureFilesystem on a formatted disk {med['readd']:.1f} ms "
              f"({med['readd'] / med['gcs_mkfs']:.2f} of the formatting Add)")
    finally:
        if agent:
            agent.stop()
        for loop in loops:
            subprocess.run(["losetup", "-d", loop])
        shutil.rmtree(tmp, ignore_errors=True)
        if not run_mounts_existed:
            try:
                os.rmdir("/run/mounts")
            except OSError:
                pass


if __name__ == "__main__":
    main()
