"""Boot gcs in a real utility VM under QEMU (TCG) and talk to it as the host.

The image is build/uvm/{vmlinuz,initrd.img} (`make uvm`). gcs runs with
`-transport serial:name=gcs-bridge,tcp=10.0.2.2`: its bridge is the
virtio-serial port "gcs-bridge", whose host end is a QEMU chardev that
connects to our unix socket DIR/bridge.sock (QEMU is the client, with
reconnect=1, so we listen first and never poll for a socket to appear).
Stdio ports (later) are TCP connects from the guest to 10.0.2.2:(P -
0x40000000 + 40000), which QEMU user networking turns into connects to
127.0.0.1 of the network namespace QEMU runs in.

When does the guest "dial"? A virtio-serial port drops whatever the host
sends while the guest has not opened it, so the host must not speak first
before gcs has opened the port. QEMU reports each guest open/close of a
port as the QMP event VSERPORT_CHANGE; `wait_dialed()` waits for open=true.
That event is this transport's equivalent of accept() on a vsock listener.

Safety: QEMU runs only inside a fresh network namespace with nothing but
loopback (we create one with `unshare --net` unless this process already is
in one; TCP stdio listeners need the harness itself in that namespace:
`make check-uvm` runs pytest under `unshare --net`), always
under `timeout -s KILL`, and is killed by its pid (QEMU's -pidfile). No
vsock anywhere.
"""
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "system"))
from gcsproto import BRIDGE_PORT, INVALID_STATE, NULL_ID, Conn, TcpListener, build_dir, req_code  # noqa: E402

QEMU = "qemu-system-x86_64"
BRIDGE_PORT_NAME = "gcs-bridge"
# -runtime-no-pivot: the VM's root is the initramfs, which cannot be pivoted away
DEFAULT_GCS_ARGS = ["/bin/gcs", "-v4", "-loglevel", "debug", "-runtime-no-pivot",
                    "-transport", f"serial:name={BRIDGE_PORT_NAME},tcp=10.0.2.2"]
# The floor init in the image (scripts/uvm-image.py INIT_SH): UVM(init=FLOOR_INIT)
FLOOR_INIT = "/init.sh"
# A busybox root.path for containers, in the image (scripts/make-uvm)
ROOTFS = "/rootfs-busybox"
GUEST_ADDR = "10.0.2.15/24"  # QEMU user networking's guest address; the host is 10.0.2.2
STDIO_PORTS = 20000  # stdio ports handed out in turn: 0x40000001 ... (TCP 40001 ...)


def uvm_dir():
    return os.path.abspath(os.path.join(build_dir(), "uvm"))


def missing():
    """Why a VM cannot be booted here, or None."""
    d = uvm_dir()
    for f in ("vmlinuz", "initrd.img"):
        if not os.path.exists(os.path.join(d, f)):
            return f"{d}/{f} not built (make uvm)"
    if not shutil.which(QEMU):
        return f"{QEMU} not installed (scripts/install-uvm-deps)"
    if not shutil.which("unshare"):
        return "unshare not installed"
    return None


def in_empty_netns():
    """True when this process's network namespace has only loopback."""
    return [n for _, n in socket.if_nameindex()] == ["lo"]


