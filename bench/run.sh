#!/usr/bin/env bash
# PluginHost benchmarks (issues 6 and 12). One command, about 11 minutes on a 2-core machine:
#
#   bash bench/run.sh            every scenario; writes bench/results/latest.md and refreshes BENCHMARKS.md
#   bash bench/run.sh --smoke    a few seconds of load through the forwarder and a few streams, no timing
#                                targets (exits non-zero only if a request fails); writes bench/results/smoke/
#   bash bench/run.sh --only 2a  one row of the full run (1 2a 2b 2c 2d 2e 3 4 5 6 7 7b 8a 8b 9 10 11a 11b 11c 11d 12a 12b 13a 13b 13c 13d 13e; several: --only "2a 5");
#                                writes bench/results/only.md and leaves BENCHMARKS.md alone
#
# Builds Release, installs wrk if missing, starts the proxy and a minimal OpenAI-compatible app (the baseline
# and the forwarder's mock upstream) on 127.0.0.1 pinned to CPU 0, runs the measuring client
# (bench/PluginHost.Bench, which drives wrk) pinned to CPU 1, and stops everything it started on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODE="full"
ONLY=""
SERVER_CPU=0
LOAD_CPU=1
KEY="sk-1234"
UPSTREAM_KEY="sk-upstream"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/pluginhost-bench.XXXXXX")"
PIDS=()

PROXY_EXE="$ROOT/artifacts/bin/PluginHost/release/PluginHost"
MINI_EXE="$ROOT/artifacts/bin/MiniOpenAi/release/MiniOpenAi"
BENCH_EXE="$ROOT/artifacts/bin/PluginHost.Bench/release/PluginHost.Bench"

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

parse_args() {
  case "${1:-}" in
    "") ;;
    --smoke) MODE="smoke" ;;
    --only) [[ -n "${2:-}" ]] || { echo "usage: bash bench/run.sh --only ROW..." >&2; exit 2; }; ONLY=" $2 " ;;
    *) echo "usage: bash bench/run.sh [--smoke | --only ROW...]" >&2; exit 2 ;;
  esac
  if [[ "$(nproc)" -lt 2 ]]; then
    log "only one CPU: servers and load generator share it (ratios still compare like with like)"
    LOAD_CPU=0
  fi
}

install_tools() {
  if [[ "$MODE" == "full" ]] && row 9 && ! command -v redis-server >/dev/null; then
    log "installing redis-server"
    apt-get update -qq && apt-get install -y -qq redis-server >/dev/null
  fi
  if [[ "$MODE" == "full" ]] && ! command -v wrk >/dev/null; then
    log "installing wrk"
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
  fi
}

build() {
  log "building Release (host, sample plugins, bench apps, swap handler v1 and v2)"
  local out="$WORK/build.log"
  # Projects one by one, not a solution: a solution build drops -c Release for references outside it.
  if ! { dotnet build "$ROOT/host" -c Release \
      && dotnet build "$ROOT/bench/MiniOpenAi" -c Release \
      && dotnet build "$ROOT/bench/PluginHost.Bench" -c Release \
      && dotnet build "$ROOT/bench/SwapHandler" -c Release -p:SwapVersion=1 -p:SwapOutDir="$WORK/swap-v1/" \
      && dotnet build "$ROOT/bench/SwapHandler" -c Release -p:SwapVersion=2 -p:SwapOutDir="$WORK/swap-v2/"; } >"$out" 2>&1; then
    tail -n 40 "$out" >&2
    exit 1
  fi
}

# A port nothing listens on (bash's /dev/tcp connect fails on a free one), taken below the kernel's ephemeral range so
# that no outgoing connection (or its TIME_WAIT) holds it when the server binds, and never handed out twice in a run.
EPHEMERAL_LOW="$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)"
GIVEN_PORTS=" "
# free_port VAR: sets VAR (not through $(...), whose subshell would forget the ports given).
free_port() {
  local port low=10000 span=$((EPHEMERAL_LOW - 10000))
  ((span < 1000)) && { low=1024; span=$((EPHEMERAL_LOW - 1024)); }
  while :; do
    port=$((low + (RANDOM * 32768 + RANDOM) % span))
    [[ "$GIVEN_PORTS" == *" $port "* ]] && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      GIVEN_PORTS+="$port "
      printf -v "$1" '%s' "$port"
      return
    fi
  done
}

