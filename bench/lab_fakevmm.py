#!/usr/bin/env python3
"""A stand-in for build/vmm for the lab's unit tests: the command line of
the lab's vmm driver, a QMP server (a thread on the --qmp unix socket)
with the commands and events vmm's monitor promises (QEMU's names), a
heartbeat guest that writes `[SECONDS.MICROSECONDS] tick N` lines to
--serial file:PATH,timestamps, and --stats-json at the end. No KVM.

Behaviour knobs (environment): FAKE_VMM_MODE = "converge" (default:
completes after 3 query-migrate polls), "exit" (the source exits as soon
as the migration completes, as vmm does), "never" (stays active until
migrate_cancel), "fail" (fails with a message), "dstfail" (the source
completes, the destination dies with a message instead of running),
"lateqmp" (the destination's QMP socket appears only once it has the VM),
"zerotimes" (as converge, but the first replies that say completed have
total-time, downtime and setup-time 0, as QEMU 7.2's sometimes do).
"""
import json
import os
import socket
import sys
import threading
import time

MODE = os.environ.get("FAKE_VMM_MODE", "converge")
HELP = """usage: vmm [options] GUEST.elf [-- key=value ...]
  --qmp unix:PATH           QMP monitor
  --serial file:PATH[,timestamps]
  --incoming URI
  --stats-json PATH
"""


def opts(argv):
    o = {"guest_args": []}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            o["guest_args"] = argv[i + 1:]
            break
        if a in ("--qmp", "--serial", "--incoming", "--stats-json", "--mem", "--cpus",
                 "--dirty-ring"):
            o[a[2:]] = argv[i + 1]
            i += 2
            continue
        o["image"] = a
        i += 1
    return o


