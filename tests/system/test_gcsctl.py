"""gcsctl against the real gcs with runc: every gcsctl run is one bridge
connection, so the agent here is started without a Python listener and the
test never holds a connection of its own."""
import json
import os
import shutil
import signal
import subprocess

import pytest

import podlib
from conftest import PodEnv, _check_no_leaks
from gcsproto import build_dir, gcs_binary

pytestmark = pytest.mark.skipif(os.environ.get("GCS_TEST_TARGET", "local") == "uvm",
                                reason="host-only: gcsctl talks to a local agent's unix transport")

GCSCTL = os.path.abspath(os.path.join(build_dir(), "gcsctl"))


class BareAgent:
    """gcs dialing unix:DIR with nobody listening yet (gcsctl listens per run)."""

    def __init__(self, tmpdir, args):
        self.tmpdir = str(tmpdir)
        self.sockdir = os.path.join(self.tmpdir, "host")
        os.makedirs(self.sockdir, exist_ok=True)
        self.logpath = os.path.join(self.tmpdir, "gcs.log")
        cmd = ["unshare", "--mount", "--propagation", "private", "--", gcs_binary(), "-v4", "-loglevel", "debug",
               "-logfile", self.logpath, "-transport", "unix:" + self.sockdir] + list(args)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        self.conn = None

    def log(self):
        try:
            with open(self.logpath) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop(self, timeout=10.0):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture
def ctl_env(tmp_path):
    rtroot = str(tmp_path / "rtstate")
    agent = BareAgent(tmp_path / "agent", ["-runtime", "runc", "-runtime-root", rtroot])
    env = PodEnv(agent, "runc", rtroot, tmp_path)
    try:
        yield env
    finally:
        rc = agent.stop()
        _check_no_leaks(env)
        assert rc in (0, -15, 143), f"gcs exited with {rc}; log:\n{agent.log()[-4000:]}"
        assert "ERROR: AddressSanitizer" not in agent.log()


