"""Pods and containers for black-box tests: a busybox rootfs, OCI specs built
from the fixture specs (tests/fixtures: the kinds hcsshim hosts send),
CreateContainer documents, and checks of what is left on the machine
(cgroups, mounts, directories, runtime state, processes)."""
import copy
import glob
import json
import os
import shutil
import stat
import subprocess
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
# The OCI specs of tests/fixtures/, written by tests/fixtures/gen_specs.py
# (test_fixtures.py checks the files equal its output).
FIXTURES = os.path.join(REPO, "tests", "fixtures")

CT_TYPE = "io.kubernetes.cri.container-type"
SANDBOX_ID = "io.kubernetes.cri.sandbox-id"
VPOD_ID = "io.microsoft.cri.virtual-pod-id"
SKIP_NET = "io.microsoft.cri.skip-pod-networking"

V1_CONTROLLERS = ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids"]
BUSYBOX_APPLETS = ["sh", "sleep", "cat", "echo", "true", "false", "ls", "ps", "id", "stty", "head", "wc", "env",
                   "hostname", "mount", "dd", "md5sum", "sha256sum", "kill", "yes", "printf", "test", "pwd", "touch"]


def make_rootfs(path):
    """A read-only-usable busybox rootfs (root.path must be a real directory)."""
    os.makedirs(os.path.join(path, "bin"), exist_ok=True)
    shutil.copy2("/bin/busybox", os.path.join(path, "bin", "busybox"))
    for a in BUSYBOX_APPLETS:
        link = os.path.join(path, "bin", a)
        if not os.path.lexists(link):
            os.symlink("busybox", link)
    for d in ["proc", "sys", "dev", "etc", "tmp", "run"]:
        os.makedirs(os.path.join(path, d), exist_ok=True)
    for f in ["hostname", "hosts", "resolv.conf"]:
        open(os.path.join(path, "etc", f), "a").close()
    with open(os.path.join(path, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
    with open(os.path.join(path, "etc", "group"), "w") as f:
        f.write("root:x:0:\nnogroup:x:65534:\n")
    return path


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return json.load(f)


def new_id(prefix=""):
    """hcsshim uses 64 hex digits for CRI containers."""
    return (prefix + uuid.uuid4().hex + uuid.uuid4().hex)[:64]


def base_spec(rootfs, args=("/bin/sleep", "1000"), base="lcow-default.json"):
    s = copy.deepcopy(fixture(base))
    s.pop("hooks", None)
    s["root"] = {"path": rootfs, "readonly": True}
    s["process"]["args"] = list(args)
    s["process"]["terminal"] = False
    s["process"].setdefault("cwd", "/")
    s["process"].setdefault("user", {"uid": 0, "gid": 0})
    s.setdefault("linux", {}).setdefault("resources", {})
    s["linux"].pop("cgroupsPath", None)
    # this machine has no /sys/fs/cgroup mount type "cgroup" namespace issues; keep the fixture's mounts
    return s


def sandbox_spec(rootfs, sid, vpid=None, skip_net=True, hostname="", resources=None, netns=None):
    s = base_spec(rootfs)
    ann = {CT_TYPE: "sandbox", SANDBOX_ID: sid}
    if skip_net:
        ann[SKIP_NET] = "true"
    if vpid:
        ann[VPOD_ID] = vpid
    s["annotations"] = ann
    if hostname:
        s["hostname"] = hostname
    if resources is not None:
        s["linux"]["resources"] = resources
    s["windows"] = {"layerFolders": None, "network": {"networkNamespace": netns or str(uuid.uuid4())}}
    return s


def workload_spec(rootfs, sid, vpid=None, mounts=(), args=("/bin/sleep", "1000")):
    s = base_spec(rootfs, args)
    s.pop("hostname", None)
    ann = {CT_TYPE: "container", SANDBOX_ID: sid}
    if vpid:
        ann[VPOD_ID] = vpid
    s["annotations"] = ann
    s["mounts"] += list(mounts)
    s["windows"] = {"layerFolders": None}
    return s


def standalone_spec(rootfs, base="docker-sh.json"):
    s = base_spec(rootfs, ("/bin/sleep", "1000"), base=base)
    s.pop("annotations", None)
    # Docker's own /etc/{hostname,hosts,resolv.conf} files do not exist here:
    # drop those mounts so the agent provides its own (docs/pod-model.md §3.7, standalone)
    s["mounts"] = [m for m in s["mounts"] if not m.get("source", "").startswith("/var/lib/docker")]
    # nor is AppArmor on this machine
    s["process"].pop("apparmorProfile", None)
    return s


def settings(spec, bundle, scratch=""):
    return {"SchemaVersion": {"Major": 2, "Minor": 1}, "OciBundlePath": bundle, "OciSpecification": spec,
            "ScratchDirPath": scratch}


def create(conn, cid, spec, bundle, scratch="", timeout=60):
    doc = settings(spec, bundle, scratch)
    return conn.call("Create", {"ContainerConfig": json.dumps(doc)}, container_id=cid, timeout=timeout)


def delete(conn, cid, timeout=60):
    return conn.call("DeleteContainerState", container_id=cid, timeout=timeout)


def dump(conn):
    msg = conn.call("DumpStacks", container_id="00000000-0000-0000-0000-000000000000")
    assert msg["Result"] == 0, msg
    return msg["GuestStacks"]


# ---- where the agent runs: the host (a local gcs) or a utility VM ----

def _q(path):
    return "'" + path.replace("'", "'\\''") + "'"


class PodEnv:
    """What a pod test gets: the bridge connection (conn), bundle paths it
    expects gone at the end (bundle(), paths), stdio ports (next_port(),
    listen()), and checks of the machine the agent runs on, so the same test
    runs against a local agent (LocalPodEnv) and against gcs in a VM
    (UvmPodEnv, tests/uvm). Subclasses give sh(), listen() and the runtime
    list; everything else is built on sh() with a local shortcut or two."""

    cgroup_root = "/sys/fs/cgroup"

    def __init__(self, conn, runtime):
        self.conn, self.runtime = conn, runtime
        self.paths = []  # directories the test expects gone at the end
        self._version = None

    def bundle(self, cid, layout="v1", pod=None):
        p = f"/run/gcs/c/{cid}" if layout == "v1" else f"/run/gcs/pods/{pod}/{cid}"
        self.paths.append(p)
        return p

    # -- provided by the target --
    def sh(self, script):
        """(exit code, stdout) of `sh -c script` where the agent runs."""
        raise NotImplementedError

    def listen(self, port):
        """A listener for stdio port `port` (accept(timeout) -> Conn, close())."""
        raise NotImplementedError

    def next_port(self):
        raise NotImplementedError

    def runtime_list(self):
        raise NotImplementedError

    def mountinfo(self):
        """[(mount point, line)] in the agent's mount namespace."""
        raise NotImplementedError

    # -- files --
    def read(self, path):
        rc, out = self.sh(f"cat {_q(path)}")
        assert rc == 0, f"cannot read {path}"
        return out

    def exists(self, path):
        return self.sh(f"test -e {_q(path)}")[0] == 0

    def isdir(self, path):
        return self.sh(f"test -d {_q(path)}")[0] == 0

    def isdirs(self, paths):
        """{path: is a directory} in one go."""
        paths = list(paths)
        if not paths:
            return {}
        script = "; ".join(f"test -d {_q(p)} && echo 1 || echo 0" for p in paths)
        rc, out = self.sh(script)
        flags = out.split()
        assert rc == 0 and len(flags) == len(paths), out
        return {p: f == "1" for p, f in zip(paths, flags)}

    def mode(self, path):
        """Permission bits of path."""
        rc, out = self.sh(f"stat -c %a {_q(path)}")
        assert rc == 0, path
        return int(out.strip(), 8)

    def make_file(self, path, text):
        rc, _ = self.sh(f"mkdir -p {_q(os.path.dirname(path))} && printf %s {_q(text)} > {_q(path)}")
        assert rc == 0, path

    # -- cgroups --
    @property
    def cgroup_version(self):
        if self._version is None:  # only a unified root has cgroup.controllers (hybrid has it in /unified)
            self._version = 2 if self.exists(f"{self.cgroup_root}/cgroup.controllers") else 1
        return self._version

    def cgroup_dirs(self, rel):
        """The directory of cgroup `rel` (like /pods/x) in every hierarchy:
        {controller: dir} on v1, {"unified": dir} on v2."""
        if self.cgroup_version == 2:
            return {"unified": f"{self.cgroup_root}{rel}"}
        if not hasattr(self, "_v1"):
            self._v1 = [c for c, d in self.isdirs([f"{self.cgroup_root}/{c}" for c in V1_CONTROLLERS]).items() if d]
            self._v1 = [d.rsplit("/", 1)[1] for d in self._v1]
        return {c: f"{self.cgroup_root}/{c}{rel}" for c in self._v1}

    def cgroup_file(self, ctrl, rel, name):
        """The path of an interface file of cgroup rel (ctrl: its v1 hierarchy)."""
        if self.cgroup_version == 2:
            return f"{self.cgroup_root}{rel}/{name}"
        return f"{self.cgroup_root}/{ctrl}{rel}/{name}"

    def pods_children(self):
        """Cgroups below /pods in any hierarchy (the agent's own /pods excluded)."""
        rc, out = self.sh(f"for d in {self.cgroup_root}/pods {self.cgroup_root}/*/pods; do "
                          "[ -d \"$d\" ] && find \"$d\" -mindepth 1 -type d; done; true")
        return sorted(out.split())

    def mounts_under(self, path):
        return [m for m, _ in self.mountinfo() if m == path or m.startswith(path.rstrip("/") + "/")]

    # -- processes --
    def pids_alive(self, pids):
        """{pid: alive (and not a zombie)}."""
        pids = list(pids)
        rc, out = self.sh("; ".join(f"echo {int(p)} $(cat /proc/{int(p)}/stat 2>/dev/null)" for p in pids))
        alive = {}
        for line in out.splitlines():
            pid, _, st = line.partition(" ")
            alive[int(pid)] = bool(st) and st.split(")")[-1].split()[0] != "Z"
        return alive


class LocalPodEnv(PodEnv):
    """A gcs process on this machine (gcsproto.Agent, transport unix:DIR)."""

    def __init__(self, agent, runtime, rtroot, tmp):
        super().__init__(agent.conn, runtime)
        self.agent, self.rtroot, self.tmp = agent, rtroot, tmp
        self.port = 0x40000000

    def sh(self, script):
        p = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60)
        return p.returncode, p.stdout

    def listen(self, port):
        return _Listener(self.agent.sockdir, port)

    def next_port(self):
        self.port += 1
        return self.port

    def tmpdir(self, name):
        d = os.path.join(str(self.tmp), name)
        os.makedirs(d, exist_ok=True)
        return d

    def read(self, path):
        with open(path) as f:
            return f.read()

    def exists(self, path):
        return os.path.exists(path)

    def isdir(self, path):
        return os.path.isdir(path)

    def isdirs(self, paths):
        return {p: os.path.isdir(p) for p in paths}

    def mode(self, path):
        return stat.S_IMODE(os.stat(path).st_mode)

    def runtime_list(self):
        return runtime_list(self.runtime, self.rtroot) if os.path.isdir(self.rtroot) else []

    def mountinfo(self):
        return mountinfo(self.agent.proc.pid)

    def pids_alive(self, pids):
        return {p: pid_alive(p) for p in pids}


# ---- what is on the machine ----

def cgroup_dirs(rel):
    """Every v1 controller directory for a cgroup path like /pods/x."""
    return {c: f"/sys/fs/cgroup/{c}{rel}" for c in V1_CONTROLLERS if os.path.isdir(f"/sys/fs/cgroup/{c}")}


def pods_children():
    """Cgroups below /pods in any hierarchy (the agent's own /pods excluded)."""
    out = []
    for d in glob.glob("/sys/fs/cgroup/*/pods"):
        for root, dirs, _ in os.walk(d):
            out += [os.path.join(root, x) for x in dirs]
    return sorted(out)


def mountinfo(pid):
    """Mount points in the agent's mount namespace."""
    points = []
    with open(f"/proc/{pid}/mountinfo") as f:
        for line in f:
            parts = line.split()
            points.append((parts[4].encode().decode("unicode_escape"), line))
    return points


def mounts_under(pid, path):
    return [m for m, _ in mountinfo(pid) if m == path or m.startswith(path.rstrip("/") + "/")]


def runtime_list(runtime, root):
    p = subprocess.run([runtime, "--root", root, "list", "-q"], capture_output=True, text=True, timeout=30)
    return [x for x in p.stdout.split() if x]


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def container_pid(dump_text, cid):
    for line in dump_text.splitlines():
        line = line.strip()
        if line.startswith("container " + cid + " "):
            for kv in line.split():
                if kv.startswith("pid="):
                    return int(kv[4:])
    return None


# ---- processes: stdio sockets the way the host offers them ----

import select as _select
import socket as _socket
import threading as _threading

from gcsproto import Listener as _Listener


class Stdio:
    """Listeners on the next stdio ports (the host opens them before
    ExecuteProcess; gcs dials each once), then the connected sockets."""

    def __init__(self, env, stdin=False, stdout=True, stderr=True):
        self.flags = {"CreateStdInPipe": stdin, "CreateStdOutPipe": stdout, "CreateStdErrPipe": stderr}
        self.ports, self.listeners, self.socks = {}, {}, {}
        for name, want in [("StdIn", stdin), ("StdOut", stdout), ("StdErr", stderr)]:
            if want:
                port = env.next_port()
                self.ports[name] = port
                self.listeners[name] = env.listen(port)

    def accept(self, timeout=10):
        for name, lst in self.listeners.items():
            c = lst.accept(timeout)
            self.socks[name] = _socket.socket(fileno=c.rfd)
            lst.close()
        self.listeners = {}

    def send_stdin(self, data, close=True):
        s = self.socks["StdIn"]
        s.sendall(data)
        if close:
            s.shutdown(_socket.SHUT_WR)

    def read_outputs(self, timeout=30):
        """Read stdout and stderr to EOF, then close them (the host's side of
        the close handshake). Returns (stdout, stderr)."""
        out = {k: b"" for k in ("StdOut", "StdErr") if k in self.socks}
        open_ = {self.socks[k]: k for k in out}
        deadline = time.monotonic() + timeout
        while open_:
            left = deadline - time.monotonic()
            assert left > 0, "timed out reading process output"
            r, _, _ = _select.select(list(open_), [], [], left)
            for s in r:
                chunk = s.recv(1 << 20)
                if chunk:
                    out[open_[s]] += chunk
                else:
                    del open_[s]
        for k in out:
            self.socks[k].close()
        return out.get("StdOut", b""), out.get("StdErr", b"")

    def close(self):
        for s in self.socks.values():
            try:
                s.close()
            except OSError:
                pass
        for lst in self.listeners.values():
            lst.close()


import time  # noqa: E402


def execute(conn, cid, stdio, params=None, timeout=60):
    pp = dict(stdio.flags)
    pp.update(params or {})
    msg = conn.call("ExecuteProcess", {"Settings": {"ProcessParameters": json.dumps(pp),
                                                    "VsockStdioRelaySettings": stdio.ports}},
                    container_id=cid, timeout=timeout)
    if msg["Result"] == 0:
        stdio.accept()
    return msg


def wait(conn, cid, pid, timeout_ms=0xFFFFFFFF, timeout=60):
    return conn.call("WaitForProcess", {"ProcessId": pid, "TimeoutInMs": timeout_ms}, container_id=cid,
                     timeout=timeout)


def signal(conn, cid, pid, sig=None):
    payload = {"ProcessId": pid}
    if sig is not None:
        payload["Options"] = {"Signal": sig}
    return conn.call("SignalProcess", payload, container_id=cid)


def properties(conn, cid, *types):
    msg = conn.call("GetProperties", {"Query": json.dumps({"PropertyTypes": list(types)})}, container_id=cid)
    assert msg["Result"] == 0, msg
    assert isinstance(msg["Properties"], str)
    return json.loads(msg["Properties"])