class Fake:
    def __init__(self, o):
        self.o = o
        self.incoming = "incoming" in o
        self.status = "inmigrate" if self.incoming else "running"
        self.mig = {"status": "none"}
        self.polls = 0
        self.params = {"downtime-limit": 300, "max-bandwidth": 0,
                       "max-iterations": 30}
        self.lock = threading.Lock()
        self.conn = None
        self.quit = threading.Event()
        serial = o["serial"].split(":", 1)[1]
        self.serial_path = serial.split(",")[0]
        self.stamped = serial.endswith(",timestamps")
        self.marker = os.path.join(os.path.dirname(self.serial_path), "fake-resumed")

    def event(self, name, data=None):
        msg = {"event": name, "timestamp": {"seconds": int(time.time()),
                                            "microseconds": 0}}
        if data is not None:
            msg["data"] = data
        if self.conn:
            try:
                self.conn.sendall(json.dumps(msg).encode() + b"\n")
            except OSError:
                pass

    def query_migrate(self):
        self.polls += 1
        m = self.mig
        if m["status"] == "active" and MODE in ("converge", "exit", "dstfail", "lateqmp",
                                                "zerotimes") \
                and self.polls >= 3:
            self.complete()
        elif m["status"] == "active" and MODE == "fail" and self.polls >= 2:
            m["status"] = "failed"
            m["error-desc"] = "destination closed the connection"
            self.event("MIGRATION", {"status": "failed"})
        if self.mig["status"] == "completed" and MODE == "zerotimes" and self.polls <= 4:
            # QEMU 7.2 says completed before it has filled in its times.
            return dict(self.mig, **{"total-time": 0, "downtime": 0, "setup-time": 0})
        return dict(self.mig)

    def complete(self):
        self.status = "postmigrate"
        self.mig = {"status": "completed", "total-time": 1234, "downtime": 12,
                    "setup-time": 1, "ram": {"transferred": 5 << 20, "remaining": 0,
                                             "total": 64 << 20, "duplicate": 15000,
                                             "normal": 1280, "dirty-sync-count": 3,
                                             "mbps": 900.0, "dirty-pages-rate": 100},
                    "vmm": {"rounds": 3}}
        with open(self.o["stats-json"], "w") as f:
            json.dump({"schema_version": 1, "status": "completed", "error": None,
                       "total_us": 1234000, "downtime_us": 12000, "setup_us": 1000,
                       "stop_reason": "converged", "round_count": 3,
                       "bytes_total": 5 << 20, "rounds": [
                           {"index": i, "start_us": i * 1000, "dirty_pages": d,
                            "pages_sent": d, "dirty_rate_pps": 100.0}
                           for i, d in enumerate((16384, 300, 40))]}, f)
        open(self.marker, "w").close()
        self.event("MIGRATION", {"status": "completed"})
        if MODE == "exit":
            os._exit(0)

    def handle(self, cmd, args):
        if cmd == "qmp_capabilities":
            return {}
        if cmd == "query-status":
            return {"status": self.status, "running": self.status == "running"}
        if cmd == "migrate":
            if not args.get("uri", "").startswith("tcp:"):
                return {"error": {"class": "GenericError", "desc": "bad uri"}}
            self.mig = {"status": "active", "ram": {"transferred": 0, "remaining": 1 << 20,
                                                   "total": 64 << 20, "dirty-sync-count": 1}}
            if args.get("blk"):  # block migration: QEMU's disk figures
                self.mig["disk"] = {"transferred": 0, "remaining": 1 << 20,
                                    "total": 1 << 20}
            self.event("MIGRATION", {"status": "active"})
            return {}
        if cmd == "query-migrate":
            return self.query_migrate()
        if cmd == "migrate_cancel":
            if self.mig["status"] == "active":
                self.mig = {"status": "cancelled"}
                self.event("MIGRATION", {"status": "cancelled"})
            return {}
        if cmd == "migrate-set-parameters":
            self.params.update(args)
            return {}
        if cmd == "query-migrate-parameters":
            return dict(self.params)
        if cmd == "migrate-set-capabilities":
            # As vmm: only with the ring (a destination: the one its
            # guest will be built with).
            if any(c["capability"] == "dirty-limit" and c["state"]
                   for c in args["capabilities"]) and "dirty-ring" not in self.o:
                return {"error": {"class": "GenericError", "desc":
                                  "dirty-limit needs the dirty ring: start vmm "
                                  "with --dirty-ring ENTRIES"}}
            return {}
        if cmd == "quit":
            self.quit.set()
            return {}
        return {"error": {"class": "CommandNotFound",
                          "desc": "The command %s has not been found" % cmd}}

    def serve(self, path):
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        srv.listen(1)
        conn, _ = srv.accept()
        self.conn = conn
        conn.sendall(b'{"QMP": {"version": {"qemu": {"major": 7, "minor": 2, '
                     b'"micro": 0}, "package": "fake vmm"}, "capabilities": []}}\n')
        buf = b""
        while not self.quit.is_set():
            data = conn.recv(65536)
            if not data:
                break
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if not line.strip():
                    continue
                msg = json.loads(line)
                with self.lock:
                    r = self.handle(msg["execute"], msg.get("arguments") or {})
                reply = r if isinstance(r, dict) and "error" in r else {"return": r}
                conn.sendall(json.dumps(reply).encode() + b"\n")
        self.quit.set()

    def guest(self):
        """The heartbeat: ticks every 10 ms while this side runs it."""
        with open(self.serial_path, "w") as f:
            n = 0
            if self.incoming:
                while not os.path.exists(self.marker) and not self.quit.is_set():
                    time.sleep(0.005)
                if MODE == "dstfail":
                    print("vmm: incoming migration failed: stream ended in the "
                          "middle of a RAM section", file=sys.stderr, flush=True)
                    os._exit(1)
                n = 1000
                self.status = "running"
                self.event("RESUME")
            else:
                f.write("[%.6f] heartbeat: cpus=1 period=10000 us\n" % time.time())
            while not self.quit.is_set() and self.status == "running":
                stamp = "[%.6f] " % time.time() if self.stamped else ""
                f.write("%stick %d t_us=%d\n" % (stamp, n, n * 10000))
                f.flush()
                n += 1
                time.sleep(0.01)
            self.quit.wait()


def main():
    if "--help" in sys.argv:
        print(HELP)
        return 0
    if "--version" in sys.argv:
        print("vmm fake")
        return 0
    o = opts(sys.argv[1:])
    fake = Fake(o)
    if fake.incoming:
        print("vmm: waiting for a migration on %s" % o["incoming"], file=sys.stderr,
              flush=True)
    qmp_path = o["qmp"].split(":", 1)[1]
    if fake.incoming and MODE == "lateqmp":
        # A destination whose monitor only comes up with the VM.
        def late():
            while not os.path.exists(fake.marker):
                time.sleep(0.005)
            fake.serve(qmp_path)
        threading.Thread(target=late, daemon=True).start()
    else:
        threading.Thread(target=fake.serve, args=(qmp_path,), daemon=True).start()
    fake.guest()
    return 0


if __name__ == "__main__":
    sys.exit(main())
