"""Containers start on a root that pivot_root cannot leave (an initramfs)
with hcsshim's exact command line, which never passes -runtime-no-pivot:
gcs passes --no-pivot to every create by default, as upstream's
internal/guest/runtime/runc/runc.go does, and -runtime-no-pivot=false turns
it off. The runtime here is a recording wrapper around the real runc or
crun; the container really runs in both modes (this machine's root is a
real filesystem, where both work)."""
import os
import stat

import pytest

import podlib
from conftest import TARGET, _check_no_leaks, _pod_env
from podlib import Stdio

pytestmark = pytest.mark.skipif(TARGET == "uvm", reason="starts its own local agent with a wrapped runtime")


def recording_runtime(tmp_path, real):
    log = tmp_path / "runtime-argv"
    wrapper = tmp_path / f"rec-{real}"
    wrapper.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$*\" >> {log}\nexec {real} \"$@\"\n")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return str(wrapper), log


def run_one(env, rootfs):
    cid = podlib.new_id("np")
    spec = podlib.standalone_spec(rootfs)
    spec["process"]["args"] = ["/bin/sh", "-c", "echo running; cat /proc/1/cmdline"]
    spec["linux"].pop("seccomp", None)
    assert podlib.create(env.conn, cid, spec, env.bundle(cid))["Result"] == 0
    st = Stdio(env)
    msg = podlib.execute(env.conn, cid, st)
    assert msg["Result"] == 0, msg
    out, _ = st.read_outputs()
    assert podlib.wait(env.conn, cid, msg["ProcessId"])["ExitCode"] == 0
    assert out.startswith(b"running\n"), out
    assert podlib.delete(env.conn, cid)["Result"] == 0
    return cid


@pytest.mark.parametrize("no_pivot_flag, expect", [(None, True), ("-runtime-no-pivot=false", False),
                                                   ("-runtime-no-pivot", True)])
def test_no_pivot_is_the_default(agent_factory, tmp_path, rootfs, runtime, no_pivot_flag, expect):
    if runtime == "crun" and not podlib.shutil.which("crun"):
        pytest.skip("crun not installed")
    wrapper, log = recording_runtime(tmp_path, runtime)
    extra = ["-runtime", wrapper] + ([no_pivot_flag] if no_pivot_flag else [])
    env = _pod_env(agent_factory, tmp_path, runtime, extra)
    try:
        cid = run_one(env, rootfs)
        creates = [ln.split() for ln in log.read_text().splitlines() if " create " in f" {ln} "]
        assert len(creates) == 1, creates
        assert ("--no-pivot" in creates[0]) == expect, creates
        assert creates[0][-1] == cid
        # only create takes it (exec, start, delete have no such flag)
        others = [ln for ln in log.read_text().splitlines() if " create " not in f" {ln} "]
        assert others and not any("--no-pivot" in ln for ln in others)
    finally:
        _check_no_leaks(env)
