"""Links between the source and the destination.

`loopback`: both in the lab's own network namespace, 127.0.0.1.
Shaped links: two network namespaces joined by a veth pair, shaped with
tc on both ends (tbf for the rate; netem under it for delay and loss;
delay is one-way, so it is applied on each direction). The lab creates
them per run with unique names (vmmlab-PID-N-src/-dst) and deletes them in
its cleanup, which also runs on SIGINT/SIGTERM and at exit; deleting a
namespace removes its veth end and qdiscs with it.

Where namespaces cannot be made (not root, no `ip`/`tc`, a kernel without
veth), make() says why and returns loopback; the caller then caps
pre-copy with max-bandwidth at the preset's rate. A kernel without netem
keeps the namespaces and the rate, and the link says that delay and loss
were not applied.
"""
import atexit
import json
import os
import shutil
import socket
import subprocess
import time

_seq = [0]
_live = {}  # namespace name -> True while it exists


def _ip(*args):
    r = subprocess.run(["ip"] + list(args), capture_output=True, text=True)
    if r.returncode != 0:
        raise OSError("ip %s: %s" % (" ".join(args), r.stderr.strip()))


def _tc(ns, *args):
    r = subprocess.run(["ip", "netns", "exec", ns, "tc"] + list(args),
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise OSError("tc %s: %s" % (" ".join(args), r.stderr.strip()))


def cannot_make_namespaces():
    """Why this process cannot make shaped links, or None."""
    if os.geteuid() != 0:
        return "not root"
    for tool in ("ip", "tc"):
        if not shutil.which(tool):
            return "no %s command (iproute2)" % tool
    return None


class Link:
    """One set-up link: where each side runs and which address the
    destination listens on."""

    def __init__(self, spec):
        self.spec = spec
        self.src_ns = None
        self.dst_ns = None
        self.dst_ip = "127.0.0.1"
        self.fallback = None  # why a shaped link became loopback
        self.not_applied = None  # what of the spec this kernel cannot do

    def prefix(self, side):
        """The argv prefix that runs a command on that side."""
        ns = self.src_ns if side == "src" else self.dst_ns
        return ["ip", "netns", "exec", ns] if ns else []

    def namespaced(self):
        return self.src_ns is not None

    def describe(self):
        return {"spec": self.spec, "namespaces": [self.src_ns, self.dst_ns]
                if self.src_ns else None, "dst_ip": self.dst_ip,
                "fallback": self.fallback, "not_applied": self.not_applied}

    def close(self):
        for ns in (self.src_ns, self.dst_ns):
            if ns and ns in _live:
                delete_namespace(ns)


def delete_namespace(ns):
    subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    _live.pop(ns, None)


def delete_all():
    """Deletes every namespace this process made and still has."""
    for ns in list(_live):
        delete_namespace(ns)


atexit.register(delete_all)


def _shape(ns, dev, spec, netem=True):
    qdisc_parent = ["root"]
    if netem and (spec["delay_s"] or spec["loss_pct"]):
        args = ["qdisc", "add", "dev", dev, "root", "handle", "1:", "netem",
                "limit", "100000"]
        if spec["delay_s"]:
            args += ["delay", "%dus" % round(spec["delay_s"] * 1e6)]
        if spec["loss_pct"]:
            args += ["loss", "%g%%" % spec["loss_pct"]]
        _tc(ns, *args)
        qdisc_parent = ["parent", "1:1", "handle", "10:"]
    if spec["rate_bps"]:
        rate = spec["rate_bps"]
        # A burst of ~4 ms at the rate, at least one 64 KiB GSO packet.
        burst = max(rate // 8 // 250, 128 * 1024)
        _tc(ns, "qdisc", "add", "dev", dev, *qdisc_parent, "tbf",
            "rate", "%dbit" % rate, "burst", str(burst), "latency", "50ms")


def _netem_missing(ns, dev):
    """Whether this kernel lacks netem (CONFIG_NET_SCH_NETEM): probe it on
    the fresh veth end, and take the probe away again."""
    r = subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", dev,
                        "root", "netem", "delay", "0"], capture_output=True, text=True)
    if r.returncode != 0:
        return "unknown" in r.stderr
    _tc(ns, "qdisc", "del", "dev", dev, "root")
    return False


