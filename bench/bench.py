#!/usr/bin/env python3
"""The benchmark driver behind bench/run.sh (which installs wrk and builds the release binaries).

Drives the release emulator and the in-repo bare-axum ceiling (examples/ceiling.rs) with wrk in
alternating rounds (ceiling, emulator, ceiling, emulator, ...), and prints for each scenario the
median requests per second of both and their ratio, beside the target, plus start-up times and
the emulator's RSS at each stage. Only loopback addresses; every server is started on port 0 and
its port read from its ready line.

    python3 bench/bench.py            # full run (~5-9 minutes on 2 cores)
    python3 bench/bench.py --smoke    # each scenario ~1 s with tiny counts; checks the harness
    python3 bench/bench.py --single   # only the embedded-fleet rows (GET machine, GET action,
                                      # duplicate 400, token endpoint): ~1.5 minutes

The binaries are read from $CARGO_TARGET_DIR (default: target/ in the repository).

Exit status: 0 when every scenario produced a figure and its responses had the expected status
(2xx, or 400 for the duplicate scenario); 1 otherwise. The figures themselves are not checked.
"""

import argparse
import datetime
import http.client
import json
import os
import platform
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
BIN = os.path.join(TARGET, "release", "defender-mock")
CEILING = os.path.join(TARGET, "release", "examples", "ceiling")
LUA = os.path.join(ROOT, "bench", "wrk.lua")
DEV_TENANT = "8a1c2f6e-4b3d-4e5f-9a0b-1c2d3e4f5a6b"
DEV_APP = "d3fe0d3f-0000-4000-8000-00000000a991"
DEV_SECRET = "defender-mock-development-secret"
SERVE_FLAGS = ["--rate-limits", "off", "--clock", "frozen", "--listen", "127.0.0.1:0"]

# Targets from issue 14: ratios of the ceiling.
TARGET_SINGLE = ">= 0.5"
TARGET_TOKEN = ">= 0.2"
TARGET_LIST = ">= 0.3"


def count(n):
    """10000 -> '10k', 300 -> '300'."""
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Server:
    """A server process started on port 0; `url` comes from its one stdout ready line."""

    def __init__(self, name, cmd, logdir, timeout=60.0):
        self.name = name
        self.started = time.perf_counter()
        self.log_path = os.path.join(logdir, f"{name}.log")
        self.log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log_file)
        line = read_line(self.proc, timeout)
        if " listening on " not in line:
            self.stop()
            raise RuntimeError(f"{name}: no ready line (got {line!r}); see {self.log_path}")
        self.url = line.split(" listening on ", 1)[1].strip()
        parsed = urllib.parse.urlparse(self.url)
        self.host, self.port = parsed.hostname, parsed.port

    def rss_kib(self):
        return proc_status(self.proc.pid, "VmRSS")

    def hwm_kib(self):
        return proc_status(self.proc.pid, "VmHWM")

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            res = conn.getresponse()
            return res.status, res.read()
        finally:
            conn.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()


def read_line(proc, timeout):
    """The first stdout line of `proc`, waiting at most `timeout` seconds."""
    fd = proc.stdout.fileno()
    buf = b""
    deadline = time.perf_counter() + timeout
    while not buf.endswith(b"\n"):
        left = deadline - time.perf_counter()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, 1)
        if not chunk:
            break
        buf += chunk
    return buf.decode(errors="replace")


