#!/usr/bin/env bash
# Gateway overhead benchmark: scif (as shipped, fsync audit; interval audit; optionally with a
# rate limiter) and LiteLLM proxy, each in front of the same mock OpenAI upstream, against the
# mock called directly. Load from wrk (one thread, keep-alive connections), one target after
# another on this machine. Raw JSON lines go to bench/results/gateway-<UTC stamp>.jsonl and a
# Markdown report to stdout (progress goes to stderr).
#
#   bench/gateway/run.sh
#   DURATION=2 STEPS="1 4" bench/gateway/run.sh          # quick smoke run
#
# Environment (defaults in brackets):
#   DURATION        seconds of the concurrency-1 latency run per target [10]
#   WARMUP          seconds of the warm-up run before it [2]
#   STEP_DURATION   seconds of each concurrency step [8; DURATION*8/10 when DURATION is set]
#   STEPS           concurrency steps of the throughput search ["1 2 4 8 16 32 64"]
#   P99_LIMIT_MS    p99 bound of the throughput search [10]
#   TARGETS         which targets, in order ["mock scif scif-interval scif-limiter litellm"];
#                   also scif-guardrail (every guardrail detector on, attached to the model),
#                   scif-anthropic and scif-anthropic-interval (POST /v1/messages with
#                   x-api-key), and base, base-interval (the binary SCIF_BASELINE_BIN, e.g. an
#                   earlier commit's build, for before/after in one run)
#   SCIF_BASELINE_BIN  the scif binary the base targets run
#   SKIP_BUILD=1    don't run cargo build first
#   SCIF_BENCH_LITELLM_VENV  LiteLLM virtualenv, created with pip on first use
#                   [~/.cache/scif/litellm-venv]
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=bench/gateway
CMDLINE="$(for v in DURATION WARMUP STEP_DURATION STEPS P99_LIMIT_MS TARGETS; do
  [ -z "${!v:-}" ] || printf '%s="%s" ' "$v" "${!v}"; done)$0${*:+ $*}"

DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
STEP_DURATION="${STEP_DURATION:-$(( DURATION * 8 / 10 > 0 ? DURATION * 8 / 10 : 1 ))}"
STEPS="${STEPS:-1 2 4 8 16 32 64}"
P99_LIMIT_MS="${P99_LIMIT_MS:-10}"
TARGETS="${TARGETS:-mock scif scif-interval scif-limiter litellm}"
VENV="${SCIF_BENCH_LITELLM_VENV:-$HOME/.cache/scif/litellm-venv}"
BIN_DIR="${CARGO_TARGET_DIR:-target}/release"
OUT_DIR=bench/results
mkdir -p "$OUT_DIR"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
OUT="$OUT_DIR/gateway-$stamp.jsonl"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/scif-gateway-bench.XXXXXX")"

log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

