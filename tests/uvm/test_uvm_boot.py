"""gcs in a real utility VM (QEMU TCG), booted the way an unmodified hcsshim
host boots it: the kernel command line of create_lcow.go (uvm.hcsshim_cmdline)
plus only the development mapping gcs.devtransport=... The harness is the
host of internal/uvm/start.go: 512 bytes on the entropy port, the log port
read as gcs_logs.go decodes it (any decode error fails the test), the bridge
accepted only after both. Then negotiate, containers with runc and crun, a
bridge reconnect, and a power off through init. Variants: vsockexec -o 109
-e 109, -r with the host dropping the log connection, init -w,
hcsshim.cgroup=v1, -disable-time-sync, hcsshim's console-pipe command line,
and the floor init. Skipped, not failed, when the image (make uvm) or QEMU
(scripts/install-uvm-deps) is missing; `make check-uvm` provides both and
runs this in an empty network namespace."""
import os
import re
import subprocess
import time

import pytest

import podlib
from uvm import (DEFAULT_GCS_ARGS, DEV_TRANSPORT, ENTROPY_BYTES, FLOOR_INIT, ROOTFS, UVM, UvmPodEnv,
                 in_empty_netns, missing)

if missing() is not None and os.environ.get("GCS_UVM_REQUIRED"):
    raise RuntimeError(f"GCS_UVM_REQUIRED is set but {missing()}")  # make check-uvm: never skip silently
pytestmark = pytest.mark.skipif(missing() is not None, reason=str(missing()))

HCSSHIM_TAIL = "-- -e 1 /bin/vsockexec -e 109 /bin/gcs -v4 -log-format json -loglevel debug"


@pytest.fixture
def make_vm(tmp_path):
    vms = []

    def make(**kw):
        d = tmp_path / f"vm{len(vms)}"
        d.mkdir()
        kw.setdefault("timeout", 600)
        vm = UVM(workdir=str(d), **kw)
        vms.append(vm)
        return vm.start()

    yield make
    for vm in vms:
        vm.stop()
        # no QEMU of ours survives the test (checked by our pidfile in argv)
        out = subprocess.run(["pgrep", "-f", vm.pidfile], capture_output=True, text=True).stdout
        assert out.strip() == "", f"QEMU left running: {out}"
        # the host's decoder never failed on the guest's log stream
        if vm.log:
            assert not vm.log.errors, f"log stream decode errors: {vm.log.errors[:5]}"


def host_side_then_bridge(vm):
    """hcsshim's order: entropy served, log connected, then the bridge."""
    t0 = time.monotonic()
    vm.wait_host_side()
    assert vm.entropy.nbytes == ENTROPY_BYTES
    vm.connect()
    msg = vm.negotiate()
    assert msg["Version"] == 4
    print(f"boot to negotiated: {time.monotonic() - vm.t_start:.2f} s ({time.monotonic() - t0:.2f} s after "
          f"QEMU was up; netns created by harness: {not in_empty_netns()})")
    vm.network_up()
    return msg


def shutdown(vm):
    """ctrl-alt-del: init passes SIGTERM to gcs, gcs exits 0 (its last log
    line says so), init powers off (QMP: guest-shutdown, not a panic)."""
    rc, status = vm.shutdown()
    assert (rc, status) == (0, 0), f"QEMU exit {rc}, gcs status {status}, reason {vm.shutdown_reason}"
    assert vm.shutdown_reason == "guest-shutdown"


def dmesg(vm):
    rc, out = vm.sh("dmesg")
    assert rc == 0, out
    return out


def run_container(vm, runtime):
    """A sandbox whose init echoes: created, started, its stdout read, exited
    0, deleted; nothing left behind."""
    env = UvmPodEnv(vm, runtime)
    sid = podlib.new_id("bt")
    spec = podlib.sandbox_spec(ROOTFS, sid)
    spec["process"]["args"] = ["/bin/sh", "-c", f"echo hello from {runtime}"]
    msg = podlib.create(vm.conn, sid, spec, env.bundle(sid))
    assert msg["Result"] == 0, msg
    st = podlib.Stdio(env)
    msg = podlib.execute(vm.conn, sid, st)
    assert msg["Result"] == 0, msg
    out, _ = st.read_outputs()
    assert out == f"hello from {runtime}\n".encode()
    w = podlib.wait(vm.conn, sid, msg["ProcessId"])
    assert w["Result"] == 0 and w["ExitCode"] == 0, w
    assert podlib.delete(vm.conn, sid)["Result"] == 0
    left = env.leaks()
    assert not left, left


