#!/usr/bin/env python3
"""Tables for bench/compare.sh.

  report.py RESULTS_DIR [--smoke]   markdown table of medians (stdout); with
                                    --smoke, exit 1 unless every server relayed
                                    everything in every scenario
  report.py --line RUNS.jsonl       one-line summary of the last run (stderr)
  report.py --clean RUNS.jsonl      exit 0 if the last run relayed everything
  report.py --disturbed RUNS.jsonl  exit 0 if the last run's server waited on its run queue > 5%
                                    of the window and left that much of its CPU to others
  report.py --last-json FILE        the last line of FILE that is a JSON object, or null
  report.py --meta OUT.json         write meta.json from compare.sh's M_* variables

Per run (one line of runs.jsonl), from the bench's JSON and the samples taken
inside the measured window:
  delivered/s   bench delivered_rate: round trips/s (rtt) or datagrams/s at the peer (one-way)
  relayed/s     datagrams the server relayed per second: 2 x round trips/s, or delivered/s
  CPU           server utime+stime (all threads) per second of window, as a fraction of a core
  µs/rt, µs/dgram   CPU / round trips per second, CPU / relayed datagrams per second
  busy %        the server core's non-idle share (/proc/stat), softirq included
  core µs/dgram busy fraction / relayed datagrams per second (counts softirq work
                that the kernel charged to no process)
--topology veth with threaded NAPI (compare.sh --veth-napi on, the default there):
  NAPI %        utime+stime of the relay namespace's two NAPI threads (pinned to the
                server's CPU) per second of window: the relay's kernel receive work,
                and with a fast path the XDP program and its redirects
  relay µs/dgram, relay µs/rt   (server CPU + relay NAPI threads' CPU) / relayed datagrams
                (round trips) per second: the relay's cost, the same for every server
  prog ns/pkt   the fast path's program: run_time_ns / run_cnt over the window
                (/proc/PID/fdinfo of ternd's XDP/TC programs; kernel.bpf_stats_enabled=1)
  kernel %      datagrams the fast path relayed (ternd's stats: to_peer + to_client) /
                all datagrams the bench's run relayed (warm-up included)
churn runs (TCP or TLS clients: connect, Allocate, Refresh 0, close; churnr: TLS
sessions resumed):
  cycles/s      the bench's cycle_rate: connections completed per second
  µs/conn       CPU / cycles per second; conn/s per core = 1e6 / µs/conn
idle runs (TCP connections each holding an allocation):
  B/conn        (server VmRSS at the end of the hold - before) / connections held
"""
import json
import os
import statistics
import sys


def last_json(path):
    try:
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        line = line.strip()
        if line.startswith("{"):
            try:
                obj = json.loads(line)
                if isinstance(obj, dict):
                    return obj
            except ValueError:
                pass
    return None