# Every server runs in its own process group (setsid) so that it and any children it spawns
# are killed together; only the groups started here are signalled.
PGIDS=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "$rc" != 0 ]; then
    for f in "$WORK"/*.err; do
      [ -s "$f" ] && { echo "--- last lines of $(basename "$f"):"; tail -n 20 "$f"; } >&2
    done
  fi
  [ -z "${WRK_PID:-}" ] || kill "$WRK_PID" 2>/dev/null || true
  for pg in "${PGIDS[@]}"; do stop_group "$pg"; done
  rm -rf "$WORK"
  exit "$rc"
}
stop_group() {
  local pg="$1" i
  kill -TERM -- "-$pg" 2>/dev/null || return 0
  for i in $(seq 50); do kill -0 -- "-$pg" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL -- "-$pg" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start() { # start NAME CMD...: run in the background in a new process group; sets $LAST_PID
  local name="$1"; shift
  setsid "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" </dev/null &
  LAST_PID=$!
  PGIDS+=("$LAST_PID")
}
stop() { # stop PID: stop one server started with start
  local pid="$1" keep=() pg
  stop_group "$pid"
  wait "$pid" 2>/dev/null || true
  for pg in "${PGIDS[@]}"; do [ "$pg" = "$pid" ] || keep+=("$pg"); done
  PGIDS=("${keep[@]}")
}
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_http() { # wait_http PID NAME URL SECONDS [CURL ARGS...]: until URL answers 200
  local pid="$1" name="$2" url="$3" secs="$4" i; shift 4
  for i in $(seq $(( secs * 10 ))); do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "$name exited before it was ready:"; tail -n 30 "$WORK/$name.err" "$WORK/$name.out" >&2
      return 1
    fi
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$@" "$url" || true)" = 200 ] && return 0
    sleep 0.1
  done
  log "$name not ready after ${secs}s:"; tail -n 30 "$WORK/$name.err" "$WORK/$name.out" >&2
  return 1
}
BODY='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello there"}],"max_tokens":8}'
check_chat() { # check_chat NAME URL AUTH: one request must answer 200 with a completion
  local name="$1" url="$2" auth="$3" code
  code="$(curl -s -o "$WORK/check.json" -w '%{http_code}' --max-time 30 -X POST "$url" \
    -H 'Content-Type: application/json' ${auth:+-H "Authorization: $auth"} -d "$BODY" || true)"
  if [ "$code" != 200 ] || ! grep -q '"choices"' "$WORK/check.json"; then
    log "$name: check request answered $code: $(head -c 500 "$WORK/check.json")"
    return 1
  fi
}

ANTHROPIC_BODY='{"model":"gpt-4o-mini","max_tokens":8,"messages":[{"role":"user","content":"hello there"}]}'
check_messages() { # check_messages NAME URL KEY: one Anthropic request must answer 200 with content
  local name="$1" url="$2" key="$3" code
  code="$(curl -s -o "$WORK/check.json" -w '%{http_code}' --max-time 30 -X POST "$url" \
    -H 'Content-Type: application/json' -H "x-api-key: $key" -H 'anthropic-version: 2023-06-01' \
    -d "$ANTHROPIC_BODY" || true)"
  if [ "$code" != 200 ] || ! grep -q '"content"' "$WORK/check.json"; then
    log "$name: check request answered $code: $(head -c 500 "$WORK/check.json")"
    return 1
  fi
}

run_wrk() { # run_wrk TARGET PHASE CONNECTIONS SECONDS URL AUTH
  local target="$1" phase="$2" conns="$3" secs="$4" url="$5" auth="$6" line
  BENCH_TARGET="$target" BENCH_PHASE="$phase" BENCH_CONNECTIONS="$conns" BENCH_AUTH="$auth" \
    BENCH_BODY="${BENCH_BODY:-}" BENCH_AUTH_HEADER="${BENCH_AUTH_HEADER:-}" \
    wrk -t1 -c"$conns" -d"${secs}s" --timeout 10s -s "$HERE/post.lua" "$url" >"$WORK/wrk.out" 2>&1 &
  WRK_PID=$!  # waited on in the background so that a signal interrupts the wait at once
  wait "$WRK_PID" || { WRK_PID=; log "wrk failed:"; cat "$WORK/wrk.out" >&2; return 1; }
  WRK_PID=
  line="$(sed -n 's/^BENCH_JSON //p' "$WORK/wrk.out")"
  [ -n "$line" ] || { log "wrk printed no result:"; cat "$WORK/wrk.out" >&2; return 1; }
  echo "$line" >>"$OUT"
  python3 "$HERE/report.py" --progress "$line" >&2
}
measure() { # measure TARGET URL AUTH: warm-up, concurrency-1 run, concurrency steps
  local target="$1" url="$2" auth="$3" c
  log "$target: warm-up ${WARMUP}s, latency ${DURATION}s at c=1, steps ${STEP_DURATION}s each: $STEPS"
  run_wrk "$target" warmup 1 "$WARMUP" "$url" "$auth"
  run_wrk "$target" latency 1 "$DURATION" "$url" "$auth"
  for c in $STEPS; do run_wrk "$target" step "$c" "$STEP_DURATION" "$url" "$auth"; done
}

# --- build -------------------------------------------------------------------------------
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  log "cargo build --release --locked -p scif -p scif-mock-upstream"
  cargo build --release --locked -p scif -p scif-mock-upstream >&2
fi
SCIF="$BIN_DIR/scif"
MOCK="$BIN_DIR/scif-mock-upstream"
command -v wrk >/dev/null || { log "wrk not found (Debian package wrk)"; exit 1; }

want() { [[ " $TARGETS " == *" $1 "* ]]; }
if want litellm && ! "$VENV/bin/python" -c 'import litellm.proxy.proxy_server' 2>/dev/null; then
  log "installing litellm[proxy] into $VENV (first use)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet 'litellm[proxy]' >&2
fi

# --- metadata ----------------------------------------------------------------------------
python3 - "$OUT" <<PY
import json, os, platform, subprocess, sys
def out(*cmd):
    try: return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except Exception: return ""
meta = {
  "meta": True, "date_utc": "$stamp", "command": """$CMDLINE""", "nproc": os.cpu_count(),
  "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), ""),
  "kernel": platform.release(), "loadavg_start": os.getloadavg(),
  "git": out("git", "rev-parse", "--short", "HEAD") + ("+dirty" if out("git", "status", "--porcelain", "--untracked-files=no") else ""),
  "scif": out("$SCIF", "--version"), "wrk": out("sh", "-c", "wrk -v 2>&1 | head -1").split(" Copyright")[0],
  "litellm": out("$VENV/bin/python", "-c", "import importlib.metadata as m; print(m.version('litellm'))") if " litellm " in " $TARGETS " else "",
  "tmp_fs": out("df", "--output=fstype", "$WORK").splitlines()[-1:],
  "duration_s": $DURATION, "warmup_s": $WARMUP, "step_duration_s": $STEP_DURATION,
  "steps": [int(c) for c in "$STEPS".split()], "p99_limit_ms": $P99_LIMIT_MS, "targets": "$TARGETS".split(),
}
open(sys.argv[1], "w").write(json.dumps(meta) + "\n")
PY

# --- mock upstream (stays up for every target) ---------------------------------------------
start mock "$MOCK" --listen 127.0.0.1:0 --tokens 8 --threads 1
MOCK_PID=$LAST_PID
for i in $(seq 100); do
  MOCK_PORT="$(sed -n '1s/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$WORK/mock.out")"
  [ -n "$MOCK_PORT" ] && break
  kill -0 "$MOCK_PID" 2>/dev/null || { log "mock exited:"; cat "$WORK/mock.err" >&2; exit 1; }
  sleep 0.1
done
[ -n "$MOCK_PORT" ] || { log "mock did not print its port"; exit 1; }
MOCK_URL="http://127.0.0.1:$MOCK_PORT/v1/chat/completions"
check_chat mock "$MOCK_URL" ""
log "mock upstream on 127.0.0.1:$MOCK_PORT"

# --- targets -------------------------------------------------------------------------------
run_scif() { # run_scif TARGET [extra scif.toml text]; environment of scif serve from SCIF_ENV,
  # the binary from SCIF_RUN (default the one built here), the route from ROUTE (chat or messages)
  local target="$1" extra="${2:-}" dir="$WORK/$1" port key pid
  local SCIF="${SCIF_RUN:-$SCIF}"
  mkdir -p "$dir"
  cat >"$dir/scif.toml" <<TOML
[security]
system_high = "UNCLASSIFIED"
[gateway]
health_check_secs = 0
[[remote_models]]
name = "gpt-4o-mini"
label = "UNCLASSIFIED"
[[deployments]]
name = "mock"
model = "gpt-4o-mini"
url = "http://127.0.0.1:$MOCK_PORT/v1"
accreditation = "UNCLASSIFIED"
$extra
TOML
  SCIF_LOG_LEVEL=warn "$SCIF" principals create bench --clearance UNCLASSIFIED \
    --config "$dir/scif.toml" --data-dir "$dir" >"$WORK/$target-principal.out" 2>&1 \
    || { log "principals create failed:"; cat "$WORK/$target-principal.out" >&2; return 1; }
  key="$(SCIF_LOG_LEVEL=warn "$SCIF" keys create --principal bench --config "$dir/scif.toml" \
    --data-dir "$dir" 2>"$WORK/$target-key.err" | grep -o 'scif_[A-Za-z0-9_-]*' | head -1)" \
    || true
  [ -n "$key" ] || { log "keys create printed no key:"; cat "$WORK/$target-key.err" >&2; return 1; }
  if [ -n "${SCIF_GUARDRAIL:-}" ]; then # every detector on, attached to the model
    SCIF_LOG_LEVEL=warn "$SCIF" guardrails create --file "$SCIF_GUARDRAIL" --id bench \
      --config "$dir/scif.toml" --data-dir "$dir" >&2
    SCIF_LOG_LEVEL=warn "$SCIF" guardrails attach bench --version 1 --model gpt-4o-mini \
      --config "$dir/scif.toml" --data-dir "$dir" >&2
  fi
  port="$(free_port)"
  start "$target" env SCIF_LOG_LEVEL=warn ${SCIF_ENV:-} "$SCIF" serve --config "$dir/scif.toml" \
    --data-dir "$dir" --listen "127.0.0.1:$port"
  pid=$LAST_PID
  wait_http "$pid" "$target" "http://127.0.0.1:$port/readyz" 60
  if [ "${ROUTE:-chat}" = messages ]; then
    check_messages "$target" "http://127.0.0.1:$port/v1/messages" "$key"
    log "$target on 127.0.0.1:$port (pid $pid), POST /v1/messages"
    BENCH_BODY="$ANTHROPIC_BODY" BENCH_AUTH_HEADER=x-api-key \
      measure "$target" "http://127.0.0.1:$port/v1/messages" "$key"
  else
    check_chat "$target" "http://127.0.0.1:$port/v1/chat/completions" "Bearer $key"
    log "$target on 127.0.0.1:$port (pid $pid)"
    measure "$target" "http://127.0.0.1:$port/v1/chat/completions" "Bearer $key"
  fi
  stop "$pid"
}

run_litellm() {
  local port pid
  sed "s/@MOCKPORT@/$MOCK_PORT/" "$HERE/litellm.yaml" >"$WORK/litellm.yaml"
  port="$(free_port)"
  log "litellm: starting (takes ~20 s)"
  start litellm env LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_TELEMETRY=False LITELLM_LOG=WARNING \
    "$VENV/bin/litellm" --config "$WORK/litellm.yaml" --host 127.0.0.1 --port "$port" --num_workers 1
  pid=$LAST_PID
  wait_http "$pid" litellm "http://127.0.0.1:$port/health/liveliness" 180
  check_chat litellm "http://127.0.0.1:$port/v1/chat/completions" "Bearer sk-bench"
  log "litellm on 127.0.0.1:$port (pid $pid)"
  measure litellm "http://127.0.0.1:$port/v1/chat/completions" "Bearer sk-bench"
  stop "$pid"
}

for t in $TARGETS; do
  case "$t" in
    mock) measure mock "$MOCK_URL" "" ;;
    scif) SCIF_ENV="" run_scif scif ;;
    scif-interval) SCIF_ENV="SCIF_AUDIT_DURABILITY=interval" run_scif scif-interval ;;
    scif-guardrail) SCIF_ENV="" SCIF_GUARDRAIL="$HERE/guardrail-all.json" run_scif scif-guardrail ;;
    scif-limiter) SCIF_ENV="" run_scif scif-limiter '[[limits]]
name = "rpm"
scope = "principal"
requests_per_minute = 100000000' ;;
    scif-anthropic) SCIF_ENV="" ROUTE=messages run_scif scif-anthropic ;;
    scif-anthropic-interval) SCIF_ENV="SCIF_AUDIT_DURABILITY=interval" ROUTE=messages run_scif scif-anthropic-interval ;;
    base|base-interval)
      [ -x "${SCIF_BASELINE_BIN:-}" ] || { log "$t needs SCIF_BASELINE_BIN (an earlier build of scif)"; exit 2; }
      env_for=""; [ "$t" = base-interval ] && env_for="SCIF_AUDIT_DURABILITY=interval"
      SCIF_ENV="$env_for" SCIF_RUN="$SCIF_BASELINE_BIN" run_scif "$t" ;;
    litellm) run_litellm ;;
    *) log "unknown target $t (known: mock scif scif-interval scif-guardrail scif-limiter scif-anthropic scif-anthropic-interval base base-interval litellm)"; exit 2 ;;
  esac
done
stop "$MOCK_PID"

log "raw results: $OUT"
python3 "$HERE/report.py" "$OUT"
