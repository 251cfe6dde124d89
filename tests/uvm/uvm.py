"""Boot gcs in a real utility VM under QEMU (TCG) and talk to it as the host.

The image is build/uvm/{kernel,initrd.img} (`make uvm`). The VM boots with
the kernel command line an unmodified hcsshim host gives it (hcsshim
internal/uvm/create_lcow.go; `hcsshim_cmdline()` below), plus one kernel
parameter, gcs.devtransport=serial:name=gcs-bridge,tcp=10.0.2.2,ip=10.0.2.15/24,
that maps the host's vsock ports onto what QEMU has (src/transport/transport.h):
the bridge is the virtio-serial port "gcs-bridge", whose host end is a QEMU
chardev that connects to our unix socket DIR/bridge.sock (QEMU is the client,
with reconnect=1, so we listen first and never poll for a socket to appear);
every other port P is a TCP connect from the guest to 10.0.2.2 (port 30000+P
for P < 10000: entropy 1 -> 30001, log 109 -> 30109; 40000+(P-0x40000000)
for stdio), which QEMU user networking turns into a connect to 127.0.0.1 of
the network namespace QEMU runs in.

The harness plays hcsshim's host side (internal/uvm/start.go): before QEMU
starts it listens on the entropy and log ports; it writes 512 random bytes to
the first entropy connection and closes it; it reads the log stream for the
VM's life and decodes it as internal/vm/vmutils/gcs_logs.go does (a stream
of JSON objects: `LogStream`; every decode error is kept in
`UVM.log.errors`, and tests fail on any); it talks to the bridge only after
both (`boot()`).

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
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "system"))
from gcsproto import BRIDGE_PORT, INVALID_STATE, NULL_ID, Conn, TcpListener, build_dir, req_code  # noqa: E402

QEMU = "qemu-system-x86_64"
BRIDGE_PORT_NAME = "gcs-bridge"
GUEST_ADDR = "10.0.2.15/24"  # QEMU user networking's guest address; the host is 10.0.2.2
# The one development mapping (src/transport/transport.h), selected by this
# kernel parameter only; everything else on the command line is hcsshim's.
DEV_TRANSPORT = f"gcs.devtransport=serial:name={BRIDGE_PORT_NAME},tcp=10.0.2.2,ip={GUEST_ADDR}"
ENTROPY_PORT, LOG_PORT = 1, 109  # hcsshim internal/vmutils/constants.go
ENTROPY_BYTES = 512
# hcsshim's exec command line for gcs (create_lcow.go; log level debug)
HCSSHIM_GCS_ARGS = ["/bin/gcs", "-v4", "-log-format", "json", "-loglevel", "debug"]
HCSSHIM_VSOCKEXEC_ARGS = ["-e", str(LOG_PORT)]  # ForwardStderr; ["-o", "109", "-e", "109"] with ForwardStdout
HCSSHIM_INIT_ARGS = ["-e", str(ENTROPY_PORT)]


def _no_pivot_needed():
    """The VM's root is the initramfs, where pivot_root fails: runc needs
    --no-pivot, which hcsshim never asks for (upstream gcs passes it
    always). When this build of gcs does not pass it by default, the harness
    appends -runtime-no-pivot (the extra-exec-args annotation of a host
    could); once gcs defaults to it the command line is hcsshim's exactly."""
    try:
        out = subprocess.run([os.path.join(build_dir(), "gcs"), "-h"], capture_output=True, text=True,
                             timeout=10).stderr
    except (OSError, subprocess.TimeoutExpired):
        return True
    m = re.search(r"^  -runtime-no-pivot\n(.*)$", out, re.M)
    return bool(m) and "(default true)" not in m.group(1)