def num(v):
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def metrics(r):
    """Derived numbers of one run, or None where they cannot be had."""
    b = r.get("bench") or {}
    m = {"ok": bool(r.get("ok")), "why": r.get("why", "")}
    if r.get("mode") in ("churn", "idle"):
        return conn_metrics(r, b, m)
    secs = num(b.get("seconds")) or 0
    delivered = num(b.get("delivered_rate"))
    if delivered is None and num(b.get("received")) is not None and secs:
        delivered = b["received"] / secs
    m["delivered"] = delivered
    m["sent"] = num(b.get("sent"))
    m["received"] = num(b.get("received"))
    m["errors"] = num(b.get("errors"))
    loss = num(b.get("loss"))
    if loss is None and m["sent"] and m["received"] is not None:
        loss = max(0.0, 1 - m["received"] / m["sent"])
    m["loss"] = loss
    for q in ("rtt_p50_us", "rtt_p99_us", "rtt_p999_us"):
        m[q] = num(b.get(q))
    rtt = r.get("mode") == "rtt"
    m["relayed"] = delivered * (2 if rtt else 1) if delivered else None
    win = (r.get("window_ns") or 0) / 1e9
    tck = r.get("clk_tck") or 100
    cpu = (r.get("proc_ticks", 0) / tck) / win if win > 0 and r.get("proc_ticks", -1) >= 0 else None
    m["cpu"] = cpu
    wns = r.get("wait_ns")
    m["wait"] = wns / 1e9 / win if win > 0 and isinstance(wns, int) and wns >= 0 else None
    m["sent_rate"] = num(b.get("sent_rate"))
    sns = r.get("sched_ns")
    m["cpu_sched"] = sns / 1e9 / win if win > 0 and isinstance(sns, int) and sns > 0 else None
    total = r.get("core_total") or 0
    busy = r.get("core_busy", 0) / total if total > 0 else None
    m["busy"] = busy
    m["softirq"] = r.get("core_softirq", 0) / total if total > 0 else None
    rel = m["relayed"]
    m["us_dgram"] = cpu * 1e6 / rel if cpu is not None and rel else None
    m["us_rt"] = cpu * 1e6 / delivered if rtt and cpu is not None and delivered else None
    m["core_us_dgram"] = busy * 1e6 / rel if busy is not None and rel else None
    # the relay namespace's NAPI threads (compare.sh --veth-napi on)
    nt = r.get("napi_relay_ticks")
    m["napi"] = (nt / tck) / win if win > 0 and isinstance(nt, int) and nt >= 0 else None
    nw = r.get("napi_relay_wait_ns")
    m["napi_wait"] = nw / 1e9 / win if win > 0 and isinstance(nw, int) and nw >= 0 else None
    ns = r.get("napi_relay_ns")
    m["napi_sched"] = ns / 1e9 / win if win > 0 and isinstance(ns, int) and ns >= 0 else None
    m["relay"] = cpu + m["napi"] if cpu is not None and m["napi"] is not None else None
    m["us_relay"] = m["relay"] * 1e6 / rel if m["relay"] is not None and rel else None
    m["us_relay_rt"] = m["relay"] * 1e6 / delivered if rtt and m["relay"] is not None and delivered else None
    pc = r.get("prog_run_cnt")
    m["prog_ns"] = r.get("prog_run_ns", 0) / pc if isinstance(pc, int) and pc > 0 else None
    m["kernel"] = kernel_share(r, b, rtt)
    return m


def find_key(o, key):
    """The first value of key anywhere in a JSON object."""
    if isinstance(o, dict):
        if key in o:
            return o[key]
        for v in o.values():
            x = find_key(v, key)
            if x is not None:
                return x
    elif isinstance(o, list):
        for v in o:
            x = find_key(v, key)
            if x is not None:
                return x
    return None


def kernel_share(r, b, rtt):
    """Share of the run's relayed datagrams that the fast path relayed."""
    if not r.get("fast_path"):
        return None
    fp = find_key(r.get("server_stats") or {}, "fastpath")
    if not isinstance(fp, dict):
        return None
    k = (num(fp.get("to_peer")) or 0) + (num(fp.get("to_client")) or 0)
    tot = (num(b.get("received")) or 0) + (num(b.get("warm_received")) or 0)
    tot *= 2 if rtt else 1
    return k / tot if tot else None


def window_cpu(r, m):
    win = (r.get("window_ns") or 0) / 1e9
    tck = r.get("clk_tck") or 100
    m["cpu"] = (r.get("proc_ticks", 0) / tck) / win if win > 0 and r.get("proc_ticks", -1) >= 0 else None
    wns = r.get("wait_ns")
    m["wait"] = wns / 1e9 / win if win > 0 and isinstance(wns, int) and wns >= 0 else None
    sns = r.get("sched_ns")
    m["cpu_sched"] = sns / 1e9 / win if win > 0 and isinstance(sns, int) and sns > 0 else None
    total = r.get("core_total") or 0
    m["busy"] = r.get("core_busy", 0) / total if total > 0 else None


