#!/usr/bin/env python3
"""Soak: minutes of mixed keep-alive load over many tenants against the release emulator, with
its RSS and open file descriptors sampled (issue 12, item 17; figures in BENCHMARKS.md, "Soak").

    python3 bench/soak.py                # builds the release binary, then 3 minutes
    python3 bench/soak.py --minutes 10   # longer
    python3 bench/soak.py --smoke        # 20 seconds, fewer clients: checks the harness
    python3 bench/soak.py --smoke --serve-arg=--idle-timeout=2   # must fail: dropped connections

The emulator runs as shipped (`serve --listen 127.0.0.1:0`, system clock, documented rate
limits, default connection limits, logs to a file). Every tenant gets its own token; most
tenants have their rate limits switched off, a few are held to a few calls a minute so they
answer 429. Client threads each keep ONE HTTP/1.1 keep-alive connection and send a weighted mix:
GET machine, filtered list, actions list, isolate, unisolate, unknown machine (404), no or a bad
token (401), a read-only token on isolate (403), throttled reads (429), the token endpoint,
health, and a per-tenant reset now and then (which keeps each tenant's state bounded). Two
"sleepy" clients pause up to 15 s between calls (longer than the 10 s header timeout, shorter
than the 120 s idle timeout), so a keep-alive connection closed too early shows up.

Counted: answers by scenario and status; 5xx; dropped keep-alive connections (a request on an
open connection that failed: RemoteDisconnected, BrokenPipe, ConnectionReset, a timeout...);
answers that announced `Connection: close`; any status outside a scenario's expected set.
RSS (VmRSS) and the count of open fds are read from /proc every few seconds; "after warm-up" is
the median of the samples around the end of the warm-up (the first third of the run), "end" the
median of the last three.

Exit status 0 only when: no 5xx, no dropped connection, no unexpected status, every scenario
(401, 403 and 429 included) was exercised, RSS grew by at most the tolerance after warm-up
(max of --rss-tolerance-mib and --rss-tolerance-pct; not checked with --smoke), the open fds
came back to the clients' connections, and the server exited 0 on SIGTERM. Loopback only.
"""

import argparse
import collections
import datetime
import http.client
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

# The harness's paths, development identity and process helpers are bench.py's.
from bench import DEV_APP, DEV_SECRET, ROOT, TARGET, isolatable, mib, proc_status, read_line

DOC_BODY = json.dumps({"Comment": "soak", "IsolationType": "Full"})
UNISOLATE_BODY = json.dumps({"Comment": "soak"})
# Errors that mean the server dropped (or broke) a keep-alive connection under a request.
DROPS = (
    http.client.RemoteDisconnected,
    http.client.BadStatusLine,
    http.client.IncompleteRead,
    BrokenPipeError,
    ConnectionResetError,
    ConnectionAbortedError,
    socket.timeout,
    OSError,
)


def log(msg):
    print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def open_fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


class Server:
    def __init__(self, binary, logdir, extra):
        self.log_path = os.path.join(logdir, "emulator.log")
        self.log_file = open(self.log_path, "wb")
        cmd = [binary, "serve", "--listen", "127.0.0.1:0", *extra]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log_file)
        line = read_line(self.proc, 60)
        if " listening on " not in line:
            raise RuntimeError(f"no ready line (got {line!r}); see {self.log_path}")
        url = urllib.parse.urlparse(line.split(" listening on ", 1)[1].strip())
        self.host, self.port = url.hostname, url.port

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            res = conn.getresponse()
            return res.status, res.read()
        finally:
            conn.close()

    def terminate(self, limit=15.0):
        """SIGTERM; (exit code, seconds to exit)."""
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.log_file.close()
        return code, time.monotonic() - t0


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.by_scenario = collections.defaultdict(collections.Counter)
        self.unexpected = collections.Counter()
        self.drops = collections.Counter()
        self.announced_close = 0
        self.opened = 0
        self.requests = 0

    def answer(self, scenario, status, expected, closes):
        with self.lock:
            self.requests += 1
            self.by_scenario[scenario][status] += 1
            if status not in expected:
                self.unexpected[(scenario, status)] += 1
            if closes:
                self.announced_close += 1

    def dropped(self, scenario, err):
        with self.lock:
            self.drops[f"{scenario}: {type(err).__name__}"] += 1

    def connected(self):
        with self.lock:
            self.opened += 1

    def five_xx(self):
        return sum(n for c in self.by_scenario.values() for s, n in c.items() if s >= 500)