class QMP:
    """The smallest QMP client: commands and events over a unix socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.events = []
        self._read_msg(10.0)  # greeting
        self.execute("qmp_capabilities")

    def _read_msg(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                raise TimeoutError("QMP: no message")
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("QMP: QEMU closed the monitor")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def execute(self, cmd, timeout=10.0, **args):
        msg = {"execute": cmd}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            m = self._read_msg(timeout)
            if "event" in m:
                self.events.append(m)
            elif "return" in m or "error" in m:
                return m

    def pending(self):
        """True when an event or unread data is waiting (no blocking)."""
        return bool(self.events) or b"\n" in self.buf or bool(select.select([self.sock], [], [], 0)[0])

    def next_event(self, timeout):
        if self.events:
            return self.events.pop(0)
        return self._read_msg(timeout)

    def event(self, name, pred=lambda data: True, timeout=30.0):
        """The next event called name that satisfies pred; events before it
        are consumed (they are history by then)."""
        deadline = time.monotonic() + timeout
        while True:
            e = self.next_event(max(deadline - time.monotonic(), 0.001))
            if e.get("event") == name and pred(e.get("data", {})):
                return e

    def close(self):
        self.sock.close()


class UVM:
    """One utility VM. Use as a context manager; stop() always kills QEMU."""

    def __init__(self, workdir=None, gcs_args=None, kernel_args="", memory=1024, cpus=2, timeout=120, init=None,
                 extra_args=(), kernel="vmlinuz"):
        """init: the image's init to boot with (rdinit=); None is /init, our
        gcs-init. FLOOR_INIT is the busybox sh floor, after which gcs is PID 1
        and nothing powers off: stop() (QEMU killed by its pid) ends it.
        extra_args: more QEMU arguments (devices: nvdimm, disks); memory may
        be a QEMU -m value such as "1024,slots=2,maxmem=4G". kernel: the
        image's kernel file ("vmlinuz-generic": the generic kernel, with 9P)."""
        self.own_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="gcs-uvm-")
        self.console_path = os.path.join(self.dir, "console.log")
        self.pidfile = os.path.join(self.dir, "qemu.pid")
        self.gcs_args = list(gcs_args or DEFAULT_GCS_ARGS)
        self.kernel_args = kernel_args
        self.init = init
        self.memory, self.cpus, self.timeout = memory, cpus, timeout
        self.extra_args = list(extra_args)
        self.kernel = kernel
        self.proc = None
        self.qmp = None
        self.conn = None
        self.t_start = None
        self._listeners = {}
        self._port = 0

    # -- command line --

    def cmdline(self):
        d = uvm_dir()
        rdinit = f"rdinit={self.init}" if self.init else ""
        append = " ".join(filter(None, ["console=ttyS0 quiet panic=-1", rdinit, self.kernel_args, "--"]
                                 + self.gcs_args))
        return [
            QEMU, "-M", "q35", "-cpu", "max", "-m", str(self.memory), "-smp", str(self.cpus),
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-pidfile", self.pidfile,
            "-kernel", os.path.join(d, self.kernel), "-initrd", os.path.join(d, "initrd.img"),
            "-append", append,
            "-serial", "file:" + self.console_path,
            "-chardev", f"socket,id=qmp,path={self.dir}/qmp.sock,reconnect=1",
            "-mon", "chardev=qmp,mode=control",
            "-device", "virtio-serial-pci",
            "-chardev", f"socket,id=br,path={self.dir}/bridge.sock,reconnect=1",
            "-device", f"virtserialport,chardev=br,name={BRIDGE_PORT_NAME},id=gcsbr",
            # guest -> 10.0.2.2:P reaches 127.0.0.1:P of QEMU's (empty) netns
            "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0",
        ] + self.extra_args

    def _listen(self, name):
        path = os.path.join(self.dir, name)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        s.listen(4)
        self._listeners[name] = s
        return s

    def _accept(self, name, timeout):
        s = self._listeners[name]
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"QEMU did not connect to {name}; console:\n{self.console()[-3000:]}")
            if select.select([s], [], [], min(left, 0.5))[0]:
                c, _ = s.accept()
                return c
            if self.proc.poll() is not None:
                raise RuntimeError(f"QEMU exited with {self.proc.returncode}; console:\n{self.console()[-3000:]}")

    # -- lifecycle --

    def start(self):
        why = missing()
        if why:
            raise RuntimeError(why)
        self._listen("qmp.sock")
        self._listen("bridge.sock")
        cmd = ["timeout", "-s", "KILL", str(self.timeout)] + self.cmdline()
        if not in_empty_netns():
            cmd = ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"] + cmd
        self.t_start = time.monotonic()
        with open(os.path.join(self.dir, "qemu.out"), "wb") as out:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.qmp = QMP(self._accept("qmp.sock", 30))
        return self

    def connect(self, timeout=60.0):
        """Accept QEMU's bridge chardev connection (a gcsproto.Conn); then
        negotiate() once gcs has opened its end."""
        s = self._accept("bridge.sock", timeout)
        fd = s.detach()
        self.conn = Conn(fd, fd)
        return self.conn

    def wait_dialed(self, timeout=60.0):
        try:
            self.qmp.event("VSERPORT_CHANGE", lambda d: d.get("id") == "gcsbr" and d.get("open"), timeout)
        except TimeoutError:
            raise TimeoutError(f"gcs did not open its bridge port; console:\n{self.console()[-3000:]}")

    def negotiate(self, timeout=60.0):
        """NegotiateProtocol on the current bridge connection, robust to
        gcs's failed dials: while QEMU's chardev was disconnected, each
        100 ms re-dial opens and closes the port (an open event, then a close
        event). So: wait for an open, send; if a close comes before the
        answer, that open was a failed dial: wait for the next open and send
        again. A request that QEMU held back and delivers late makes gcs
        answer twice (the second is E_NOTIMPL: already negotiated); the
        success is what counts."""
        deadline = time.monotonic() + timeout
        body = {"ContainerId": "", "ActivityId": NULL_ID, "MinimumVersion": 4, "MaximumVersion": 4}
        code = req_code("NegotiateProtocol")
        self.wait_dialed(timeout)
        sent = {self.conn.send(code, body)}
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no NegotiateProtocol answer; console:\n{self.console()[-3000:]}")
            if not self.conn.buf and not self.qmp.pending():
                select.select([self.conn.rfd, self.qmp.sock], [], [], left)
            if self.qmp.pending():
                e = self.qmp.next_event(left)
                if e.get("event") == "VSERPORT_CHANGE" and e["data"].get("id") == "gcsbr" and not e["data"]["open"]:
                    self.wait_dialed(max(deadline - time.monotonic(), 0.001))
                    sent.add(self.conn.send(code, body))
                continue
            if self.conn.buf or select.select([self.conn.rfd], [], [], 0)[0]:
                type_, id_, payload = self.conn.recv_raw(max(deadline - time.monotonic(), 0.001))
                msg = json.loads(payload)
                if id_ in sent and msg.get("Result") == 0:
                    return msg

    def boot(self, timeout=60.0):
        """start + connect + negotiate; returns self."""
        if not self.proc:
            self.start()
        self.connect(timeout)
        self.negotiate(timeout)
        self.network_up()
        return self

    def network_up(self):
        """Give the VM's NIC QEMU user networking's default guest address so
        gcs can dial stdio to 10.0.2.2 (init brings up only loopback; in
        hcsshim the host configures the network over the bridge too). A UVM
        process without stdio: its exit code is all we need."""
        script = f"ip addr add {GUEST_ADDR} dev eth0 && ip link set eth0 up"
        params = {"CommandArgs": ["/bin/sh", "-c", script], "WorkingDirectory": "/"}
        msg = self.conn.call("ExecuteProcess", {"Settings": {"ProcessParameters": json.dumps(params),
                                                             "VsockStdioRelaySettings": {}}}, container_id=NULL_ID)
        if msg["Result"] != 0:
            raise RuntimeError(f"network_up: {msg}")
        w = self.conn.call("WaitForProcess", {"ProcessId": msg["ProcessId"], "TimeoutInMs": 30000},
                           container_id=NULL_ID, timeout=35)
        if w.get("Result") != 0 or w.get("ExitCode") != 0:
            raise RuntimeError(f"network_up: {script}: {w}; console:\n{self.console()[-2000:]}")

    # -- processes in the VM (over the bridge, stdio over TCP) --

    def next_port(self):
        """The next stdio port (the harness must listen on it before the
        ExecuteProcess that names it). Ports come round again after
        STDIO_PORTS; by then their listeners are long closed."""
        self._port = self._port % STDIO_PORTS + 1
        return BRIDGE_PORT + self._port

    def exec(self, args, timeout=60.0):
        """Run args (argv) as a UVM process through the bridge (gcs's own
        namespaces: this is what init and gcs left in the VM). Returns
        (exit code, stdout, stderr) as bytes."""
        ports = {"StdOut": self.next_port(), "StdErr": self.next_port()}
        listeners = {k: TcpListener(p) for k, p in ports.items()}
        try:
            params = {"CommandArgs": list(args), "CreateStdOutPipe": True, "CreateStdErrPipe": True,
                      "WorkingDirectory": "/"}
            msg = self.conn.call("ExecuteProcess", {"Settings": {"ProcessParameters": json.dumps(params),
                                                                 "VsockStdioRelaySettings": ports}},
                                 container_id=NULL_ID, timeout=timeout)
            if msg["Result"] != 0:
                raise RuntimeError(f"exec {args}: {msg}")
            socks = {k: socket.socket(fileno=lst.accept(timeout).rfd) for k, lst in listeners.items()}
        finally:
            for lst in listeners.values():
                lst.close()
        out = {k: b"" for k in socks}
        open_ = {s: k for k, s in socks.items()}
        deadline = time.monotonic() + timeout
        try:
            while open_:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"exec {args}: no EOF on its output")
                for sk in select.select(list(open_), [], [], left)[0]:
                    chunk = sk.recv(1 << 20)
                    if chunk:
                        out[open_[sk]] += chunk
                    else:
                        del open_[sk]
        finally:
            for sk in socks.values():
                sk.close()
        w = self.conn.call("WaitForProcess", {"ProcessId": msg["ProcessId"], "TimeoutInMs": int(timeout * 1000)},
                           container_id=NULL_ID, timeout=timeout + 5)
        if w["Result"] != 0:
            raise RuntimeError(f"exec {args}: wait: {w}")
        return w["ExitCode"], out["StdOut"], out["StdErr"]

    def sh(self, script, timeout=60.0):
        """(exit code, stdout as str) of `sh -c script` in the VM."""
        rc, out, _ = self.exec(["/bin/sh", "-c", script], timeout)
        return rc, out.decode(errors="replace")

    def shutdown(self, timeout=60.0):
        """ctrl-alt-del: init asks gcs to exit and powers off. Returns
        (QEMU exit code, gcs's exit status from init's log line or None)."""
        if self.conn:
            self.conn.close()
            self.conn = None
        self.ctrl_alt_del()
        rc = self.wait_exit(timeout)
        m = re.search(r"^gcs-init: gcs exited with status (\d+)", self.console(), re.M)
        return rc, int(m.group(1)) if m else None

    def wait_closed_port(self, timeout=30.0):
        self.qmp.event("VSERPORT_CHANGE", lambda d: d.get("id") == "gcsbr" and not d.get("open"), timeout)

    def ctrl_alt_del(self):
        keys = [{"type": "qcode", "data": k} for k in ("ctrl", "alt", "delete")]
        return self.qmp.execute("send-key", keys=keys)

    def wait_exit(self, timeout=60.0):
        """Wait for QEMU to exit by itself (the guest powered off)."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def console(self):
        try:
            with open(self.console_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def qemu_pid(self):
        """QEMU's pid from its -pidfile, or None if it is gone."""
        try:
            with open(self.pidfile) as f:
                pid = int(f.read().strip())
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read()
            # the pid is ours only if it is QEMU with our pidfile (no reuse)
            return pid if self.pidfile.encode() in argv else None
        except (OSError, ValueError):
            return None

    def stop(self):
        if self.conn:
            self.conn.close()
            self.conn = None
        if self.qmp:
            self.qmp.close()
            self.qmp = None
        if self.proc and self.proc.poll() is None:
            pid = self.qemu_pid()
            if pid:
                os.kill(pid, signal.SIGKILL)
            # unshare -> sh -> timeout exec in turn: one pid, which leads the
            # process group QEMU is in (timeout makes its own, same id).
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        for s in self._listeners.values():
            s.close()
        self._listeners.clear()

    def cleanup(self):
        self.stop()
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()


