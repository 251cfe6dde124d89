"""gcsctl start --away-ms: an attached start that survives a host swap.
SIGUSR1 makes gcsctl drop the bridge and the stdio connections as a host
being live-migrated does, stay away, take them back when the agent
re-dials, and print the init's output on without a gap or a repeat."""
import os
import select
import signal
import subprocess
import time

import pytest

import podlib
from test_gcsctl import GCSCTL, ctl_env, ok  # noqa: F401 (ctl_env is a fixture)

pytestmark = pytest.mark.skipif(os.environ.get("GCS_TEST_TARGET", "local") == "uvm",
                                reason="host-only: gcsctl talks to a local agent's unix transport")

PAD = "y" * 40
BURST, TOTAL = 3000, 3600


@pytest.fixture(scope="module")
def rfs(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("ctlrootfs") / "rootfs")
    ok(None, "make-rootfs", d)
    return d


def test_attached_start_survives_a_host_swap_without_a_gap(ctl_env, rfs):
    env = ctl_env
    cid = podlib.new_id("m")
    env.bundle(cid)
    script = (f"i=0; while [ $i -lt {TOTAL} ]; do printf 'line %06d {PAD}\\n' $i; "
              f"[ $i -lt 50 ] && echo err $i >&2; i=$((i+1)); [ $i -gt {BURST} ] && busybox usleep 2000; done; exit 3")
    ok(env, "create", cid, "--kind", "standalone", "--rootfs", rfs, "--", "/bin/sh", "-c", script)
    p = subprocess.Popen([GCSCTL, "-d", env.agent.sockdir, "-t", "20", "start", cid, "--away-ms", "400"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = b""
    deadline = time.monotonic() + 30
    # swap once the burst (more than the 128 KiB replay) has been printed
    while out.count(b"\n") < BURST + 20:
        assert time.monotonic() < deadline, out[-200:]
        r, _, _ = select.select([p.stdout], [], [], 1)
        if r:
            chunk = os.read(p.stdout.fileno(), 1 << 16)
            assert chunk, "gcsctl ended early"
            out += chunk
    p.send_signal(signal.SIGUSR1)
    rest, err = p.communicate(timeout=60)
    out += rest
    want = b"".join(f"line {i:06d} {PAD}\n".encode() for i in range(TOTAL))
    assert p.returncode == 3, err
    assert out == want
    assert err.decode() == "".join(f"err {i}\n" for i in range(50))
    log = env.agent.log()
    assert log.count("stdio relay: reconnected") == 2, log[-3000:]
    assert "replay_bytes=131072" in log
    ok(env, "delete", cid)


@pytest.mark.parametrize("args", [["--away-ms", "0"], ["--away-ms", "x"], ["-d", "--away-ms", "5"],
                                  ["--away-ms", "700000"]])
def test_away_ms_usage(args):
    p = subprocess.run([GCSCTL, "-d", "/nonexistent-gcsctl-dir", "start", "a"] + args, capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "--away-ms" in p.stderr
