"""Pod networking through the real agent and runtime (docs/architecture.md,
"Pod networking"): ModifySettings Network Add/Remove, NICs moved into the
sandbox's network namespace and configured there, DHCP, host-network pods.

The agent runs in a network namespace the test made (it stands for the
VM's own). Each NIC is a veth pair: one end in the agent's namespace, the
far end in a second namespace of the test ("the host side"), and a fake
VMBus sysfs tree behind -sysfs-root maps the adapter ID to the near end
(<sysfs>/bus/vmbus/devices/<id>/net/<ifname>). Every name carries a random
tag; namespaces are deleted by name at the end, and the test fails if a
link, rule or route of its own is left behind."""
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
import uuid

import pytest

import conftest
import podlib
from gcsproto import E_FAIL, INVALID_JSON, NULL_ID
from podlib import Stdio

pytestmark = pytest.mark.skipif(conftest.TARGET != "local", reason="local agent only (veths and netns of the test)")

APPLETS = ["ip", "httpd", "wget", "nc", "udhcpc"]


def ok(msg):
    assert msg["Result"] == 0, msg
    return msg


def sh(*cmd, check=True):
    p = subprocess.run(list(cmd), capture_output=True, text=True, timeout=60)
    if check:
        assert p.returncode == 0, f"{cmd}: {p.stderr}"
    return p.stdout


class Net:
    """The test's namespaces and veths."""

    def __init__(self, tmp):
        self.tag = uuid.uuid4().hex[:6]
        self.agent_ns = f"gcsna{self.tag}"
        self.peer_ns = f"gcsnp{self.tag}"
        self.sysfs = os.path.join(str(tmp), "sys")
        self.nics = []
        self.dhcpd = None
        for ns in (self.agent_ns, self.peer_ns):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")

    def nic(self, peer_cidr=None, mtu=1500):
        """A veth: (adapter id, near ifname in the agent's ns, far ifname)."""
        i = len(self.nics)
        near, far = f"gn{self.tag}a{i}", f"gn{self.tag}p{i}"
        sh("ip", "link", "add", "name", near, "netns", self.agent_ns, "mtu", str(mtu), "type", "veth", "peer", "name",
           far, "netns", self.peer_ns, "mtu", str(mtu))
        sh("ip", "-n", self.peer_ns, "link", "set", far, "up")
        if peer_cidr:
            sh("ip", "-n", self.peer_ns, "addr", "add", peer_cidr, "dev", far)
        aid = str(uuid.uuid4())
        os.makedirs(os.path.join(self.sysfs, "bus", "vmbus", "devices", aid, "net", near))
        self.nics.append((aid, near, far))
        return aid, near, far

    def agent_links(self):
        return sh("ip", "-n", self.agent_ns, "-o", "link", "show")

    def agent_rules(self):
        return sh("ip", "-n", self.agent_ns, "rule", "show")

    def peer(self, *cmd, check=True, timeout=60):
        p = subprocess.run(["ip", "netns", "exec", self.peer_ns] + list(cmd), capture_output=True, text=True,
                           timeout=timeout)
        if check:
            assert p.returncode == 0, f"{cmd}: {p.stdout} {p.stderr}"
        return p

    def close(self):
        if self.dhcpd:
            self.dhcpd.kill()
            self.dhcpd.wait()
        for ns in (self.agent_ns, self.peer_ns):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        left = [n for n in sh("ip", "netns", "list").split() if self.tag in n]
        links = [l for l in sh("ip", "-o", "link", "show").splitlines() if self.tag in l]
        assert not left and not links, f"left behind: {left} {links}"


@pytest.fixture(scope="module")
def netrootfs(tmp_path_factory):
    """The busybox rootfs with the network applets."""
    root = podlib.make_rootfs(str(tmp_path_factory.mktemp("netrootfs")))
    for a in APPLETS:
        link = os.path.join(root, "bin", a)
        if not os.path.lexists(link):
            os.symlink("busybox", link)
    os.makedirs(os.path.join(root, "www"), exist_ok=True)
    with open(os.path.join(root, "www", "index.html"), "w") as f:
        f.write("hello from the pod\n")
    return root


class NetEnv(podlib.LocalPodEnv):
    pass


@pytest.fixture
def net(tmp_path):
    n = Net(tmp_path)
    yield n
    n.close()


