#!/usr/bin/env bash
# Profiles the proxy's hot paths (not part of the timed run): bash bench/profile.sh
#
# Starts the same servers as bench/run.sh, then for the minimal app, the Hi! handler and the forwarder:
# a fixed wrk load while dotnet-counters samples the server's allocations and GC (bytes allocated per
# request, gen0 collections per 1,000 requests), also with telemetry off and on (the proxies of rows 11a-d),
# then perf's CPU samples by library and by method after PROFILE_WARMUP_SECONDS (default 30) of load.
# Installs dotnet-counters (a NuGet tool) and perf (Debian's linux-perf) if missing.
# Writes bench/results/profile.md.
set -euo pipefail
# shellcheck source=bench/run.sh
source "$(dirname "${BASH_SOURCE[0]}")/run.sh"

PROFILE_SECONDS=8
# Load before perf records: tiered PGO on one saturated core runs instrumented code for 20-30 s, and a profile
# taken earlier shows the runtime's profiling helpers, not the steady state (bench/results/issue16-forwarder.md).
PROFILE_WARMUP_SECONDS="${PROFILE_WARMUP_SECONDS:-30}"
export PATH="$PATH:$HOME/.dotnet/tools"

install_profilers() {
  local tool
  for tool in dotnet-counters; do
    command -v "$tool" >/dev/null || dotnet tool install -g "$tool" >/dev/null
  done
  command -v perf >/dev/null || { apt-get update -qq && apt-get install -y -qq linux-perf >/dev/null; }
}

wrk_script() {
  local model="$1" key="$2" path="$WORK/$1.lua"
  cat >"$path" <<EOF2
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $key"
wrk.body = '{"model":"$model","messages":[{"role":"user","content":"Say \\\\"this is a test\\\\" in JSON!"}]}'
EOF2
  echo "$path"
}

# load NAME PID URL MODEL KEY: wrk for PROFILE_SECONDS while dotnet-counters watches PID; prints one table row.
load_with_counters() {
  local name="$1" pid="$2" url="$3" model="$4" key="$5" script requests csv allocated gen0
  script="$(wrk_script "$model" "$key")"
  csv="$WORK/$name.csv"
  taskset -c "$LOAD_CPU" wrk -t1 -c32 -d3s -s "$script" "$url" >/dev/null
  taskset -c "$LOAD_CPU" dotnet-counters collect -p "$pid" --counters System.Runtime --format csv -o "$csv" \
    --refresh-interval 1 --duration "00:00:00:$((PROFILE_SECONDS + 2))" >/dev/null &
  local counters=$!
  sleep 1
  requests="$(taskset -c "$LOAD_CPU" wrk -t1 -c32 -d"${PROFILE_SECONDS}s" -s "$script" "$url" | awk '/requests in/ {print $1}')"
  wait "$counters" || true
  allocated="$(awk -F, '/total_allocated|Allocation Rate/ {sum += $NF} END {printf "%.0f", sum}' "$csv")"
  gen0="$(awk -F, '/gc.collections.*gen0|gen-0-gc-count/ {sum += $NF} END {printf "%.0f", sum}' "$csv")"
  echo "| $name | $requests | $((allocated / (requests > 0 ? requests : 1))) B | $(awk -v g="$gen0" -v r="$requests" 'BEGIN {printf "%.2f", g * 1000 / r}') |"
}

# perf_top NAME PID URL MODEL KEY: CPU samples of PID under wrk load (JIT-compiled frames named through the
# perf map the runtime writes with DOTNET_PerfMapEnabled=1), by shared object and by symbol.
perf_top() {
  local name="$1" pid="$2" url="$3" model="$4" key="$5" script data="$WORK/perf-$RANDOM.data"
  script="$(wrk_script "$model" "$key")"
  taskset -c "$LOAD_CPU" wrk -t1 -c32 -d"${PROFILE_WARMUP_SECONDS}s" -s "$script" "$url" >/dev/null
  taskset -c "$LOAD_CPU" wrk -t1 -c32 -d"$((PROFILE_SECONDS + 2))s" -s "$script" "$url" >/dev/null &
  local load=$!
  sleep 1
  taskset -c "$LOAD_CPU" perf record -q -e cpu-clock -F 1999 -g -p "$pid" -o "$data" -- sleep "$((PROFILE_SECONDS - 2))" >/dev/null 2>&1
  wait "$load" || true
  echo "#### $name: where the server's CPU time goes (perf, cpu-clock samples)"
  echo
  echo '```'
  # head closes the pipe early: that is not a failure.
  perf report -i "$data" --no-children --sort dso --stdio -g none 2>/dev/null | grep '%' | head -8 || true
  echo
  perf report -i "$data" --no-children --sort symbol --stdio -g none 2>/dev/null | grep '%' \
    | sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//' | head -40 || true
  echo '```'
  echo
}

