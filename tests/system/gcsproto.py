"""The host side of the gcs bridge, for black-box tests: frames, a listener
where gcs dials (unix:DIR), and an agent runner for both transports.

Everything waits on an event with a deadline; nothing sleeps to synchronise.
"""
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import time

HDR = struct.Struct("<IIQ")
BRIDGE_PORT = 0x40000000
NULL_ID = "00000000-0000-0000-0000-000000000000"

RPC = {
    "Create": 1, "Start": 2, "ShutdownGraceful": 3, "ShutdownForced": 4,
    "ExecuteProcess": 5, "WaitForProcess": 6, "SignalProcess": 7,
    "ResizeConsole": 8, "GetProperties": 9, "ModifySettings": 10,
    "NegotiateProtocol": 11, "DumpStacks": 12, "DeleteContainerState": 13,
    "UpdateContainer": 14, "LifecycleNotification": 15,
}

E_NOTIMPL = -2147467263
E_FAIL = -2147467259
E_INVALIDARG = -2147024809
NOT_FOUND = -2147023728
TIMEOUT = -1070137079
UNSUPPORTED_PROTOCOL = -1070137076
INVALID_JSON = -1070137075
SYSTEM_NOT_FOUND = -1070137074
ALREADY_EXISTS = -1070137073
INVALID_STATE = -2143878907
ALREADY_STOPPED = -1070137072
NOTIFY_CONTAINER = 0x30100101


def req_code(name):
    return 0x10100001 | (RPC[name] << 8)


def resp_code(code):
    return 0x20000000 | (code & 0x0FFFFFFF)


def frame(type_, id_, payload):
    if isinstance(payload, (dict, list)):
        payload = json.dumps(payload, separators=(",", ":")).encode() + b"\n"
    elif isinstance(payload, str):
        payload = payload.encode()
    return HDR.pack(type_, HDR.size + len(payload), id_) + payload


class Closed(Exception):
    pass