def start_agent(agent_factory, tmp_path, runtime, net, extra=()):
    if runtime == "crun" and not shutil.which("crun"):
        pytest.skip("crun not installed")
    rtroot = str(tmp_path / "rtstate")
    args = ["-runtime", runtime, "-runtime-root", rtroot, "-sysfs-root", net.sysfs] + list(extra)
    wrap = ["nsenter", f"--net=/run/netns/{net.agent_ns}", "--"]
    if runtime == "crun":
        wrap += conftest.CRUN_WRAP
    a = agent_factory(mode="unix", args=args, wrap=wrap)
    a.connect()
    a.conn.negotiate()
    return NetEnv(a, runtime, rtroot, tmp_path)


@pytest.fixture
def env(request, agent_factory, tmp_path, runtime, net):
    e = start_agent(agent_factory, tmp_path, runtime, net, getattr(request, "param", ()))
    yield e
    conftest._check_no_leaks(e)
    check_agent_ns_clean(net)


def check_agent_ns_clean(net):
    """After the agent exits: every NIC is back in the agent's namespace,
    down, without an address; no rule or route of the test's left there."""
    links = net.agent_links()
    for _, near, _ in net.nics:
        assert near in links, f"{near} lost:\n{links}"
        line = [l for l in links.splitlines() if f" {near}@" in l or f" {near}:" in l][0]
        assert ",UP" not in line and "<UP" not in line, line
        assert sh("ip", "-n", net.agent_ns, "-o", "addr", "show", "dev", near) == ""
    assert "lookup 101" not in net.agent_rules()
    p = subprocess.run(["ip", "-n", net.agent_ns, "route", "show", "table", "101"], capture_output=True, text=True)
    assert p.stdout == "", p.stdout


def network(conn, request, nsid, aid, timeout=30, **kw):
    s = {"NamespaceID": nsid, "ID": aid}
    s.update(kw)
    return conn.call("ModifySettings", {"Request": {"ResourceType": "Network", "RequestType": request,
                                                    "Settings": s}}, container_id=NULL_ID, timeout=timeout)


def exec_out(env, cid, script, timeout=60):
    st = Stdio(env, stdout=True, stderr=True)
    oci = {"args": ["/bin/sh", "-c", script], "cwd": "/", "env": ["PATH=/bin"], "terminal": False,
           "user": {"uid": 0, "gid": 0}}
    msg = ok(podlib.execute(env.conn, cid, st, {"OciProcess": oci}))
    out, err = st.read_outputs(timeout)
    w = ok(podlib.wait(env.conn, cid, msg["ProcessId"]))
    st.close()
    return w["ExitCode"], out.decode(), err.decode()


def start_init(env, cid):
    st = Stdio(env, stdout=False, stderr=False)
    msg = ok(podlib.execute(env.conn, cid, st))
    st.close()
    return msg["ProcessId"]


def kill_and_delete(env, cid, pid):
    podlib.signal(env.conn, cid, pid, 9)
    ok(podlib.wait(env.conn, cid, pid))
    ok(podlib.delete(env.conn, cid))


