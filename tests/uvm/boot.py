#!/usr/bin/env python3
"""Boot the gcs utility VM by hand (build it first: `make uvm`).

  tests/uvm/boot.py                 boot, negotiate, DumpStacks, print the
                                    timings, shut down with ctrl-alt-del
  tests/uvm/boot.py --relay DIR     boot, then act as `gcs -transport unix:DIR`
                                    for gcsctl: each time gcs has opened its
                                    bridge port, dial DIR/1073741824 (where
                                    gcsctl listens) and splice the two. Stop
                                    with ctrl-c (the VM is powered off).
  --console                         boot with hcsshim's console-pipe command line
                                    (a UART) and copy the console to stderr at the end
  --kernel-args ARGS                extra kernel parameters (hcsshim.cgroup=v1)

Run it inside an empty network namespace so that the guest can reach only
this process (`unshare --net -- sh -c 'ip link set lo up && exec tests/uvm/boot.py'`);
otherwise QEMU is put in one of its own. See tests/uvm/uvm.py.
"""
import argparse
import os
import select
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from uvm import UVM, missing  # noqa: E402

BRIDGE_PORT = 0x40000000


def splice(a, b):
    """Copy both ways until either side closes."""
    while True:
        r, _, _ = select.select([a, b], [], [])
        for src, dst in ((a, b), (b, a)):
            if src in r:
                data = src.recv(65536)
                if not data:
                    return "gcsctl" if src is b else "vm"
                dst.sendall(data)


def settle(vm):
    """Wait for gcs's port to be open and to stay open. While QEMU's chardev
    was away each re-dial opened and closed the port; a failed dial closes
    within a millisecond, so an open that lasts 300 ms is the real one. (A
    heuristic for this manual tool; the tests use UVM.negotiate(), which
    needs none.)"""
    while True:
        vm.wait_dialed()
        try:
            vm.wait_closed_port(0.3)
        except TimeoutError:
            return


def relay(vm, directory):
    path = os.path.join(directory, str(BRIDGE_PORT))
    bridge = socket.socket(fileno=os.dup(vm.conn.rfd))
    vm.conn.close()
    vm.conn = None
    settle(vm)
    print(f"boot.py: relaying; run e.g. build/gcsctl -d {directory} negotiate", file=sys.stderr)
    while True:
        host = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        while True:  # a dialer retrying like gcs does, every 100 ms
            try:
                host.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if vm.proc.poll() is not None:
                    return
                time.sleep(0.1)
        who = splice(bridge, host)
        host.close()
        if who == "vm":
            return
        # gcsctl is done: hang up the bridge so gcs sees EOF and re-opens its
        # port once QEMU has reconnected the chardev (reconnect=1).
        bridge.close()
        vm.wait_closed_port()
        bridge = socket.socket(fileno=vm._accept("bridge.sock", 30).detach())
        settle(vm)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--relay", metavar="DIR")
    ap.add_argument("--console", action="store_true")
    ap.add_argument("--kernel-args", default="")
    ap.add_argument("--timeout", type=int, default=600)
    args = ap.parse_args()
    why = missing()
    if why:
        sys.exit(f"boot.py: {why}")
    vm = UVM(kernel_args=args.kernel_args, timeout=args.timeout, console=args.console)
    try:
        vm.start()
        vm.wait_host_side()  # entropy served and the log port connected, as hcsshim waits
        conn = vm.connect()
        if args.relay:
            # gcsctl negotiates itself: a connection negotiates only once
            try:
                relay(vm, args.relay)
            except KeyboardInterrupt:
                pass
        else:
            msg = vm.negotiate()
            print(f"boot.py: negotiated after {time.monotonic() - vm.t_start:.2f} s: {msg}")
            stacks = conn.call("DumpStacks")
            print(f"boot.py: DumpStacks: Result={stacks.get('Result')} "
                  f"({len(stacks.get('GuestStacks', ''))} bytes of stacks)")
        vm.ctrl_alt_del()
        rc = vm.wait_exit(60)
        print(f"boot.py: VM powered off (QEMU exit {rc}) {time.monotonic() - vm.t_start:.2f} s after start")
    finally:
        if args.console:
            sys.stderr.write(vm.console())
        if vm.log:
            print(f"boot.py: log stream: {len(vm.log.entries)} entries, {len(vm.log.errors)} decode errors",
                  file=sys.stderr)
        vm.cleanup()


if __name__ == "__main__":
    main()