profile_main() {
  MODE="full"
  CHUNKS=20
  CHUNK_DELAY_MS=10
  SLOW_DELAY_MS=300
  install_tools
  install_profilers
  # Name JIT-compiled frames in perf: the perf map, and no W^X double mapping (which hides the code from it).
  export DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0
  build
  start_servers
  local mini_pid="${PIDS[0]}" proxy="http://127.0.0.1:$PROXY_PORT/v1/chat/completions" direct="http://127.0.0.1:$MOCK_PORT/v1/chat/completions"
  local out="$ROOT/bench/results/profile.md"
  {
    echo "## Profile ($(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$ROOT" rev-parse --short HEAD))"
    echo
    echo "wrk, 32 connections, ${PROFILE_SECONDS} s; servers on CPU $SERVER_CPU, wrk and the profilers on CPU $LOAD_CPU. Allocations are the server process's own (dotnet-counters, System.Runtime)."
    echo
    echo "| server, path | requests | allocated per request | gen0 GCs per 1,000 requests |"
    echo "|---|---|---|---|"
    load_with_counters "minimal app (direct)" "$mini_pid" "$direct" gpt-4o-mini "$UPSTREAM_KEY"
    load_with_counters "proxy, Hi! handler" "$PROXY_PID" "$proxy" my-custom-model "$KEY"
    load_with_counters "proxy, forwarder (proxy process only)" "$PROXY_PID" "$proxy" upstream-gpt "$KEY"
    local on_port off_port on_pid off_pid
    free_port on_port
    free_port off_port
    # shellcheck disable=SC2046 # the commands are plain words
    start proxy-telemetry-on "$on_port" $(telemetry_on_command "$on_port")
    on_pid="${PIDS[-1]}"
    # shellcheck disable=SC2046
    start proxy-telemetry-off "$off_port" $(telemetry_off_command "$off_port")
    off_pid="${PIDS[-1]}"
    load_with_counters "proxy, Hi! handler, telemetry off (OTEL_SDK_DISABLED=true)" "$off_pid" "http://127.0.0.1:$off_port/v1/chat/completions" my-custom-model "$KEY"
    load_with_counters "proxy, Hi! handler, telemetry on (PLUGINHOST_TRACING=1, no exporter)" "$on_pid" "http://127.0.0.1:$on_port/v1/chat/completions" my-custom-model "$KEY"
    load_with_counters "proxy, forwarder, telemetry off (proxy process only)" "$off_pid" "http://127.0.0.1:$off_port/v1/chat/completions" upstream-gpt "$KEY"
    load_with_counters "proxy, forwarder, telemetry on (proxy process only)" "$on_pid" "http://127.0.0.1:$on_port/v1/chat/completions" upstream-gpt "$KEY"
    stop_last
    stop_last
    echo
    taskset -c "$LOAD_CPU" "$BENCH_EXE" alloc --out "$WORK/alloc" >/dev/null
    cat "$WORK/alloc/details.md"
    perf_top "minimal app" "$mini_pid" "$direct" gpt-4o-mini "$UPSTREAM_KEY"
    perf_top "proxy, Hi! handler" "$PROXY_PID" "$proxy" my-custom-model "$KEY"
    perf_top "proxy, forwarder (proxy process only)" "$PROXY_PID" "$proxy" upstream-gpt "$KEY"
    perf_top "proxy, forwarder over HTTP/2 to the upstream (http2: true; proxy process only)" "$PROXY_PID" "$proxy" upstream-gpt-h2c "$KEY"
  } >"$out"
  log "profile written to $out"
}

# Other scripts may source this file for its functions.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  profile_main "$@"
fi
