"""The lab's experiment files (TOML): parsing, validation, grid expansion,
and the link presets. Pure functions, no processes: unit-tested by
bench/test_lab.py.

An experiment is a grid; every combination of its axes is a point, and
every point runs `repetitions` times. README ("The lab") documents the
format; ConfigError messages name the file, the key and what was wrong.
"""
import itertools
import json
import os
import re
import tomllib

# The systems every experiment knows; [systems.NAME] tables add more
# (another QEMU binary, e.g. bench/qemu-backports' QEMU 10).
SYSTEMS = ("vmm", "qemu")
SYSTEM_KINDS = ("qemu",)
SYSTEM_KEYS = ("kind", "binary", "datadir")
# A relative binary or datadir in [systems.NAME] is the repository's.
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Migration parameters both systems understand, with QEMU's names and
# units (ms, bytes/s), and the ones only vmm has (README "Parameters").
COMMON_PARAMS = ("downtime-limit", "max-bandwidth")
# dirty-limit's parameters (QEMU 8.1's), and the dirty ring it needs when
# the point does not size one (entries per vCPU, on both systems).
DIRTY_LIMIT_PARAMS = ("vcpu-dirty-limit", "x-vcpu-dirty-limit-period")
DIRTY_LIMIT_RING = 4096
# Capabilities the lab sets on the source only: dirty-limit throttles the
# source's vCPUs; a destination has none running to throttle.
SOURCE_ONLY_CAPS = ("dirty-limit",)
VMM_PARAMS = ("max-iterations", "min-dirty-pages", "no-progress-rounds",
              "max-sent-factor", "shrink-factor", "stall-action", "round-end")
# What the lab sets unless the experiment says otherwise, on both systems,
# so that their defaults do not differ silently (QEMU 7.2 caps pre-copy at
# 128 MiB/s unless told; vmm does not cap).
DEFAULT_PARAMS = {"downtime-limit": 300, "max-bandwidth": 0}

# Link presets: rate in bits/s.
LINK_RATES = {"1gbit": 10**9, "10gbit": 10**10, "25gbit": 25 * 10**9}

EXPERIMENT_KEYS = {
    "name": str, "description": str, "repetitions": int, "warmup": "dur",
    "timeout": "dur", "cooldown": "dur", "sample_interval": "dur",
    "ready_timeout": "dur", "order": str, "forecast": "dur",
}
EXPERIMENT_DEFAULTS = {"name": "", "description": "", "repetitions": 1,
                       "warmup": 2.0, "timeout": 60.0, "cooldown": 1.0,
                       "sample_interval": 0.05, "ready_timeout": 30.0,
                       "forecast": 0.0}
# [experiment] forecast: vmm's up-front forecast (x-vmm-forecast) watches
# the guest for whole seconds, 1 to 30 (0: none).
FORECAST_SECONDS = (1, 30)
# [experiment] order, the order of the runs (run_order); the first is the
# default. It is the spec's, not the settings a run records: a run's
# record stays what it was before there was a choice.
ORDERS = ("interleaved", "blocks")
GRID_KEYS = ("system", "guest", "mem", "cpus", "link", "params",
             "capabilities", "disk", "dirty-ring", "mem-prealloc")
GRID_DEFAULTS = {"system": ["vmm", "qemu"], "mem": ["256M"], "cpus": [1],
                 "link": ["loopback"], "params": [{}], "capabilities": [{}],
                 "disk": ["none"], "dirty-ring": [None], "mem-prealloc": [False]}
# A disk (bench/lab_disk.py): its keys and defaults; the guests that need one.
DISK_MODES = ("block", "incremental", "shared")
DISK_DEFAULTS = {"size": "256M", "mode": "block", "overlay": "16M"}
DISK_GUESTS = ("disktouch", "diskverify")
DISK_CLUSTER = 64 << 10


class ConfigError(Exception):
    pass


def parse_duration(text, where="duration"):
    """Seconds from 2, 2.5, "2s", "500ms", "1m"."""
    if isinstance(text, bool):
        raise ConfigError("%s: %r is not a duration" % (where, text))
    if isinstance(text, (int, float)):
        if text < 0:
            raise ConfigError("%s: %r is negative" % (where, text))
        return float(text)
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*(us|ms|s|m|)\s*", str(text))
    if not m:
        raise ConfigError("%s: %r is not a duration (e.g. 2s, 500ms, 1m)" %
                          (where, text))
    scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "": 1.0, "m": 60.0}[m.group(2)]
    return float(m.group(1)) * scale