wait_for_port() {
  local name="$1" port="$2" tries=300
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    tries=$((tries - 1))
    if [[ $tries -eq 0 ]]; then
      log "$name did not listen on $port; its log:"
      cat "$WORK/$name.log" >&2
      exit 1
    fi
    sleep 0.1
  done
}

# start NAME PORT COMMAND...: runs a server on the server CPU, remembered for cleanup.
start() {
  local name="$1" port="$2"
  shift 2
  taskset -c "$SERVER_CPU" "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=("$!")
  wait_for_port "$name" "$port"
  log "$name listening on 127.0.0.1:$port (pid $!, CPU $SERVER_CPU)"
}

# Stops the server started last (so it does not reload beside the others in later scenarios).
stop_last() {
  local pid="${PIDS[-1]}"
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  unset 'PIDS[-1]'
}

# The proxy's plugins folder: the three samples plus the bench's swap handler (v1), built files only.
write_plugins_and_config() {
  local name
  for name in HiHandler EchoHandler OpenAiForwarder; do
    mkdir -p "$WORK/plugins/$name"
    cp "$ROOT/plugins/$name/$name.dll" "$ROOT/plugins/$name/$name.deps.json" "$WORK/plugins/$name/"
  done
  mkdir -p "$WORK/plugins/SwapHandler"
  cp "$WORK/swap-v1/SwapHandler.dll" "$WORK/swap-v1/SwapHandler.deps.json" "$WORK/plugins/SwapHandler/"

  cat >"$WORK/bench.yaml" <<EOF
model_list:
  - model_name: my-custom-model
    litellm_params:
      model: my-custom-llm/my-model
  - model_name: upstream-gpt
    litellm_params:
      model: openai-forwarder/gpt-4o-mini
      api_base: http://127.0.0.1:$MOCK_PORT/v1
      api_key: $UPSTREAM_KEY
  # The same upstream over cleartext HTTP/2 (one multiplexed connection instead of a pool of HTTP/1.1 ones).
  - model_name: upstream-gpt-h2c
    litellm_params:
      model: openai-forwarder/gpt-4o-mini
      api_base: http://127.0.0.1:$MOCK_H2C_PORT/v1
      api_key: $UPSTREAM_KEY
      http2: true
  - model_name: echo-slow
    litellm_params:
      model: echo/echo-1
      delay_ms: $SLOW_DELAY_MS
  - model_name: swap
    litellm_params:
      model: swap/swap-1
  # The router rows: one group of two healthy deployments, and one whose first deployment always fails
  # (a forwarder to a port nothing listens on: a broken connection, retried on the other).
  - model_name: hi-pair
    litellm_params:
      model: my-custom-llm/a
  - model_name: hi-pair
    litellm_params:
      model: my-custom-llm/b
  - model_name: failover
    litellm_params:
      model: openai-forwarder/gpt-4o-mini
      api_base: http://127.0.0.1:$DEAD_PORT/v1
  - model_name: failover
    litellm_params:
      model: my-custom-llm/c
  # A deployment with an rpm limit it never reaches: every request takes a slot (in process, or in Redis).
  - model_name: limited
    litellm_params:
      model: my-custom-llm/limited
      rpm: 1000000000
litellm_settings:
  custom_provider_map:
    - provider: my-custom-llm
      custom_handler: HiHandler
    - provider: openai-forwarder
      custom_handler: OpenAiForwarder
    - provider: echo
      custom_handler: EchoHandler
    - provider: swap
      custom_handler: SwapHandler
general_settings:
  master_key: $KEY
EOF
}

# The isolation rows' proxy: the same configuration with the Hi!, echo and forwarder handlers in worker processes.
write_isolated_config() {
  sed -E 's/^(      custom_handler: (HiHandler|EchoHandler|OpenAiForwarder))$/\1\n      isolation: process/' "$WORK/bench.yaml" >"$WORK/bench-isolated.yaml"
}

isolated_sides() {
  echo --a-label out-of-process --a-url "http://127.0.0.1:$1/v1/chat/completions" --a-key "$KEY" --a-model "$2" \
    --b-label in-process --b-url "http://127.0.0.1:$PROXY_PORT/v1/chat/completions" --b-key "$KEY" --b-model "$2"
}