# ---- the black-box pod tests against gcs in this VM (tests/system) ----

import podlib  # noqa: E402


class UvmPodEnv(podlib.PodEnv):
    """podlib.PodEnv for gcs inside a VM: stdio over TCP listeners, checks
    run as UVM processes (gcs's own namespaces: its mount table, the VM's
    cgroups and files). The runtime keeps its default state directory."""

    def __init__(self, vm, runtime):
        super().__init__(vm.conn, runtime)
        self.vm = vm
        self._tmps = []

    def sh(self, script):
        return self.vm.sh(script)

    def listen(self, port):
        return TcpListener(port)

    def next_port(self):
        return self.vm.next_port()

    def tmpdir(self, name):
        d = f"/tmp/t-{os.urandom(6).hex()}/{name}"
        rc, _ = self.sh(f"mkdir -p {d}")
        assert rc == 0
        self._tmps.append(d.rsplit("/", 1)[0])
        return d

    def runtime_list(self):
        rc, out = self.sh(f"{self.runtime} list -q")
        return [x for x in out.split() if x]

    def mountinfo(self):
        rc, out = self.sh("cat /proc/self/mountinfo")
        assert rc == 0
        return [(line.split()[4].encode().decode("unicode_escape"), line) for line in out.splitlines()]

    def leaks(self):
        """What a test left in the VM (the agent keeps running: nothing may
        remain once every container is deleted). Cleans its temp dirs."""
        left = [f"runtime container {c}" for c in self.runtime_list()]
        left += [f"cgroup {d}" for d in self.pods_children()]
        left += [f"mount {m}" for m in self.mounts_under("/run/gcs")]
        left += [f"path {p}" for p, there in self.isdirs(self.paths).items() if there]
        d = podlib.dump(self.conn)
        if "containers: 0" not in d:
            left.append("containers in the agent: " + d[:200])
        if self._tmps:
            self.sh("rm -rf " + " ".join(self._tmps))
        if left:
            self.cleanup()
        return left

    def cleanup(self):
        """After a failed test: take down what the runtime still holds
        through the bridge, so later tests in this VM start clean."""
        for cid in self.runtime_list():
            self.conn.call("ShutdownForced", container_id=cid, timeout=30)
            for _ in range(50):
                if self.conn.call("DeleteContainerState", container_id=cid, timeout=30)["Result"] != \
                        INVALID_STATE:
                    break
                time.sleep(0.1)  # not synchronisation of a test: a best-effort cleanup retry
        self.conn.notifications.clear()
        self.conn.stash.clear()
