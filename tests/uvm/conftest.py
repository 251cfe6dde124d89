import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from uvm import DEFAULT_GCS_ARGS, UVM, UvmPodEnv, missing  # noqa: E402


@pytest.fixture(scope="session")
def vm():
    """One VM (cgroup v2, runc) for every test of the session that only needs
    a running gcs: booted and negotiated once, powered off through init at
    the end (gcs must exit 0)."""
    why = missing()
    if why:
        if os.environ.get("GCS_UVM_REQUIRED"):
            raise RuntimeError(f"GCS_UVM_REQUIRED is set but {why}")
        pytest.skip(why)
    v = UVM(gcs_args=DEFAULT_GCS_ARGS + ["-runtime", "runc"], timeout=1200)  # hcsshim's command line + extra exec args
    try:
        v.boot()
        yield v
        rc, status = v.shutdown()
        assert (rc, status) == (0, 0), f"QEMU exit {rc}, gcs status {status}:\n{v.console()[-3000:]}"
    finally:
        v.cleanup()


@pytest.fixture
def env(vm):
    """A podlib.PodEnv on the session VM; nothing may be left at the end."""
    vm.conn.notifications.clear()
    vm.conn.stash.clear()
    e = UvmPodEnv(vm, "runc")
    yield e
    left = e.leaks()
    assert not left, "left behind in the VM: " + ", ".join(left)