# proxy_command PORT [EXECUTABLE]: the proxy's command line (the Release build unless another executable is named).
proxy_command() {
  echo "${2:-$PROXY_EXE} --config $WORK/bench.yaml --plugins $WORK/plugins --host 127.0.0.1 --port $1"
}

mini_command() {
  echo "${3:-$MINI_EXE} --port $1 --key $UPSTREAM_KEY --chunks $CHUNKS --chunk-delay-ms $CHUNK_DELAY_MS --first-chunk-delay-ms 2${2:+ --h2c-port $2}"
}

start_servers() {
  free_port DEAD_PORT
  free_port MOCK_PORT
  free_port MOCK_H2C_PORT
  free_port PROXY_PORT
  write_plugins_and_config
  # shellcheck disable=SC2046 # the commands are plain words (paths from mktemp and the repository)
  start mini "$MOCK_PORT" $(mini_command "$MOCK_PORT" "$MOCK_H2C_PORT")
  MINI_PID="${PIDS[-1]}"
  # shellcheck disable=SC2046
  start proxy "$PROXY_PORT" $(proxy_command "$PROXY_PORT")
  PROXY_PID="${PIDS[-1]}"
}

# row N: whether the full run measures row N (all of them unless --only names some).
row() { [[ -z "$ONLY" || "$ONLY" == *" $1 "* ]]; }

# bench SUBCOMMAND ARGS...: the measuring client on the load CPU, writing rows into $RESULTS.
bench() {
  taskset -c "$LOAD_CPU" "$BENCH_EXE" "$@" --out "$RESULTS"
}

# Side A is the proxy, side B what it is compared with.
proxy_side() { echo --a-label proxy --a-url "http://127.0.0.1:$PROXY_PORT/v1/chat/completions" --a-key "$KEY" --a-model "$1"; }
mini_side() { echo --b-label "$1" --b-url "http://127.0.0.1:$MOCK_PORT/v1/chat/completions" --b-key "$UPSTREAM_KEY" --b-model gpt-4o-mini; }

# The telemetry rows' two proxies: side A with telemetry on (metrics, and tracing with no exporter: every span made
# and dropped), side B with it off (OTEL_SDK_DISABLED=true: no OpenTelemetry SDK at all). The default proxy is
# neither: it keeps its metrics for /metrics and makes no spans.
telemetry_on_command() { echo "env PLUGINHOST_TRACING=1 $(proxy_command "$1")"; }
telemetry_off_command() { echo "env OTEL_SDK_DISABLED=true $(proxy_command "$1")"; }
telemetry_sides() {
  echo --a-label telemetry-on --a-url "http://127.0.0.1:$1/v1/chat/completions" --a-key "$KEY" --a-model "$3" \
    --b-label telemetry-off --b-url "http://127.0.0.1:$2/v1/chat/completions" --b-key "$KEY" --b-model "$3"
}