class Conn:
    """One bridge connection, host side."""

    def __init__(self, rfd, wfd, owner=None):
        self.rfd, self.wfd = rfd, wfd
        self.owner = owner
        self.buf = b""
        self.next_id = 0
        self.notifications = []
        self.stash = {}

    def send_bytes(self, data):
        view = memoryview(data)
        while view:
            n = os.write(self.wfd, view)
            view = view[n:]

    def send(self, type_, payload, id_=None):
        if id_ is None:
            id_ = self.next_id
            self.next_id += 1
        self.send_bytes(frame(type_, id_, payload))
        return id_

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out waiting for the agent")
        r, _, _ = select.select([self.rfd], [], [], left)
        if not r:
            raise TimeoutError("timed out waiting for the agent")
        chunk = os.read(self.rfd, 1 << 20)
        if not chunk:
            raise Closed("agent closed the connection")
        self.buf += chunk

    def recv_frame(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while len(self.buf) < HDR.size:
            self._fill(deadline)
        type_, size, id_ = HDR.unpack_from(self.buf)
        assert 16 <= size <= 65536, f"agent sent a frame of size {size}"
        while len(self.buf) < size:
            self._fill(deadline)
        payload = self.buf[HDR.size:size]
        self.buf = self.buf[size:]
        return type_, id_, payload

    def recv_raw(self, timeout=10.0):
        """Next response (notifications are kept aside)."""
        while True:
            type_, id_, payload = self.recv_frame(timeout)
            if type_ >> 28 == 3:
                self.notifications.append(json.loads(payload))
                continue
            return type_, id_, payload

    def response(self, id_, timeout=10.0):
        if id_ in self.stash:
            return self.stash.pop(id_)
        deadline = time.monotonic() + timeout
        while True:
            type_, rid, payload = self.recv_raw(max(deadline - time.monotonic(), 0.001))
            msg = json.loads(payload)
            if rid == id_:
                return type_, msg
            self.stash[rid] = (type_, msg)

    def call(self, name, payload=None, container_id="", timeout=10.0, **keys):
        body = {"ContainerId": container_id, "ActivityId": NULL_ID}
        body.update(payload or {})
        body.update(keys)
        code = req_code(name)
        id_ = self.send(code, body)
        type_, msg = self.response(id_, timeout)
        assert type_ == resp_code(code), hex(type_)
        return msg

    def negotiate(self):
        msg = self.call("NegotiateProtocol", {"MinimumVersion": 4, "MaximumVersion": 4})
        assert msg["Result"] == 0, msg
        return msg

    def notification(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while not self.notifications:
            type_, id_, payload = self.recv_frame(max(deadline - time.monotonic(), 0.001))
            if type_ >> 28 == 3:
                assert type_ == NOTIFY_CONTAINER and id_ == 0
                self.notifications.append(json.loads(payload))
            else:
                self.stash[id_] = (type_, json.loads(payload))
        return self.notifications.pop(0)

    def wait_closed(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        try:
            while True:
                self._fill(deadline)
        except Closed:
            return True

    def close(self):
        for fd in {self.rfd, self.wfd}:
            try:
                os.close(fd)
            except OSError:
                pass


class Listener:
    """Listens on DIR/<port> like the host's vsock listener."""

    def __init__(self, directory, port=BRIDGE_PORT):
        self.path = os.path.join(directory, str(port))
        if os.path.exists(self.path):
            os.unlink(self.path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(16)

    def accept(self, timeout=10.0):
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            raise TimeoutError(f"nobody dialed {self.path} within {timeout}s")
        s, _ = self.sock.accept()
        s.setblocking(True)
        fd = s.detach()
        return Conn(fd, fd)

    def close(self):
        self.sock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


TCP_STDIO_BASE = 40000


def tcp_stdio_port(port):
    """The TCP port where the serial transport's guest dials stdio port P
    (P - 0x40000000 + 40000 on 10.0.2.2, i.e. QEMU's 127.0.0.1)."""
    return port - BRIDGE_PORT + TCP_STDIO_BASE


class TcpListener:
    """Listener's twin for a VM on the serial transport: stdio port P is a
    TCP listener on 127.0.0.1:tcp_stdio_port(P) in QEMU's network namespace."""

    def __init__(self, port):
        self.path = f"127.0.0.1:{tcp_stdio_port(port)}"
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", tcp_stdio_port(port)))
        self.sock.listen(16)

    def accept(self, timeout=10.0):
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            raise TimeoutError(f"nobody dialed {self.path} within {timeout}s")
        s, _ = self.sock.accept()
        s.setblocking(True)
        fd = s.detach()
        return Conn(fd, fd)

    def close(self):
        self.sock.close()


def build_dir():
    return os.environ.get("GCS_BUILD", os.path.join(os.path.dirname(__file__), "..", "..", "build"))


def gcs_binary():
    return os.path.abspath(os.path.join(build_dir(), "gcs"))


class Agent:
    """A gcs process under test, in a private mount namespace, killed by pid."""

    def __init__(self, tmpdir, mode="unix", args=(), v4=True, mountns=True, env=None, wrap=None):
        self.tmpdir = str(tmpdir)
        self.mode = mode
        self.sockdir = os.path.join(self.tmpdir, "host")
        os.makedirs(self.sockdir, exist_ok=True)
        self.logpath = os.path.join(self.tmpdir, "gcs.log")
        # -disable-time-sync: a machine with a Hyper-V PTP clock would get a
        # real chronyd stepping its clock; the time sync tests turn it on
        # again with a chronyd that cannot (test_timesync.py)
        cmd = [gcs_binary(), "-loglevel", "debug", "-logfile", self.logpath, "-disable-time-sync"]
        if v4:
            cmd.append("-v4")
        if mode == "stdio":
            cmd.append("-use-inouterr")
        else:
            cmd += ["-transport", "unix:" + self.sockdir]
        cmd += list(args)
        if wrap:
            cmd = wrap + cmd
        if mountns:
            cmd = ["unshare", "--mount", "--propagation", "private", "--"] + cmd
        self.listener = Listener(self.sockdir) if mode == "unix" else None
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE if mode == "stdio" else subprocess.DEVNULL,
            stdout=subprocess.PIPE if mode == "stdio" else subprocess.DEVNULL,
            stderr=subprocess.PIPE if mode == "stdio" else None, env=env)
        self.conn = None

    def connect(self, timeout=10.0):
        if self.mode == "stdio":
            self.conn = Conn(self.proc.stdout.fileno(), self.proc.stdin.fileno(), owner=self.proc)
        else:
            self.conn = self.listener.accept(timeout)
        return self.conn

    def log(self):
        try:
            with open(self.logpath) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def log_entries(self):
        """The log (-log-format json) decoded, one object per line; a line
        that is not JSON fails the caller."""
        return [json.loads(ln) for ln in self.log().splitlines()]

    def wait_log_entry(self, pred, what, timeout=30.0):
        """The first log entry for which pred holds, polled with a deadline
        (the log file is the event)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for o in self.log_entries():
                if pred(o):
                    return o
            time.sleep(0.02)
        raise AssertionError(f"no {what} line:\n{self.log()[-4000:]}")

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.conn and self.mode == "unix":
            self.conn.close()
        if self.listener:
            self.listener.close()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if f:
                f.close()
        return self.proc.returncode