def gcsctl(env, *args, stdin=None, timeout=60):
    sockdir = env.agent.sockdir if env else "/nonexistent-gcsctl-dir"
    p = subprocess.run([GCSCTL, "-d", sockdir, "-t", "20"] + [str(a) for a in args], input=stdin,
                       capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def ok(env, *args, **kw):
    rc, out, err = gcsctl(env, *args, **kw)
    assert rc == 0, (args, rc, out, err)
    return out


def listing(env):
    return json.loads(ok(env, "list", "--json"))


def test_make_rootfs(tmp_path):
    d = tmp_path / "rfs"
    rc, out, err = gcsctl(None, "make-rootfs", d)
    assert rc == 0, err
    assert os.access(d / "bin" / "busybox", os.X_OK)
    for a in ["sh", "sleep", "cat", "echo", "true", "ls", "ps", "id", "stty", "head", "env", "hostname"]:
        assert os.readlink(d / "bin" / a) == "busybox", a
    assert (d / "etc" / "passwd").read_text().startswith("root:x:0:0:")
    assert (d / "etc" / "group").read_text().startswith("root:x:0:")
    for f in ["hostname", "hosts", "resolv.conf"]:
        assert (d / "etc" / f).read_text() == ""
    for sub in ["proc", "sys", "dev", "tmp"]:
        assert (d / sub).is_dir()
    # a second run over the same directory is fine
    assert gcsctl(None, "make-rootfs", d)[0] == 0
    out = subprocess.run(["chroot", str(d), "/bin/sh", "-c", "echo hi; id -u"], capture_output=True, text=True)
    assert out.stdout == "hi\n0\n"


def test_every_kind_through_gcsctl(ctl_env, tmp_path):
    env = ctl_env
    rootfs = str(tmp_path / "rootfs")
    ok(None, "make-rootfs", rootfs)
    S, W, X = podlib.new_id("a1"), podlib.new_id("a2"), podlib.new_id("a3")
    V, VW = podlib.new_id("b1"), podlib.new_id("b2")
    for cid in [S, W, X, V, VW]:
        env.bundle(cid)
    env.paths.append(f"/run/gcs/c/virtual-pods/{V}")

    assert ok(env, "create", S, "--kind", "sandbox", "--rootfs", rootfs, "--hostname", "pod1",
              "--memory", "64m") == S + "\n"
    ok(env, "create", W, "--kind", "workload", "--sandbox", S, "--rootfs", rootfs, "--", "/bin/sleep", "777")
    ok(env, "create", X, "--kind", "standalone", "--rootfs", rootfs)
    ok(env, "create", V, "--kind", "sandbox", "--vpid", V, "--rootfs", rootfs)
    ok(env, "create", VW, "--kind", "workload", "--vpid", V, "--rootfs", rootfs)

    # what the agent made of the flags
    assert open(f"/sys/fs/cgroup/memory/pods/{S}/memory.limit_in_bytes").read().strip() == str(64 << 20)
    assert open(f"/run/gcs/c/{S}/hostname").read() == "pod1\n"
    cfg = json.load(open(f"/run/gcs/c/{W}/config.json"))
    assert cfg["process"]["args"] == ["/bin/sleep", "777"]
    assert cfg["root"] == {"path": rootfs, "readonly": True}
    assert cfg["linux"]["cgroupsPath"] == f"/pods/{S}/{W}"
    assert {n["type"] for n in cfg["linux"]["namespaces"]} >= {"pid", "ipc", "uts", "mount"}
    scfg = json.load(open(f"/run/gcs/c/{S}/config.json"))
    assert scfg["annotations"][podlib.SKIP_NET] == "true"
    assert scfg["process"]["args"][0] == "/bin/sh"  # busybox sleep takes no "infinity"

    lst = listing(env)
    kinds = {c["id"]: (c["kind"], c["pod"], c["state"]) for c in lst["containers"]}
    assert kinds == {S: ("sandbox", S, "created"), W: ("workload", S, "created"), X: ("standalone", X, "created"),
                     V: ("virtual-pod sandbox", V, "created"), VW: ("virtual-pod workload", V, "created")}
    pods = {p["id"]: p for p in lst["pods"]}
    assert set(pods) == {S, V}
    assert pods[S]["members"] == 2 and pods[S]["cgroup"] == f"/pods/{S}" and pods[S]["root"] == f"/run/gcs/c/{S}"
    assert pods[V]["root"] == f"/run/gcs/c/virtual-pods/{V}" and pods[V]["sandbox_deleted"] is False
    for c in lst["containers"]:
        assert podlib.pid_alive(c["pid"]), c
        assert c["bundle"] == f"/run/gcs/c/{c['id']}"

    table = ok(env, "list")
    rows = {line.split()[0]: line for line in table.splitlines() if line.strip()}
    assert "virtual-pod workload" in rows[VW] and f"/run/gcs/c/{VW}" in rows[VW]
    assert rows[W].split()[1:4] == ["workload", "created", S]
    assert rows["POD"].split() == ["POD", "MEMBERS", "CGROUP", "ROOT", "SANDBOX"]

    # duplicate ID: a failed request, the agent's message and HRESULT on stderr
    rc, out, err = gcsctl(env, "create", X, "--kind", "standalone", "--rootfs", rootfs)
    assert rc == 1 and out == ""
    assert f"container {X} already exists" in err and "0xc037010f" in err, err

    for cid in [W, S, VW, V, X]:
        assert ok(env, "delete", cid) == cid + "\n"
    rc, _, err = gcsctl(env, "delete", S)
    assert rc == 1 and "0xc037010e" in err, err
    assert listing(env) == {"pods": [], "containers": []}
    d = ok(env, "dump")
    assert "pods: 0" in d and "containers: 0" in d and "runtime: runc invocations=" in d


def test_create_from_settings(ctl_env, rootfs, tmp_path):
    env = ctl_env
    X, Y = podlib.new_id("c1"), podlib.new_id("c2")
    f = tmp_path / "x.json"
    f.write_text(json.dumps(podlib.settings(podlib.standalone_spec(rootfs), env.bundle(X))))
    ok(env, "create", X, "--settings", f)
    doc = json.dumps(podlib.settings(podlib.standalone_spec(rootfs), env.bundle(Y)))
    ok(env, "create", Y, "--settings", "-", stdin=doc)
    assert sorted(c["id"] for c in listing(env)["containers"]) == sorted([X, Y])
    assert sorted(podlib.runtime_list("runc", env.rtroot)) == sorted([X, Y])
    # a spec the agent refuses: exit code 1 with the agent's message
    bad = podlib.settings(podlib.workload_spec(rootfs, "no-such-pod"), "/run/gcs/c/" + podlib.new_id())
    rc, _, err = gcsctl(env, "create", podlib.new_id("c3"), "--settings", "-", stdin=json.dumps(bad))
    assert rc == 1 and "pod no-such-pod does not exist" in err and "HRESULT 0x" in err, err
    # not JSON: refused before anything is sent
    rc, _, err = gcsctl(env, "create", podlib.new_id("c4"), "--settings", "-", stdin="{not json")
    assert rc == 1 and err
    ok(env, "delete", X)
    ok(env, "delete", Y)
    assert listing(env)["containers"] == []


@pytest.mark.parametrize("args", [
    [], ["bogus"], ["create"], ["create", "x"], ["create", "x", "--kind", "pod", "--rootfs", "/"],
    ["create", "x", "--kind", "sandbox"], ["create", "x", "--kind", "workload", "--rootfs", "/"],
    ["create", "x", "--kind", "sandbox", "--vpid", "y", "--rootfs", "/"],
    ["create", "x", "--settings", "f", "--kind", "sandbox"], ["create", "x", "--memory", "lots"],
    ["create", "x", "y", "--kind", "standalone", "--rootfs", "/"], ["delete"], ["delete", "a", "b"],
    ["list", "extra"], ["list", "--yaml"], ["dump", "x"], ["raw", "NoSuchMessage", "{}"], ["make-rootfs"],
])
def test_usage_errors_exit_2_without_waiting_for_an_agent(args):
    rc, out, err = gcsctl(None, *args, timeout=10)
    assert rc == 2, (args, rc, out, err)
    assert "usage:" in err


def test_help():
    rc, out, _ = gcsctl(None, "help")
    assert rc == 0
    for cmd in ["create", "delete", "list", "dump", "make-rootfs", "negotiate", "raw"]:
        assert f"gcsctl {cmd}" in out, cmd
    for args in [["create", "--help"], ["help", "create"]]:
        rc, out, _ = gcsctl(None, *args)
        assert rc == 0 and out.startswith("usage: gcsctl create ID") and "--skip-networking" in out
    rc, out, _ = gcsctl(None, "list", "-h")
    assert rc == 0 and "--json" in out


def test_unreachable_agent_is_a_failure_not_usage(tmp_path):
    p = subprocess.run([GCSCTL, "-d", str(tmp_path), "-t", "1", "list"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 1 and "no agent dialed in" in p.stderr


def test_modify_by_hand(ctl_env, tmp_path):
    """gcsctl modify: a rootfs overlay mounted and removed through
    CombinedLayers, a resource not implemented yet, and a refused target."""
    env = ctl_env
    rootfs = str(tmp_path / "rootfs")
    ok(None, "make-rootfs", rootfs)
    cid = podlib.new_id("a7")
    bundle = env.bundle(cid)
    settings = json.dumps({"ContainerRootPath": f"{bundle}/rootfs", "Layers": [{"Path": rootfs}],
                           "ScratchPath": f"{bundle}/scratch"})
    ok(env, "modify", "--settings", settings, "CombinedLayers")
    assert "uvm processes: 0" in ok(env, "dump")  # the agent answers between requests
    path = tmp_path / "remove.json"
    path.write_text(json.dumps({"ContainerRootPath": f"{bundle}/rootfs"}))
    ok(env, "modify", "--settings", f"@{path}", "CombinedLayers", "Remove")
    log = env.agent.log()
    assert 0 <= log.find("container rootfs mounted") < log.find("container rootfs removed"), log[-2000:]
    rc, out, err = gcsctl(env, "modify", "--settings", "{}", "SecurityPolicy")
    assert rc == 1 and "0x80004001" in err and "SecurityPolicy" in err, err
    rc, out, err = gcsctl(env, "modify", "--container", podlib.new_id("zz"), "ContainerConstraints", "Update")
    assert rc == 1 and "0xc037010e" in err.lower(), err
    rc, out, err = gcsctl(env, "modify", "--settings", "{bad", "CombinedLayers")
    assert rc == 2 and "not JSON" in err, err
    shutil.rmtree(bundle)  # the host's directories (scratch and rootfs mount point)


def test_pmem_and_plan9_by_hand(tmp_path):
    """gcsctl pmem attaches a layer (a loop device standing in for
    /dev/pmem0 under -dev-root) and detaches it; gcsctl plan9 builds the
    MappedDirectory upstream sends (the mount itself needs 9p: the VM)."""
    from test_vpmem import Loops, make_ext4, mknod_like
    if not shutil.which("mkfs.ext4"):
        pytest.skip("mkfs.ext4 not installed")
    devroot = tmp_path / "dev"
    devroot.mkdir()
    rtroot = str(tmp_path / "rtstate")
    agent = BareAgent(tmp_path / "agent", ["-runtime", "runc", "-runtime-root", rtroot, "-dev-root", str(devroot)])
    env = PodEnv(agent, "runc", rtroot, tmp_path)
    loops = Loops()
    existed = os.path.isdir("/run/layers")
    try:
        img = make_ext4(str(tmp_path / "layer.ext4"), {"hello": "by hand\n"})
        mknod_like(loops.attach(img), str(devroot / "pmem0"))
        env.paths.append("/run/layers/p0")
        ok(env, "pmem", "add", "0", "/run/layers/p0")
        assert [m for m, _ in env.mountinfo() if m == "/run/layers/p0"]
        rc, out, err = gcsctl(env, "pmem", "add", "0", "/run/layers/p0")
        assert rc == 1 and "already mounted" in err, (rc, err)
        ok(env, "pmem", "remove", "0", "/run/layers/p0")
        assert not os.path.exists("/run/layers/p0")
        # mapped: needs device-mapper, which this kernel lacks: a clear error
        rc, out, err = gcsctl(env, "pmem", "add", "--size", "4096", "0", "/run/layers/p0-0-4096")
        assert rc == 1 and "device-mapper" in err, (rc, err)
        rc, out, err = gcsctl(env, "pmem", "add", "--offset", "4096", "0", "/run/layers/p0-4096-0")
        assert rc == 2 and "--offset needs --size" in err, err
        rc, out, err = gcsctl(env, "plan9", "add", "--port", "564", "/run/mounts/plan9/1", "1")
        assert rc == 1 and "could not connect to plan9 server" in err, (rc, err)
        ok(env, "plan9", "remove", "/run/mounts/plan9/1")
        rc, out, err = gcsctl(env, "plan9", "attach", "/x")
        assert rc == 2, err
    finally:
        rc = agent.stop()
        loops.detach_all()
        _check_no_leaks(env)
        for d in ("/run/mounts/plan9", "/run/mounts") + (() if existed else ("/run/layers",)):
            try:
                os.rmdir(d)
            except OSError:
                pass
        assert rc in (0, -15, 143), f"gcs exited with {rc}; log:\n{agent.log()[-4000:]}"