def conn_metrics(r, b, m):
    """churn: cycles/s and CPU per cycle; idle: RSS per connection held."""
    m.update({k: None for k in ("delivered", "sent", "received", "loss", "rtt_p50_us", "rtt_p99_us",
                                "rtt_p999_us", "relayed", "sent_rate", "us_dgram", "us_rt", "core_us_dgram",
                                "softirq", "us_conn", "cycle_p50_us", "cycle_p99_us", "failures",
                                "held", "rss_before", "rss_after", "rss_b_conn", "setup_rate", "client_us",
                                "resumed")})
    m["conn"] = True
    m["errors"] = num(b.get("errors"))
    m["failures"] = num(b.get("failures"))
    m["cpu"] = m["wait"] = m["cpu_sched"] = m["busy"] = None
    if r.get("mode") == "churn":
        window_cpu(r, m)
        rate = num(b.get("cycle_rate"))
        m["delivered"] = rate
        m["cycle_p50_us"] = num(b.get("cycle_p50_us"))
        m["cycle_p99_us"] = num(b.get("cycle_p99_us"))
        m["loss"] = num(b.get("failure_ratio"))
        m["us_conn"] = m["cpu"] * 1e6 / rate if m["cpu"] is not None and rate else None
        m["client_us"] = num(b.get("client_cpu_us_per_cycle"))
        full, res = num(b.get("tls_full_handshakes")), num(b.get("tls_resumed_handshakes"))
        m["resumed"] = res / (full + res) if full is not None and res is not None and full + res else None
    else:
        m["held"] = num(b.get("held_at_end"))
        m["rss_before"] = num(b.get("server_rss_kb_before"))
        m["rss_after"] = num(b.get("server_rss_kb_after"))
        m["rss_b_conn"] = num(b.get("rss_bytes_per_connection"))
        m["setup_rate"] = num(b.get("allocates_per_s"))
        m["wait"] = 0.0
    return m


# a run whose server waited on the run queue for more than this share of the
# window shared its CPU with something else
DISTURBED = 0.05


def disturb(m):
    """The share of the window other tasks can have taken from the server's
    CPU: its run-queue wait, but never more than what the server left of the
    CPU (a multi-threaded server, coturn over TCP say, also waits on its own
    threads, which takes nothing from it)."""
    w = m.get("wait")
    if w is None:
        return None
    own = m.get("cpu_sched") or m.get("cpu")
    if m.get("napi_wait") is not None and own is not None:
        # the relay's NAPI threads share the server's CPU (veth, threaded
        # NAPI): the server waits while they run and they wait while it runs,
        # which takes nothing from the relay. Only the wait that the relay's
        # own threads cannot explain is counted, capped by what the relay as
        # a whole left of its CPU.
        nc = m.get("napi_sched") or m.get("napi") or 0
        w = max(0.0, w - nc) + max(0.0, m["napi_wait"] - own - nc)
        own += nc
    return min(w, max(0.0, 1 - own)) if own is not None else w


def problems(m):
    """Why a run does not count as relaying everything (smoke)."""
    bad = []
    if m.get("conn"):
        if not m["ok"]:
            bad.append(m["why"] or "run failed")
        if m["failures"]:
            bad.append(f"{m['failures']} failures")
        return bad
    if not m["ok"]:
        bad.append(m["why"] or "run failed")
    if not m["sent"]:
        bad.append("nothing sent")
    if not m["received"]:
        bad.append("nothing received")
    if m["loss"] is None or m["loss"] > 0:
        bad.append(f"loss {m['loss']}")
    if m["errors"]:
        bad.append(f"{m['errors']} errors")
    return bad


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def fmt(v, nd=2, pct=False):
    if v is None:
        return "–"
    if pct:
        return f"{v * 100:.{nd}f}"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{nd}f}"


def scen_title(s, meta):
    kind, _, rate = s.partition("@")
    rate = int(rate or 0)
    tr = (meta.get("transport") or "udp").upper()
    if tr == "TLS":
        key = {"ec": "ECDSA P-256", "rsa": "RSA 2048"}.get(meta.get("tls_key"), "?")
        tr = f"TLS ({key} test certificate{', clients offer TLS ' + meta['tls_max'] + ' at most' if meta.get('tls_max') else ''})"
    conn_tr = tr if tr.startswith("TLS") else "TCP"
    if kind in ("rtt", "ow") and tr != "UDP":
        return scen_title_dgram(kind, rate, meta) + f"; clients over {tr}"
    if kind == "churnr":
        cr = meta.get("churn_rate") or 0
        load = f"at most {cr:,} cycles/s" if cr else "closed loop"
        return (f"connection churn with TLS session resumption: {rate:,} {conn_tr} clients from "
                f"{meta.get('sources')} addresses, each connect (resuming its previous session's ticket), "
                f"Allocate (401 + credentials), Refresh 0, close ({meta.get('churn_close')}); {load}")
    if kind == "churn" and conn_tr != "TCP":
        return scen_title_dgram(kind, rate, meta).replace("TCP clients", f"{conn_tr} clients (full handshakes)")
    if kind == "idle" and conn_tr != "TCP":
        return scen_title_dgram(kind, rate, meta).replace("TCP connections", f"{conn_tr} connections")
    return scen_title_dgram(kind, rate, meta)


