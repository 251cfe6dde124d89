"""What init left for gcs, seen from inside the VM: a UVM process exec'd
through the bridge (gcs's namespaces) reads the mount table and the cgroup
root. Complements test_uvm_boot.py, which reads init's console log."""
import re


def mounts(vm):
    rc, out, err = vm.exec(["/bin/cat", "/proc/self/mountinfo"])
    assert rc == 0, err
    table = {}
    for line in out.decode().splitlines():
        fields = line.split()
        sep = fields.index("-")
        table[fields[4]] = (fields[sep + 1], fields[5])  # point -> (fstype, options)
    return table


def test_init_mounts_from_inside(vm):
    m = mounts(vm)
    want = {"/": "rootfs", "/proc": "proc", "/sys": "sysfs", "/dev": "devtmpfs", "/dev/pts": "devpts",
            "/dev/shm": "tmpfs", "/run": "tmpfs", "/tmp": "tmpfs", "/sys/fs/cgroup": "cgroup2"}
    for point, fstype in want.items():
        assert m.get(point, ("missing",))[0] == fstype, (point, m.get(point))
    for point in ("/proc", "/sys", "/run", "/tmp", "/dev/shm", "/sys/fs/cgroup"):
        assert {"nosuid", "noexec"} <= set(m[point][1].split(",")), (point, m[point])
    assert not any(p.startswith("/sys/fs/cgroup/") for p in m), "v1 hierarchies on a v2 boot"


def test_every_controller_enabled_from_inside(vm):
    rc, out, _ = vm.exec(["/bin/cat", "/sys/fs/cgroup/cgroup.subtree_control"])
    assert rc == 0
    enabled = set(out.decode().split())
    rc, out, _ = vm.exec(["/bin/cat", "/sys/fs/cgroup/cgroup.controllers"])
    available = set(out.decode().split())
    assert enabled == available, (enabled, available)
    assert {"cpu", "cpuset", "io", "memory", "pids", "hugetlb"} <= enabled


def test_agent_cgroups_and_hostname(vm):
    # gcs made /pods (its memory limit follows the VM's memory) and /gcs
    rc, out = vm.sh("cat /sys/fs/cgroup/pods/memory.max; grep MemTotal /proc/meminfo; hostname; "
                    "cat /sys/fs/cgroup/pods/cgroup.controllers; test -d /sys/fs/cgroup/gcs && echo gcs-cg")
    assert rc == 0, out
    lines = out.splitlines()
    limit = int(lines[0])
    total_kb = int(re.search(r"(\d+)", lines[1]).group(1))
    assert 0 < limit < total_kb * 1024
    assert lines[2] == "uvm"  # init set it from the image's /etc/hostname
    assert {"cpu", "memory", "pids"} <= set(lines[3].split())  # available to the pods below
    assert lines[4] == "gcs-cg"
