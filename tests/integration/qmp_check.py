"""QMP checks for tests/integration/qmp.sh, through bench/qmp.py.

    qmp_check.py protocol SOCK           greeting, negotiation, errors, id,
                                         query-status, stop/cont + events
    qmp_check.py dirty-rate SOCK RATE    calc-dirty-rate within 10% of RATE
    qmp_check.py migrate SRC DST URI RAM [keep-source]
                                         the one migration driver, for vmm
                                         and QEMU alike; quits the source
                                         unless keep-source
    qmp_check.py quit SOCK               quit, and SHUTDOWN before its reply
    qmp_check.py signal SOCK PID SIG     kill PID with SIG (TERM, INT, HUP):
                                         SHUTDOWN says host-signal
    qmp_check.py slots SOCK              eight busy clients: a ninth is told
                                         why it is turned away; once they
                                         idle 5 s, a ninth gets a slot and
                                         the idlest is told it was dropped

Prints what it checked; exits 1 with the reason on the first failure.
"""
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
from qmp import QMP, QMPError  # noqa: E402


def check(cond, what):
    if not cond:
        print("FAIL: " + what)
        sys.exit(1)
    print("ok: " + what)


def raw_session(path):
    """A socket and a reader of its replies, below qmp.py, to see the
    protocol itself."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    f = s.makefile("rb")

    def ask(text):
        s.sendall(text.encode() + b"\n")
        while True:
            m = json.loads(f.readline())
            if "event" not in m:
                return m
    return s, json.loads(f.readline()), ask


def expect_error(reply, cls, words):
    err = reply.get("error", {})
    return err.get("class") == cls and words in err.get("desc", "")


def protocol(path):
    s, greeting, ask = raw_session(path)
    check(greeting["QMP"]["capabilities"] == [] and "qemu" in greeting["QMP"]["version"],
          "greeting %s" % greeting)
    r = ask('{"execute": "query-status", "id": 1}')
    check(expect_error(r, "CommandNotFound", "qmp_capabilities") and r.get("id") == 1,
          "a command before qmp_capabilities is refused, id echoed")
    r = ask('{"execute": "qmp_capabilities", "id": "neg"}')
    check(r == {"return": {}, "id": "neg"}, "qmp_capabilities: %s" % r)
    r = ask('{"execute": "qmp_capabilities"}')
    check(expect_error(r, "CommandNotFound", "already complete"), "negotiation only once")
    check(expect_error(ask('{bad}'), "GenericError", "JSON parse error"), "parse error")
    check(expect_error(ask('{"execute": "nope"}'), "CommandNotFound", "nope"), "unknown command")
    r = ask('{"execute": "migrate", "arguments": {}, "id": [2]}')
    check(expect_error(r, "GenericError", "Parameter 'uri' is missing") and r["id"] == [2],
          "missing argument, id echoed")
    # A request split over lines and two in one line are both read.
    s.sendall(b'{"execute":\n "query-status"}{"execute": "query-status", "id": 3}\n')
    f = s.makefile("rb")
    a, b = json.loads(f.readline()), json.loads(f.readline())
    check(a["return"]["status"] == "running" and b["id"] == 3, "requests are a JSON stream")
    s.close()

    with QMP(path) as q, QMP(path) as watcher:
        st = q.command("query-status")
        check(st["status"] == "running" and st["running"] is True, "query-status %s" % st)
        q.command("stop")
        check(q.command("query-status")["status"] == "paused", "stop pauses")
        q.wait_event("STOP", timeout=5)
        q.command("cont")
        ev = q.wait_event("RESUME", timeout=5)
        check(set(ev["timestamp"]) == {"seconds", "microseconds"}, "event timestamp %s" % ev)
        check(q.command("query-status")["running"] is True, "cont resumes")
        watcher.wait_event("STOP", timeout=5)
        watcher.wait_event("RESUME", timeout=5)
        print("ok: a second client saw STOP and RESUME too")


def dirty_rate(path, rate):
    with QMP(path) as q:
        q.command("calc-dirty-rate", {"calc-time": 2})
        try:
            q.command("migrate", {"uri": "tcp:127.0.0.1:1"})
            check(False, "a migration is refused while the rate is measured")
        except QMPError as e:
            check("measured" in e.desc, "migrate refused while measuring: %s" % e.desc)
        deadline = time.monotonic() + 10
        while True:
            r = q.command("query-dirty-rate")
            if r["status"] == "measured" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        check(r["status"] == "measured" and r["calc-time"] == 2, "query-dirty-rate %s" % r)
        pps = r["vmm"]["page-rate"]
        check(abs(pps - rate) <= 0.1 * rate, "page rate %.0f within 10%% of %d" % (pps, rate))
        check(abs(r["dirty-rate"] - pps * 4096 / 2**20) <= 1, "dirty-rate %s MB/s" % r["dirty-rate"])


def migrate(src_path, dst_path, uri, ram, keep_source=False):
    """The one driver for both systems: what a QEMU script does."""
    with QMP(src_path) as src, QMP(dst_path) as dst:
        caps = {"capabilities": [{"capability": "events", "state": True}]}
        src.command("migrate-set-capabilities", caps)
        dst.command("migrate-set-capabilities", caps)
        check(dst.command("query-status")["status"] == "inmigrate", "destination inmigrate")
        src.command("migrate-set-parameters", {"downtime-limit": 300, "max-bandwidth": 4 << 30})
        p = src.command("query-migrate-parameters")
        check(p["downtime-limit"] == 300 and p["max-bandwidth"] == 4 << 30, "parameters set")
        src.command("migrate", {"uri": uri})
        src.wait_event("MIGRATION", lambda e: e["data"]["status"] == "completed", timeout=60)
        info = src.command("query-migrate")
        print("query-migrate: " + json.dumps({k: v for k, v in info.items() if k != "vmm"}))
        ram_info = info["ram"]
        check(info["status"] == "completed", "status completed")
        # QEMU 7.2 on this kind of host can report 0 for both.
        check(0 <= info["total-time"] < 60000, "total-time %d ms" % info["total-time"])
        check(0 <= info["downtime"] <= info["total-time"], "downtime %d ms" % info["downtime"])
        check("setup-time" in info, "setup-time present")
        check(ram_info["total"] >= ram, "ram.total %d" % ram_info["total"])
        check(ram_info["transferred"] > 0, "ram.transferred %d" % ram_info["transferred"])
        check(ram_info["remaining"] == 0, "ram.remaining 0")
        check(ram_info["dirty-sync-count"] >= 1, "dirty-sync-count %d" % ram_info["dirty-sync-count"])
        for k in ("page-size", "duplicate", "normal", "normal-bytes", "mbps", "dirty-pages-rate",
                  "pages-per-second", "precopy-bytes", "downtime-bytes"):
            check(k in ram_info, "ram.%s present" % k)
        check(ram_info["normal-bytes"] == ram_info["normal"] * 4096, "normal-bytes = normal x 4 KiB")
        if "vmm" in info:
            v = info["vmm"]
            check(len(v["rounds"]) == v["round_count"] == ram_info["dirty-sync-count"],
                  "vmm: %d rounds recorded" % v["round_count"])
            check(v["stop_reason"] != "none", "vmm: stop reason %s" % v["stop_reason"])
            parts = [v["downtime_%s_us" % k] for k in ("pause", "last_ram", "state", "ready", "resumed")]
            check(sum(parts) == v["downtime_us"],
                  "vmm: downtime %d us = the sum of its parts %s" % (v["downtime_us"], parts))
            check(v["downtime_us"] // 1000 == info["downtime"], "vmm: downtime_us agrees with downtime")
        # QEMU moves its run state to postmigrate a moment after its
        # MIGRATION completed event (finish-migrate in between): wait for it.
        deadline = time.monotonic() + 10
        while True:
            st = src.command("query-status")
            if st["status"] == "postmigrate" or time.monotonic() >= deadline:
                break
            time.sleep(0.02)
        check(st["status"] == "postmigrate" and not st["running"],
              "source postmigrate (status %s)" % st["status"])
        deadline = time.monotonic() + 20
        while dst.command("query-status")["status"] != "running":
            check(time.monotonic() < deadline, "destination runs")
            time.sleep(0.05)
        print("ok: destination running")
        dst.wait_event("RESUME", timeout=5)
        print("ok: destination said RESUME")
        dst.wait_event("MIGRATION", lambda e: e["data"]["status"] == "completed", timeout=20)
        seen = [e["data"]["status"] for e in dst.events() if e["event"] == "MIGRATION"]
        check("active" in seen, "destination MIGRATION events before completed: %s" % seen)
        if not keep_source:
            src.command("quit")


def quit(path):
    with QMP(path) as q:
        q.command("quit")
        ev = q.wait_event("SHUTDOWN", timeout=5)
        check(ev["data"] == {"guest": False, "reason": "host-qmp-quit"}, "SHUTDOWN %s" % ev)


def on_signal(path, pid, sig):
    import signal
    with QMP(path) as q:
        os.kill(pid, getattr(signal, "SIG" + sig))
        ev = q.wait_event("SHUTDOWN", timeout=10)
        check(ev["data"] == {"guest": False, "reason": "host-signal"}, "SHUTDOWN %s" % ev)
        print("SIG%s: SHUTDOWN %s" % (sig, json.dumps(ev["data"])))


def greeted(path):
    """A connected socket and its first line (the greeting or a refusal)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.settimeout(10)
    f = s.makefile("rb")
    return s, f, json.loads(f.readline())