# gcs's argv: hcsshim's, plus -runtime-no-pivot while gcs needs it (above).
DEFAULT_GCS_ARGS = HCSSHIM_GCS_ARGS + (["-runtime-no-pivot"] if _no_pivot_needed() else [])
# The floor init in the image (scripts/uvm-image.py INIT_SH): UVM(init=FLOOR_INIT)
FLOOR_INIT = "/init.sh"
# A busybox root.path for containers, in the image (scripts/make-uvm)
ROOTFS = "/rootfs-busybox"
STDIO_PORTS = 20000  # stdio ports handed out in turn: 0x40000001 ... (TCP 40001 ...)
_last_stdio_port = 0  # UVM.next_port: one sequence for the whole process
_stdio_port_lock = threading.Lock()
LOGRUS_LEVELS = {"panic", "fatal", "error", "warn", "warning", "info", "debug", "trace"}
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def small_port_tcp(port):
    """The development mapping of a small vsock port (1..9999)."""
    assert 1 <= port <= 9999
    return 30000 + port


def hcsshim_cmdline(cpus, init_args=None, vsockexec_args=None, gcs_args=None, boot_options="", console=False):
    """The kernel command line of an hcsshim host booting an initrd with
    KernelDirect (create_lcow.go makeLCOWDoc), in its order:
    initcall_blacklist, the UART choice (none; or hcsshim's console-pipe
    variant, which also drops "panic=-1 quiet"), the KernelBootOptions
    annotation (boot_options: where the development mapping and
    hcsshim.cgroup=v1 go), no pci=off (the VPCI-enabled variant: QEMU's
    devices are PCI), nr_cpus, brd.rd_nr=0 pmtmr=0, then -- and init's argv."""
    parts = ["initcall_blacklist=virtio_vsock_init"]
    if console:
        parts += ["8250_core.nr_uarts=1", "8250_core.skip_txen_test=1", "console=ttyS0,115200"]
    else:
        parts += ["8250_core.nr_uarts=0", "panic=-1", "quiet"]
    if boot_options:
        parts.append(boot_options)
    parts += [f"nr_cpus={cpus}", "brd.rd_nr=0", "pmtmr=0", "--"]
    parts += list(HCSSHIM_INIT_ARGS if init_args is None else init_args) + ["/bin/vsockexec"]
    parts += list(HCSSHIM_VSOCKEXEC_ARGS if vsockexec_args is None else vsockexec_args)
    parts += list(DEFAULT_GCS_ARGS if gcs_args is None else gcs_args)
    return " ".join(parts)


def _close_listener(s):
    """Close a listening socket another thread may be blocked in accept() on:
    shutdown() wakes that accept (close() alone would leave the port bound
    until it returns)."""
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    s.close()