def scen_title_dgram(kind, rate, meta):
    if kind == "rtt":
        return f"round trips at {rate:,} rt/s offered, {meta.get('allocations')} allocations, {meta.get('size')} B"
    if kind == "ow":
        return (f"one-way at {rate:,} datagrams/s offered in {meta.get('burst_us')}-µs bursts, "
                f"ordinary datagrams, sink peer")
    if kind == "owgso":
        r = "max rate" if rate == 0 else f"{rate:,} datagrams/s"
        return f"one-way at {r}, generator sending with GSO (see the caution), sink peer"
    if kind == "churn":
        cr = meta.get("churn_rate") or 0
        load = f"at most {cr:,} cycles/s" if cr else "closed loop"
        return (f"connection churn: {rate:,} TCP clients from {meta.get('sources')} addresses, each "
                f"connect, Allocate (401 + credentials), Refresh 0, close ({meta.get('churn_close')}); {load}")
    if kind == "idle":
        return f"idle connections: {rate:,} TCP connections each holding an allocation (server VmRSS)"
    return s


def load_runs(path):
    runs = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                runs.append(json.loads(line))
            except ValueError:
                print(f"report: {path}:{n}: not JSON, skipped", file=sys.stderr)
    return runs


def report(d, smoke):
    meta = {}
    try:
        with open(os.path.join(d, "meta.json")) as f:
            meta = json.load(f)
    except (OSError, ValueError):
        pass
    runs = load_runs(os.path.join(d, "runs.jsonl"))
    servers = meta.get("servers") or sorted({r["server"] for r in runs})
    scens = meta.get("scenarios") or sorted({r["scenario"] for r in runs})
    out = []
    p = out.append
    p(f"# compare.sh results: {meta.get('date_utc', '?')}, topology {meta.get('topology', '?')}")
    p("")
    p(f"- build: git {meta.get('git', '?')}; {meta.get('ternd', '?')}; coturn {meta.get('coturn', '?')}; "
      f"pion/turn {meta.get('pion_turn', '?')}")
    p(f"- machine: {meta.get('cpu', '?')}, {meta.get('ncpu', '?')} CPUs, kernel {meta.get('kernel', '?')}; "
      f"server on CPU {meta.get('server_cpu')}, load on CPU {meta.get('load_cpu')}; "
      f"load average at start {' '.join(meta.get('loadavg_at_start', []))}")
    p(f"- {meta.get('rounds')} round(s) x ({meta.get('warmup')} s warm-up + {meta.get('seconds')} s measured), "
      f"medians; CPU sampled from warm-up end + {meta.get('margin_ms')} ms to measured end - "
      f"{meta.get('margin_ms')} ms")
    if meta.get("rt"):
        p("- --rt: server and peer at SCHED_FIFO 50, bench at 40 (other work on the machine cannot take their CPUs)")
    if meta.get("veth_napi"):
        p(f"- veth: threaded NAPI, GRO on, on every veth end; relay NAPI threads on the server's CPU: "
          f"{', '.join(meta.get('napi_threads') or [])}; transmit checksum offload off on tbc and tbp")
    if meta.get("peer_xdp"):
        p("- veth: pass-only XDP program (tern_fp_pass) on tbc and tbp")
    if meta.get("bpf_stats"):
        p("- kernel.bpf_stats_enabled=1 during the fast-path variants' runs")
    for name, flags in (meta.get("ternd_variants") or {}).items():
        if flags:
            p(f"- {name}: ternd {flags}")
    if meta.get("coturn_mmsg_flags"):
        p(f"- coturn-mmsg: turnserver {meta['coturn_mmsg_flags']}")
    for s in meta.get("skipped", []):
        p(f"- skipped: {s}")
    p("")
    p("Columns: runs = completed/attempted (n! = n runs disturbed: the server waited on its CPU's run "
      f"queue > {DISTURBED * 100:.0f}% of the window while leaving more than that of its CPU idle); CPU = server utime+stime per relayed datagram "
      "(per round trip in rtt tables); core = busy time of the server's CPU per relayed datagram "
      "(includes softirq work charged to no process); wait = server's run-queue wait; "
      "with threaded NAPI (veth): NAPI % = the relay's NAPI threads' CPU, relay = (server + NAPI threads) "
      "per datagram (round trip), prog = the fast path program's ns per run, kernel = share relayed by it; "
      "ratios = this server's CPU (or delivered rate) / coturn's and / fwd-gso's. Medians over rounds.")
    p("")

    # a run measured again counts once: smoke keeps the last attempt, a
    # measurement the least disturbed one (smallest run-queue wait)
    last = {}
    for r in runs:
        k = (r.get("scenario"), r.get("server"), r.get("round"))
        if k not in last:
            last[k] = r
        elif smoke:
            if r.get("attempt", 1) >= last[k].get("attempt", 1):
                last[k] = r
        else:
            a, b = metrics(r), metrics(last[k])
            da, db = disturb(a), disturb(b)
            if (a["ok"], -(da if da is not None else 1)) > (b["ok"], -(db if db is not None else 1)):
                last[k] = r
    by = {}
    for r in runs:
        if last[(r.get("scenario"), r.get("server"), r.get("round"))] is r:
            by.setdefault((r.get("scenario"), r.get("server")), []).append(r)

    failures = []
    passed = 0
    for sc in scens:
        kind = sc.partition("@")[0]
        if kind in ("churn", "churnr", "idle"):
            conn_table(p, sc, "churn" if kind == "churnr" else kind, meta, servers, by, smoke, failures)
            continue
        rtt = kind == "rtt"
        maxrate = kind == "owgso"
        p(f"## {scen_title(sc, meta)}")
        p("")
        rows = {}
        for s in servers:
            rs = by.get((sc, s), [])
            ms = [metrics(r) for r in rs]
            good = [m for m in ms if m["ok"]]
            rows[s] = {
                "n": len(good), "of": len(ms),
                "delivered": med(m["delivered"] for m in good),
                "loss": med(m["loss"] for m in good),
                "p50": med(m["rtt_p50_us"] for m in good),
                "p99": med(m["rtt_p99_us"] for m in good),
                "cost": med((m["us_rt"] if rtt else m["us_dgram"]) for m in good),
                "core": med(m["core_us_dgram"] for m in good),
                "busy": med(m["busy"] for m in good),
                "cpu": med(m["cpu"] for m in good),
                "wait": med(m["wait"] for m in good),
                "sent": med(m["sent_rate"] for m in good),
                "napi": med(m["napi"] for m in good),
                "relay": med((m["us_relay_rt"] if rtt else m["us_relay"]) for m in good),
                "prog_ns": med(m["prog_ns"] for m in good),
                "kernel": med(m["kernel"] for m in good),
                "disturbed": sum(1 for m in good if (disturb(m) or 0) > DISTURBED),
            }
            if smoke:
                for m, r in zip(ms, rs):
                    bad = problems(m)
                    if bad:
                        failures.append(f"{s} {sc} round {r.get('round')}: {', '.join(bad)}")
                    else:
                        passed += 1
                if not rs:
                    failures.append(f"{s} {sc}: no run")
        cost_name = "CPU µs/rt" if rtt else "CPU µs/dgram"
        hdr = ["server", "runs"] + ([] if rtt else ["sent/s"]) + ["delivered/s" if not rtt else "rt/s", "loss %"]
        if rtt:
            hdr += ["RTT p50 µs", "RTT p99 µs"]
        has_napi = any(x["relay"] is not None for x in rows.values())
        has_fp = any(x["prog_ns"] is not None or x["kernel"] is not None for x in rows.values())
        if has_napi:
            # the relay's cost: server + its NAPI threads; ratios of that
            hdr += [cost_name, "relay " + cost_name.split(" ", 1)[1], "NAPI %", "core µs/dgram", "busy %",
                    "wait %", "relay x ternd", "relay x coturn", "relay x fwd-gso"]
            if has_fp:
                hdr += ["prog ns/pkt", "kernel %"]
        else:
            hdr += [cost_name, "core µs/dgram", "busy %", "wait %", "CPU x coturn", "CPU x fwd-gso"]
        if maxrate:
            hdr += ["rate x coturn", "rate x fwd-gso"]
        p("| " + " | ".join(hdr) + " |")
        p("|" + "---|" * len(hdr))

        def ratio(a, b):
            return a / b if a is not None and b else None

        base_c = rows.get("coturn", {})
        base_f = rows.get("fwd-gso", {})
        base_t = rows.get("ternd", {})
        for s in servers:
            x = rows[s]
            runs_cell = f"{x['n']}/{x['of']}" + (f" ({x['disturbed']}!)" if x["disturbed"] else "")
            cells = [s, runs_cell] + ([] if rtt else [fmt(x["sent"], 0)])
            cells += [fmt(x["delivered"], 0), fmt(x["loss"], 3, pct=True)]
            if rtt:
                cells += [fmt(x["p50"], 0), fmt(x["p99"], 0)]
            if has_napi:
                cells += [fmt(x["cost"]), fmt(x["relay"]), fmt(x["napi"], 1, pct=True), fmt(x["core"]),
                          fmt(x["busy"], 1, pct=True), fmt(x["wait"], 1, pct=True),
                          fmt(ratio(x["relay"], base_t.get("relay"))), fmt(ratio(x["relay"], base_c.get("relay"))),
                          fmt(ratio(x["relay"], base_f.get("relay")))]
                if has_fp:
                    cells += [fmt(x["prog_ns"], 1), fmt(x["kernel"], 1, pct=True)]
            else:
                cells += [fmt(x["cost"]), fmt(x["core"]), fmt(x["busy"], 1, pct=True), fmt(x["wait"], 1, pct=True),
                          fmt(ratio(x["cost"], base_c.get("cost"))), fmt(ratio(x["cost"], base_f.get("cost")))]
            if maxrate:
                cells += [fmt(ratio(x["delivered"], base_c.get("delivered"))),
                          fmt(ratio(x["delivered"], base_f.get("delivered")))]
            p("| " + " | ".join(cells) + " |")
        p("")
    if smoke:
        p("## smoke")
        p("")
        for f in failures:
            p(f"- FAIL {f}")
        p("")
        p(f"smoke: {passed} passed, {len(failures)} failed")
    print("\n".join(out))
    return 1 if smoke and failures else 0