def slots(path):
    held = [greeted(path) for _ in range(8)]
    check(all("QMP" in g for _, _, g in held), "eight clients greeted")
    _, _, g = greeted(path)
    check(g.get("error", {}).get("desc") == "too many QMP clients, none idle",
          "a ninth beside eight busy ones is told why: %r" % g)
    time.sleep(6)
    s, f, g = greeted(path)
    check("QMP" in g, "a ninth beside eight idle ones is greeted")
    s.sendall(b'{"execute": "qmp_capabilities"}\n')
    check(json.loads(f.readline()) == {"return": {}}, "and served")
    def line_if_any(hs, hf):
        hs.settimeout(0.5)
        try:
            return json.loads(hf.readline() or b"{}")
        except socket.timeout:
            return {}       # still connected, nothing said: not dropped
    dropped = [line_if_any(hs, hf) for hs, hf, _ in held]
    told = [d for d in dropped if d.get("error", {}).get("desc") ==
            "dropped: idle, and a new client needs the slot"]
    check(len(told) == 1, "exactly one idle client dropped, and told why")
    for hs, _, _ in held:
        hs.close()
    s.close()


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "protocol":
        protocol(sys.argv[2])
    elif mode == "dirty-rate":
        dirty_rate(sys.argv[2], int(sys.argv[3]))
    elif mode == "migrate":
        migrate(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]),
                sys.argv[6:] == ["keep-source"])
    elif mode == "quit":
        quit(sys.argv[2])
    elif mode == "signal":
        on_signal(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif mode == "slots":
        slots(sys.argv[2])
    else:
        sys.exit("unknown mode " + mode)
