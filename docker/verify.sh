#!/usr/bin/env bash
# Builds the Dockerfile's image with podman (no Docker engine and no registry here: the `build`
# stage is replaced by a folder holding a static binary built on the host) and checks it as a
# user would: size, start-to-healthy, a black-box smoke, non-root, `podman stop` time and exit
# code, the HEALTHCHECK following a custom --listen port and HTTPS (DEFENDER_MOCK_TLS=true), the
# unhealthy reason on stderr, and the CA kept in a named volume or a host folder by a non-root
# container. Prints the figures.
set -euo pipefail
cd "$(dirname "$0")/.."

# Everything this needs comes from Debian's packages; CI starts on a machine that may lack them.
if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v podman-compose >/dev/null; then
  echo "== installing podman, runc and podman-compose"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc >/dev/null
  # podman-compose only parses the compose example; without it PyYAML does.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman-compose >/dev/null 2>&1 || true
fi
# crun fails on this kernel's cgroup layout and on raising limits: runc, with limits set.
run_opts=(--runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
image=localhost/defender-mock:verify
# Containers of this run carry a label, so cleanup finds them whatever subshell started them.
run_label="defender-mock-verify=$$"
cleanup() {
  podman ps -aq --filter "label=$run_label" | xargs -r podman --runtime runc rm -f >/dev/null 2>&1 || true
}
trap cleanup EXIT
ms() { date +%s%3N; }
fail() { echo "FAIL: $*" >&2; exit 1; }

echo "== static binary (crt-static, x86_64-unknown-linux-gnu)"
RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --locked --quiet --target x86_64-unknown-linux-gnu
bin="${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-gnu/release/defender-mock"
# Static (or static-PIE): no ELF interpreter, so nothing to load from the empty image.
if readelf -l "$bin" | grep -q INTERP; then fail "binary is dynamically linked"; fi
ctx=$(mktemp -d)
mkdir -p "$ctx/out/data/tls"
cp "$bin" "$ctx/out/defender-mock"

echo "== podman build (build stage replaced by $ctx)"
podman build --quiet --format docker --build-context build="$ctx" -t "$image" . >/dev/null
size=$(podman image inspect "$image" --format '{{.Size}}')
size_mb=$(awk "BEGIN{printf \"%.1f\", $size/1000000}")
echo "image size: $size bytes ($size_mb MB)"
[ "$size" -le 20000000 ] || fail "image over 20 MB"

# start CONTAINER_NAME [podman run args...]: runs detached, prints ms from start to healthy.
start_healthy() {
  local name=$1; shift
  local t0; t0=$(ms)
  podman run -d --name "$name" --label "$run_label" "${run_opts[@]}" "$@" "$image" >/dev/null
  for _ in $(seq 1 200); do
    if podman healthcheck run "$name" >/dev/null 2>&1; then echo $(( $(ms) - t0 )); return 0; fi
    sleep 0.02
  done
  podman logs "$name" >&2 || true
  fail "$name never became healthy"
}

echo "== run with a published random port"
main="dm-verify-$$"
healthy_ms=$(start_healthy "$main" -p 127.0.0.1::5088)
port=$(podman port "$main" 5088/tcp | head -1 | sed 's/.*://')
url="http://127.0.0.1:$port"
echo "start to healthy: ${healthy_ms} ms (port $port)"
[ "$healthy_ms" -le 1000 ] || fail "start to healthy over 1 s"

echo "== black-box smoke against the container"
token=$("$bin" token --roles Machine.Isolate,Machine.Read.All)
machine=553b148cb7ba10d8b506e2dab4fa8468da35de10  # fin-lt-0187, starts isolated
code=$(curl -s -o /tmp/dm-verify-body -w '%{http_code}' -X POST "$url/api/machines/$machine/unisolate" \
  -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d '{ "Comment": "Unisolate machine since it was clean and validated" }')
[ "$code" = 201 ] || fail "unisolate answered $code: $(cat /tmp/dm-verify-body)"
action=$(python3 -c 'import json,sys; print(json.load(open("/tmp/dm-verify-body"))["id"])')
curl -sf -X POST "$url/_mock/clock/advance" -H 'Content-Type: application/json' -d '{"seconds": 120}' >/dev/null
status=$(curl -sf "$url/api/machineactions/$action" -H "Authorization: Bearer $token" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
[ "$status" = Succeeded ] || fail "action is $status after 120 s"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url/api/machines/$machine/unisolate" -d '{}')
[ "$code" = 401 ] || fail "no token answered $code"
echo "smoke: unisolate 201, polled to Succeeded, 401 without a token"

echo "== runs as non-root"
user=$(podman top "$main" user | tail -n +2 | tr -d ' ')
[ -n "$user" ] && [ "$user" != root ] && [ "$user" != 0 ] || fail "runs as '$user'"
echo "user: $user ($(podman inspect "$main" --format '{{.Config.User}}'))"

echo "== podman stop"
t0=$(ms)
podman stop -t 10 "$main" >/dev/null
stop_ms=$(( $(ms) - t0 ))
exit_code=$(podman inspect "$main" --format '{{.State.ExitCode}}')
echo "stop: ${stop_ms} ms, exit code $exit_code"
[ "$stop_ms" -le 2000 ] || fail "stop took over 2 s"
[ "$exit_code" = 0 ] || fail "exit code $exit_code"

echo "== custom --listen port through the env variable"
custom="dm-verify-port-$$"
custom_ms=$(start_healthy "$custom" -e DEFENDER_MOCK_LISTEN=0.0.0.0:9090 -p 127.0.0.1::9090)
port=$(podman port "$custom" 9090/tcp | head -1 | sed 's/.*://')
curl -sf "http://127.0.0.1:$port/_mock/health" >/dev/null || fail "no answer on the custom port"
echo "custom port 9090: healthy in ${custom_ms} ms"

echo "== HTTPS: DEFENDER_MOCK_TLS=true, the HEALTHCHECK probes https"
tls="dm-verify-tls-$$"
tls_ms=$(start_healthy "$tls" -e DEFENDER_MOCK_TLS=true -p 127.0.0.1::5088)
port=$(podman port "$tls" 5088/tcp | head -1 | sed 's/.*://')
podman cp "$tls:/data/tls/ca.pem" "$ctx/ca.pem"
curl -sf --cacert "$ctx/ca.pem" "https://localhost:$port/_mock/health" >/dev/null \
  || fail "https with the container's CA failed"
podman logs "$tls" > "$ctx/tls.log" 2>&1   # to a file: grep -q would end the pipe early
grep -q "listening on https://" "$ctx/tls.log" || fail "no https ready line"
echo "tls: healthy in ${tls_ms} ms, curl --cacert (CA copied out of the container) ok"

echo "== an unhealthy probe says why on stderr"
if podman exec -e DEFENDER_MOCK_TLS=false "$tls" /defender-mock health 2> "$ctx/why.txt"; then
  fail "plain-HTTP probe of an HTTPS server passed"
fi
grep -q "DEFENDER_MOCK_TLS=true" "$ctx/why.txt" || fail "no reason: $(cat "$ctx/why.txt")"
echo "reason: $(cat "$ctx/why.txt")"
podman exec "$tls" /defender-mock health --listen 127.0.0.1:1 2> "$ctx/why.txt" && fail "port 1 healthy"
grep -q "cannot connect" "$ctx/why.txt" || fail "no reason: $(cat "$ctx/why.txt")"
echo "reason: $(cat "$ctx/why.txt")"

echo "== HTTPS CA in a named volume (non-root), kept across containers"
vol="dm-verify-tls-$$"
podman volume create --label "$run_label" "$vol" >/dev/null
vol_cleanup() { podman volume rm -f "$vol" >/dev/null 2>&1 || true; }
trap 'cleanup; vol_cleanup' EXIT
start_healthy "$tls-v1" -e DEFENDER_MOCK_TLS=true -v "$vol:/data/tls" >/dev/null
podman cp "$tls-v1:/data/tls/ca.pem" "$ctx/ca-v1.pem"
podman rm -f "$tls-v1" >/dev/null
start_healthy "$tls-v2" -e DEFENDER_MOCK_TLS=true -v "$vol:/data/tls" >/dev/null
podman cp "$tls-v2:/data/tls/ca.pem" "$ctx/ca-v2.pem"
cmp -s "$ctx/ca-v1.pem" "$ctx/ca-v2.pem" || fail "the second container made another CA"
echo "named volume: written by uid 65532, the same CA in the next container"

echo "== HTTPS CA in a host folder"
# As root-owned host folders are: the default uid 65532 cannot write, and says so.
host="$ctx/host-tls"; mkdir -p "$host"; chmod 755 "$host"
denied="dm-verify-denied-$$"
timeout 20 podman run --name "$denied" --label "$run_label" "${run_opts[@]}" -e DEFENDER_MOCK_TLS=true \
  -v "$host:/data/tls" "$image" > /dev/null 2> "$ctx/denied.txt" && fail "started on an unwritable folder"
grep -q "TLS: cannot write /data/tls/ca-key.pem: Permission denied" "$ctx/denied.txt" \
  && grep -q "runs as uid 65532" "$ctx/denied.txt" || fail "unclear refusal: $(cat "$ctx/denied.txt")"
echo "root-owned folder, uid 65532: refused: $(grep -o "TLS:.*" "$ctx/denied.txt")"
# The documented fix for a user's folder: run as its owner (docker run --user "$(id -u):$(id -g)").
chown 1000:1000 "$host"
start_healthy "$tls-user" --user 1000:1000 -e DEFENDER_MOCK_TLS=true -v "$host:/data/tls" >/dev/null
owner=$(stat -c '%u:%g %a' "$host/ca-key.pem")
[ "$owner" = "1000:1000 600" ] || fail "ca-key.pem on the host is $owner"
echo "host folder with --user 1000:1000: healthy, ca-key.pem $owner on the host"
# Or hand the folder to the image's user.
host2="$ctx/host-tls2"; mkdir -p "$host2"; chown 65532:65532 "$host2"
start_healthy "$tls-chown" -e DEFENDER_MOCK_TLS=true -v "$host2:/data/tls" >/dev/null
[ "$(stat -c '%u %a' "$host2/ca-key.pem")" = "65532 600" ] || fail "ca-key.pem: $(stat -c '%u %a' "$host2/ca-key.pem")"
echo "host folder chown 65532: healthy, ca-key.pem 65532 600"
# A key copied in with mode 644 is made 0600 at start.
chmod 644 "$host2/ca-key.pem"
podman rm -f "$tls-chown" >/dev/null
start_healthy "$tls-chown2" -e DEFENDER_MOCK_TLS=true -v "$host2:/data/tls" >/dev/null
[ "$(stat -c '%a' "$host2/ca-key.pem")" = 600 ] || fail "ca-key.pem left $(stat -c '%a' "$host2/ca-key.pem")"
echo "ca-key.pem 644 on restart: made 600"
# ca.pem without its key: refused, and the trusted ca.pem is left as it was.
rm "$host2/ca-key.pem"; sum=$(sha256sum < "$host2/ca.pem")
podman rm -f "$tls-chown2" >/dev/null
timeout 20 podman run --name "$denied-2" --label "$run_label" "${run_opts[@]}" -e DEFENDER_MOCK_TLS=true \
  -v "$host2:/data/tls" "$image" > /dev/null 2> "$ctx/denied.txt" && fail "started without ca-key.pem"
grep -q "ca-key.pem is missing" "$ctx/denied.txt" || fail "unclear refusal: $(cat "$ctx/denied.txt")"
[ "$(sha256sum < "$host2/ca.pem")" = "$sum" ] || fail "ca.pem was overwritten"
echo "ca.pem without ca-key.pem: refused, ca.pem unchanged"

echo "== examples/docker-compose.yml parses"
# Parse only: `up` needs base images from a registry, which this machine cannot reach, and podman
# schedules health checks through systemd, which it has not.
compose_py=python3
if command -v podman-compose >/dev/null; then
  # --dry-run still creates the example's named volume: remove it unless it was there before.
  had_volume=$(podman volume exists examples_tls && echo yes || echo no)
  podman-compose -f examples/docker-compose.yml --dry-run up --no-build > /tmp/dm-compose.txt 2>&1 \
    || { cat /tmp/dm-compose.txt >&2; fail "podman-compose cannot read examples/docker-compose.yml"; }
  [ "$had_volume" = yes ] || podman volume rm -f examples_tls >/dev/null 2>&1 || true
  grep -q -- "--healthcheck-interval" /tmp/dm-compose.txt || fail "compose lost the emulator's healthcheck timing"
  grep -q "examples_client_1" /tmp/dm-compose.txt || fail "compose lost the client service"
  compose_py=/usr/bin/python3   # podman-compose's own interpreter has PyYAML
fi
"$compose_py" - <<'PY' || fail "examples/docker-compose.yml: the client must wait on service_healthy"
import yaml
d = yaml.safe_load(open("examples/docker-compose.yml"))
assert d["services"]["client"]["depends_on"]["defender-mock"]["condition"] == "service_healthy"
assert "test" not in d["services"]["defender-mock"]["healthcheck"], "use the image's exec-form HEALTHCHECK"
w = yaml.safe_load(open("examples/github-actions.yml"))
svc = w["jobs"]["with-service-container"]["services"]["defender-mock"]
assert "--health-cmd" not in svc.get("options", ""), "--health-cmd becomes CMD-SHELL: never healthy on scratch"
PY
echo "compose: parsed (podman-compose --dry-run), client waits on service_healthy, image HEALTHCHECK kept; actions: no --health-cmd"

echo "docker-verify: image ${size_mb} MB, healthy in ${healthy_ms} ms, stop ${stop_ms} ms (exit ${exit_code}), custom-port healthcheck ok, tls healthy in ${tls_ms} ms"
