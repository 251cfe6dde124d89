import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from gcsproto import Agent  # noqa: E402


@pytest.fixture(params=["unix", "stdio"])
def mode(request):
    return request.param


@pytest.fixture
def agent_factory(tmp_path):
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


@pytest.fixture(scope="session")
def rootfs(tmp_path_factory):
    return podlib.make_rootfs(str(tmp_path_factory.mktemp("rootfs")))


class PodEnv:
    def __init__(self, agent, runtime, rtroot, tmp):
        self.agent, self.runtime, self.rtroot, self.tmp = agent, runtime, rtroot, tmp
        self.conn = agent.conn
        self.paths = []  # directories the test expects gone at the end
        self.port = 0x40000000

    def next_port(self):
        self.port += 1
        return self.port

    def bundle(self, cid, layout="v1", pod=None):
        p = f"/run/gcs/c/{cid}" if layout == "v1" else f"/run/gcs/pods/{pod}/{cid}"
        self.paths.append(p)
        return p


def _pod_env(agent_factory, tmp_path, runtime, extra=()):
    if runtime == "crun" and not _shutil.which("crun"):
        pytest.skip("crun not installed")
    rtroot = str(tmp_path / "rtstate")
    args = ["-runtime", runtime, "-runtime-root", rtroot] + list(extra)
    a = agent_factory(mode="unix", args=args, wrap=CRUN_WRAP if runtime == "crun" else None)
    a.connect()
    a.conn.negotiate()
    return PodEnv(a, runtime, rtroot, tmp_path)


@pytest.fixture(params=["runc", "crun"])
def runtime(request):
    return request.param


@pytest.fixture
def pods(agent_factory, tmp_path, runtime):
    env = _pod_env(agent_factory, tmp_path, runtime)
    yield env
    _check_no_leaks(env)


@pytest.fixture
def pods_runc(agent_factory, tmp_path):
    env = _pod_env(agent_factory, tmp_path, "runc")
    yield env
    _check_no_leaks(env)


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
