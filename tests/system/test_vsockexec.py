"""build/vsockexec on this machine, through the transport's test override
GCS_DEVTRANSPORT=unix:DIR (a dial of port P is a connect to DIR/P; never
vsock: every run here sets it). The real program, real sockets: -o/-e on one
port share one connection, -i feeds stdin, a refused dial exits 1, and the
relay (-r) survives the host hanging up and coming back, restarting at a
line boundary (docs/differences.md D-33)."""
import os
import select
import signal
import socket
import subprocess
import time

import pytest

from gcsproto import build_dir

VSOCKEXEC = os.path.abspath(os.path.join(build_dir(), "vsockexec"))
pytestmark = pytest.mark.skipif(not os.path.exists(VSOCKEXEC), reason="build/vsockexec not built")


def listener(d, port):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(os.path.join(d, str(port)))
    s.listen(4)
    return s


def accept(s, timeout=10):
    if not select.select([s], [], [], timeout)[0]:
        raise TimeoutError("no dial")
    c, _ = s.accept()
    return c


def read_until(c, want, timeout=10):
    deadline = time.monotonic() + timeout
    data = b""
    while want not in data:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([c], [], [], left)[0]:
            raise TimeoutError(f"wanted {want!r}, got {data!r}")
        chunk = c.recv(65536)
        if not chunk:
            raise EOFError(f"EOF before {want!r}; got {data!r}")
        data += chunk
    return data


def read_to_eof(c, timeout=10):
    deadline = time.monotonic() + timeout
    data = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([c], [], [], left)[0]:
            raise TimeoutError(f"no EOF; got {data!r}")
        chunk = c.recv(65536)
        if not chunk:
            return data
        data += chunk


def run(d, args, **kw):
    env = dict(os.environ, GCS_DEVTRANSPORT=f"unix:{d}")
    return subprocess.Popen([VSOCKEXEC] + args, env=env, **kw)


def test_stdout_and_stderr_on_one_port_share_a_connection(tmp_path):
    d = str(tmp_path)
    lst = listener(d, 109)
    p = run(d, ["-o", "109", "-e", "109", "/bin/sh", "-c", "echo out; echo err >&2"])
    c = accept(lst)
    data = read_to_eof(c)
    assert p.wait(10) == 0
    assert sorted(data.split()) == [b"err", b"out"]
    # exactly one dial: no second connection is waiting
    assert not select.select([lst], [], [], 0)[0]


def test_stdin_port_and_exit_code(tmp_path):
    d = str(tmp_path)
    lin, lout = listener(d, 5), listener(d, 6)
    p = run(d, ["-i", "5", "-o", "6", "/bin/sh", "-c", "read x; echo got-$x; exit 3"])
    ci = accept(lin)
    co = accept(lout)
    ci.sendall(b"hello\n")
    assert read_to_eof(co) == b"got-hello\n"
    assert p.wait(10) == 3


def test_failed_dial_exits_1(tmp_path):
    p = run(str(tmp_path), ["-e", "109", "/bin/true"], stderr=subprocess.PIPE)
    _, err = p.communicate(timeout=10)
    assert p.returncode == 1
    assert b"vsockexec: connect: port 109" in err


def test_bad_arguments_exit_1(tmp_path):
    for args in (["-e", "x", "/bin/true"], ["-r", "/bin/true"], ["-e", "109"]):
        p = run(str(tmp_path), args, stderr=subprocess.PIPE)
        _, err = p.communicate(timeout=10)
        assert p.returncode == 1, args
        assert b"usage: vsockexec" in err, (args, err)


def test_relay_redials_after_the_host_hangs_up(tmp_path):
    """-r: the program keeps writing while the host is gone; the relay dials
    again (every 100 ms), the new connection starts at a line boundary, no
    line is cut, and the program never sees an error."""
    d = str(tmp_path)
    lst = listener(d, 109)
    # one line every 20 ms, numbered; the program exits with 0 when told
    script = 'i=0; trap "exit 0" TERM; while :; do i=$((i+1)); echo "line $i"; sleep 0.02; done'
    p = run(d, ["-r", "-e", "109", "/bin/sh", "-c", script + " >&2"])
    try:
        c = accept(lst)
        first = read_until(c, b"line 5\n")
        c.close()  # the host goes away
        c = accept(lst)  # and comes back: the relay re-dialled
        second = read_until(c, b"\n", 10)
        # more lines arrive on the new connection: the program lived through it
        second += read_until(c, b"line", 10)
        p.send_signal(signal.SIGTERM)  # passed to the program
        second += read_to_eof(c)
        assert p.wait(10) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    for chunk in (first, second):
        lines = chunk.split(b"\n")
        assert lines[-1] == b"", chunk  # ends with a whole line
        for line in lines[:-1]:
            assert line.startswith(b"line ") and line[5:].isdigit(), chunk  # starts at a line boundary
    assert int(second.split(b"\n")[0][5:]) > 5


def test_relay_waits_for_a_host_that_is_not_there_yet(tmp_path):
    d = str(tmp_path)
    p = run(d, ["-r", "-o", "7", "/bin/sh", "-c", "echo early; exec sleep 30"])
    try:
        time.sleep(0.3)  # not synchronisation: the host is deliberately late
        assert p.poll() is None  # no listener yet: the relay keeps trying, the program runs
        lst = listener(d, 7)
        c = accept(lst)
        assert read_until(c, b"early\n") == b"early\n"
        p.send_signal(signal.SIGTERM)  # passed to sleep; vsockexec exits with its status
        assert p.wait(10) == 128 + signal.SIGTERM
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