def conn_table(p, sc, kind, meta, servers, by, smoke, failures):
    p(f"## {scen_title(sc, meta)}")
    p("")
    rows = {}
    for s in servers:
        rs = by.get((sc, s), [])
        if not rs:
            continue  # a server that does not serve TCP
        ms = [metrics(r) for r in rs]
        good = [m for m in ms if m["ok"]]
        rows[s] = {"n": len(good), "of": len(ms),
                   "disturbed": sum(1 for m in good if (disturb(m) or 0) > DISTURBED)}
        for k in ("delivered", "loss", "cycle_p50_us", "cycle_p99_us", "us_conn", "busy", "cpu", "wait",
                  "held", "rss_before", "rss_after", "rss_b_conn", "setup_rate", "client_us", "resumed"):
            rows[s][k] = med(m[k] for m in good)
        if smoke:
            for m, r in zip(ms, rs):
                if not m["ok"] or m["failures"]:
                    failures.append(f"{s} {sc} round {r.get('round')}: {m['why'] or ''} "
                                    f"{m['failures']} failures")

    def ratio(a, b):
        return a / b if a is not None and b else None

    base = rows.get("coturn", {})
    if kind == "churn":
        hdr = ["server", "runs", "cycles/s", "failed %", "cycle p50 ms", "cycle p99 ms", "CPU µs/conn",
               "conn/s per core", "server CPU %", "wait %", "bench µs/conn", "CPU x coturn",
               "conn/s per core x coturn"]
        if meta.get("transport") == "tls":
            hdr += ["TLS resumed %"]
    else:
        hdr = ["server", "runs", "held", "RSS before MB", "RSS after MB", "RSS B/conn", "x coturn",
               "setup Allocates/s"]
    p("| " + " | ".join(hdr) + " |")
    p("|" + "---|" * len(hdr))
    for s, x in rows.items():
        runs_cell = f"{x['n']}/{x['of']}" + (f" ({x['disturbed']}!)" if x["disturbed"] else "")
        if kind == "churn":
            per_core = 1e6 / x["us_conn"] if x["us_conn"] else None
            base_core = 1e6 / base["us_conn"] if base.get("us_conn") else None
            ms = (lambda v: v / 1e3 if v is not None else None)
            cells = [s, runs_cell, fmt(x["delivered"], 0), fmt(x["loss"], 3, pct=True),
                     fmt(ms(x["cycle_p50_us"])), fmt(ms(x["cycle_p99_us"])), fmt(x["us_conn"], 1),
                     fmt(per_core, 0), fmt(x["cpu"], 1, pct=True), fmt(x["wait"], 1, pct=True),
                     fmt(x["client_us"], 1), fmt(ratio(x["us_conn"], base.get("us_conn"))),
                     fmt(ratio(per_core, base_core))]
            if meta.get("transport") == "tls":
                cells += [fmt(x["resumed"], 1, pct=True)]
        else:
            mb = (lambda v: v / 1024 if v is not None else None)
            cells = [s, runs_cell, fmt(x["held"], 0), fmt(mb(x["rss_before"]), 1), fmt(mb(x["rss_after"]), 1),
                     fmt(x["rss_b_conn"], 0), fmt(ratio(x["rss_b_conn"], base.get("rss_b_conn"))),
                     fmt(x["setup_rate"], 0)]
        p("| " + " | ".join(cells) + " |")
    p("")