def parse_size(text, where="size"):
    """Bytes from "256M", "1G", "512K", or an integer (bytes)."""
    if isinstance(text, bool):
        raise ConfigError("%s: %r is not a size" % (where, text))
    if isinstance(text, int):
        if text <= 0:
            raise ConfigError("%s: %r is not a positive size" % (where, text))
        return text
    m = re.fullmatch(r"\s*([0-9]+)\s*([KMGT]?)i?B?\s*", str(text), re.I)
    if not m:
        raise ConfigError("%s: %r is not a size (e.g. 256M, 1G)" % (where, text))
    mult = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    n = int(m.group(1)) * mult[m.group(2).upper()]
    if n <= 0:
        raise ConfigError("%s: %r is not a positive size" % (where, text))
    return n


def size_text(n):
    """The shortest K/M/G spelling of a size vmm and QEMU both accept."""
    for unit, mult in (("G", 2**30), ("M", 2**20), ("K", 2**10)):
        if n % mult == 0:
            return "%d%s" % (n // mult, unit)
    return str(n)


def parse_rate(text, where):
    """bits/s from "1gbit", "500mbit", "10gbit", or an integer."""
    if isinstance(text, int) and not isinstance(text, bool) and text > 0:
        return text
    m = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)([kmg]?)bit", str(text).lower())
    if not m:
        raise ConfigError("%s: %r is not a rate (e.g. 1gbit, 500mbit)" %
                          (where, text))
    return int(float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[m.group(2)])


