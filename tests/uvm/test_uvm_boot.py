"""gcs in a real utility VM (QEMU TCG): boot, the bridge over virtio-serial,
reconnect, and a clean power off through init. Skipped, not failed, when the
image (make uvm) or QEMU (scripts/install-uvm-deps) is missing; `make
check-uvm` provides both and runs this under an empty network namespace."""
import os
import re
import subprocess
import time

import pytest

from uvm import DEFAULT_GCS_ARGS, FLOOR_INIT, UVM, in_empty_netns, missing

if missing() is not None and os.environ.get("GCS_UVM_REQUIRED"):
    raise RuntimeError(f"GCS_UVM_REQUIRED is set but {missing()}")  # make check-uvm: never skip silently
pytestmark = pytest.mark.skipif(missing() is not None, reason=str(missing()))


@pytest.fixture
def make_vm(tmp_path):
    vms = []

    def make(**kw):
        d = tmp_path / f"vm{len(vms)}"
        d.mkdir()
        vm = UVM(workdir=str(d), **kw)
        vms.append(vm)
        return vm.start()

    yield make
    for vm in vms:
        vm.stop()
        # no QEMU of ours survives the test (checked by our pidfile in argv)
        out = subprocess.run(["pgrep", "-f", vm.pidfile], capture_output=True, text=True).stdout
        assert out.strip() == "", f"QEMU left running: {out}"


def shutdown(vm):
    """ctrl-alt-del: init passes SIGTERM to gcs, gcs exits 0, init powers off."""
    vm.ctrl_alt_del()
    rc = vm.wait_exit(60)
    assert rc == 0, f"QEMU did not exit cleanly ({rc}); console:\n{vm.console()[-3000:]}"
    log = vm.console()
    assert "gcs-init: signal 2: asking gcs" in log
    assert "gcs-init: gcs exited with status 0; powering off" in log


def mounts(log):
    return dict(re.findall(r"^gcs-init: mount (\S+) (\S+)\s*$", log, re.M))


def test_boot_negotiate_dumpstacks_reconnect_poweroff(make_vm):
    vm = make_vm()
    vm.connect()
    msg = vm.negotiate()
    boot_s = time.monotonic() - vm.t_start
    print(f"boot to negotiated: {boot_s:.2f} s (netns created by harness: {not in_empty_netns()})")
    assert msg["Version"] == 4
    stacks = vm.conn.call("DumpStacks")
    assert stacks["Result"] == 0 and isinstance(stacks.get("GuestStacks"), str) and stacks["GuestStacks"]

    log = vm.console()
    m = mounts(log)
    for target, fstype in {"/dev": "devtmpfs", "/proc": "proc", "/sys": "sysfs", "/run": "tmpfs",
                           "/tmp": "tmpfs", "/dev/shm": "tmpfs", "/dev/pts": "devpts",
                           "/sys/fs/cgroup": "cgroup2"}.items():
        assert m.get(target) == fstype, f"{target}: {m.get(target)}; console:\n{log[-3000:]}"
    sub = re.search(r"^gcs-init: cgroup v2: subtree_control: (.*)$", log, re.M)
    assert sub, log[-3000:]
    assert {"cpu", "memory", "pids", "io", "cpuset"} <= set(sub.group(1).split())
    assert re.search(r"^gcs-init: modules: \d+ loaded, 0 already present, 0 failed", log, re.M)
    assert 'bridge="serial:name=gcs-bridge"' in log

    # The host hangs up: gcs reads EOF, re-opens the port (failing while
    # QEMU's chardev is away), and a new connection negotiates afresh.
    vm.conn.close()
    vm.wait_closed_port()
    vm.connect()
    assert vm.negotiate()["Version"] == 4
    assert vm.conn.call("DumpStacks")["Result"] == 0
    assert "connection=2" in vm.console()

    shutdown(vm)


def test_cgroup_v1_on_request(make_vm):
    vm = make_vm(kernel_args="hcsshim.cgroup=v1")
    vm.connect()
    vm.negotiate()
    log = vm.console()
    assert "gcs-init: cgroup v1 requested by hcsshim.cgroup=v1" in log
    m = mounts(log)
    assert m.get("/sys/fs/cgroup") == "tmpfs"
    for ctrl in ("memory", "cpu", "pids", "devices", "freezer"):
        assert m.get(f"/sys/fs/cgroup/{ctrl}") == "cgroup", f"{ctrl}; console:\n{log[-3000:]}"
    assert "cgroup2" not in m.values()
    shutdown(vm)


def test_floor_init_boots_and_negotiates(make_vm):
    """The floor bench/uvm compares our init with (/init.sh, a busybox sh
    script, rdinit=/init.sh) keeps working: gcs becomes PID 1 and finds what
    it needs. No power off through init here: the fixture kills QEMU by pid."""
    vm = make_vm(init=FLOOR_INIT, gcs_args=DEFAULT_GCS_ARGS + ["-runtime", "runc"])
    vm.connect()
    assert vm.negotiate()["Version"] == 4
    log = vm.console()
    assert "gcs-init:" not in log, log[-3000:]
    assert re.search(r"^init\.sh: exec /bin/gcs .*-transport serial:name=gcs-bridge", log, re.M), log[-3000:]
    assert re.search(r'msg="GCS started".* pid=1\b', log), log[-3000:]
    vm.network_up()
    rc, out = vm.sh("cat /proc/self/mountinfo; echo ctrl $(cat /sys/fs/cgroup/cgroup.subtree_control);"
                    " echo modules $(awk 'END {print NR}' /proc/modules) $(grep -c . /lib/modules/$(uname -r)/modules.load);"
                    " echo host $(hostname)")
    assert rc == 0, out
    # "id parent maj:min root mountpoint options [optional...] - fstype source superopts"
    m = {line.split()[4]: line.split(" - ")[1].split()[0] for line in out.splitlines() if " - " in line}
    for target, fstype in {"/dev": "devtmpfs", "/proc": "proc", "/sys": "sysfs", "/run": "tmpfs", "/tmp": "tmpfs",
                           "/dev/shm": "tmpfs", "/dev/pts": "devpts", "/sys/fs/cgroup": "cgroup2"}.items():
        assert m.get(target) == fstype, f"{target}: {m.get(target)}:\n{out}"
    ctrl = re.search(r"^ctrl (.*)$", out, re.M).group(1).split()
    assert {"cpu", "memory", "pids", "io", "cpuset"} <= set(ctrl), out
    loaded, listed = re.search(r"^modules (\d+) (\d+)$", out, re.M).groups()
    assert int(listed) > 0 and loaded == listed, out
    assert re.search(r"^host uvm$", out, re.M), out