def line_summary(path):
    runs = load_runs(path)
    if not runs:
        return
    r = runs[-1]
    m = metrics(r)
    rtt = r.get("mode") == "rtt"
    parts = [f"r{r.get('round')} {r.get('scenario')} {r.get('server')}:"]
    if not m["ok"]:
        parts.append(f"FAILED ({m['why']})")
    if r.get("mode") == "churn":
        parts.append(f"{fmt(m['delivered'], 0)} cycles/s, {fmt(m['failures'], 0)} failed, "
                     f"p50 {fmt((m['cycle_p50_us'] or 0) / 1e3)} ms, cpu {fmt(m['us_conn'], 1)} µs/conn "
                     f"(server {fmt(m['cpu'], 1, pct=True)}% of a core; wait {fmt(m['wait'], 1, pct=True)}%; "
                     f"bench {fmt(m['client_us'], 1)} µs/conn)"
                     + (f" TLS resumed {fmt(m['resumed'], 1, pct=True)}%" if m.get("resumed") is not None else ""))
        print("compare: " + " ".join(parts), file=sys.stderr)
        return
    if r.get("mode") == "idle":
        parts.append(f"{fmt(m['held'], 0)} held, RSS {fmt(m['rss_before'], 0)} -> {fmt(m['rss_after'], 0)} kB, "
                     f"{fmt(m['rss_b_conn'], 0)} B/conn, setup {fmt(m['setup_rate'], 0)} Allocates/s")
        print("compare: " + " ".join(parts), file=sys.stderr)
        return
    parts.append(f"{fmt(m['delivered'], 0)}{' rt' if rtt else ''}/s")
    parts.append(f"loss {fmt(m['loss'], 3, pct=True)}%")
    if rtt:
        parts.append(f"p50 {fmt(m['rtt_p50_us'], 0)} p99 {fmt(m['rtt_p99_us'], 0)} µs")
    parts.append(f"cpu {fmt(m['us_rt'] if rtt else m['us_dgram'])} µs/{'rt' if rtt else 'dgram'}")
    if m.get("relay") is not None:
        parts.append(f"relay {fmt(m['us_relay_rt'] if rtt else m['us_relay'])} (NAPI {fmt(m['napi'], 1, pct=True)}%)")
    if m.get("prog_ns") is not None or m.get("kernel") is not None:
        parts.append(f"prog {fmt(m['prog_ns'], 1)} ns/pkt, kernel {fmt(m['kernel'], 1, pct=True)}%")
    parts.append(f"busy {fmt(m['busy'], 1, pct=True)}%")
    parts.append(f"(server {fmt(m['cpu'], 1, pct=True)}% of a core; schedstat {fmt(m['cpu_sched'], 1, pct=True)}%; "
                 f"wait {fmt(m['wait'], 1, pct=True)}%)")
    print("compare: " + " ".join(parts), file=sys.stderr)