run_full() {
  # shellcheck disable=SC2046 # the side arguments are plain words
  {
    row 1 && bench throughput --number 1 --title 'Hi! handler vs minimal ASP.NET Core app, throughput' \
      $(proxy_side my-custom-model) $(mini_side baseline) --rounds 10 --seconds 3 --target 0.8
    # Row 2a's headline is the CPU a forwarded request adds on the server core (proxy + upstream, both sides).
    # BENCH_FORWARDER_ROUNDS shortens rows 2a, 2b and 3 while iterating; the real run keeps the defaults.
    row 2a && bench throughput --number 2a --title 'forwarder vs calling the mock upstream directly, CPU per request and throughput' \
      $(proxy_side upstream-gpt) $(mini_side direct) --rounds "${BENCH_FORWARDER_ROUNDS:-10}" --seconds 3 --target 0.5 \
      --cpu-pids "$PROXY_PID,$MINI_PID" --cpu-target 50 --warmup 30
    # 2c: the same through a forwarder deployment with http2: true (cleartext HTTP/2 to the upstream), same targets.
    row 2c && bench throughput --number 2c --title 'forwarder over HTTP/2 to the upstream (http2: true) vs direct, CPU per request and throughput' \
      $(proxy_side upstream-gpt-h2c) $(mini_side direct) --rounds "${BENCH_FORWARDER_ROUNDS:-10}" --seconds 3 --target 0.5 \
      --cpu-pids "$PROXY_PID,$MINI_PID" --cpu-target 50 --warmup 30
    # 2d: row 2a through a second proxy started with --inline-io (README, Inline I/O: opt-in, for handlers that never
    # block), the request on the socket thread with no thread-pool hop; stopped after the row.
    # 2e: both together, the cheapest forwarding this proxy offers: --inline-io and HTTP/2 to the upstream (what an
    # https upstream negotiates by itself; over cleartext it needs http2: true).
    if row 2d || row 2e; then
      local inline_port
      free_port inline_port
      start proxy-inline "$inline_port" $(proxy_command "$inline_port") --inline-io --no-watch
      row 2d && bench throughput --number 2d --title 'forwarder with --inline-io vs calling the mock upstream directly, CPU per request and throughput' \
        --a-label proxy-inline-io --a-url "http://127.0.0.1:$inline_port/v1/chat/completions" --a-key "$KEY" --a-model upstream-gpt \
        $(mini_side direct) --rounds "${BENCH_FORWARDER_ROUNDS:-10}" --seconds 3 --target 0.5 \
        --cpu-pids "${PIDS[-1]},$MINI_PID" --cpu-target 50 --warmup 30
      row 2e && bench throughput --number 2e --title 'forwarder with --inline-io and HTTP/2 to the upstream vs direct, CPU per request and throughput' \
        --a-label proxy-inline-io-h2 --a-url "http://127.0.0.1:$inline_port/v1/chat/completions" --a-key "$KEY" --a-model upstream-gpt-h2c \
        $(mini_side direct) --rounds "${BENCH_FORWARDER_ROUNDS:-10}" --seconds 3 --target 0.5 \
        --cpu-pids "${PIDS[-1]},$MINI_PID" --cpu-target 50 --warmup 30
      stop_last
    fi
    row 2b && bench latency --number 2b --title 'forwarder vs direct, added latency at 500 req/s' \
      $(proxy_side upstream-gpt) $(mini_side direct) --rounds "${BENCH_FORWARDER_ROUNDS:-10}" --seconds 3 --rate 500 --target 0.2
    row 3 && bench stream --number 3 --title 'streaming through the forwarder vs direct' \
      $(proxy_side upstream-gpt) $(mini_side direct) --rounds "${BENCH_FORWARDER_ROUNDS:-6}" --streams 30 --concurrency 4 \
      --chunks "$CHUNKS" --chunk-delay-ms "$CHUNK_DELAY_MS" --target 0.2
    # A fresh proxy: after the loads above its heap and pools are grown, and RSS would not move at all.
    local fresh_port
    if row 4; then
      free_port fresh_port
      start proxy-fresh "$fresh_port" $(proxy_command "$fresh_port")
      bench slow-streams --number 4 --title '1,000 concurrent slow streams on the echo handler' \
        --a-label proxy --a-url "http://127.0.0.1:$fresh_port/v1/chat/completions" --a-key "$KEY" --a-model echo-slow \
        --streams 1000 --words 20 --delay-ms "$SLOW_DELAY_MS" --pid "${PIDS[-1]}"
      stop_last
    fi
    row 5 && bench swaps --number 5 --title 'sustained load while the handler DLL is swapped' \
      $(proxy_side swap) --rounds 8 --seconds 4 --rate 300 --interval-ms 800 \
      --plugin-dll "$WORK/plugins/SwapHandler/SwapHandler.dll" \
      --v1 "$WORK/swap-v1/SwapHandler.dll" --v2 "$WORK/swap-v2/SwapHandler.dll" \
      --plugins-url "http://127.0.0.1:$PROXY_PORT/plugins"
    row 6 && bench cycles --number 6 --title '1,000 load/swap/unload cycles (in process)' --cycles 1000 \
      --v1 "$WORK/swap-v1/SwapHandler.dll" --v2 "$WORK/swap-v2/SwapHandler.dll"
    row 8a && bench throughput --number 8a --title 'router: a model of 2 healthy deployments vs 1 deployment, throughput' \
      $(proxy_side hi-pair) --b-label one-deployment --b-url "http://127.0.0.1:$PROXY_PORT/v1/chat/completions" --b-key "$KEY" --b-model my-custom-model \
      --rounds 10 --seconds 3 --target 0.95
    row 8b && bench latency --number 8b --title 'router: 2 healthy deployments vs 1, added latency at 500 req/s' \
      $(proxy_side hi-pair) --b-label one-deployment --b-url "http://127.0.0.1:$PROXY_PORT/v1/chat/completions" --b-key "$KEY" --b-model my-custom-model \
      --rounds 10 --seconds 3 --rate 500 --target 0.3
    if row 9; then
      local redis_port redis_proxy_port
      free_port redis_port
      free_port redis_proxy_port
      start redis "$redis_port" redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK"
      { cat "$WORK/bench.yaml"; printf 'router_settings:\n  redis_host: 127.0.0.1\n  redis_port: %s\n' "$redis_port"; } >"$WORK/bench-redis.yaml"
      start proxy-redis "$redis_proxy_port" "$PROXY_EXE" --config "$WORK/bench-redis.yaml" --plugins "$WORK/plugins" --host 127.0.0.1 --port "$redis_proxy_port"
      bench throughput --number 9 --title 'router: rpm counted in Redis vs in process, throughput' \
        --a-label redis --a-url "http://127.0.0.1:$redis_proxy_port/v1/chat/completions" --a-key "$KEY" --a-model limited \
        --b-label in-process --b-url "http://127.0.0.1:$PROXY_PORT/v1/chat/completions" --b-key "$KEY" --b-model limited \
        --rounds 10 --seconds 3 --target 0.5
      bench latency --number 9b --title 'router: rpm counted in Redis vs in process, added latency at 500 req/s' \
        --a-label redis --a-url "http://127.0.0.1:$redis_proxy_port/v1/chat/completions" --a-key "$KEY" --a-model limited \
        --b-label in-process --b-url "http://127.0.0.1:$PROXY_PORT/v1/chat/completions" --b-key "$KEY" --b-model limited \
        --rounds 6 --seconds 3 --rate 500 --target 1
      stop_last
      stop_last
    fi
    row 10 && bench latency --number 10 --title 'router failover: 2 deployments, one failing every request, vs both healthy, at 300 req/s' \
      $(proxy_side failover) --b-label both-healthy --b-url "http://127.0.0.1:$PROXY_PORT/v1/chat/completions" --b-key "$KEY" --b-model hi-pair \
      --rounds 6 --seconds 3 --rate 300 --target 5
    if row 11a || row 11b || row 11c || row 11d; then
      local on_port off_port
      free_port on_port
      free_port off_port
      start proxy-telemetry-on "$on_port" $(telemetry_on_command "$on_port")
      start proxy-telemetry-off "$off_port" $(telemetry_off_command "$off_port")
      row 11a && bench throughput --number 11a --title 'telemetry on (metrics, tracing without exporter) vs off, Hi! handler, throughput' \
        $(telemetry_sides "$on_port" "$off_port" my-custom-model) --rounds 6 --seconds 3 --target 0.9
      row 11b && bench throughput --number 11b --title 'telemetry on vs off, forwarder, throughput' \
        $(telemetry_sides "$on_port" "$off_port" upstream-gpt) --rounds 6 --seconds 3 --target 0.9
      row 11c && bench latency --number 11c --title 'telemetry on vs off, Hi! handler, added latency at 500 req/s' \
        $(telemetry_sides "$on_port" "$off_port" my-custom-model) --rounds 6 --seconds 3 --rate 500 --target 0.3
      row 11d && bench latency --number 11d --title 'telemetry on vs off, forwarder, added latency at 500 req/s' \
        $(telemetry_sides "$on_port" "$off_port" upstream-gpt) --rounds 6 --seconds 3 --rate 500 --target 0.3
      stop_last
      stop_last
    fi
    row 12a && bench throughput --number 12a --title 'Hi! handler through the Responses API (/v1/responses) vs chat completions, throughput' \
      --a-label responses --a-url "http://127.0.0.1:$PROXY_PORT/v1/responses" --a-key "$KEY" --a-model my-custom-model --a-api responses \
      --b-label chat --b-url "http://127.0.0.1:$PROXY_PORT/v1/chat/completions" --b-key "$KEY" --b-model my-custom-model \
      --rounds 6 --seconds 3 --target 0.8
    row 12b && bench throughput --number 12b --title 'Hi! handler through the Messages API (/v1/messages) vs chat completions, throughput' \
      --a-label messages --a-url "http://127.0.0.1:$PROXY_PORT/v1/messages" --a-key "$KEY" --a-model my-custom-model --a-api messages \
      --b-label chat --b-url "http://127.0.0.1:$PROXY_PORT/v1/chat/completions" --b-key "$KEY" --b-model my-custom-model \
      --rounds 6 --seconds 3 --target 0.8
    # Rows 13a-13e (bash bench/run.sh --only "13a 13b 13c 13d 13e"): the Hi!, echo and forwarder handlers out of
    # process (isolation: process, a worker process each) in a second proxy, against the same handlers in process.
    # The workers inherit the proxy's CPU (taskset): what isolation costs is measured within the same CPU budget.
    if row 13a || row 13b || row 13c || row 13d || row 13e; then
      local isolated_port
      free_port isolated_port
      write_isolated_config
      start proxy-isolated "$isolated_port" "$PROXY_EXE" --config "$WORK/bench-isolated.yaml" --plugins "$WORK/plugins" --host 127.0.0.1 --port "$isolated_port"
      row 13a && bench throughput --number 13a --title 'Hi! handler out of process (isolation: process) vs in process, throughput' \
        $(isolated_sides "$isolated_port" my-custom-model) --rounds 6 --seconds 3 --target 0.3
      row 13b && bench latency --number 13b --title 'Hi! handler out of process vs in process, added latency at 500 req/s' \
        $(isolated_sides "$isolated_port" my-custom-model) --rounds 6 --seconds 3 --rate 500 --target 0.5
      row 13c && bench first-chunk --number 13c --title 'echo stream out of process vs in process, added time to first chunk' \
        $(isolated_sides "$isolated_port" echo-slow) --rounds 6 --streams 300 --concurrency 1 --target 0.5
      row 13d && bench workers --number 13d --title 'a worker process: start time and RSS' \
        --plugins-url "http://127.0.0.1:$isolated_port/plugins" --key "$KEY" --pid "${PIDS[-1]}"
      # 13e: the forwarder's pass-through out of process (the worker sends the upstream's bytes over its socket).
      row 13e && bench throughput --number 13e --title 'forwarder out of process vs in process, throughput' \
        $(isolated_sides "$isolated_port" upstream-gpt) --rounds 6 --seconds 3 --target 0.3
      stop_last
    fi
    local proxy_port mini_port
    free_port proxy_port
    free_port mini_port
    row 7 && bench startup --number 7 --title 'process start to first successful response' --rounds 5 \
      --a-label proxy --a-url "http://127.0.0.1:$proxy_port/v1/chat/completions" --a-key "$KEY" --a-model my-custom-model \
      --a-cmd "taskset -c $SERVER_CPU $(proxy_command "$proxy_port")" \
      --b-label baseline --b-url "http://127.0.0.1:$mini_port/v1/chat/completions" --b-key "$UPSTREAM_KEY" --b-model gpt-4o-mini \
      --b-cmd "taskset -c $SERVER_CPU $(mini_command "$mini_port")"
    # The same, both published for this machine's runtime (ReadyToRun, as `dotnet publish -r` makes the proxy).
    if row 7b; then
      publish_ready_to_run
      bench startup --number 7b --title 'process start to first successful response, both published ReadyToRun' --rounds 5 \
        --a-label proxy --a-url "http://127.0.0.1:$proxy_port/v1/chat/completions" --a-key "$KEY" --a-model my-custom-model \
        --a-cmd "taskset -c $SERVER_CPU $(proxy_command "$proxy_port" "$WORK/r2r/host/PluginHost")" \
        --b-label baseline --b-url "http://127.0.0.1:$mini_port/v1/chat/completions" --b-key "$UPSTREAM_KEY" --b-model gpt-4o-mini \
        --b-cmd "taskset -c $SERVER_CPU $(mini_command "$mini_port" "" "$WORK/r2r/mini/MiniOpenAi")"
    fi
  }
  true
}