class Soak:
    def __init__(self, args, server, tokens, machines):
        self.args = args
        self.server = server
        self.tokens = tokens  # tenant -> {"full": ..., "read": ...}
        self.tenants = [t for t in tokens if t not in args.throttled_set]
        self.throttled = sorted(args.throttled_set)
        self.machines = machines
        self.stats = Stats()
        self.stop = threading.Event()
        # (weight, name, builder)
        self.mix = [
            (25, "GET machine", self.get_machine),
            (8, "list machines $filter", self.list_machines),
            (8, "list actions", self.list_actions),
            (10, "isolate", self.isolate),
            (10, "unisolate", self.unisolate),
            (3, "unknown machine (404)", self.unknown),
            (6, "no token (401)", self.no_token),
            (4, "bad token (401)", self.bad_token),
            (6, "read-only isolate (403)", self.forbidden),
            (12, "throttled tenant (429)", self.throttled_read),
            (1, "token endpoint", self.token_endpoint),
            (2, "health", self.health),
            (1, "reset tenant", self.reset),
        ]
        self.weights = [w for w, _, _ in self.mix]

    # Each builder: (method, path, body, headers, expected statuses).
    def auth(self, token, json_body=False):
        h = {"Authorization": f"Bearer {token}"}
        if json_body:
            h["Content-Type"] = "application/json"
        return h

    def get_machine(self, rng):
        t = rng.choice(self.tenants)
        return "GET", f"/api/machines/{rng.choice(self.machines)}", None, self.auth(self.tokens[t]["full"]), {200}

    def list_machines(self, rng):
        t = rng.choice(self.tenants)
        q = urllib.parse.quote("healthStatus eq 'Active'")
        return "GET", f"/api/machines?$filter={q}&$top=5", None, self.auth(self.tokens[t]["full"]), {200}

    def list_actions(self, rng):
        t = rng.choice(self.tenants)
        return "GET", "/api/machineactions?$top=10", None, self.auth(self.tokens[t]["full"]), {200}

    def isolate(self, rng):
        t = rng.choice(self.tenants)
        path = f"/api/machines/{rng.choice(self.machines)}/isolate"
        return "POST", path, DOC_BODY, self.auth(self.tokens[t]["full"], True), {201, 400}

    def unisolate(self, rng):
        t = rng.choice(self.tenants)
        path = f"/api/machines/{rng.choice(self.machines)}/unisolate"
        return "POST", path, UNISOLATE_BODY, self.auth(self.tokens[t]["full"], True), {201, 400}

    def unknown(self, rng):
        t = rng.choice(self.tenants)
        return "GET", f"/api/machines/{uuid.uuid4().hex}", None, self.auth(self.tokens[t]["full"]), {404}

    def no_token(self, rng):
        path = f"/api/machines/{rng.choice(self.machines)}/isolate"
        return "POST", path, DOC_BODY, {"Content-Type": "application/json"}, {401}

    def bad_token(self, rng):
        return "GET", f"/api/machines/{rng.choice(self.machines)}", None, self.auth("not.a.token"), {401}

    def forbidden(self, rng):
        t = rng.choice(self.tenants)
        path = f"/api/machines/{rng.choice(self.machines)}/isolate"
        return "POST", path, DOC_BODY, self.auth(self.tokens[t]["read"], True), {403}

    def throttled_read(self, rng):
        t = rng.choice(self.throttled)
        return "GET", f"/api/machines/{rng.choice(self.machines)}", None, self.auth(self.tokens[t]["full"]), {200, 429}

    def token_endpoint(self, rng):
        t = rng.choice(self.tenants)
        body = urllib.parse.urlencode({
            "grant_type": "client_credentials", "client_id": DEV_APP, "client_secret": DEV_SECRET,
            "scope": "https://api.securitycenter.microsoft.com/.default",
        })
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return "POST", f"/{t}/oauth2/v2.0/token", body, headers, {200}

    def health(self, rng):
        return "GET", "/_mock/health", None, {}, {200}

    def reset(self, rng):
        return "POST", f"/_mock/reset?tenant={rng.choice(self.tenants)}", None, {}, {204}

    def client(self, index, sleepy):
        rng = random.Random(index)
        conn = None
        while not self.stop.is_set():
            _, name, build = rng.choices(self.mix, weights=self.weights)[0]
            method, path, body, headers, expected = build(rng)
            if conn is None:
                conn = http.client.HTTPConnection(self.server.host, self.server.port, timeout=60)
                try:
                    conn.connect()
                except OSError as err:
                    self.stats.dropped(f"{name} (connect)", err)
                    conn = None
                    self.stop.wait(0.1)
                    continue
                self.stats.connected()
            try:
                conn.request(method, path, body=body, headers=headers)
                res = conn.getresponse()
                res.read()
            except DROPS as err:
                self.stats.dropped(name, err)
                conn.close()
                conn = None
                continue
            closes = (res.getheader("connection") or "").lower() == "close"
            self.stats.answer(name, res.status, expected, closes)
            if closes:
                conn.close()
                conn = None
            if sleepy:
                self.stop.wait(rng.uniform(0.5, 15.0))
        if conn is not None:
            conn.close()

    def sample(self, samples, interval):
        t0 = time.monotonic()
        pid = self.server.proc.pid
        while True:
            samples.append((time.monotonic() - t0, proc_status(pid, "VmRSS"), open_fds(pid)))
            if self.stop.wait(interval):
                break
        samples.append((time.monotonic() - t0, proc_status(pid, "VmRSS"), open_fds(pid)))