def write_meta(path):
    e = os.environ
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    variants = {}
    for line in e.get("M_VARIANTS", "").splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            variants[k] = v
    meta = {
        "date_utc": e.get("M_DATE"), "git": e.get("M_GIT"), "ternd": e.get("M_TERND"),
        "tern": e.get("M_TERN"), "coturn": e.get("M_COTURN"), "pion_turn": e.get("M_PION"),
        "kernel": os.uname().release, "cpu": cpu, "ncpu": os.cpu_count(),
        "topology": e.get("M_TOPOLOGY"), "rounds": int(e.get("M_ROUNDS", 0)),
        "seconds": int(e.get("M_SECONDS", 0)), "warmup": int(e.get("M_WARMUP", 0)),
        "margin_ms": int(e.get("M_MARGIN", 0)), "allocations": int(e.get("M_ALLOCS", 0)),
        "size": int(e.get("M_SIZE", 0)), "burst_us": int(e.get("M_BURST", 0)),
        "server_cpu": int(e.get("M_SCPU", 0)), "load_cpu": int(e.get("M_LCPU", 0)),
        "smoke": e.get("M_SMOKE") == "1", "rt": e.get("M_RT") == "1",
        "scenarios": e.get("M_SCEN", "").split(), "servers": e.get("M_SERVERS", "").split(),
        "skipped": [s for s in e.get("M_SKIPPED", "").splitlines() if s.strip()],
        "ternd_variants": variants, "coturn_mmsg_flags": e.get("M_COTURN_MMSG", ""),
        "churn_connections": int(e.get("M_CHURN_CONNS", 0)), "churn_rate": int(e.get("M_CHURN_RATE", 0)),
        "churn_close": e.get("M_CHURN_CLOSE"), "idle_connections": int(e.get("M_IDLE_CONNS", 0)),
        "sources": int(e.get("M_SOURCES", 0)),
        "transport": e.get("M_TRANSPORT") or "udp", "tls_key": e.get("M_TLS_KEY") or None, "tls_max": e.get("M_TLS_MAX") or None,
        "veth_napi": e.get("M_VETH_NAPI") == "on", "napi_threads": e.get("M_NAPI", "").split(),
        "peer_xdp": e.get("M_PEER_XDP") == "on", "bpf_stats": e.get("M_BPF_STATS") == "1",
        "loadavg_at_start": open("/proc/loadavg").read().split()[:3],
    }
    with open(path, "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")


def main(argv):
    if len(argv) == 3 and argv[1] == "--last-json":
        print(json.dumps(last_json(argv[2])))
        return 0
    if len(argv) == 3 and argv[1] == "--line":
        line_summary(argv[2])
        return 0
    if len(argv) == 3 and argv[1] == "--clean":
        runs = load_runs(argv[2])
        return 0 if runs and not problems(metrics(runs[-1])) else 1
    if len(argv) == 3 and argv[1] == "--disturbed":
        runs = load_runs(argv[2])
        if not runs:
            return 1
        m = metrics(runs[-1])
        return 0 if m["ok"] and (disturb(m) or 0) > DISTURBED else 1
    if len(argv) == 3 and argv[1] == "--meta":
        write_meta(argv[2])
        return 0
    args = [a for a in argv[1:] if not a.startswith("--")]
    if len(args) != 1 or any(a not in ("--smoke",) for a in argv[1:] if a.startswith("--")):
        print(__doc__, file=sys.stderr)
        return 2
    return report(args[0], "--smoke" in argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