def make(spec):
    """A Link for the spec (lab_config.parse_link's dict). Loopback when
    the spec is unshaped or when namespaces cannot be made (then
    link.fallback says why)."""
    link = Link(spec)
    shaped = spec["rate_bps"] or spec["delay_s"] or spec["loss_pct"]
    if not shaped:
        return link
    why = cannot_make_namespaces()
    if why:
        link.fallback = why
        return link
    _seq[0] += 1
    base = "vmmlab-%d-%d" % (os.getpid(), _seq[0])
    src, dst = base + "-src", base + "-dst"
    try:
        for ns in (src, dst):
            _ip("netns", "add", ns)
            _live[ns] = True
        _ip("link", "add", "veth-src", "netns", src, "type", "veth",
            "peer", "name", "veth-dst", "netns", dst)
        netem = True
        if (spec["delay_s"] or spec["loss_pct"]) and _netem_missing(src, "veth-src"):
            # Keep the rate (tbf) and say what is missing, rather than
            # give up the namespaces too.
            netem = False
            link.not_applied = ("delay and loss not applied: this kernel has no "
                                "netem qdisc (CONFIG_NET_SCH_NETEM)")
        for ns, dev, addr in ((src, "veth-src", "10.213.0.1/30"),
                              (dst, "veth-dst", "10.213.0.2/30")):
            _ip("-n", ns, "addr", "add", addr, "dev", dev)
            _ip("-n", ns, "link", "set", dev, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            _shape(ns, dev, spec, netem)
    except OSError as e:
        for ns in (src, dst):
            if ns in _live:
                delete_namespace(ns)
        link.fallback = str(e)
        return link
    link.src_ns, link.dst_ns, link.dst_ip = src, dst, "10.213.0.2"
    return link


def measure_throughput(link, seconds=2.0):
    """The link's real TCP throughput, src -> dst, in bits/s, with iperf3
    (one stream) where installed, else a Python socket blast. Returns
    {"tool", "bits_per_second", "seconds"} or {"error"}."""
    port = _free_port()
    if shutil.which("iperf3"):
        return _iperf3(link, port, seconds)
    return _blast(link, port, seconds)


def _iperf3(link, port, seconds):
    # A server that outlives a failed client attempt (no -1): the client
    # retries until the server listens, and the server is killed after.
    server = subprocess.Popen(link.prefix("dst") + [
        "iperf3", "-s", "-B", link.dst_ip, "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    try:
        data = {}
        for _ in range(50):
            if server.poll() is not None:
                return {"tool": "iperf3", "error": "iperf3 server ended: %s" %
                        server.stderr.read().strip()}
            r = subprocess.run(link.prefix("src") + [
                "iperf3", "-c", link.dst_ip, "-p", str(port), "-t",
                "%g" % seconds, "-J"], capture_output=True, text=True)
            try:
                data = json.loads(r.stdout or "{}")
            except ValueError as e:
                data = {"error": "unreadable iperf3 output: %s" % e}
            if r.returncode == 0 and "error" not in data:
                break
            time.sleep(0.1)
        if "error" in data:
            return {"tool": "iperf3", "error": data["error"]}
        bps = data["end"]["sum_received"]["bits_per_second"]
        return {"tool": "iperf3", "bits_per_second": bps, "seconds": seconds}
    except KeyError as e:
        return {"tool": "iperf3", "error": "iperf3 output lacks %s" % e}
    finally:
        if server.poll() is None:
            server.kill()
        server.wait()
        server.stderr.close()


_BLAST_RX = r"""
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1); c, _ = s.accept()
n = 0; t0 = None
while True:
    b = c.recv(1 << 20)
    if not b: break
    if t0 is None: t0 = time.monotonic()
    n += len(b)
print(n * 8 / max(time.monotonic() - t0, 1e-9))
"""
_BLAST_TX = r"""
import socket, sys, time
for _ in range(100):
    try:
        c = socket.create_connection((sys.argv[1], int(sys.argv[2]))); break
    except OSError: time.sleep(0.05)
buf = b"x" * (1 << 20); end = time.monotonic() + float(sys.argv[3])
while time.monotonic() < end: c.sendall(buf)
c.close()
"""


def _blast(link, port, seconds):
    rx = subprocess.Popen(link.prefix("dst") + ["python3", "-c", _BLAST_RX,
                          link.dst_ip, str(port)], stdout=subprocess.PIPE,
                          text=True, start_new_session=True)
    try:
        subprocess.run(link.prefix("src") + ["python3", "-c", _BLAST_TX,
                       link.dst_ip, str(port), str(seconds)], check=True)
        out, _ = rx.communicate(timeout=seconds + 10)
        return {"tool": "python socket blast", "bits_per_second": float(out),
                "seconds": seconds}
    except (subprocess.SubprocessError, ValueError) as e:
        return {"tool": "python socket blast", "error": str(e)}
    finally:
        if rx.poll() is None:
            rx.kill()
        rx.wait()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

