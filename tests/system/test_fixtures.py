"""The fixture specs of tests/fixtures/: the checked-in files are exactly what
tests/fixtures/gen_specs.py writes, and the largest of them (a containerd
CRI workload with the Docker default seccomp profile and a namespace's
worth of Kubernetes service links) makes a CreateContainer of more than
64 KiB that the real agent decodes and runs, under the seccomp profile."""
import importlib.util
import json
import os

import podlib
from gcsproto import NULL_ID, frame, req_code

GEN = os.path.join(podlib.FIXTURES, "gen_specs.py")


def load_generator():
    spec = importlib.util.spec_from_file_location("gen_specs", GEN)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_checked_in_fixtures_are_the_generators_output():
    gen = load_generator()
    on_disk = sorted(f for f in os.listdir(podlib.FIXTURES) if f.endswith(".json"))
    assert on_disk == sorted(gen.SPECS), "a fixture without a generator (or the reverse)"
    for name in gen.SPECS:
        with open(os.path.join(podlib.FIXTURES, name)) as f:
            assert f.read() == gen.render(name), f"{name}: run tests/fixtures/gen_specs.py"


def test_docker_default_seccomp_profiles_have_their_shape():
    """The facts the fixtures stand for: the 2017 per-syscall profile of
    docker-sh.json and today's grouped RuntimeDefault of the CRI spec."""
    old = podlib.fixture("docker-sh.json")["linux"]["seccomp"]
    new = podlib.fixture("cri-workload-seccomp.json")["linux"]["seccomp"]
    for prof in (old, new):
        assert prof["defaultAction"] == "SCMP_ACT_ERRNO"
        assert prof["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
        personas = [s["args"][0]["value"] for s in prof["syscalls"] if s["names"] == ["personality"]]
        assert personas == [0, 8, 0x20000, 0x20008, 0xFFFFFFFF]
        clone = [s for s in prof["syscalls"] if s["names"] == ["clone"]]
        assert len(clone) == 1 and clone[0]["args"][0]["op"] == "SCMP_CMP_MASKED_EQ"
    assert all(len(s["names"]) == 1 for s in old["syscalls"]) and len(old["syscalls"]) == 316
    allowed = {n for s in new["syscalls"] if s["action"] == "SCMP_ACT_ALLOW" and "args" not in s for n in s["names"]}
    assert len(allowed) > 350 and {"openat2", "faccessat2", "close_range", "statx", "rseq"} <= allowed
    assert {"mount", "unshare", "setns", "bpf", "kexec_load"}.isdisjoint(allowed)
    assert {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38} in new["syscalls"]


# What the container reports: its seccomp mode, how many service links it
# got, one of them, and whether unshare(2) (not in the profile) is refused.
# The test rootfs links no `grep` or `unshare`: call them through busybox.
SECCOMP_PROBE = ('bb=/bin/busybox; $bb grep "^Seccomp:" /proc/self/status; '
                 'echo "links=$(env | $bb grep -c _SERVICE_HOST=)"; '
                 'echo "orders=$ORDERS_API_SERVICE_HOST:$ORDERS_API_SERVICE_PORT"; '
                 '$bb unshare -U true 2>/dev/null && echo unshare-allowed || echo unshare-denied')


def test_cri_workload_over_64k_with_seccomp_runs(pods, rootfs):
    """A CRI workload spec carrying the default seccomp profile and 1500+
    environment variables: its CreateContainer frame is over 64 KiB. The
    agent decodes it whole (config.json holds the same profile and
    environment), and the container runs confined by it: Seccomp: 2 in
    /proc/self/status, unshare(2) refused."""
    env, c = pods, pods.conn
    sid, wid = podlib.new_id("f1"), podlib.new_id("f2")
    spec = podlib.fixture("cri-workload-seccomp.json")  # a fresh copy from the file
    spec["root"] = {"path": rootfs, "readonly": True}
    spec["annotations"][podlib.SANDBOX_ID] = sid
    spec["process"]["args"] = ["/bin/sh", "-c", SECCOMP_PROBE]
    variables = dict(v.split("=", 1) for v in spec["process"]["env"])
    orders = f"orders={variables['ORDERS_API_SERVICE_HOST']}:{variables['ORDERS_API_SERVICE_PORT']}"

    bundle = env.bundle(wid)
    body = {"ContainerId": wid, "ActivityId": NULL_ID,
            "ContainerConfig": json.dumps(podlib.settings(spec, bundle))}
    size = len(frame(req_code("Create"), 0, body))
    assert size > 64 * 1024, f"the CreateContainer frame is only {size} bytes"

    ok(podlib.create(c, sid, podlib.sandbox_spec(rootfs, sid), env.bundle(sid)))
    sst, spid = start(env, sid)
    ok(podlib.create(c, wid, spec, bundle))
    # decoded whole: the runtime's config.json has every variable and syscall rule
    cfg = json.loads(env.read(f"{bundle}/config.json"))
    assert cfg["process"]["env"] == spec["process"]["env"]
    assert cfg["linux"]["seccomp"] == spec["linux"]["seccomp"]
    assert cfg["linux"]["cgroupsPath"] == f"/pods/{sid}/{wid}"  # the agent's, not the host's kubepods path

    st, pid = start(env, wid)
    out, err = st.read_outputs()
    assert ok(podlib.wait(c, wid, pid))["ExitCode"] == 0, (out, err)
    lines = out.decode().split()
    links = sum("_SERVICE_HOST=" in v for v in spec["process"]["env"])
    assert lines[:2] == ["Seccomp:", "2"], (out, err)  # 2: a filter is in force
    assert f"links={links}" in lines and orders in lines, out
    assert "unshare-denied" in lines, out  # unshare is not in the profile (no CAP_SYS_ADMIN)

    ok(podlib.delete(c, wid))
    ok(c.call("ShutdownForced", container_id=sid))
    sst.read_outputs()
    ok(podlib.wait(c, sid, spid))
    ok(podlib.delete(c, sid))


def ok(msg):
    assert msg["Result"] == 0, msg
    return msg


def start(env, cid):
    """Start the container's init with stdout and stderr attached."""
    st = podlib.Stdio(env)
    msg = ok(podlib.execute(env.conn, cid, st))
    return st, msg["ProcessId"]
