"""Time sync in the utility VM (upstream cmd/gcs/main.go startTimeSyncService):
gcs finds the Hyper-V PTP clock, starts the image's real chronyd with
upstream's configuration, restarts it with a back-off after it is killed, and
stops it when the VM powers off.

QEMU (TCG) has no Hyper-V PTP clock, so the clock is the one fake: a sysfs
tree whose class/ptp/ptp0/clock_name says "hyperv" (-sysfs-root). gcs reads
it at start, so it must exist before gcs runs: init's child is
`sh -c "<make the tree and a chronyd wrapper>; exec $0 $@"` followed by the
usual `/bin/vsockexec -e 109 /bin/gcs ...` (hcsshim's debug variant wraps
its exec command line in `sh -c` the same way, create_lcow.go). sh execs
vsockexec, which execs gcs: gcs is still init's child. The wrapper keeps the
configuration gcs wrote and execs /usr/sbin/chronyd -x with one of its own
whose only refclock is a unix socket nobody writes to (there is no /dev/ptp0
to read), no NTP or command port. The device nodes stay /dev: the config gcs
writes is upstream's for a real VM, word for word.

Without the fake tree (the session VM, hcsshim's command line exactly) gcs
says once that there is no clock and runs without chronyd."""
import datetime
import os
import subprocess

import pytest

from uvm import DEFAULT_GCS_ARGS, HCSSHIM_INIT_ARGS, UVM, missing

TS = "/timesync-test"  # on the initramfs root: /run and /tmp are noexec
FAKESYS = f"{TS}/sys"
WRAPPER = f"{TS}/chronyd"
CHRONYD = "/usr/sbin/chronyd"
UPSTREAM_CONF = "refclock PHC /dev/ptp0 poll 3 dpoll -2 offset 0 stratum 2\nmakestep 0.1 -1\n"
NO_CLOCK = "time synchronization not started: no Hyper-V PTP clock"

# One kernel argument (the kernel keeps a "..." argument whole and drops the
# quotes): no double quote inside. $0 $@ are vsockexec and its argv.
SETUP = " && ".join([
    f"mkdir -p {FAKESYS}/class/ptp/ptp0",
    f"echo hyperv >{FAKESYS}/class/ptp/ptp0/clock_name",
    # gcs runs: <wrapper> -n -f <conf>
    f"printf '#!/bin/sh\\ncp $3 {TS}/seen.conf\\necho argv $* >>{TS}/argv\\n"
    f"exec {CHRONYD} -x -n -f {TS}/safe.conf\\n' >{WRAPPER}",
    f"chmod 755 {WRAPPER}",
    f"printf 'cmdport 0\\nbindcmdaddress /\\nport 0\\npidfile {TS}/chronyd.pid\\n"
    f"refclock SOCK {TS}/refclock.sock\\n' >{TS}/safe.conf",
    "exec $0 $@",
])


def guest_time(e):
    """A log entry's RFC3339Nano time (the guest's clock) in seconds."""
    t = e["time"].rstrip("Zz")
    whole, _, frac = t.partition(".")
    s = datetime.datetime.fromisoformat(whole).replace(tzinfo=datetime.timezone.utc).timestamp()
    return s + (float("0." + frac) if frac else 0.0)


@pytest.fixture
def ts_vm(tmp_path):
    why = missing()
    if why:
        if os.environ.get("GCS_UVM_REQUIRED"):
            raise RuntimeError(f"GCS_UVM_REQUIRED is set but {why}")  # make check-uvm: never skip silently
        pytest.skip(why)
    vm = UVM(workdir=str(tmp_path), timeout=600, init_args=HCSSHIM_INIT_ARGS + ["sh", "-c", f'"{SETUP}"'],
             gcs_args=DEFAULT_GCS_ARGS + ["-sysfs-root", FAKESYS, "-chronyd", WRAPPER])
    try:
        yield vm
    finally:
        vm.cleanup()
    out = subprocess.run(["pgrep", "-f", vm.pidfile], capture_output=True, text=True).stdout
    assert out.strip() == "", f"QEMU left running: {out}"
    assert not (vm.log and vm.log.errors), f"log stream decode errors: {vm.log.errors[:5]}"