def sandbox(env, rootfs, nsid, hostnet=False, start=True):
    sid = podlib.new_id("ae")
    spec = podlib.sandbox_spec(rootfs, sid, skip_net=False, netns=nsid)
    spec["process"]["args"] = ["/bin/sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]
    if hostnet:
        spec["annotations"]["io.microsoft.virtualmachine.lcow.hostnetwork"] = "true"
    msg = podlib.create(env.conn, sid, spec, env.bundle(sid))
    if msg["Result"] != 0:
        return sid, None, msg
    pid = start_init(env, sid) if start else None
    return sid, pid, msg


def workload(env, rootfs, sid, args=("/bin/sleep", "1000")):
    """A workload of the pod in the sandbox's network namespace (the host
    names it by path, as for every namespace a workload shares)."""
    wid = podlib.new_id("bf")
    w = podlib.workload_spec(rootfs, sid, args=list(args))
    sandbox_pid = podlib.container_pid(podlib.dump(env.conn), sid)
    w["linux"]["namespaces"] = [{"type": t} for t in ("mount", "uts", "pid", "ipc")] + \
        [{"type": "network", "path": f"/proc/{sandbox_pid}/ns/net"}]
    ok(podlib.create(env.conn, wid, w, env.bundle(wid, layout="v2", pod=sid)))
    return wid, start_init(env, wid)


STATIC = dict(IPConfigs=[{"IPAddress": "10.77.1.2", "PrefixLength": 24}],
              Routes=[{"NextHop": "10.77.1.1", "DestinationPrefix": "0.0.0.0/0"},
                      {"DestinationPrefix": "10.78.0.0/16", "NextHop": "10.77.1.1", "Metric": 7}],
              DNSSuffix="svc.cluster.local,Cluster.Local", DNSServerList="10.0.0.10, 10.0.0.11",
              EncapOverhead=50)


def test_add_before_sandbox_configures_in_its_namespace(env, net, netrootfs):
    c = env.conn
    nsid = str(uuid.uuid4()).upper()
    aid, near, far = net.nic("10.77.1.1/24")
    ok(network(c, "Add", nsid, aid.upper(), **STATIC))
    # a second Add of the same adapter ID is an error, before any wait
    dup = network(c, "Add", nsid.lower(), aid)
    assert dup["Result"] == E_FAIL and "already present" in dup["ErrorMessage"], dup
    assert near in net.agent_links()  # not moved yet: the namespace has no sandbox
    sid, pid, _ = sandbox(env, netrootfs, nsid)
    assert near not in net.agent_links()
    rc, out, _ = exec_out(env, sid, f"ip -o addr show dev {near}; cat /sys/class/net/{near}/mtu; "
                                    f"ip route; ip -o link show lo; cat /etc/resolv.conf")
    assert rc == 0, out
    assert "inet 10.77.1.2/24" in out, out
    assert "\n1450\n" in out, out  # 1500 - EncapOverhead 50
    assert "default via 10.77.1.1" in out and "10.78.0.0/16 via 10.77.1.1" in out and "metric 7" in out, out
    assert "LOOPBACK,UP" in out, out
    # a workload of the pod sees the same NIC, and resolv.conf from the adapter
    wid, wpid = workload(env, netrootfs, sid)
    rc, out, _ = exec_out(env, wid, f"ip -o addr show dev {near}; cat /etc/resolv.conf")
    assert "inet 10.77.1.2/24" in out, out
    assert out.endswith("search svc.cluster.local cluster.local\nnameserver 10.0.0.10\nnameserver 10.0.0.11\n"), out
    kill_and_delete(env, wid, wpid)
    # the far end reaches the pod
    net.peer("busybox", "ping", "-c", "1", "-W", "5", "10.77.1.2")
    # Remove takes the NIC out again (D-51)
    ok(network(c, "Remove", nsid, aid))
    assert near in net.agent_links()
    rc, out, _ = exec_out(env, sid, f"ip -o link show {near} || echo gone")
    assert "gone" in out, out
    kill_and_delete(env, sid, pid)


def test_add_after_sandbox_configures_that_nic_alone(env, net, netrootfs):
    """D-50: upstream re-moves every NIC of the namespace on each Add, and
    the second Add fails because the first NIC left the agent's namespace."""
    c = env.conn
    nsid = str(uuid.uuid4())
    a1, n1, _ = net.nic("10.77.2.1/24")
    ok(network(c, "Add", nsid, a1, IPConfigs=[{"IPAddress": "10.77.2.2", "PrefixLength": 24}],
               Routes=[{"NextHop": "10.77.2.1", "DestinationPrefix": "0.0.0.0/0"}], PolicyBasedRouting=True))
    sid, pid, _ = sandbox(env, netrootfs, nsid)
    a2, n2, _ = net.nic("10.77.3.1/24", mtu=1400)
    ok(network(c, "Add", nsid, a2, IPConfigs=[{"IPAddress": "10.77.3.2", "PrefixLength": 24}],
               Routes=[{"NextHop": "10.77.3.1", "DestinationPrefix": "0.0.0.0/0"}], PolicyBasedRouting=True))
    rc, out, _ = exec_out(env, sid, "ip -o addr; echo ==; ip rule; echo ==; ip route; echo ==; "
                                    "ip route show table 101")
    assert rc == 0, out
    addrs, rules, main, t101 = out.split("==\n")
    assert "10.77.2.2/24" in addrs and "10.77.3.2/24" in addrs, out
    # the second NIC (and only it) has the low-metric policy: a rule for its
    # address, its routes in table 101 with metric 500
    assert re.search(r"^5:\s+from 10.77.3.2 lookup 101", rules, re.M), rules
    assert "10.77.2.2" not in rules, rules
    assert f"default via 10.77.3.1 dev {n2}" in t101 and "metric 500" in t101, t101
    assert f"default via 10.77.2.1 dev {n1}" in main and n2 not in main.split("default")[1].split("\n")[0], main
    ok(network(c, "Remove", nsid, a2))
    rc, out, _ = exec_out(env, sid, "ip rule; ip route show table 101")
    assert "lookup 101" not in out and "10.77.3" not in out, out
    ok(network(c, "Remove", nsid, a1))
    kill_and_delete(env, sid, pid)


def test_unknown_adapter_times_out_and_registers_nothing(env, net, netrootfs):
    c = env.conn
    nsid = str(uuid.uuid4())
    t0 = time.monotonic()
    msg = network(c, "Add", nsid, str(uuid.uuid4()), IPConfigs=[{"IPAddress": "10.77.4.2", "PrefixLength": 24}])
    took = time.monotonic() - t0
    assert msg["Result"] == E_FAIL and "timed out waiting for" in msg["ErrorMessage"], msg
    assert 4.5 < took < 15, took
    bad = network(c, "Add", nsid, "../../etc")
    assert bad["Result"] != 0 and "not a device instance ID" in bad["ErrorMessage"], bad
    upd = network(c, "Update", nsid, str(uuid.uuid4()))
    assert upd["Result"] == E_FAIL and 'the RequestType "Update" is not supported for Network' in upd["ErrorMessage"]
    # settings that do not decode are 0xC037010D
    bad = c.call("ModifySettings", {"Request": {"ResourceType": "Network", "RequestType": "Add",
                                                "Settings": {"ID": 5}}}, container_id=NULL_ID)
    assert bad["Result"] == INVALID_JSON, bad
    # Remove of unknown adapters and namespaces succeeds, as upstream
    ok(network(c, "Remove", nsid, str(uuid.uuid4())))
    ok(network(c, "Remove", str(uuid.uuid4()), str(uuid.uuid4())))


def test_two_pods_do_not_see_each_others_nics(env, net, netrootfs):
    c = env.conn
    ns1, ns2 = str(uuid.uuid4()), str(uuid.uuid4())
    a1, n1, _ = net.nic("10.77.5.1/24")
    a2, n2, _ = net.nic("10.77.6.1/24")
    ok(network(c, "Add", ns1, a1, IPConfigs=[{"IPAddress": "10.77.5.2", "PrefixLength": 24}]))
    ok(network(c, "Add", ns2, a2, IPConfigs=[{"IPAddress": "10.77.6.2", "PrefixLength": 24}]))
    s1, p1, _ = sandbox(env, netrootfs, ns1)
    s2, p2, _ = sandbox(env, netrootfs, ns2)
    _, o1, _ = exec_out(env, s1, "ip -o link; ip -o addr")
    _, o2, _ = exec_out(env, s2, "ip -o link; ip -o addr")
    assert n1 in o1 and n2 not in o1 and "10.77.6" not in o1, o1
    assert n2 in o2 and n1 not in o2 and "10.77.5" not in o2, o2
    # the namespace ID is bound once: a second sandbox for it is refused
    s3, _, msg = sandbox(env, netrootfs, ns1, start=False)
    assert msg["Result"] != 0 and "previously assigned" in msg["ErrorMessage"], msg
    ok(network(c, "Remove", ns1, a1))
    ok(network(c, "Remove", ns2, a2))
    kill_and_delete(env, s1, p1)
    kill_and_delete(env, s2, p2)


def test_sandbox_gone_frees_namespace_and_returns_nics(env, net, netrootfs):
    """D-52: the entry goes with its sandbox once its NICs are removed, and a
    NIC the host did not remove comes back to the agent's namespace."""
    c = env.conn
    fds = lambda: len(os.listdir(f"/proc/{env.agent.proc.pid}/fd"))  # noqa: E731
    fd0 = fds()
    nsid = str(uuid.uuid4())
    aid, near, _ = net.nic("10.77.7.1/24")
    ok(network(c, "Add", nsid, aid, IPConfigs=[{"IPAddress": "10.77.7.2", "PrefixLength": 24}]))
    sid, pid, _ = sandbox(env, netrootfs, nsid)
    assert near not in net.agent_links()
    kill_and_delete(env, sid, pid)
    assert near in net.agent_links()
    assert sh("ip", "-n", net.agent_ns, "-o", "addr", "show", "dev", near) == ""
    # the entry still holds the NIC; a new sandbox for the namespace gets it
    sid, pid, _ = sandbox(env, netrootfs, nsid)
    _, out, _ = exec_out(env, sid, f"ip -o addr show dev {near}")
    assert "10.77.7.2/24" in out, out
    ok(network(c, "Remove", nsid, aid))
    kill_and_delete(env, sid, pid)
    # now nothing refers to the namespace: a sandbox for it is refused again
    _, _, msg = sandbox(env, netrootfs, nsid, start=False)
    assert msg["Result"] != 0 and "not found" in msg["ErrorMessage"], msg
    # and the agent holds no descriptor of the namespace any more
    assert fds() == fd0


def test_host_network_pod_configures_in_place(env, net, netrootfs):
    c = env.conn
    nsid = str(uuid.uuid4())
    aid, near, _ = net.nic("10.77.8.1/24")
    ok(network(c, "Add", nsid, aid, IPConfigs=[{"IPAddress": "10.77.8.2", "PrefixLength": 24}],
               Routes=[{"NextHop": "10.77.8.1", "DestinationPrefix": "10.79.0.0/16"}]))
    sid, pid, _ = sandbox(env, netrootfs, nsid, hostnet=True)
    # configured in the agent's own namespace, not moved
    assert near in net.agent_links()
    assert "10.77.8.2/24" in sh("ip", "-n", net.agent_ns, "-o", "addr", "show", "dev", near)
    assert "10.79.0.0/16 via 10.77.8.1" in sh("ip", "-n", net.agent_ns, "route")
    _, out, _ = exec_out(env, sid, f"ip -o addr show dev {near}")
    assert "10.77.8.2/24" in out, out
    ok(network(c, "Remove", nsid, aid))
    assert sh("ip", "-n", net.agent_ns, "-o", "addr", "show", "dev", near) == ""
    kill_and_delete(env, sid, pid)


def test_gateway_outside_subnet(env, net, netrootfs):
    c = env.conn
    nsid = str(uuid.uuid4())
    aid, near, _ = net.nic("10.77.9.1/24")
    ok(network(c, "Add", nsid, aid, IPConfigs=[{"IPAddress": "10.77.9.2", "PrefixLength": 24}],
               Routes=[{"NextHop": "10.80.0.1", "DestinationPrefix": "0.0.0.0/0"},
                       {"NextHop": "", "DestinationPrefix": "0.0.0.0/0"}]))
    sid, pid, _ = sandbox(env, netrootfs, nsid)
    _, out, _ = exec_out(env, sid, f"ip -o addr show dev {near}; ip route")
    assert "10.80.0.1/32" in out and "default via 10.80.0.1" in out, out
    ok(network(c, "Remove", nsid, aid))
    kill_and_delete(env, sid, pid)


def test_http_workload_served_on_its_address(env, net, netrootfs):
    """The real thing: a workload of the pod serves HTTP (busybox httpd) on
    the address the host configured; the test fetches it from its own
    namespace and puts a bounded wrk load on it."""
    c = env.conn
    nsid = str(uuid.uuid4())
    aid, near, _ = net.nic("10.77.10.1/24")
    ok(network(c, "Add", nsid, aid, IPConfigs=[{"IPAddress": "10.77.10.2", "PrefixLength": 24}]))
    sid, pid, _ = sandbox(env, netrootfs, nsid)
    wid, wpid = workload(env, netrootfs, sid, ["/bin/httpd", "-f", "-p", "10.77.10.2:8080", "-h", "/www"])
    deadline = time.monotonic() + 20
    body = None
    while time.monotonic() < deadline:
        p = net.peer("wget", "-q", "-O", "-", "-T", "2", "http://10.77.10.2:8080/index.html", check=False)
        if p.returncode == 0:
            body = p.stdout
            break
    assert body == "hello from the pod\n", body
    if shutil.which("wrk"):
        p = net.peer("wrk", "-t", "1", "-c", "4", "-d", "2s", "http://10.77.10.2:8080/index.html", timeout=30)
        m = re.search(r"Requests/sec:\s+([\d.]+)", p.stdout)
        assert m and float(m.group(1)) > 0, p.stdout
        assert "Non-2xx" not in p.stdout and "Socket errors" not in p.stdout, p.stdout
        print(p.stdout)
    kill_and_delete(env, wid, wpid)
    ok(network(c, "Remove", nsid, aid))
    kill_and_delete(env, sid, pid)


UDHCPD_CONF = """start 10.77.11.50
end 10.77.11.60
interface {far}
lease_file {lease}
pidfile {pidfile}
option subnet 255.255.255.0
option router 10.77.11.1
"""


@pytest.mark.parametrize("env", [("-dhcp-timeout", "4")], indirect=True)
def test_dhcp_lease_and_timeout(env, net, netrootfs, tmp_path):
    c = env.conn
    # no server: the create fails at the deadline and leaves nothing
    nsid = str(uuid.uuid4())
    aid, near, far = net.nic("10.77.11.1/24")
    ok(network(c, "Add", nsid, aid))
    t0 = time.monotonic()
    sid, _, msg = sandbox(env, netrootfs, nsid, start=False)
    took = time.monotonic() - t0
    assert msg["Result"] != 0 and "no lease within 4 s" in msg["ErrorMessage"], msg
    assert 3.5 < took < 20, took
    assert near in net.agent_links()
    # a server in the test's namespace: the pod gets a lease
    conf = tmp_path / "udhcpd.conf"
    lease = tmp_path / "udhcpd.leases"
    lease.write_text("")
    conf.write_text(UDHCPD_CONF.format(far=far, lease=lease, pidfile=tmp_path / "udhcpd.pid"))
    net.dhcpd = subprocess.Popen(["ip", "netns", "exec", net.peer_ns, "busybox", "udhcpd", "-f", str(conf)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sid, pid, msg = sandbox(env, netrootfs, nsid)
    assert msg["Result"] == 0, msg
    _, out, _ = exec_out(env, sid, f"ip -o addr show dev {near}; ip route")
    m = re.search(r"inet (10\.77\.11\.(\d+))/24", out)
    assert m and 50 <= int(m.group(2)) <= 60, out
    assert "default via 10.77.11.1" in out, out
    net.peer("busybox", "ping", "-c", "1", "-W", "5", m.group(1))
    # a NIC added to the running pod where no server answers: the Add fails
    # at the deadline, the NIC is back in the agent's namespace and the
    # adapter is forgotten, so the Add can be tried again (D-50, D-53)
    a2, n2, _ = net.nic()
    for _ in range(2):
        msg = network(c, "Add", nsid, a2)
        assert msg["Result"] == E_FAIL and "no lease within 4 s" in msg["ErrorMessage"], msg
        assert n2 in net.agent_links()
    ok(network(c, "Remove", nsid, aid))
    kill_and_delete(env, sid, pid)


def test_gcsctl_nic_add_and_remove(net, netrootfs, tmp_path):
    """gcsctl nic add/remove by hand against an agent in the test's namespace."""
    import test_gcsctl
    from gcsproto import gcs_binary

    class NetBareAgent(test_gcsctl.BareAgent):
        """test_gcsctl's agent (nobody listening until gcsctl runs), in the
        test's network namespace."""

        def __init__(self, tmpdir):
            self.tmpdir = str(tmpdir)
            self.sockdir = os.path.join(self.tmpdir, "host")
            os.makedirs(self.sockdir, exist_ok=True)
            self.logpath = os.path.join(self.tmpdir, "gcs.log")
            self.conn = None

    rtroot = str(tmp_path / "rtstate")
    agent = NetBareAgent(tmp_path / "agent")
    cmd = ["nsenter", f"--net=/run/netns/{net.agent_ns}", "--", "unshare", "--mount", "--propagation", "private",
           "--", gcs_binary(), "-v4", "-loglevel", "debug", "-logfile", agent.logpath, "-transport",
           "unix:" + agent.sockdir, "-runtime", "runc", "-runtime-root", rtroot, "-sysfs-root", net.sysfs]
    agent.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    env = conftest.PodEnv(agent, "runc", rtroot, tmp_path)
    try:
        nsid = str(uuid.uuid4())
        aid, near, _ = net.nic("10.77.12.1/24")
        test_gcsctl.ok(env, "nic", "add", nsid, aid, "--ip", "10.77.12.2/24", "--gateway", "10.77.12.1",
                       "--dns", "10.0.0.10")
        rc, _, err = test_gcsctl.gcsctl(env, "nic", "add", nsid, aid)
        assert rc == 1 and "already present" in err, err
        sid = podlib.new_id("ad")
        env.paths.append(f"/run/gcs/c/{sid}")
        test_gcsctl.ok(env, "create", sid, "--kind", "sandbox", "--rootfs", netrootfs, "--netns", nsid,
                       "--no-skip-networking")
        assert near not in net.agent_links()
        test_gcsctl.ok(env, "nic", "remove", nsid, aid)
        assert near in net.agent_links()
        test_gcsctl.ok(env, "delete", sid)
    finally:
        rc = agent.stop()
        conftest._check_no_leaks(env)
        assert rc in (0, -15, 143), agent.log()[-3000:]
