"""Time sync as upstream's startTimeSyncService (cmd/gcs/main.go): the real
agent finds the Hyper-V PTP clock in a fake sysfs tree (-sysfs-root; this
machine has none), writes upstream's chronyd configuration for its node
under -dev-root, starts chronyd, restarts it with a back-off after it dies,
and stops it at exit.

The chronyd is the real Debian one, run through a wrapper that can never
touch this machine's clock: it keeps the configuration gcs wrote (the test
checks it) and execs chronyd with -x (no control of the system clock) and a
configuration of its own without any time source (a unix-socket refclock
nobody writes to), no NTP port and no command port. Only the pid gcs reports
is ever signalled, after checking it is a chronyd whose parent is that gcs."""
import os
import shutil
import signal
import stat
import time

import pytest

from conftest import TARGET

CHRONYD = shutil.which("chronyd") or "/usr/sbin/chronyd"
pytestmark = [pytest.mark.skipif(TARGET == "uvm", reason="starts its own local agent"),
              pytest.mark.skipif(not os.access(CHRONYD, os.X_OK), reason="chrony not installed")]


def fake_sysfs(tmp_path, clocks):
    root = tmp_path / "sys"
    (root / "class" / "ptp").mkdir(parents=True)
    for name, clock in clocks.items():
        d = root / "class" / "ptp" / name
        d.mkdir()
        if clock is not None:
            (d / "clock_name").write_text(clock)
    dev = tmp_path / "dev"
    dev.mkdir()
    return str(root), str(dev)


def safe_chronyd(tmp_path):
    d = tmp_path / "chrony"
    d.mkdir()
    (d / "safe.conf").write_text(f"cmdport 0\nbindcmdaddress /\nport 0\npidfile {d}/chronyd.pid\n"
                                 f"refclock SOCK {d}/refclock.sock\n")
    w = d / "chronyd-wrapper"
    # gcs runs: <wrapper> -n -f <conf>
    w.write_text("#!/bin/sh\n"
                 f'[ "$1 $2" = "-n -f" ] || exit 64\n'
                 f'cp "$3" {d}/seen.conf\n'
                 f'echo "$*" >> {d}/argv\n'
                 f"exec {CHRONYD} -x -n -f {d}/safe.conf\n")
    w.chmod(w.stat().st_mode | stat.S_IXUSR)
    return str(w), d


def lines(agent):
    return agent.log_entries()


def wait_line(agent, pred, what, timeout=15.0):
    return agent.wait_log_entry(pred, what, timeout)


def proc_info(pid):
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
        with open(f"/proc/{pid}/stat") as f:
            st = f.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
        with open(f"/proc/{pid}/cgroup") as f:
            cg = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return {"exe": exe, "state": st[0], "ppid": int(st[1]), "argv": argv, "cgroup": cg}


def our_chronyd(agent, pid, timeout=10.0):
    """The pid gcs reported, once the wrapper has exec'd chronyd in it."""
    deadline = time.monotonic() + timeout
    info = proc_info(pid)
    while info and info["exe"] != os.path.realpath(CHRONYD) and time.monotonic() < deadline:
        time.sleep(0.02)
        info = proc_info(pid)
    assert info, f"chronyd {pid} is gone"
    assert info["exe"] == os.path.realpath(CHRONYD) and info["ppid"] == agent.proc.pid, info
    assert b"-x" in info["argv"], info  # never a chronyd that controls the clock
    return info