# Row 7b: the proxy and the minimal app published ReadyToRun for this machine (the crossgen2 pack comes from NuGet).
publish_ready_to_run() {
  local rid out="$WORK/publish.log"
  rid="linux-$(uname -m | sed 's/x86_64/x64/; s/aarch64/arm64/')"
  log "publishing the proxy and the minimal app ReadyToRun for $rid (row 7b)"
  if ! { dotnet publish "$ROOT/host" -c Release -r "$rid" --self-contained false -o "$WORK/r2r/host" \
      && dotnet publish "$ROOT/bench/MiniOpenAi" -c Release -r "$rid" --self-contained false -p:PublishReadyToRun=true -o "$WORK/r2r/mini"; } >"$out" 2>&1; then
    tail -n 40 "$out" >&2
    exit 1
  fi
}

run_smoke() {
  # Loose targets on purpose: the smoke run proves the bench works, it does not judge speed.
  # shellcheck disable=SC2046
  {
    bench latency --number 2b --title 'smoke: forwarder vs direct at 100 req/s' \
      $(proxy_side upstream-gpt) $(mini_side direct) --rounds 1 --seconds 3 --rate 100 --target 1000
    bench stream --number 3 --title 'smoke: streaming through the forwarder' \
      $(proxy_side upstream-gpt) $(mini_side direct) --rounds 1 --streams 4 --concurrency 2 \
      --chunks "$CHUNKS" --chunk-delay-ms "$CHUNK_DELAY_MS" --target 1000
  }
  if grep -q 'missed' "$RESULTS/rows.md"; then
    log "smoke run failed:"
    cat "$RESULTS/rows.md" "$RESULTS/details.md" >&2
    exit 1
  fi
}