def proc_status(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except OSError:
        return 0


def wait_idle(pid, limit=120.0):
    """Waits until `pid` stops using CPU: requests wrk abandoned at the end of a round must not
    run into the next round."""
    deadline = time.perf_counter() + limit
    quiet, last = 0, cpu_ticks(pid)
    while quiet < 2 and time.perf_counter() < deadline:
        time.sleep(0.1)
        now = cpu_ticks(pid)
        quiet = quiet + 1 if now - last <= 1 else 0
        last = now


def isolatable(m):
    """Whether full isolation is supported (README: Windows 10 1703+, 11, Server 2012 R2+, Linux,
    macOS), so POST isolate answers 201 rather than 400 OsPlatformNotSupported."""
    p = m["osPlatform"]
    if p == "Windows10":
        return (m.get("osBuild") or 0) >= 15063
    if p.startswith("WindowsServer"):
        return p not in ("WindowsServer2008R2", "WindowsServer2012")
    return p not in ("iOS", "Android")


def ratio_text(r):
    return f"{r:.3f}" if r >= 0.01 else f"{r:.2g}"


def mib(kib):
    return f"{kib / 1024:.1f} MiB"


def health_ok(host, port):
    try:
        conn = http.client.HTTPConnection(host, port, timeout=2)
        conn.request("GET", "/_mock/health")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


def startup_ms(cmd, logdir):
    """Milliseconds from spawn to the first 200 on /_mock/health (and the RSS then)."""
    t0 = time.perf_counter()
    s = Server("startup", cmd, logdir)
    while not health_ok(s.host, s.port):
        if time.perf_counter() - t0 > 60:
            s.stop()
            raise RuntimeError("no healthy answer within 60 s")
        time.sleep(0.0005)
    elapsed = (time.perf_counter() - t0) * 1000
    rss = s.rss_kib()
    s.stop()
    return elapsed, rss


def wrk(url, env, duration, conns, extra_env=None):
    """One wrk run; returns the counts of wrk.lua's done() plus req/s."""
    full_env = dict(os.environ)
    full_env.update(env)
    full_env.update(extra_env or {})
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{duration}s", "--timeout", "60s", "-s", LUA, url]
    out = subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=duration + 180)
    for line in out.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            r = json.loads(line[len("BENCH_RESULT "):])
            secs = r["duration_us"] / 1e6
            r["rps"] = r["requests"] / secs if secs > 0 else 0.0
            r["socket_errors"] = r["connect"] + r["read"] + r["write"] + r["timeout"]
            return r
    raise RuntimeError(f"wrk gave no result: {out.stdout}\n{out.stderr}")