class LogStream:
    """The host's reader of the log port: a stream of JSON objects decoded one
    after another, each an object whose `time` (if present) is RFC3339,
    `level` a logrus level and `msg` a string (gcs_logs.go's GCSLogEntry).
    Anything else is a decode error: kept in .errors (upstream stops parsing
    for the VM's life at the first). Accepts again after a hang-up, when
    `reaccept` (vsockexec -r re-dials)."""

    def __init__(self, port, reaccept=False):
        self.lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lst.bind(("127.0.0.1", small_port_tcp(port)))
        self.lst.listen(4)
        self.reaccept = reaccept
        self.entries, self.errors = [], []
        self.connections = 0
        self.bytes = 0
        self.conn = None
        self.cond = threading.Condition()
        self.closed = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _decode(self, text):
        dec = json.JSONDecoder()
        i, n = 0, len(text)
        while True:
            while i < n and text[i] in " \t\r\n":
                i += 1
            if i >= n:
                return
            try:
                obj, i = dec.raw_decode(text, i)
            except json.JSONDecodeError as e:
                self.errors.append(f"{e}: {text[max(0, e.pos - 80):e.pos + 80]!r}")
                return
            why = None
            if not isinstance(obj, dict):
                why = "not an object"
            elif "time" in obj and not (isinstance(obj["time"], str) and RFC3339.match(obj["time"])):
                why = "time is not RFC3339"
            elif "level" in obj and obj["level"] not in LOGRUS_LEVELS:
                why = "level is not a logrus level"
            elif "msg" in obj and not isinstance(obj["msg"], str):
                why = "msg is not a string"
            if why:
                self.errors.append(f"{why}: {json.dumps(obj)[:300]}")
            else:
                self.entries.append(obj)

    def _serve(self, c):
        buf = b""
        while True:
            try:
                chunk = c.recv(1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                break
            with self.cond:
                self.bytes += len(chunk)
                buf += chunk
                # gcs writes whole lines; a line is decoded once it is complete
                if b"\n" in buf:
                    done, buf = buf.rsplit(b"\n", 1)
                    self._decode(done.decode("utf-8", errors="replace"))
                self.cond.notify_all()
        with self.cond:
            if buf.strip():
                self._decode(buf.decode("utf-8", errors="replace"))
            self.cond.notify_all()

    def _run(self):
        while not self.closed:
            try:
                c, _ = self.lst.accept()
            except OSError:
                return
            with self.cond:
                self.connections += 1
                self.conn = c
                self.cond.notify_all()
            if not self.reaccept:
                _close_listener(self.lst)  # as hcsshim: one log connection per VM
            self._serve(c)
            c.close()
            if not self.reaccept:
                return

    def drop(self):
        """Hang up the current connection (the host goes away)."""
        with self.cond:
            if self.conn:
                try:
                    self.conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # already closed

    def wait(self, pred, timeout=60.0, what="log entry"):
        """The first entry for which pred(entry) holds, waiting for it."""
        deadline = time.monotonic() + timeout
        with self.cond:
            seen = 0
            while True:
                for e in self.entries[seen:]:
                    if pred(e):
                        return e
                seen = len(self.entries)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {what} in the log stream ({len(self.entries)} entries, "
                                       f"errors {self.errors[:3]})")
                self.cond.wait(left)

    def wait_connections(self, n, timeout=60.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.connections < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"the guest did not dial the log port ({self.connections} connections)")
                self.cond.wait(left)

    def messages(self):
        with self.cond:
            return [e.get("msg", "") for e in self.entries]

    def close(self):
        self.closed = True
        _close_listener(self.lst)  # wakes a blocked accept(), so the port is free again
        self.drop()
        self.thread.join(10)


class EntropyServer:
    """hcsshim's entropy listener: the first connection gets ENTROPY_BYTES
    random bytes, then it is closed, and so is the listener."""

    def __init__(self, port=ENTROPY_PORT):
        self.lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lst.bind(("127.0.0.1", small_port_tcp(port)))
        self.lst.listen(1)
        self.sent = threading.Event()
        self.nbytes = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            c, _ = self.lst.accept()
        except OSError:
            return
        _close_listener(self.lst)
        try:
            c.sendall(os.urandom(ENTROPY_BYTES))
            self.nbytes = ENTROPY_BYTES
        finally:
            c.close()
            self.sent.set()

    def close(self):
        _close_listener(self.lst)
        self.thread.join(10)


def uvm_dir():
    return os.path.abspath(os.path.join(build_dir(), "uvm"))


def missing():
    """Why a VM cannot be booted here, or None."""
    d = uvm_dir()
    for f in ("kernel", "initrd.img"):
        if not os.path.exists(os.path.join(d, f)):
            return f"{d}/{f} not built (make uvm)"
    if not shutil.which(QEMU):
        return f"{QEMU} not installed (scripts/install-uvm-deps)"
    if not shutil.which("unshare"):
        return "unshare not installed"
    return None


def booted(make):
    """The body of a VM fixture: skip when no VM can boot here (fail instead
    with GCS_UVM_REQUIRED set), boot the UVM make() returns, yield it, then
    power it off through init (QEMU and gcs must both say 0) and clean up.
    `yield from booted(lambda: UVM(...))`."""
    import pytest
    why = missing()
    if why:
        if os.environ.get("GCS_UVM_REQUIRED"):
            raise RuntimeError(f"GCS_UVM_REQUIRED is set but {why}")
        pytest.skip(why)
    v = make()
    try:
        v.boot()
        yield v
        rc, status = v.shutdown()
        assert (rc, status) == (0, 0), (f"QEMU exit {rc}, gcs status {status}, shutdown {v.shutdown_reason}:\n"
                                        f"{v.console()[-3000:]}\nlog: {v.log_tail()}")
    finally:
        v.cleanup()


SCSI_GUID0 = "df6d0690-79e5-55b6-a5ec-c1e2f77f580a"  # SCSI controller 0's VMBus GUID


def map_scsi_controller0(vm, lun, fakesys):
    """Make the fake VMBus tree under fakesys (gcs's -sysfs-root) map SCSI
    controller 0 to the virtio-scsi host that has `lun` (target 0), with the
    VM's real /sys/bus/scsi behind it. Returns the SCSI host number."""
    rc, out = vm.sh(f"ls -d /sys/bus/scsi/devices/*:0:0:{lun}")
    assert rc == 0, out
    host = os.path.basename(out.strip()).split(":")[0]
    rc, out = vm.sh(f"mkdir -p {fakesys}/bus/vmbus/devices/{SCSI_GUID0}/host{host} && "
                    f"ln -sfn /sys/bus/scsi {fakesys}/bus/scsi")
    assert rc == 0, out
    return host


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
                 init_args=None, vsockexec_args=None, console=False, qemu_args=None, dev_transport=DEV_TRANSPORT,
                 extra_args=()):
        """init: the image's init to boot with (rdinit=); None is /init, our
        gcs-init. FLOOR_INIT is the busybox sh floor, after which gcs is PID 1
        and nothing powers off: stop() (QEMU killed by its pid) ends it.
        init_args / vsockexec_args / gcs_args: the three parts of init's argv
        (hcsshim's by default: -e 1, -e 109, HCSSHIM_GCS_ARGS). kernel_args:
        more kernel parameters, in the KernelBootOptions place
        (hcsshim.cgroup=v1). console: hcsshim's console-pipe variant of the
        command line (a UART on ttyS0, no "panic=-1 quiet"), so that the
        kernel's and init's messages reach console(). qemu_args: more QEMU
        arguments (devices), appended as they are; self.qemu_args can also
        be extended before start(); extra_args is the same list (its older
        name). memory may be a QEMU -m value such as "1024,slots=2,maxmem=4G"."""
        self.own_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="gcs-uvm-")
        self.console_path = os.path.join(self.dir, "console.log")
        self.pidfile = os.path.join(self.dir, "qemu.pid")
        self.gcs_args = list(DEFAULT_GCS_ARGS if gcs_args is None else gcs_args)
        self.init_args = list(HCSSHIM_INIT_ARGS if init_args is None else init_args)
        self.vsockexec_args = list(HCSSHIM_VSOCKEXEC_ARGS if vsockexec_args is None else vsockexec_args)
        self.kernel_args = kernel_args
        self.dev_transport = dev_transport
        self.console_on = console
        self.qemu_args = list(qemu_args or []) + list(extra_args)
        self.init = init
        self.memory, self.cpus, self.timeout = memory, cpus, timeout
        self.proc = None
        self.qmp = None
        self.conn = None
        self.t_start = None
        self.log = None
        self.entropy = None
        self.shutdown_reason = None
        self._listeners = {}

    # -- command line --

    def kernel_cmdline(self):
        rdinit = f"rdinit={self.init}" if self.init else ""
        options = " ".join(filter(None, [self.dev_transport, rdinit, self.kernel_args]))
        return hcsshim_cmdline(self.cpus, self.init_args, self.vsockexec_args, self.gcs_args, options,
                               self.console_on)

    def cmdline(self):
        d = uvm_dir()
        return [
            QEMU, "-M", "q35", "-cpu", "max", "-m", str(self.memory), "-smp", str(self.cpus),
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-pidfile", self.pidfile,
            "-kernel", os.path.join(d, "kernel"), "-initrd", os.path.join(d, "initrd.img"),
            "-append", self.kernel_cmdline(),
            "-serial", "file:" + self.console_path,
            "-chardev", f"socket,id=qmp,path={self.dir}/qmp.sock,reconnect=1",
            "-mon", "chardev=qmp,mode=control",
            "-device", "virtio-serial-pci",
            "-chardev", f"socket,id=br,path={self.dir}/bridge.sock,reconnect=1",
            "-device", f"virtserialport,chardev=br,name={BRIDGE_PORT_NAME},id=gcsbr",
            # guest -> 10.0.2.2:P reaches 127.0.0.1:P of QEMU's (empty) netns
            "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0",
        ] + self.qemu_args

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
        if self.dev_transport:
            # the host listens before the VM starts (hcsshim start.go)
            if "-e" in self.init_args[:-1] and self.init_args[self.init_args.index("-e") + 1].isdigit():
                self.entropy = EntropyServer(int(self.init_args[self.init_args.index("-e") + 1]))
            self.log = LogStream(LOG_PORT, reaccept="-r" in self.vsockexec_args)
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

    def wait_host_side(self, timeout=120.0):
        """What hcsshim waits for before it accepts the bridge (start.go): the
        entropy connection served and the log connection made, within its
        GCSConnectionTimeout (2 minutes)."""
        deadline = time.monotonic() + timeout
        if self.entropy and not self.entropy.sent.wait(timeout):
            raise TimeoutError(f"the guest did not dial the entropy port; console:\n{self.console()[-3000:]}")
        if self.log:
            self.log.wait_connections(1, max(deadline - time.monotonic(), 0.001))

    def boot(self, timeout=60.0):
        """start + the entropy and log connections + connect + negotiate;
        returns self."""
        if not self.proc:
            self.start()
        self.wait_host_side(max(timeout, 120.0))
        self.connect(timeout)
        self.negotiate(timeout)
        self.network_up()
        return self

    def network_up(self):
        """Give the VM's NIC QEMU user networking's default guest address so
        gcs can dial stdio to 10.0.2.2 (init brings up only loopback; in
        hcsshim the host configures the network over the bridge too). A UVM
        process without stdio: its exit code is all we need."""
        # the development mapping's ip= did it already at the first TCP dial
        script = f"ip -4 addr show dev eth0 | grep -q inet || ip addr add {GUEST_ADDR} dev eth0; ip link set eth0 up"
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
        ExecuteProcess that names it). One sequence for every VM of the
        process: VMs alive at once (a module's next to the session's) share
        one network namespace, so their TCP listeners must not collide.
        Ports come round again after STDIO_PORTS; by then their listeners
        are long closed."""
        global _last_stdio_port
        with _stdio_port_lock:
            _last_stdio_port = _last_stdio_port % STDIO_PORTS + 1
            return BRIDGE_PORT + _last_stdio_port

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
        """ctrl-alt-del: init asks its child (vsockexec, i.e. gcs) to exit and
        powers off. Returns (QEMU exit code, gcs's exit status or None): the
        code of gcs's last log line "GCS exiting" on the log stream, when the
        guest powered off (QMP SHUTDOWN reason guest-shutdown, not a panic or
        reset); with the console, init's own line."""
        if self.conn:
            self.conn.close()
            self.conn = None
        self.ctrl_alt_del()
        rc = self.wait_exit(timeout)
        m = re.search(r"gcs-init: \S+ exited with status (\d+); powering off", self.console())
        if m:
            return rc, int(m.group(1))
        if self.log is None or self.shutdown_reason != "guest-shutdown":
            return rc, None
        try:
            e = self.log.wait(lambda e: e.get("msg") == "GCS exiting", 10, "GCS exiting")
        except TimeoutError:
            return rc, None
        return rc, e.get("code")

    def log_tail(self, n=15):
        """The last n entries of the log stream, for failure messages."""
        return "\n".join(json.dumps(e) for e in list(self.log.entries)[-n:]) if self.log else "(no log stream)"

    def wait_closed_port(self, timeout=30.0):
        self.qmp.event("VSERPORT_CHANGE", lambda d: d.get("id") == "gcsbr" and not d.get("open"), timeout)

    def ctrl_alt_del(self):
        keys = [{"type": "qcode", "data": k} for k in ("ctrl", "alt", "delete")]
        return self.qmp.execute("send-key", keys=keys)

    def wait_exit(self, timeout=60.0):
        """Wait for QEMU to exit by itself (the guest powered off); its QMP
        SHUTDOWN event's reason goes to self.shutdown_reason."""
        deadline = time.monotonic() + timeout
        try:
            while self.qmp and self.shutdown_reason is None:
                e = self.qmp.next_event(max(deadline - time.monotonic(), 0.001))
                if e.get("event") == "SHUTDOWN":
                    self.shutdown_reason = e.get("data", {}).get("reason")
        except (TimeoutError, EOFError, OSError):
            pass
        try:
            return self.proc.wait(max(deadline - time.monotonic(), 0.001))
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
        for srv in (self.log, self.entropy):
            if srv:
                srv.close()

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