def check_chronyd(vm, gcs_pid, pid):
    """pid is a chronyd -x whose parent is gcs, in gcs's cgroup /gcs (waits,
    with a deadline, for the wrapper to have exec'd it)."""
    rc, out = vm.sh(f"i=0; while [ $(readlink /proc/{pid}/exe) != {CHRONYD} ] && [ $i -lt 100 ]; do"
                    f" i=$((i+1)); sleep 0.1; done; readlink /proc/{pid}/exe; grep PPid /proc/{pid}/status;"
                    f" tr '\\0' ' ' </proc/{pid}/cmdline; echo; cat /proc/{pid}/cgroup")
    assert rc == 0, out
    exe, ppid, argv, cgroup = out.splitlines()[:4]
    assert exe == CHRONYD, out
    assert ppid.split() == ["PPid:", str(gcs_pid)], out
    assert argv.split() == [CHRONYD, "-x", "-n", "-f", f"{TS}/safe.conf"], out
    assert cgroup == "0::/gcs", out


def test_chronyd_start_restart_after_kill_and_stop(ts_vm):
    vm = ts_vm
    assert f'-- -e 1 sh -c "{SETUP}" /bin/vsockexec -e 109 /bin/gcs -v4 ' in vm.kernel_cmdline()
    vm.boot()
    gcs_pid = vm.log.wait(lambda e: e.get("msg") == "GCS started")["pid"]

    # started by gcs, with upstream's configuration for the hyperv clock's node
    try:
        first = vm.log.wait(lambda e: e.get("msg") in ("chronyd started", NO_CLOCK), what="chronyd started")
    except TimeoutError:
        raise AssertionError(f"no chronyd started: {vm.log.messages()}")
    assert first["msg"] == "chronyd started", first
    assert first["clock"] == "/dev/ptp0" and first["start"] == 1 and first["command"] == WRAPPER, first
    pid1, conf = first["pid"], first["config"]
    check_chronyd(vm, gcs_pid, pid1)
    rc, out = vm.sh(f"cat {TS}/seen.conf; echo ---; cat {conf}; echo ---; cat {TS}/argv")
    assert rc == 0, out
    seen, written, argv = out.split("---\n")
    assert seen == UPSTREAM_CONF and written == UPSTREAM_CONF, out
    assert argv == f"argv -n -f {conf}\n", out
    assert not [e for e in vm.log.entries if e.get("msg") == NO_CLOCK]

    # killed by us (that pid only): reported, restarted after the back-off
    rc, out = vm.sh(f"kill -KILL {pid1}")
    assert rc == 0, out
    died = vm.log.wait(lambda e: e.get("msg") == "restart monitor: run command returns error"
                       and e.get("pid") == pid1, what="chronyd's death")
    assert died["error"] == "signal: Killed" and died["level"] == "warning", died  # it ran until killed
    delay = vm.log.wait(lambda e: e.get("msg") == "restart monitor: restarting chronyd", what="the back-off")
    assert delay["delay_ms"] == 500, delay
    second = vm.log.wait(lambda e: e.get("msg") == "chronyd started" and e.get("start") == 2,
                         what="chronyd's restart")
    pid2 = second["pid"]
    assert pid2 != pid1 and second["config"] == conf, second
    assert guest_time(second) - guest_time(died) >= 0.45, (died, second)
    check_chronyd(vm, gcs_pid, pid2)
    rc, out = vm.sh(f"[ -e /proc/{pid1} ] && echo there || echo gone; pidof chronyd")
    assert out.split() == ["gone", str(pid2)], out

    # power off: gcs stops chronyd (SIGTERM is enough) and exits 0
    rc, status = vm.shutdown()
    assert (rc, status) == (0, 0), f"QEMU exit {rc}, gcs status {status}, reason {vm.shutdown_reason}"
    assert vm.shutdown_reason == "guest-shutdown"
    msgs = vm.log.messages()
    stopped = [e for e in vm.log.entries if e.get("msg") == "chronyd stopped"]
    assert [e["pid"] for e in stopped] == [pid2], stopped
    assert msgs.index("chronyd stopped") < msgs.index("GCS exiting")
    assert "chronyd did not stop on SIGTERM, killing it" not in msgs
    assert msgs.count("chronyd started") == 2  # no restart after the stop


def test_no_hyperv_clock_said_once_and_no_chronyd(vm):
    """hcsshim's command line under QEMU: no Hyper-V PTP clock in /sys."""
    said = [e for e in vm.log.entries if e.get("msg") == NO_CLOCK]
    assert len(said) == 1 and said[0]["level"] == "warning", said
    assert "/sys/class/ptp" in said[0]["error"], said
    assert "chronyd started" not in vm.log.messages()
    rc, out = vm.sh("pidof chronyd || echo none")
    assert out.split() == ["none"], out
