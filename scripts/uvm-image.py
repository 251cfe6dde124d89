#!/usr/bin/env python3
"""Helpers for scripts/make-uvm (standard library only).

  uvm-image.py modules MODDIR DESTDIR NAME...
      MODDIR is an unpacked /lib/modules/<release> (the Debian package ships
      no modules.dep: depmod runs at install time, and we install nothing).
      Copies NAME and everything it depends on (the "depends=" entry of each
      .ko's .modinfo) into DESTDIR, and writes DESTDIR/modules.load (paths
      relative to DESTDIR, dependencies first: the order gcs-init loads them)
      and DESTDIR/modules.dep (depmod's format, for busybox modprobe).
      Names that are built into the kernel (modules.builtin) are skipped.

  uvm-image.py cpio ROOTDIR OUT.gz [--mtime EPOCH]
      Writes ROOTDIR as a gzip'd cpio "newc" archive, the initramfs format.
      Reproducible: entries sorted by path, owner 0:0, every mtime EPOCH,
      inode numbers assigned in order, gzip header without name or time.
      Adds /dev/console (char 5:1) so the kernel can open a console for init
      before init mounts devtmpfs.

  uvm-image.py init-sh OUT
      Writes the floor init (INIT_SH below, mode 0755): the image carries it
      as /init.sh next to our /init, and `rdinit=/init.sh` on the kernel
      command line boots with it (bench/uvm compares the two).
"""
import gzip
import os
import shutil
import stat
import sys


# /init.sh — the floor: the least a busybox shell script can do so that gcs
# runs, to measure our /init (src/init/init.c) against. The mounts, cgroup v2
# with every controller enabled, the modules, the hostname, the entropy port
# (-e PORT, through /bin/vsockexec, so the same dial path; the bytes go into
# /dev/urandom, uncredited), then exec the rest of its argv (the kernel hands
# init what follows "--"): the child becomes PID 1. No reaping loop (gcs
# reaps its own children with waitpid(-1) and so the orphans too), no cgroup
# v1, no loopback, no RLIMIT_NOFILE, no -d/-w, no power off when gcs exits
# (the kernel panics; the harness kills QEMU by its pid).
INIT_SH = r"""#!/bin/sh
# /init.sh: the floor init (scripts/uvm-image.py INIT_SH); boot with rdinit=/init.sh
export PATH=/sbin:/usr/sbin:/bin:/usr/bin
mount -t devtmpfs -o nosuid,noexec,mode=0755 devtmpfs /dev 2>/dev/null
exec </dev/null >/dev/console 2>&1
mkdir -p /dev/shm /dev/pts
mount -t proc -o nodev,nosuid,noexec proc /proc
mount -t sysfs -o nodev,nosuid,noexec sysfs /sys
mount -t tmpfs -o nodev,nosuid,noexec,mode=0755 tmpfs /run
mount -t tmpfs -o nodev,nosuid,noexec tmpfs /tmp
mount -t tmpfs -o nodev,nosuid,noexec shm /dev/shm
mount -t devpts -o nosuid,noexec devpts /dev/pts
hostname -F /etc/hostname
for list in /lib/modules/$(uname -r)/modules.load; do
    while read -r m; do
        insmod "${list%/*}/$m" 2>/dev/null
    done <"$list"
done
mount -t cgroup2 -o nodev,nosuid,noexec cgroup2 /sys/fs/cgroup
read -r ctrls </sys/fs/cgroup/cgroup.controllers
for c in $ctrls; do
    echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control
done
if [ "$1" = -e ]; then
    /bin/vsockexec -i "$2" /bin/cat >/dev/urandom
    shift 2
fi
[ $# -gt 0 ] || set -- /bin/gcs -v4 -loglevel debug
echo "init.sh: exec $*" >/dev/kmsg
exec "$@"
"""


def cmd_init_sh(outpath):
    with open(outpath, "w") as f:
        f.write(INIT_SH)
    os.chmod(outpath, 0o755)


def modname(path):
    base = os.path.basename(path)
    for ext in (".ko.xz", ".ko.zst", ".ko.gz", ".ko"):
        if base.endswith(ext):
            base = base[: -len(ext)]
            break
    return base.replace("-", "_")


def ko_depends(path):
    with open(path, "rb") as f:
        data = f.read()
    i = data.find(b"\0depends=")
    if i < 0:
        return []
    end = data.index(b"\0", i + 1)
    deps = data[i + len(b"\0depends="):end].decode()
    return [d.replace("-", "_") for d in deps.split(",") if d]