def test_hcsshim_command_line_boot_contract(make_vm):
    vm = make_vm()
    cmd = vm.kernel_cmdline()
    assert cmd.startswith("initcall_blacklist=virtio_vsock_init 8250_core.nr_uarts=0 panic=-1 quiet "
                          f"{DEV_TRANSPORT} nr_cpus=2 brd.rd_nr=0 pmtmr=0 {HCSSHIM_TAIL}"), cmd
    assert cmd.split(" -- ")[1].split() == ["-e", "1", "/bin/vsockexec", "-e", "109"] + DEFAULT_GCS_ARGS
    host_side_then_bridge(vm)

    started = vm.log.wait(lambda e: e.get("msg") == "GCS started")
    assert started["bridge"] == "serial:name=gcs-bridge"
    assert started["transport_from"] == "kernel parameter"
    assert started["level"] == "info" and started["time"].endswith("Z")
    log = dmesg(vm)
    # init: its own argv, the entropy from our listener, the modules, the child
    assert f"gcs-init: entropy: {ENTROPY_BYTES} bytes from tcp:10.0.2.2:30001 added" in log, log[-3000:]
    assert re.search(r"gcs-init: modules: \d+ loaded, 0 already present, \d+ without their device, 0 failed", log)
    assert "gcs-init: transport: development mapping from the kernel parameter" in log
    assert re.search(r"gcs-init: started /bin/vsockexec \(pid \d+\)", log)
    assert "gcs-init: cgroup v2: subtree_control: " in log
    # vsockexec exec'd gcs: gcs is init's child, its argv hcsshim's, its stderr the log connection
    rc, out = vm.sh("p=$(pidof gcs); grep PPid /proc/$p/status; tr '\\0' ' ' </proc/$p/cmdline; echo;"
                    " readlink /proc/$p/fd/2; ip -6 addr show dev lo; ip -4 addr show dev lo")
    assert rc == 0, out
    lines = out.splitlines()
    assert lines[0].split() == ["PPid:", "1"], out
    assert lines[1].split() == DEFAULT_GCS_ARGS, out
    assert lines[2].startswith("socket:"), out
    assert "inet6 ::1/128" in out and "inet 127.0.0.1/8" in out, out

    run_container(vm, "runc")

    # kmsg: a kernel log record at or below -kmsgLogLevel (4) reaches the log
    # stream as "kmsg read"; one above it (6) does not
    rc, out = vm.sh("echo '<6>gcs-uvm-kmsg-info' >/dev/kmsg; echo '<3>gcs-uvm-kmsg-err' >/dev/kmsg")
    assert rc == 0, out
    e = vm.log.wait(lambda e: e.get("msg") == "kmsg read" and e.get("message") == "gcs-uvm-kmsg-err",
                    what="the kmsg record")
    assert e["priority"] == "Err", e
    assert not [x for x in vm.log.entries if x.get("message") == "gcs-uvm-kmsg-info"]

    # The host hangs up the bridge: gcs reads EOF, re-opens the port, and a
    # new connection negotiates afresh; the log stream goes on.
    n = len(vm.log.entries)
    vm.conn.close()
    vm.wait_closed_port()
    vm.connect()
    assert vm.negotiate()["Version"] == 4
    assert vm.conn.call("DumpStacks")["Result"] == 0
    vm.log.wait(lambda e: e.get("msg") == "bridge connected" and e.get("connection") == 2)
    assert len(vm.log.entries) > n
    shutdown(vm)
    assert vm.log.connections == 1


def test_stdout_and_stderr_on_the_log_port_with_crun(make_vm):
    """ForwardStdout: vsockexec -o 109 -e 109 (one connection for both);
    the host's extra exec args select crun."""
    vm = make_vm(vsockexec_args=["-o", "109", "-e", "109"], gcs_args=DEFAULT_GCS_ARGS + ["-runtime", "crun"])
    assert " /bin/vsockexec -o 109 -e 109 /bin/gcs " in vm.kernel_cmdline()
    host_side_then_bridge(vm)
    rc, out = vm.sh("p=$(pidof gcs); readlink /proc/$p/fd/1; readlink /proc/$p/fd/2")
    assert rc == 0
    fd1, fd2 = out.split()
    assert fd1 == fd2 and fd1.startswith("socket:"), out
    run_container(vm, "crun")
    shutdown(vm)
    assert vm.log.connections == 1


def test_relay_survives_the_host_dropping_the_log_connection(make_vm):
    """vsockexec -r: the host drops the log connection and accepts a new one;
    gcs (vsockexec's child) lives on, the new stream starts at a whole JSON
    object and carries the agent's later lines."""
    vm = make_vm(vsockexec_args=["-r", "-e", "109"])
    host_side_then_bridge(vm)
    rc, out = vm.sh("p=$(pidof gcs); grep PPid /proc/$p/status; readlink /proc/$p/fd/2;"
                    " tr '\\0' ' ' </proc/$(grep PPid /proc/$p/status | cut -f2)/cmdline")
    assert rc == 0, out
    ppid, fd2, parent = out.splitlines()
    assert ppid.split()[1] != "1" and fd2.startswith("pipe:"), out  # gcs writes into vsockexec's pipe
    assert parent.startswith("/bin/vsockexec -r -e 109"), out
    vm.log.drop()
    vm.log.wait_connections(2, 30)  # re-dialled
    n = len(vm.log.entries)
    assert vm.conn.call("DumpStacks")["Result"] == 0  # logs "request done" on the new connection
    vm.log.wait(lambda e: e.get("msg") == "request done" and e.get("type") == "DumpStacks")
    assert len(vm.log.entries) > n
    run_container(vm, "runc")
    shutdown(vm)


