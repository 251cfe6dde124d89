import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from gcsproto import Agent  # noqa: E402

# GCS_TEST_TARGET=uvm: the pod and process tests talk to gcs inside a
# utility VM (tests/uvm/uvm.py) booted once per runtime for the session;
# GCS_UVM_CGROUP=v1 boots it with hcsshim.cgroup=v1. Tests that start their
# own local agent are skipped there.
TARGET = os.environ.get("GCS_TEST_TARGET", "local")
if TARGET not in ("local", "uvm"):
    raise RuntimeError(f"GCS_TEST_TARGET={TARGET}: local or uvm")
if TARGET == "uvm":
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "uvm"))
    import uvm as _uvm  # noqa: E402


@pytest.fixture(params=["unix", "stdio"])
def mode(request):
    return request.param


@pytest.fixture
def agent_factory(tmp_path):
    if TARGET == "uvm":
        pytest.skip("host-only: starts its own local gcs process and inspects it from the host")
    agents = []

    def make(**kw):
        a = Agent(tmp_path / f"a{len(agents)}", **kw)
        agents.append(a)
        return a

    yield make
    for a in agents:
        rc = a.stop()
        # a crash (signal) or a sanitizer report is a test failure
        assert rc in (0, -15, 143), f"gcs exited with {rc}; log:\n{a.log()[-4000:]}"
        assert "ERROR: AddressSanitizer" not in a.log()


@pytest.fixture
def agent(agent_factory, mode):
    a = agent_factory(mode=mode)
    a.connect()
    return a


# ---- pods: a real agent with a real runtime, checked for leaks ----

import glob as _glob  # noqa: E402
import shutil as _shutil  # noqa: E402

import podlib  # noqa: E402

CRUN_WRAP = ["sh", "-c", 'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$0" "$@"']


def pytest_report_header(config):
    if TARGET == "uvm":
        return f"gcs target: utility VM (cgroup {os.environ.get('GCS_UVM_CGROUP', 'v2')})"
    return "gcs target: local agent"


@pytest.fixture(scope="session")
def rootfs(tmp_path_factory):
    if TARGET == "uvm":
        return _uvm.ROOTFS
    return podlib.make_rootfs(str(tmp_path_factory.mktemp("rootfs")))


@pytest.fixture(scope="session")
def uvms():
    """uvms(runtime) -> a booted, negotiated VM running gcs -runtime RUNTIME
    (one per runtime for the whole session). At the end each is powered off
    through init, and gcs must have exited 0."""
    why = _uvm.missing()
    if why:
        raise RuntimeError(f"GCS_TEST_TARGET=uvm but {why}")
    vms = {}
    kernel_args = "hcsshim.cgroup=v1" if os.environ.get("GCS_UVM_CGROUP") == "v1" else ""

    def get(runtime):
        if runtime not in vms:
            vm = _uvm.UVM(gcs_args=_uvm.DEFAULT_GCS_ARGS + ["-runtime", runtime], kernel_args=kernel_args,
                          timeout=1800)
            vms[runtime] = vm
            vm.boot()
        return vms[runtime]

    yield get
    bad = []
    for runtime, vm in vms.items():
        try:
            rc, status = vm.shutdown()
            if status != 0 or rc != 0:
                bad.append(f"{runtime}: QEMU exit {rc}, gcs status {status}:\n{vm.console()[-3000:]}")
        finally:
            vm.cleanup()
    assert not bad, "\n".join(bad)


@pytest.fixture(params=["runc", "crun"])
def runtime(request):
    return request.param


def _uvm_env(uvms, runtime):
    vm = uvms(runtime)
    vm.conn.notifications.clear()
    vm.conn.stash.clear()
    return _uvm.UvmPodEnv(vm, runtime)


def _uvm_check(env):
    left = env.leaks()
    assert not left, "left behind in the VM: " + ", ".join(left) + "\n" + env.vm.console()[-3000:]


def _pod_env(agent_factory, tmp_path, runtime, extra=()):
    if runtime == "crun" and not _shutil.which("crun"):
        pytest.skip("crun not installed")
    rtroot = str(tmp_path / "rtstate")
    args = ["-runtime", runtime, "-runtime-root", rtroot] + list(extra)
    a = agent_factory(mode="unix", args=args, wrap=CRUN_WRAP if runtime == "crun" else None)
    a.connect()
    a.conn.negotiate()
    return podlib.LocalPodEnv(a, runtime, rtroot, tmp_path)


@pytest.fixture
def pods(request, tmp_path, runtime):
    if TARGET == "uvm":
        env = _uvm_env(request.getfixturevalue("uvms"), runtime)
        yield env
        _uvm_check(env)
        return
    env = _pod_env(request.getfixturevalue("agent_factory"), tmp_path, runtime)
    yield env
    _check_no_leaks(env)


@pytest.fixture
def pods_runc(request, tmp_path):
    if TARGET == "uvm":
        env = _uvm_env(request.getfixturevalue("uvms"), "runc")
        yield env
        _uvm_check(env)
        return
    env = _pod_env(request.getfixturevalue("agent_factory"), tmp_path, "runc")
    yield env
    _check_no_leaks(env)


PodEnv = podlib.LocalPodEnv  # the name test_gcsctl and test_pod_rules import


def _check_no_leaks(env):
    """After the agent exits, nothing it made may remain."""
    env.agent.stop()
    left = []
    ctrs = podlib.runtime_list(env.runtime, env.rtroot) if os.path.isdir(env.rtroot) else []
    for c in ctrs:
        left.append(f"runtime container {c}")
        subprocess.run([env.runtime, "--root", env.rtroot, "delete", "--force", c], capture_output=True)
    for d in _glob.glob("/sys/fs/cgroup/*/pods") + _glob.glob("/sys/fs/cgroup/*/gcs"):
        left.append(f"cgroup {d}")
    for p in env.paths:
        if os.path.exists(p):
            left.append(f"path {p}")
    if env.runtime == "crun":
        # crun ran with the hybrid cgroup2 mount hidden; what it made on the
        # tmpfs below that mount point is only visible with it hidden again
        hidden = subprocess.run(["unshare", "-m", "sh", "-c",
                                 "umount /sys/fs/cgroup/unified 2>/dev/null && ls /sys/fs/cgroup/unified"],
                                capture_output=True, text=True).stdout.split()
        left += [f"hidden cgroup dir unified/{d}" for d in hidden if d in ("pods", "gcs")]
    assert not left, "left behind: " + ", ".join(left) + "\n" + env.agent.log()[-3000:]


@pytest.fixture(scope="module")
def run_mounts_dir():
    """/run/mounts, where tests stand in scratch disks, is made by the tests
    that use it when it is missing, and goes again when they are done."""
    existed = os.path.isdir("/run/mounts")
    yield "/run/mounts"
    if not existed:
        try:
            os.rmdir("/run/mounts")
        except OSError:
            pass