def parse_link(text, where="link"):
    """A link spec: "loopback", or a preset/rate with options,
    "10gbit", "1gbit,delay=1ms,loss=0.1%", "rate=2gbit,delay=500us".
    Returns {"name", "rate_bps" (None = unshaped), "delay_s", "loss_pct"}."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError("%s: %r is not a link (loopback, 1gbit, 10gbit, "
                          "25gbit, with ,delay=...,loss=...)" % (where, text))
    link = {"name": text.strip(), "rate_bps": None, "delay_s": 0.0,
            "loss_pct": 0.0}
    parts = [p.strip() for p in text.split(",")]
    for i, part in enumerate(parts):
        if "=" not in part:
            if i != 0:
                raise ConfigError("%s: %r: %r must be key=value (delay=, loss=, "
                                  "rate=)" % (where, text, part))
            if part == "loopback":
                continue
            if part in LINK_RATES:
                link["rate_bps"] = LINK_RATES[part]
                continue
            raise ConfigError("%s: %r: unknown preset %r (loopback, %s)" % (
                where, text, part, ", ".join(LINK_RATES)))
        key, val = part.split("=", 1)
        if key == "delay":
            link["delay_s"] = parse_duration(val, "%s: delay" % where)
        elif key == "loss":
            m = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)%?", val)
            if not m or float(m.group(1)) > 100:
                raise ConfigError("%s: loss=%r is not a percentage (0.1%%)" %
                                  (where, val))
            link["loss_pct"] = float(m.group(1))
        elif key == "rate":
            link["rate_bps"] = parse_rate(val, "%s: rate" % where)
        else:
            raise ConfigError("%s: %r: unknown link option %r (delay, loss, "
                              "rate)" % (where, text, key))
    return link


def link_is_shaped(link):
    return bool(link["rate_bps"] or link["delay_s"] or link["loss_pct"])


def _as_list(value):
    return value if isinstance(value, list) else [value]


def _expand_table(table):
    """{"name": "memtouch", "rate": [0, 1000]} -> one table per
    combination of its list-valued fields, in order."""
    keys = list(table)
    choices = [_as_list(table[k]) for k in keys]
    return [dict(zip(keys, combo)) for combo in itertools.product(*choices)]


def _check_guest(g, where):
    if not isinstance(g, dict):
        g = {"name": g}
    if not isinstance(g.get("name"), str) or not g["name"]:
        raise ConfigError("%s: a guest needs a name (memtouch, heartbeat, idle, "
                          "verify, or any build/guests/NAME.elf)" % where)
    if not re.fullmatch(r"[A-Za-z0-9_-]+", g["name"]):
        raise ConfigError("%s: guest name %r" % (where, g["name"]))
    for k, v in g.items():
        if isinstance(v, (dict, list)) or isinstance(v, bool):
            raise ConfigError("%s: guest %s: %s=%r is not a number or string" %
                              (where, g["name"], k, v))
        if k != "ready" and isinstance(v, str) and re.search(r"\s", v):
            raise ConfigError("%s: guest %s: %s=%r contains a space" %
                              (where, g["name"], k, v))
    return g


def _check_params(p, where):
    if not isinstance(p, dict):
        raise ConfigError("%s: %r is not a table of migration parameters" %
                          (where, p))
    for k, v in p.items():
        if not re.fullmatch(r"[a-z0-9-]+", k):
            raise ConfigError("%s: %r is not a QMP parameter name "
                              "(downtime-limit, max-bandwidth, ...)" % (where, k))
        if k in ("downtime-limit", "max-bandwidth", "max-iterations",
                 "min-dirty-pages", "no-progress-rounds"):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ConfigError("%s: %s=%r must be a non-negative integer%s" % (
                    where, k, v, " (ms)" if k == "downtime-limit" else
                    " (bytes/s)" if k == "max-bandwidth" else ""))
        if k in DIRTY_LIMIT_PARAMS and (isinstance(v, bool) or
                                        not isinstance(v, int) or v < 1):
            raise ConfigError("%s: %s=%r must be an integer >= 1 (%s)" % (
                where, k, v, "MB/s" if k == "vcpu-dirty-limit" else "ms"))
        if k == "stall-action" and v not in ("stop-copy", "cancel"):
            raise ConfigError("%s: stall-action=%r (stop-copy or cancel)" %
                              (where, v))
        if k == "round-end" and v not in ("pass", "fit"):
            raise ConfigError("%s: round-end=%r (pass or fit)" % (where, v))
    return p


def _check_caps(c, where):
    if not isinstance(c, dict):
        raise ConfigError("%s: %r is not a table of capabilities" % (where, c))
    for k, v in c.items():
        if not isinstance(v, bool):
            raise ConfigError("%s: capability %s=%r must be true or false" %
                              (where, k, v))
    if c.get("auto-converge") and c.get("dirty-limit"):
        raise ConfigError("%s: auto-converge and dirty-limit cannot be on "
                          "together (both systems refuse it)" % where)
    return c


def _check_ring(v, where):
    """A dirty ring's entries per vCPU: 0 (the bitmap) or a power of two
    from 256 (what vmm's --dirty-ring takes; the host may allow less)."""
    if isinstance(v, bool) or not isinstance(v, int) or v < 0 or (
            v and (v < 256 or v & (v - 1))):
        raise ConfigError("%s: %r is not a dirty ring size (0 = the bitmap, "
                          "or a power of two from 256, e.g. 4096)" % (where, v))
    return v


def parse_systems(table, fname):
    """[systems.NAME] tables: {NAME: {"kind", "binary", "datadir"}}, with
    binary and datadir absolute (a relative one is the repository's)."""
    if not isinstance(table, dict):
        raise ConfigError("%s: systems must be tables ([systems.NAME])" % fname)
    out = {}
    for name, t in table.items():
        where = "%s: [systems.%s]" % (fname, name)
        if name in SYSTEMS:
            raise ConfigError("%s: %s is built in: give this one another name" %
                              (where, name))
        if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
            raise ConfigError("%s: a system's name is letters, digits, - and _" %
                              where)
        if not isinstance(t, dict):
            raise ConfigError("%s: not a table (kind, binary, datadir)" % where)
        for k in t:
            if k not in SYSTEM_KEYS:
                raise ConfigError("%s: unknown key %r (known: %s)" % (
                    where, k, ", ".join(SYSTEM_KEYS)))
        if t.get("kind") not in SYSTEM_KINDS:
            raise ConfigError("%s: kind = %r (known: %s)" % (
                where, t.get("kind"), ", ".join(SYSTEM_KINDS)))
        if not isinstance(t.get("binary"), str) or not t["binary"]:
            raise ConfigError("%s: binary = \"PATH\" is missing (relative to "
                              "the repository, or absolute)" % where)
        datadir = _as_list(t.get("datadir", []))
        if not all(isinstance(d, str) and d for d in datadir):
            raise ConfigError("%s: datadir = %r must be a path or a list of "
                              "paths (QEMU's -L)" % (where, t["datadir"]))
        out[name] = {"kind": t["kind"], "binary": os.path.join(REPO, t["binary"]),
                     "datadir": [os.path.join(REPO, d) for d in datadir]}
    return out


def system_rank(name):
    """vmm, then the system's QEMU, then the other systems by name."""
    return (SYSTEMS.index(name), "") if name in SYSTEMS else (len(SYSTEMS), name)


def _point_ring(p, fname):
    """The point's dirty ring: as the grid says, else DIRTY_LIMIT_RING
    with dirty-limit (it needs the ring, on vmm and on QEMU) and none
    without; kept in the point only when there is one."""
    ring = p.pop("dirty-ring")
    limit = p["capabilities"].get("dirty-limit")
    if ring is None:
        ring = DIRTY_LIMIT_RING if limit else 0
    if limit and not ring:
        raise ConfigError("%s: [grid] dirty-ring = 0 with dirty-limit on: "
                          "dirty-limit needs the dirty ring (%s)" % (fname, p["system"]))
    if ring:
        p["dirty-ring"] = ring


def _check_disk(d, where):
    """A disk table, normalized: {"size", "mode", "overlay"} in bytes
    (overlay None unless incremental); "none" is no disk (None)."""
    if d == "none":
        return None
    if not isinstance(d, dict):
        raise ConfigError("%s: %r is not a disk table ({ size = \"256M\", mode = "
                          "\"block\" }) or \"none\"" % (where, d))
    for k in d:
        if k not in DISK_DEFAULTS:
            raise ConfigError("%s: unknown disk key %r (known: %s)" % (
                where, k, ", ".join(DISK_DEFAULTS)))
    given, d = d, dict(DISK_DEFAULTS, **d)
    if d["mode"] not in DISK_MODES:
        raise ConfigError("%s: disk mode %r (block = migrate -b, incremental = "
                          "-i over a base, shared = the same image, no block "
                          "migration)" % (where, d["mode"]))
    size = parse_size(d["size"], "%s: disk size" % where)
    if size % DISK_CLUSTER:
        raise ConfigError("%s: disk size %r must be a multiple of 64K" %
                          (where, d["size"]))
    overlay = None
    if d["mode"] == "incremental":
        overlay = parse_size(d["overlay"], "%s: disk overlay" % where)
        if overlay % DISK_CLUSTER or overlay > size:
            raise ConfigError("%s: disk overlay %r must be a multiple of 64K and "
                              "at most the disk's size %r" % (where, d["overlay"],
                                                              d["size"]))
    elif "overlay" in given:
        raise ConfigError("%s: disk overlay is for mode incremental only" % where)
    return {"size": size, "mode": d["mode"], "overlay": overlay}


def _check_point_disk(p, fname):
    """What a point's guest, system and parameters ask of its disk."""
    where = "%s: point %s" % (fname, p["id"])
    disk, guest = p.get("disk"), p["guest"]
    if guest["name"] in DISK_GUESTS and not disk:
        raise ConfigError("%s: guest %s needs a disk ([grid] disk = { size = "
                          "\"256M\", mode = \"block\" })" % (where, guest["name"]))
    if not disk:
        return
    if guest["name"] in DISK_GUESTS:
        ws = parse_size(guest.get("ws", "64M"), "%s: guest ws" % where)
        if ws > disk["size"]:
            raise ConfigError("%s: guest %s ws=%s is larger than the disk (%s)" % (
                where, guest["name"], guest.get("ws", "64M"), size_text(disk["size"])))
    if (p["system"] == "qemu" and disk["mode"] != "shared" and
            not p["params"].get("max-bandwidth")):
        raise ConfigError("%s: QEMU 7.2's block migration sends nothing with "
                          "max-bandwidth 0 (the lab's default): set params "
                          "max-bandwidth (QEMU's own default is 134217728)" % where)


def _axis(grid, key, fname, systems=None):
    """The list of alternatives of one grid axis, validated; systems:
    the experiment's own ([systems.NAME])."""
    where = "%s: [grid] %s" % (fname, key)
    raw = grid.get(key, GRID_DEFAULTS.get(key))
    if raw is None:
        raise ConfigError("%s: missing (every experiment names its guest)" % where)
    values = _as_list(raw)
    if not values:
        raise ConfigError("%s is empty: the grid has no points" % where)
    out = []
    for v in values:
        if key == "system":
            known = SYSTEMS + tuple(systems or ())
            if v not in known:
                raise ConfigError("%s: unknown system %r (%s; others are defined "
                                  "in [systems.NAME])" % (where, v, ", ".join(known)))
            out.append(v)
        elif key == "mem":
            n = parse_size(v, where)
            if n % 4096 or n < 2 * 2**20:
                raise ConfigError("%s: %r must be at least 2M and a multiple of 4K" %
                                  (where, v))
            out.append(n)
        elif key == "cpus":
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 64:
                raise ConfigError("%s: %r is not a vCPU count (1 to 64)" % (where, v))
            out.append(v)
        elif key == "link":
            out.append(parse_link(v, where))
        elif key == "guest":
            if isinstance(v, dict):
                out += [_check_guest(g, where) for g in _expand_table(v)]
            else:
                out.append(_check_guest(v, where))
        elif key == "params":
            out += [_check_params(p, where) for p in
                    (_expand_table(v) if isinstance(v, dict) else [v])]
        elif key == "capabilities":
            out += [_check_caps(c, where) for c in
                    (_expand_table(v) if isinstance(v, dict) else [v])]
        elif key == "disk":
            out += [_check_disk(d, where) for d in
                    (_expand_table(v) if isinstance(v, dict) else [v])]
        elif key == "dirty-ring":
            out.append(v if v is None else _check_ring(v, where))
        elif key == "mem-prealloc":
            if not isinstance(v, bool):
                raise ConfigError("%s: %r must be true or false" % (where, v))
            out.append(v)
    if not out:
        raise ConfigError("%s: a list in it is empty: the grid has no points" % where)
    return out


def parse_experiment(text, fname="experiment"):
    """The experiment from TOML text: {"experiment": settings, "points":
    [point, ...], "systems": {NAME: [systems.NAME]}, "order": one of
    ORDERS}; a point is {"id", "system", "guest", "mem", "cpus", "link",
    "params", "capabilities"}, with "disk" and "migrate" when it has a
    disk, "dirty-ring" when it has a ring, "mem-prealloc" when on."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("%s: not valid TOML: %s" % (fname, e)) from None
    for k in doc:
        if k not in ("experiment", "grid", "systems"):
            raise ConfigError("%s: unknown section or key %r (experiment, grid, "
                              "systems)" % (fname, k))
    systems = parse_systems(doc.get("systems", {}), fname)
    exp = dict(EXPERIMENT_DEFAULTS)
    for k, v in doc.get("experiment", {}).items():
        kind = EXPERIMENT_KEYS.get(k)
        where = "%s: [experiment] %s" % (fname, k)
        if kind is None:
            raise ConfigError("%s: unknown key (known: %s)" % (
                where, ", ".join(sorted(EXPERIMENT_KEYS))))
        if kind == "dur":
            exp[k] = parse_duration(v, where)
        elif kind is int:
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError("%s: %r must be an integer >= 1" % (where, v))
            exp[k] = v
        else:
            if not isinstance(v, str):
                raise ConfigError("%s: %r must be a string" % (where, v))
            if k == "order" and v not in ORDERS:
                raise ConfigError("%s: %r (interleaved: a repetition at a time, "
                                  "a point's systems one after the other; "
                                  "blocks: each point's repetitions back to "
                                  "back)" % (where, v))
            exp[k] = v
    order = exp.pop("order", ORDERS[0])
    lo, hi = FORECAST_SECONDS
    if exp["forecast"] and (exp["forecast"] != int(exp["forecast"]) or
                            not lo <= exp["forecast"] <= hi):
        raise ConfigError("%s: [experiment] forecast: %gs (whole seconds, %d to %d; "
                          "0 = no forecast)" % (fname, exp["forecast"], lo, hi))
    if exp["sample_interval"] <= 0 or exp["timeout"] <= 0:
        raise ConfigError("%s: [experiment] timeout and sample_interval must be "
                          "above 0" % fname)
    grid = doc.get("grid")
    if not isinstance(grid, dict):
        raise ConfigError("%s: no [grid] section: the grid has no points" % fname)
    for k in grid:
        if k not in GRID_KEYS:
            raise ConfigError("%s: [grid] unknown key %r (known: %s)" % (
                fname, k, ", ".join(GRID_KEYS)))
    axes = [_axis(grid, k, fname, systems) for k in GRID_KEYS]
    points = []
    for combo in itertools.product(*axes):
        p = dict(zip(GRID_KEYS, combo))
        p["params"] = dict(DEFAULT_PARAMS, **p["params"])
        if p["disk"] is None:
            del p["disk"]  # a point without a disk reads as before disks
        else:
            p["migrate"] = disk_migrate_args(p["disk"])
        _point_ring(p, fname)
        if p.pop("mem-prealloc"):   # kept only when on, as the ring: old ids stay
            p["mem-prealloc"] = True
        p["id"] = point_id(p)
        _check_point_disk(p, fname)
        points.append(p)
    seen = set()
    for p in points:
        if p["id"] in seen:
            raise ConfigError("%s: point %s appears twice in the grid" %
                              (fname, p["id"]))
        seen.add(p["id"])
    return {"experiment": exp, "points": points, "systems": systems,
            "order": order}


def _side_by_side(points):
    """The points grouped so that those that differ only in their system
    are one group, in the order the grid lists the systems (system is the
    grid's outermost axis: the first system's points come first)."""
    groups = {}
    for p in points:
        rest = {k: v for k, v in p.items() if k not in ("system", "id")}
        groups.setdefault(json.dumps(rest, sort_keys=True, default=str),
                          []).append(p)
    return list(groups.values())


def run_order(points, repetitions, order="interleaved"):
    """[(i, point, rep)] in the order `bench/lab run` takes them; i is
    the point's place in a repetition's sequence (0-based), rep 0-based.
    interleaved: repetition 1 of every point before repetition 2 of any,
    and the systems of a point one after the other, in the grid's order in
    even repetitions and the reverse in odd ones, so that whatever drifts
    on the host over an experiment (load, memory, heat), and whatever the
    run before leaves behind (memory the host has yet to reclaim), lands
    on every system alike; blocks: each point's repetitions back to back,
    in grid order (all of one system before the next)."""
    if order not in ORDERS:
        raise ValueError("run order %r (%s)" % (order, ", ".join(ORDERS)))
    if order == "blocks":
        return [(i, p, rep) for i, p in enumerate(points)
                for rep in range(repetitions)]
    groups = _side_by_side(points)
    plan = []
    for rep in range(repetitions):
        seq = [p for g in groups for p in (g if rep % 2 == 0 else g[::-1])]
        plan += [(i, p, rep) for i, p in enumerate(seq)]
    return plan


def load_experiment(path):
    with open(path, "rb") as f:
        return parse_experiment(f.read().decode(), path)


def disk_migrate_args(disk):
    """The QMP `migrate` arguments a disk's mode adds (blk, inc)."""
    if disk["mode"] == "block":
        return {"blk": True}
    if disk["mode"] == "incremental":
        return {"blk": True, "inc": True}
    return {}


def disk_label(disk):
    """block-256M, incremental-256M+16M, shared-256M."""
    text = "%s-%s" % (disk["mode"], size_text(disk["size"]))
    if disk.get("overlay"):
        text += "+" + size_text(disk["overlay"])
    return text


def guest_label(guest):
    extra = ",".join("%s=%s" % (k, v) for k, v in guest.items()
                     if k not in ("name", "ready"))
    return guest["name"] + ("(%s)" % extra if extra else "")


def point_id(p):
    """A file-name-safe, unique, readable name of a point."""
    parts = [p["system"], guest_label(p["guest"]), size_text(p["mem"]),
             "%dcpu" % p["cpus"], p["link"]["name"]]
    if p.get("params"):
        parts.append(",".join("%s=%s" % kv for kv in sorted(p["params"].items())))
    if p.get("capabilities"):
        parts.append(",".join("%s=%s" % (k, "on" if v else "off")
                              for k, v in sorted(p["capabilities"].items())))
    if p.get("disk"):
        parts.append(disk_label(p["disk"]))
    if p.get("dirty-ring"):
        parts.append("ring%d" % p["dirty-ring"])
    if p.get("mem-prealloc"):
        parts.append("prealloc")
    return re.sub(r"[^A-Za-z0-9_.,=+-]", "_", "_".join(parts).replace("(", "-")
                  .replace(")", ""))