def mint(binary, tenant, roles=None):
    cmd = [binary, "token", "--tenant", tenant, "--ttl", "86400"]
    if roles:
        cmd += ["--roles", roles]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()


def median_around(samples, t, width):
    near = [rss for (at, rss, _) in samples if abs(at - t) <= width]
    if not near:
        near = [min(samples, key=lambda s: abs(s[0] - t))[1]]
    return statistics.median(near)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=3.0, help="length of the run (default 3)")
    ap.add_argument("--smoke", action="store_true", help="20 s with fewer clients: checks the harness")
    ap.add_argument("--tenants", type=int, default=64, help="tenants with rate limits off (default 64)")
    ap.add_argument("--throttled", type=int, default=8, help="tenants held to --per-minute (default 8)")
    ap.add_argument("--per-minute", type=int, default=10, help="calls a minute of throttled tenants")
    ap.add_argument("--clients", type=int, default=12, help="busy keep-alive clients (default 12)")
    ap.add_argument("--sleepy", type=int, default=2, help="clients pausing up to 15 s (default 2)")
    ap.add_argument("--interval", type=float, default=3.0, help="seconds between RSS samples")
    ap.add_argument("--rss-tolerance-mib", type=float, default=4.0)
    ap.add_argument("--rss-tolerance-pct", type=float, default=10.0)
    ap.add_argument("--bin", default=os.path.join(TARGET, "release", "defender-mock"))
    ap.add_argument("--no-build", action="store_true", help="use --bin as it is")
    ap.add_argument("--keep", action="store_true", help="keep the emulator's log")
    ap.add_argument("--serve-arg", action="append", default=[], metavar="ARG",
                    help="one more `serve` argument, e.g. --serve-arg=--idle-timeout=5 (repeatable)")
    args = ap.parse_args()
    if args.smoke:
        args.minutes = 20 / 60
        args.tenants, args.throttled, args.clients, args.sleepy = 8, 2, 4, 1
        args.interval = 1.0
    duration = args.minutes * 60
    warmup = duration / 3

    if not args.no_build:
        log("cargo build --release --bin defender-mock")
        subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "defender-mock"], cwd=ROOT, check=True)
    if not os.path.exists(args.bin):
        sys.exit(f"missing {args.bin}")

    tmp = tempfile.mkdtemp(prefix="defender-mock-soak-")
    server = Server(args.bin, tmp, args.serve_arg)
    failures = []
    try:
        normal = [str(uuid.uuid4()) for _ in range(args.tenants)]
        throttled = [str(uuid.uuid4()) for _ in range(args.throttled)]
        args.throttled_set = set(throttled)
        log(f"minting tokens for {len(normal) + len(throttled)} tenants")
        tokens = {t: {"full": mint(args.bin, t), "read": mint(args.bin, t, "Machine.Read.All")}
                  for t in normal + throttled}
        for t in normal:
            status, body = server.request("PUT", f"/_mock/tenants/{t}/rate-limits",
                                          json.dumps({"mode": "off"}), {"Content-Type": "application/json"})
            assert status == 200, (status, body)
        for t in throttled:
            settings = {"mode": "documented", "perMinute": args.per_minute}
            status, body = server.request("PUT", f"/_mock/tenants/{t}/rate-limits",
                                          json.dumps(settings), {"Content-Type": "application/json"})
            assert status == 200, (status, body)
        status, body = server.request("GET", "/api/machines", headers={"Authorization": f"Bearer {tokens[normal[0]]['full']}"})
        assert status == 200, (status, body[:200])
        machines = [m["id"] for m in json.loads(body)["value"] if isolatable(m)]

        soak = Soak(args, server, tokens, machines)
        samples = []
        sampler = threading.Thread(target=soak.sample, args=(samples, args.interval))
        clients = [threading.Thread(target=soak.client, args=(i, i >= args.clients))
                   for i in range(args.clients + args.sleepy)]
        log(f"{duration:.0f} s: {args.clients} busy + {args.sleepy} sleepy keep-alive clients, "
            f"{args.tenants} tenants + {args.throttled} throttled, {len(machines)} machines each")
        started = time.monotonic()
        sampler.start()
        for c in clients:
            c.start()
        next_log = started + 30
        while time.monotonic() - started < duration:
            time.sleep(0.2)
            if time.monotonic() >= next_log:
                next_log += 30
                s = samples[-1]
                log(f"{time.monotonic() - started:.0f} s: {soak.stats.requests} answers, RSS {mib(s[1])}, "
                    f"{s[2]} fds, {sum(soak.stats.drops.values())} dropped, {soak.stats.five_xx()} 5xx")
        soak.stop.set()
        for c in clients:
            c.join(timeout=90)
        sampler.join()
        elapsed = time.monotonic() - started
        fds_after = open_fds(server.proc.pid)
        exit_code, exit_secs = server.terminate()
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()

    st = soak.stats
    rss_warm = median_around(samples, warmup, max(args.interval * 1.5, 1))
    rss_end = statistics.median([rss for _, rss, _ in samples[-3:]])
    rss_peak = max(rss for _, rss, _ in samples)
    growth = rss_end - rss_warm
    tolerance = max(args.rss_tolerance_mib * 1024, rss_warm * args.rss_tolerance_pct / 100)
    fds_peak = max(f for _, _, f in samples)
    five_xx = st.five_xx()
    dropped = sum(st.drops.values())
    unexpected = sum(st.unexpected.values())

    if five_xx:
        failures.append(f"{five_xx} answers were 5xx")
    if dropped:
        failures.append(f"{dropped} keep-alive connections dropped: {dict(st.drops)}")
    if unexpected:
        failures.append(f"{unexpected} unexpected statuses: {dict(st.unexpected)}")
    if st.announced_close:
        failures.append(f"{st.announced_close} answers closed their connection (Connection: close)")
    for scenario, status in (("no token (401)", 401), ("bad token (401)", 401),
                             ("read-only isolate (403)", 403), ("throttled tenant (429)", 429)):
        if not st.by_scenario[scenario][status]:
            failures.append(f"{scenario}: no {status} answer: the scenario was not exercised")
    if not args.smoke and growth > tolerance:
        failures.append(f"RSS grew {mib(growth)} after warm-up (tolerance {mib(tolerance)})")
    # Baseline fds: the process's own (about 10) once every client connection has closed.
    if fds_after > 32:
        failures.append(f"{fds_after} fds open after the clients closed their connections")
    if exit_code != 0:
        failures.append(f"the server exited {exit_code} on SIGTERM")

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    mode = "smoke" if args.smoke else f"{args.minutes:g} min"
    out = [
        f"defender-mock soak, {mode}, {now}, {platform.machine()} {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}",
        f"{args.clients} busy + {args.sleepy} sleepy keep-alive clients (one connection each), "
        f"{args.tenants} tenants (rate limits off) + {args.throttled} throttled ({args.per_minute}/min), "
        f"{len(machines)} machines each",
        "",
        f"answers: {st.requests} in {elapsed:.0f} s ({st.requests / elapsed:.0f}/s); "
        f"connections opened: {st.opened} (clients: {args.clients + args.sleepy})",
        f"5xx: {five_xx}; dropped keep-alive connections: {dropped}; `Connection: close` answers: "
        f"{st.announced_close}; unexpected statuses: {unexpected}",
        f"RSS: after warm-up ({warmup:.0f} s) {mib(rss_warm)}, end {mib(rss_end)}, growth {mib(growth)} "
        f"(tolerance {mib(tolerance)}{', not checked in smoke mode' if args.smoke else ''}), peak {mib(rss_peak)}",
        f"open fds: peak {fds_peak}, after the clients closed {fds_after}; "
        f"SIGTERM: exit {exit_code} in {exit_secs:.2f} s",
        "",
        "| scenario | answers | statuses |",
        "|---|---:|---|",
    ]
    for _, name, _ in soak.mix:
        c = st.by_scenario[name]
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(c.items()))
        out.append(f"| {name} | {sum(c.values())} | {statuses} |")
    out.append("")
    out.append("RSS samples (s: MiB): " + ", ".join(
        f"{at:.0f}: {rss / 1024:.1f}" for at, rss, _ in samples[:: max(1, len(samples) // 20)]))
    print("\n".join(out), flush=True)
    result = {
        "requests": st.requests, "seconds": round(elapsed, 1), "five_xx": five_xx, "dropped": dropped,
        "unexpected": unexpected, "connection_close": st.announced_close, "opened": st.opened,
        "rss_warm_kib": rss_warm, "rss_end_kib": rss_end, "rss_peak_kib": rss_peak,
        "fds_peak": fds_peak, "fds_after": fds_after, "exit_code": exit_code,
    }
    print("SOAK_RESULT " + json.dumps(result), flush=True)
    if args.keep:
        log(f"kept {server.log_path}")
    else:
        try:
            os.remove(server.log_path)
            os.rmdir(tmp)
        except OSError:
            pass
    if failures:
        print("\nProblems:\n" + "\n".join(f"- {f}" for f in failures), flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