class Bench:
    def __init__(self, smoke, single=False):
        self.smoke = smoke
        self.single = single
        self.rounds = 1 if smoke else 3
        self.duration = 1 if smoke else 5
        self.conns = 32
        self.min_answers = 2 if smoke else 12
        self.slow_conns = 4  # list scenarios: a handful in flight, so slow answers still complete
        self.fleet_size = 2000 if smoke else 10_000
        self.action_steps = [100, 300, 1000] if smoke else [1_000, 10_000, 100_000]
        self.startup_reps = 2 if smoke else 5
        self.tmp = tempfile.mkdtemp(prefix="defender-mock-bench-")
        self.rows = []  # (scenario, ceiling rps, emulator rps, ratio, target, emulator mean latency ms, RSS KiB, ok)
        self.rss_stages = []  # (stage, RSS KiB, HWM KiB)
        self.startups = []  # (what, median ms, target)
        self.growth = []  # (actions, emulator rps)
        self.failures = []
        self.servers = []
        self.final_stage = None

    # -- helpers -------------------------------------------------------------------------------

    def token(self, tenant=DEV_TENANT):
        out = subprocess.run([BIN, "token", "--tenant", tenant], capture_output=True, text=True, check=True)
        return out.stdout.strip()

    def start(self, name, cmd):
        s = Server(name, cmd, self.tmp)
        self.servers.append(s)
        return s

    def emulator(self, name, fixtures=None):
        cmd = [BIN, "serve", *SERVE_FLAGS]
        if fixtures:
            cmd += ["--fixtures", fixtures]
        return self.start(name, cmd)

    def stage(self, server, what):
        self.rss_stages.append((what, server.rss_kib(), server.hwm_kib()))
        log(f"RSS {what}: {mib(server.rss_kib())}")

    def compare(self, name, ceiling, emu, env, target="-", expect="2xx", conns=None, before_emulator=None,
                stage=None, min_answers=0):
        """Alternating rounds ceiling/emulator; records medians and their ratio."""
        conns = conns or self.conns
        c_rps, e_rps, e_lat, ok = [], [], [], True
        for r in range(self.rounds):
            c = wrk(ceiling.url, env, self.duration, conns)
            if before_emulator:
                before_emulator()
            duration = self.duration
            while True:
                e = wrk(emu.url, env, duration, conns)
                wait_idle(emu.proc.pid)
                # Slow answers: lengthen the round (up to 8x) until enough of them complete.
                if e["requests"] >= min_answers or duration >= 8 * self.duration:
                    break
                duration *= 2
                log(f"{name}: {e['requests']} answers in {duration // 2} s, again for {duration} s")
                if before_emulator:
                    before_emulator()
            c_rps.append(c["rps"])
            e_rps.append(e["rps"])
            e_lat.append(e["lat_mean_us"] / 1000)
            bad = e["status"] if expect == "2xx" else e["requests"] - e["status"]
            if e["requests"] == 0 or bad or e["socket_errors"] or c["socket_errors"]:
                ok = False
                self.failures.append(
                    f"{name} round {r + 1}: {e['requests']} answers, {e['status']} non-2xx "
                    f"(expected {expect}), socket errors {e['socket_errors']} / ceiling {c['socket_errors']}"
                )
            log(f"{name} round {r + 1}: ceiling {c['rps']:.0f}/s, emulator {e['rps']:.1f}/s")
        c_med, e_med = statistics.median(c_rps), statistics.median(e_rps)
        ratio = e_med / c_med if c_med else 0.0
        rss = emu.rss_kib()
        self.rows.append((name, c_med, e_med, ratio, target, statistics.median(e_lat), rss, ok))
        if stage:
            self.stage(emu, stage)
        return e_med

    def count_actions(self, emu, token):
        status, body = emu.request(
            "GET", "/api/machineactions?$count=true&$top=1", headers={"Authorization": f"Bearer {token}"}
        )
        if status != 200:
            raise RuntimeError(f"counting actions: {status} {body[:200]!r}")
        return json.loads(body)["@odata.count"]

    def add_actions(self, emu, token, ids_file, target):
        """POST isolate (duplicates allowed) over the fleet until the tenant holds ~`target` actions.

        wrk runs for whole seconds even once BENCH_LIMIT stopped its thread, so it runs 1 s at a
        time, asking for what is still missing (the last in-flight answers overshoot a little)."""
        have = self.count_actions(emu, token)
        while have < target:
            need = target - have
            env = {
                "BENCH_METHOD": "POST",
                "BENCH_PATHS": ids_file,
                "BENCH_TOKEN": token,
                "BENCH_BODY": json.dumps({"Comment": "bench", "IsolationType": "Full"}),
                "BENCH_CTYPE": "application/json",
                "BENCH_LIMIT": str(need),
            }
            wrk(emu.url, env, 1, max(1, min(self.conns, need // 50)))
            have = self.count_actions(emu, token)
        return have

    # -- the run -------------------------------------------------------------------------------

    def run(self):
        started = time.time()
        self.load_before = os.getloadavg()
        fleet_dir = os.path.join(self.tmp, f"fleet-{self.fleet_size}")
        subprocess.run(
            [BIN, "fixtures", "generate", "--count", str(self.fleet_size), "--seed", "1", "--out", fleet_dir],
            check=True, capture_output=True,
        )
        fleet = json.load(open(os.path.join(fleet_dir, "machines.json")))
        ids_file = os.path.join(self.tmp, "machine-paths.txt")
        with open(ids_file, "w") as f:
            for m in fleet:
                if isolatable(m):
                    f.write(f"/api/machines/{m['id']}/isolate\n")

        # Start-up to the first answer.
        for what, cmd, target in [] if self.single else [
            ("ceiling", [CEILING], "-"),
            ("embedded fleet (24 machines)", [BIN, "serve", *SERVE_FLAGS], "-"),
            (f"{self.fleet_size:,} machines", [BIN, "serve", *SERVE_FLAGS, "--fixtures", fleet_dir], "<= 50 ms"),
        ]:
            startup_ms(cmd, self.tmp)  # warm-up: the binary and fleet file into the page cache
            runs = [startup_ms(cmd, self.tmp) for _ in range(self.startup_reps)]
            ms = statistics.median(r[0] for r in runs)
            self.startups.append((what, ms, target, runs[-1][1]))
            log(f"start-up {what}: {ms:.1f} ms")

        ceiling = self.start("ceiling", [CEILING])
        token = self.token()
        auth = {"BENCH_TOKEN": token}

        # 1. The embedded fleet: single-entity reads, an action, duplicates, the token endpoint.
        emu = self.emulator("emulator-embedded")
        self.stage(emu, "embedded fleet, started")
        machine = json.loads(open(os.path.join(ROOT, "fixtures", "machines.json")).read())[0]["id"]
        self.compare("GET machine", ceiling, emu, {**auth, "BENCH_PATH": f"/api/machines/{machine}"},
                     target=TARGET_SINGLE)
        iso_body = json.dumps({"Comment": "bench", "IsolationType": "Full"})
        status, body = emu.request(
            "POST", f"/api/machines/{machine}/isolate", body=iso_body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        if status != 201:
            raise RuntimeError(f"isolate: {status} {body[:300]!r}")
        action = json.loads(body)["id"]
        self.compare("GET action", ceiling, emu, {**auth, "BENCH_PATH": f"/api/machineactions/{action}"},
                     target=TARGET_SINGLE)
        self.compare(
            "duplicate isolate (400)", ceiling, emu,
            {**auth, "BENCH_METHOD": "POST", "BENCH_PATH": f"/api/machines/{machine}/isolate",
             "BENCH_BODY": iso_body, "BENCH_CTYPE": "application/json"},
            target=TARGET_SINGLE, expect="400",
        )
        form = urllib.parse.urlencode({
            "grant_type": "client_credentials", "client_id": DEV_APP, "client_secret": DEV_SECRET,
            "scope": "https://api.securitycenter.microsoft.com/.default",
        })
        self.compare(
            "token endpoint (client_credentials)", ceiling, emu,
            {"BENCH_METHOD": "POST", "BENCH_PATH": f"/{DEV_TENANT}/oauth2/v2.0/token", "BENCH_BODY": form,
             "BENCH_CTYPE": "application/x-www-form-urlencoded"},
            target=TARGET_TOKEN, stage="embedded fleet, after reads, duplicates and tokens",
        )
        emu.stop()
        if self.single:
            return self.finish(ceiling, started)

        # 2. POST isolate on distinct machines: each request a (tenant, machine) pair not seen
        #    before; the tenants are forgotten (POST /_mock/reset) before each emulator round.
        emu = self.emulator("emulator-isolate", fleet_dir)
        self.stage(emu, f"{self.fleet_size:,} machines, started (isolate run)")
        tokens_file = os.path.join(self.tmp, "tenant-tokens.txt")
        with open(tokens_file, "w") as f:
            # Enough (tenant, machine) pairs for a round at 40,000 requests per second.
            for _ in range(self.duration * 40_000 // self.fleet_size + 2):
                f.write(self.token(str(uuid.uuid4())) + "\n")

        def reset():
            emu.request("POST", "/_mock/reset")

        self.compare(
            "POST isolate, distinct machines", ceiling, emu,
            {"BENCH_METHOD": "POST", "BENCH_PATHS": ids_file, "BENCH_TOKENS": tokens_file,
             "BENCH_BODY": iso_body, "BENCH_CTYPE": "application/json"},
            target=TARGET_SINGLE, before_emulator=reset, stage=f"{self.fleet_size:,} machines, after the isolate rounds",
        )
        emu.stop()

        # 3. The 10,000-machine fleet: a filtered list, then the actions list as actions grow.
        emu = self.emulator("emulator-fleet", fleet_dir)
        self.stage(emu, f"{self.fleet_size:,} machines, started")
        query = urllib.parse.quote("healthStatus eq 'Active' and riskScore eq 'High'")
        self.compare(
            f"list machines $filter $top=100, {count(self.fleet_size)} machines",
            ceiling, emu, {**auth, "BENCH_PATH": f"/api/machines?$filter={query}&$top=100"},
            target=TARGET_LIST, conns=self.slow_conns, min_answers=self.min_answers, stage=f"{self.fleet_size:,} machines, after the filtered lists",
        )
        status, body = emu.request(
            "PUT", f"/_mock/tenants/{DEV_TENANT}/duplicate-policy", body=json.dumps({"policy": "allow"}),
            headers={"Content-Type": "application/json"},
        )
        if status >= 300:
            raise RuntimeError(f"duplicate policy: {status} {body[:200]!r}")
        for step in self.action_steps:
            have = self.add_actions(emu, token, ids_file, step)
            self.stage(emu, f"{self.fleet_size:,} machines + {have:,} actions")
            last = step == self.action_steps[-1]
            rps = self.compare(
                f"list actions $top=10, {count(step)} actions", ceiling, emu,
                {**auth, "BENCH_PATH": "/api/machineactions?$top=10"},
                target=TARGET_LIST if last else "growth", conns=self.slow_conns, min_answers=self.min_answers,
            )
            self.growth.append((have, rps))
        self.final_stage = f"{self.fleet_size:,} machines + {have:,} actions, after the lists"
        self.stage(emu, self.final_stage)
        emu.stop()
        self.finish(ceiling, started)

    def finish(self, ceiling, started):
        self.ceiling_rss = ceiling.rss_kib()
        ceiling.stop()
        self.elapsed = time.time() - started
        self.load_after = os.getloadavg()

    def report(self):
        mode = ("smoke" if self.smoke else "full") + (" (--single)" if self.single else "")
        cpus = os.cpu_count()
        lines = []
        lines.append(
            f"defender-mock benchmark, {mode} run, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
            f"{platform.machine()} {cpus} CPUs, {self.rounds} alternating rounds x {self.duration} s, "
            f"wrk -t1 -c{self.conns} (lists -c{self.slow_conns}), medians"
        )
        lines.append("")
        lines.append(f"| scenario | ceiling req/s | emulator req/s | ratio | target | emulator mean latency | emulator RSS after |")
        lines.append("|---|---:|---:|---:|---|---:|---:|")
        for name, c, e, ratio, target, lat, rss, ok in self.rows:
            flag = "" if ok else " (!)"
            lines.append(
                f"| {name}{flag} | {c:,.0f} | {e:,.1f} | {ratio_text(ratio)} | {target} | {lat:.2f} ms | {mib(rss)} |"
            )
        lines.append("")
        if self.growth:
            base = self.growth[0][1]
            curve = ", ".join(f"{n:,} actions {ratio_text(r / base)}" if base else f"{n:,}: -" for n, r in self.growth)
            lines.append(f"Growth curve (list actions $top=10, req/s relative to the first step; target flat): {curve}")
            lines.append("")
        if self.startups:
            lines.append("| start-up to first 200 on /_mock/health | median | target | RSS then |")
            lines.append("|---|---:|---|---:|")
            for what, ms, target, rss in self.startups:
                lines.append(f"| {what} | {ms:.1f} ms | {target} | {mib(rss)} |")
            lines.append("")
        lines.append("| emulator RSS at each stage | VmRSS | VmHWM (peak) | target |")
        lines.append("|---|---:|---:|---|")
        for what, rss, hwm in self.rss_stages:
            target = "<= 32 MiB" if what == self.final_stage and not self.smoke else ""
            lines.append(f"| {what} | {mib(rss)} | {mib(hwm)} | {target} |")
        lines.append("")
        lines.append(
            f"Ceiling RSS at the end: {mib(self.ceiling_rss)}. Run time: {self.elapsed:.0f} s. Load average "
            f"(1 min) {self.load_before[0]:.1f} at the start, {self.load_after[0]:.1f} at the end."
        )
        return "\n".join(lines)

    def cleanup(self):
        for s in self.servers:
            s.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="~1 s per scenario, tiny counts: checks the harness")
    ap.add_argument("--single", action="store_true",
                    help="only the embedded-fleet rows: GET machine, GET action, duplicate 400, token endpoint")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (fleet, server logs)")
    args = ap.parse_args()
    for path in (BIN, CEILING):
        if not os.path.exists(path):
            sys.exit(f"missing {path}: run bench/run.sh (it builds the release binaries)")
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: run bench/run.sh (it installs it)")
    bench = Bench(args.smoke, args.single)
    try:
        bench.run()
        print(bench.report(), flush=True)
    finally:
        if args.keep:
            log(f"kept {bench.tmp}")
            for s in bench.servers:
                s.stop()
        else:
            bench.cleanup()
    produced = all(row[2] > 0 for row in bench.rows) and (args.single or (bench.startups and bench.growth))
    if bench.failures:
        print("\nProblems:\n" + "\n".join(f"- {f}" for f in bench.failures), flush=True)
    if not produced or bench.failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