def gone(pid, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = proc_info(pid)
        if info is None or info["state"] == "Z":
            return True
        time.sleep(0.02)
    return False


def timesync_agent(agent_factory, tmp_path, sysfs, dev, chronyd, extra=()):
    a = agent_factory(mode="unix", args=["-log-format", "json", "-disable-time-sync=false", "-sysfs-root", sysfs,
                                         "-dev-root", dev, "-chronyd", chronyd] + list(extra))
    a.connect()
    a.conn.negotiate()
    return a


def test_chronyd_start_restart_and_stop(agent_factory, tmp_path):
    sysfs, dev = fake_sysfs(tmp_path, {"ptp0": "kvm\n", "ptp1": None, "ptp2": "hyperv\n"})
    wrapper, d = safe_chronyd(tmp_path)
    a = timesync_agent(agent_factory, tmp_path, sysfs, dev, wrapper)
    first = wait_line(a, lambda o: o["msg"] == "chronyd started", "chronyd started")
    assert first["clock"] == f"{dev}/ptp2" and first["start"] == 1
    pid1 = first["pid"]
    info = our_chronyd(a, pid1)
    assert ":/gcs\n" in info["cgroup"]  # started after the agent moved into /gcs, as upstream
    # upstream's configuration, naming the hyperv clock's node
    conf = first["config"]
    assert (d / "seen.conf").read_text() == \
        f"refclock PHC {dev}/ptp2 poll 3 dpoll -2 offset 0 stratum 2\nmakestep 0.1 -1\n"
    assert open(conf).read() == (d / "seen.conf").read_text()
    assert (d / "argv").read_text() == f"-n -f {conf}\n"
    # killed: reported, restarted after the back-off (500 ms first)
    t0 = time.monotonic()
    os.kill(pid1, signal.SIGKILL)
    err = wait_line(a, lambda o: o["msg"] == "restart monitor: run command returns error" and o.get("pid") == pid1,
                    "restart monitor")
    assert err["error"] == "signal: Killed" and err["level"] == "warning"
    second = wait_line(a, lambda o: o["msg"] == "chronyd started" and o["start"] == 2, "second start")
    assert time.monotonic() - t0 >= 0.45
    pid2 = second["pid"]
    assert pid2 != pid1
    our_chronyd(a, pid2)
    assert gone(pid1)
    # exit: chronyd stopped (SIGTERM), reaped, its configuration removed
    assert a.stop() == 0
    assert gone(pid2, timeout=1.0)
    assert not os.path.exists(conf) and not os.path.exists(os.path.dirname(conf))
    assert not any(o["msg"] == "chronyd did not stop on SIGTERM, killing it" for o in lines(a))


@pytest.mark.parametrize("clocks", [{}, {"ptp0": "kvm\n"}, None])
def test_no_hyperv_clock_is_said_once_and_the_agent_goes_on(agent_factory, tmp_path, clocks):
    sysfs, dev = fake_sysfs(tmp_path, clocks or {})
    if clocks is None:
        shutil.rmtree(os.path.join(sysfs, "class"))  # no PTP class at all
    wrapper, d = safe_chronyd(tmp_path)
    a = timesync_agent(agent_factory, tmp_path, sysfs, dev, wrapper)
    assert a.conn.call("DumpStacks")["Result"] == 0
    said = [o for o in lines(a) if o["msg"] == "time synchronization not started: no Hyper-V PTP clock"]
    assert len(said) == 1 and said[0]["level"] == "warning", a.log()[-2000:]
    assert not any(o["msg"] == "chronyd started" for o in lines(a))
    assert not (d / "argv").exists()


def test_disable_time_sync_starts_nothing(agent_factory, tmp_path):
    sysfs, dev = fake_sysfs(tmp_path, {"ptp0": "hyperv\n"})
    wrapper, d = safe_chronyd(tmp_path)
    a = timesync_agent(agent_factory, tmp_path, sysfs, dev, wrapper, extra=["-disable-time-sync"])
    assert a.conn.call("DumpStacks")["Result"] == 0
    assert not any("chronyd" in o["msg"] or "time synchronization" in o["msg"] for o in lines(a))
    assert not (d / "argv").exists()


def test_chronyd_that_cannot_start_is_retried_with_backoff(agent_factory, tmp_path):
    sysfs, dev = fake_sysfs(tmp_path, {"ptp0": "hyperv\n"})
    a = timesync_agent(agent_factory, tmp_path, sysfs, dev, str(tmp_path / "no-such-chronyd"))
    t0 = time.monotonic()
    wait_line(a, lambda o: o["msg"] == "restart monitor: run command returns error" and "exec" in o["error"],
              "exec failure")
    # the first retry comes 500 ms later, the second 750 ms after that
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        fails = [o for o in lines(a) if o["msg"] == "restart monitor: run command returns error"]
        if len(fails) >= 3:
            break
        time.sleep(0.02)
    assert len(fails) >= 3, a.log()[-2000:]
    assert time.monotonic() - t0 >= 1.2
    assert a.conn.call("DumpStacks")["Result"] == 0  # the bridge never waited