# The results page: what was measured on what, then the table, then every round's figures.
write_results() {
  local target="$1" cpu command="bash bench/run.sh"
  [[ "$MODE" == "smoke" ]] && command+=" --smoke"
  cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
  {
    echo "## Results ($MODE run)"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "- machine: $(nproc) CPUs ($cpu), $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr); .NET $(dotnet --version)"
    echo "- other load on the machine (shared): load average $LOAD_BEFORE before the run, $(cut -d' ' -f1-3 /proc/loadavg) after"
    echo "- pinning: proxy and minimal app on CPU $SERVER_CPU (taskset), load generator (wrk / PluginHost.Bench) on CPU $LOAD_CPU"
    echo "- command: \`$command\`"
    echo
    echo "| # | scenario | measured | target | result |"
    echo "|---|---|---|---|---|"
    cat "$RESULTS/rows.md"
    echo
    echo "### Details"
    echo
    cat "$RESULTS/details.md"
  } >"$target"
  log "results written to $target"
}

# Replaces the part of BENCHMARKS.md between the results markers with the new results.
refresh_benchmarks_md() {
  local doc="$ROOT/BENCHMARKS.md" results="$1"
  if [[ -f "$doc" ]] && grep -q '<!-- results:start -->' "$doc"; then
    awk -v results="$results" '
      /<!-- results:start -->/ { print; while ((getline line < results) > 0) print line; skip = 1; next }
      /<!-- results:end -->/ { skip = 0 }
      !skip { print }
    ' "$doc" >"$WORK/BENCHMARKS.md"
    cp "$WORK/BENCHMARKS.md" "$doc"
    log "BENCHMARKS.md refreshed"
  fi
}

main() {
  parse_args "$@"
  LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
  CHUNKS=20
  CHUNK_DELAY_MS=10
  SLOW_DELAY_MS=300
  RESULTS="$WORK/results"
  mkdir -p "$RESULTS"
  install_tools
  build
  start_servers
  if [[ "$MODE" == "smoke" ]]; then
    run_smoke
    mkdir -p "$ROOT/bench/results/smoke"
    write_results "$ROOT/bench/results/smoke/latest.md"
  else
    run_full
    mkdir -p "$ROOT/bench/results"
    if [[ -n "$ONLY" ]]; then
      write_results "$ROOT/bench/results/only.md"
    else
      write_results "$ROOT/bench/results/latest.md"
      refresh_benchmarks_md "$ROOT/bench/results/latest.md"
    fi
  fi
}

# bench/profile.sh sources this file for its functions.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
