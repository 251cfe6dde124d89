"""Pod networking in a real utility VM: a second virtio-net NIC on a QEMU
network that reaches only this test (restricted user networking; its one
way in is a port forward on the loopback of the test's own namespace),
mapped to an adapter ID by a fake VMBus tree inside the VM (-sysfs-root).
The host's Network Add puts it into a pod whose workload serves HTTP
(busybox httpd) on the configured address; the test fetches the page
through the forward. Remove brings the NIC back to the VM."""
import socket
import time
import urllib.request
import uuid

import pytest

import podlib
from uvm import DEFAULT_GCS_ARGS, ROOTFS, UVM, UvmPodEnv, missing
from gcsproto import NULL_ID
from podlib import Stdio

MAC = "52:54:00:12:34:99"
POD_ADDR = "10.0.3.15"  # the guest address of QEMU's second user network


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class NetUVM(UVM):
    def __init__(self, fwd_port, **kw):
        super().__init__(**kw)
        self.fwd_port = fwd_port

    def cmdline(self):
        return super().cmdline() + [
            "-netdev", f"user,id=n1,restrict=on,net=10.0.3.0/24,hostfwd=tcp:127.0.0.1:{self.fwd_port}-{POD_ADDR}:8080",
            "-device", f"virtio-net-pci,netdev=n1,mac={MAC}"]


@pytest.fixture(scope="module")
def netvm():
    why = missing()
    if why:
        pytest.skip(why)
    v = NetUVM(free_port(), gcs_args=DEFAULT_GCS_ARGS + ["-runtime", "runc", "-sysfs-root", "/run/fakesys"],
               timeout=1200)
    try:
        v.boot()
        yield v
        rc, status = v.shutdown()
        assert (rc, status) == (0, 0), f"QEMU exit {rc}, gcs status {status}:\n{v.console()[-3000:]}"
    finally:
        v.cleanup()


def ok(msg):
    assert msg["Result"] == 0, msg
    return msg


def network(conn, req, nsid, aid, **kw):
    s = {"NamespaceID": nsid, "ID": aid}
    s.update(kw)
    return conn.call("ModifySettings", {"Request": {"ResourceType": "Network", "RequestType": req, "Settings": s}},
                     container_id=NULL_ID, timeout=60)


def start_init(env, cid):
    st = Stdio(env, stdout=False, stderr=False)
    pid = ok(podlib.execute(env.conn, cid, st))["ProcessId"]
    st.close()
    return pid


def end(env, cid, pid):
    podlib.signal(env.conn, cid, pid, 9)
    ok(podlib.wait(env.conn, cid, pid))
    ok(podlib.delete(env.conn, cid))


def test_pod_served_from_a_second_nic(netvm):
    vm, c = netvm, netvm.conn
    env = UvmPodEnv(vm, "runc")
    rc, out = vm.sh(f"grep -l {MAC} /sys/class/net/*/address")
    assert rc == 0, out
    ifname = out.strip().split("/")[4]
    aid, nsid = str(uuid.uuid4()), str(uuid.uuid4())
    assert vm.sh(f"mkdir -p /run/fakesys/bus/vmbus/devices/{aid}/net/{ifname}")[0] == 0
    ok(network(c, "Add", nsid, aid, IPConfigs=[{"IPAddress": POD_ADDR, "PrefixLength": 24}],
               Routes=[{"NextHop": "10.0.3.2", "DestinationPrefix": "0.0.0.0/0"}], DNSServerList="10.0.3.3"))
    sid = podlib.new_id("a1")
    spec = podlib.sandbox_spec(ROOTFS, sid, skip_net=False, netns=nsid, hostname="vmnetpod")
    spec["process"]["args"] = ["/bin/sleep", "1000"]
    ok(podlib.create(c, sid, spec, env.bundle(sid), timeout=120))
    spid = start_init(env, sid)
    assert vm.sh(f"ip -o link show {ifname}")[0] != 0  # moved out of the VM's namespace
    wid = podlib.new_id("b1")
    w = podlib.workload_spec(ROOTFS, sid, args=["/bin/busybox", "httpd", "-f", "-p", f"{POD_ADDR}:8080", "-h",
                                                 "/etc"])
    sandbox_pid = podlib.container_pid(podlib.dump(c), sid)
    w["linux"]["namespaces"] = [{"type": t} for t in ("mount", "uts", "pid", "ipc")] + \
        [{"type": "network", "path": f"/proc/{sandbox_pid}/ns/net"}]
    ok(podlib.create(c, wid, w, env.bundle(wid, layout="v2", pod=sid), timeout=120))
    wpid = start_init(env, wid)
    deadline, body = time.monotonic() + 60, None
    while time.monotonic() < deadline and body is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{vm.fwd_port}/hostname", timeout=5) as r:
                body = r.read().decode()
        except OSError:
            time.sleep(0.1)  # the poll interval; the deadline bounds the wait
    assert body == "vmnetpod\n", body
    end(env, wid, wpid)
    ok(network(c, "Remove", nsid, aid))
    rc, out = vm.sh(f"ip -o link show {ifname}; ip -o addr show dev {ifname}")
    assert rc == 0 and ifname in out and POD_ADDR not in out, out
    end(env, sid, spid)
    vm.sh("rm -rf /run/fakesys")
    left = env.leaks()
    assert not left, left