def test_writable_overlays_and_disable_time_sync(make_vm):
    """init -w: /etc and /var are overlays on /run/over; gcs takes
    -disable-time-sync (and starts no chronyd); the image's chronyd runs."""
    vm = make_vm(init_args=["-e", "1", "-w"], gcs_args=DEFAULT_GCS_ARGS + ["-disable-time-sync"])
    assert " -- -e 1 -w /bin/vsockexec -e 109 /bin/gcs " in vm.kernel_cmdline()
    host_side_then_bridge(vm)
    rc, out = vm.sh("cat /proc/self/mountinfo; echo x > /etc/gcs-w-test && cat /etc/gcs-w-test;"
                    " ls /run/over/etc/upper; pidof chronyd || echo no-chronyd; chronyd -v")
    assert rc == 0, out
    m = {line.split()[4]: line.split(" - ")[1].split()[0] for line in out.splitlines() if " - " in line}
    assert m.get("/etc") == "overlay" and m.get("/var") == "overlay" and m.get("/run/over") == "tmpfs", out
    assert "gcs-w-test" in out and "no-chronyd" in out, out
    assert re.search(r"^chronyd \(chrony\) version \d", out, re.M), out
    assert "gcs-init: writable /etc and /var: overlays on /run/over" in dmesg(vm)
    shutdown(vm)


def test_cgroup_v1_on_request(make_vm):
    vm = make_vm(kernel_args="hcsshim.cgroup=v1")
    host_side_then_bridge(vm)
    log = dmesg(vm)
    assert "gcs-init: cgroup v1 requested by hcsshim.cgroup=v1" in log
    m = dict(re.findall(r"gcs-init: mount (\S+) (\S+)\s*$", log, re.M))
    assert m.get("/sys/fs/cgroup") == "tmpfs"
    for ctrl in ("memory", "cpu", "pids", "devices", "freezer"):
        assert m.get(f"/sys/fs/cgroup/{ctrl}") == "cgroup", f"{ctrl}:\n{log[-3000:]}"
    assert "cgroup2" not in m.values()
    run_container(vm, "runc")
    shutdown(vm)


def test_console_variant_shows_init_and_the_power_off(make_vm):
    """hcsshim's console-pipe command line (a UART, no "panic=-1 quiet"):
    init's kmsg lines reach the console, down to its last one."""
    vm = make_vm(console=True)
    assert "8250_core.nr_uarts=1 8250_core.skip_txen_test=1 console=ttyS0,115200 " in vm.kernel_cmdline()
    assert "quiet" not in vm.kernel_cmdline().split()
    host_side_then_bridge(vm)
    vm.ctrl_alt_del()
    assert vm.wait_exit(60) == 0
    log = vm.console()
    assert re.search(r"gcs-init: signal 2: asking /bin/vsockexec \(pid \d+\) to exit", log), log[-3000:]
    assert "gcs-init: /bin/vsockexec exited with status 0; powering off" in log, log[-3000:]
    assert vm.shutdown_reason == "guest-shutdown"
    vm.log.wait(lambda e: e.get("msg") == "GCS exiting" and e.get("code") == 0)


def test_floor_init_boots_and_negotiates(make_vm):
    """The floor bench/uvm compares our init with (/init.sh, a busybox sh
    script, rdinit=/init.sh) takes the same argv: it serves -e through
    vsockexec and execs the rest, so gcs becomes PID 1 behind vsockexec. No
    power off through init here: the fixture kills QEMU by pid."""
    vm = make_vm(init=FLOOR_INIT)
    host_side_then_bridge(vm)
    started = vm.log.wait(lambda e: e.get("msg") == "GCS started")
    assert started["pid"] == 1
    rc, out = vm.sh("cat /proc/self/mountinfo; echo ctrl $(cat /sys/fs/cgroup/cgroup.subtree_control);"
                    " echo host $(hostname); dmesg | grep init.sh")
    assert rc == 0, out
    assert "gcs-init:" not in out
    assert re.search(r"init\.sh: exec /bin/vsockexec -e 109 /bin/gcs -v4 -log-format json", out), out
    # "id parent maj:min root mountpoint options [optional...] - fstype source superopts"
    m = {line.split()[4]: line.split(" - ")[1].split()[0] for line in out.splitlines() if " - " in line}
    for target, fstype in {"/dev": "devtmpfs", "/proc": "proc", "/sys": "sysfs", "/run": "tmpfs", "/tmp": "tmpfs",
                           "/dev/shm": "tmpfs", "/dev/pts": "devpts", "/sys/fs/cgroup": "cgroup2"}.items():
        assert m.get(target) == fstype, f"{target}: {m.get(target)}:\n{out}"
    ctrl = re.search(r"^ctrl (.*)$", out, re.M).group(1).split()
    assert {"cpu", "memory", "pids", "io", "cpuset"} <= set(ctrl), out
    assert re.search(r"^host uvm$", out, re.M), out