def cmd_modules(moddir, dest, names):
    index = {}
    for root, _, files in os.walk(os.path.join(moddir, "kernel")):
        for f in files:
            if ".ko" in f:
                full = os.path.join(root, f)
                index[modname(full)] = os.path.relpath(full, moddir)
    builtin = set()
    try:
        with open(os.path.join(moddir, "modules.builtin")) as f:
            builtin = {modname(line.strip()) for line in f if line.strip()}
    except FileNotFoundError:
        pass

    order, deps, state = [], {}, {}

    def visit(name, chain):
        if name in builtin or state.get(name) == "done":
            return
        if state.get(name) == "busy":
            sys.exit(f"uvm-image: module dependency cycle: {' -> '.join(chain + [name])}")
        if name not in index:
            sys.exit(f"uvm-image: module {name} not found in {moddir} (and not built in)")
        state[name] = "busy"
        deps[name] = [d for d in ko_depends(os.path.join(moddir, index[name])) if d not in builtin]
        for d in deps[name]:
            visit(d, chain + [name])
        state[name] = "done"
        order.append(name)

    for n in names:
        n = n.replace("-", "_")
        if n in builtin:
            print(f"uvm-image: {n} is built into the kernel")
        visit(n, [])

    for n in order:
        os.makedirs(os.path.join(dest, os.path.dirname(index[n])), exist_ok=True)
        shutil.copyfile(os.path.join(moddir, index[n]), os.path.join(dest, index[n]))
    with open(os.path.join(dest, "modules.load"), "w") as f:
        for n in order:
            f.write(index[n] + "\n")

    def closure(n, acc):
        for d in deps[n]:
            if d not in acc:
                acc.append(d)
                closure(d, acc)
        return acc

    with open(os.path.join(dest, "modules.dep"), "w") as f:
        for n in sorted(order, key=lambda m: index[m]):
            f.write(f"{index[n]}: {' '.join(index[d] for d in closure(n, []))}".rstrip() + "\n")
    print(f"uvm-image: modules (load order): {' '.join(order)}")


def newc_entry(out, ino, name, mode, nlink, mtime, data=b"", rdev=(0, 0)):
    name_b = name.encode() + b"\0"
    hdr = "070701" + "".join(f"{v:08x}" for v in (
        ino, mode, 0, 0, nlink, mtime, len(data), 0, 0, rdev[0], rdev[1], len(name_b), 0))
    out.write(hdr.encode() + name_b)
    out.write(b"\0" * ((4 - (110 + len(name_b)) % 4) % 4))
    out.write(data)
    out.write(b"\0" * ((4 - len(data) % 4) % 4))


def cmd_cpio(rootdir, outpath, mtime):
    entries = []
    for root, dirs, files in os.walk(rootdir):
        for n in dirs + files:
            full = os.path.join(root, n)
            entries.append(os.path.relpath(full, rootdir))
    if "dev" not in entries:
        entries.append("dev")
    entries.append("dev/console")
    entries = sorted(set(entries))
    tmp = outpath + ".tmp"
    with open(tmp, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as out:
            for ino, rel in enumerate(entries, start=1):
                full = os.path.join(rootdir, rel)
                if rel == "dev/console":
                    newc_entry(out, ino, rel, stat.S_IFCHR | 0o600, 1, mtime, rdev=(5, 1))
                    continue
                if rel == "dev" and not os.path.lexists(full):
                    newc_entry(out, ino, rel, stat.S_IFDIR | 0o755, 2, mtime)
                    continue
                st = os.lstat(full)
                perm = stat.S_IMODE(st.st_mode)
                if stat.S_ISLNK(st.st_mode):
                    newc_entry(out, ino, rel, stat.S_IFLNK | 0o777, 1, mtime, os.readlink(full).encode())
                elif stat.S_ISDIR(st.st_mode):
                    newc_entry(out, ino, rel, stat.S_IFDIR | perm, 2, mtime)
                elif stat.S_ISREG(st.st_mode):
                    with open(full, "rb") as f:
                        newc_entry(out, ino, rel, stat.S_IFREG | perm, 1, mtime, f.read())
                else:
                    sys.exit(f"uvm-image: unsupported file type: {full}")
            newc_entry(out, 0, "TRAILER!!!", 0, 1, 0)
    os.replace(tmp, outpath)


def main(argv):
    if len(argv) >= 4 and argv[1] == "modules":
        cmd_modules(argv[2], argv[3], argv[4:])
    elif len(argv) in (4, 6) and argv[1] == "cpio":
        mtime = int(argv[5]) if len(argv) == 6 and argv[4] == "--mtime" else 0
        cmd_cpio(argv[2], argv[3], mtime)
    elif len(argv) == 3 and argv[1] == "init-sh":
        cmd_init_sh(argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
