#!/usr/bin/env bash
# The newcomer's path, from packages alone: in an empty temporary folder whose only PluginHost source is the local
# feed that `dotnet pack` wrote (no project reference, no path into this repository), install the template, create a
# handler, build it, run its generated tests, install the tool, serve the handler, ask it through the OpenAI .NET SDK
# and curl, then change its answer, rebuild, and see the new answer without a restart.
#   bash .ci/newcomer.sh [FEED]    (FEED defaults to artifacts/feed; run `dotnet pack PluginHost.sln -c Release -o artifacts/feed` first)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
feed=$(cd "${1:-$repo/artifacts/feed}" && pwd)
version=$(sed -n 's:.*<PluginHostVersion>\(.*\)</PluginHostVersion>.*:\1:p' "$repo/Directory.Build.props")
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

work=$(mktemp -d /tmp/pluginhost-newcomer.XXXXXX)
proxy_pid=""
cleanup() {
  if [ -n "$proxy_pid" ]; then kill "$proxy_pid" 2>/dev/null || true; wait "$proxy_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Isolation: the template engine's and the tools' state live in the temporary home; packages restore into a fresh
# folder, so the PluginHost packages come from this feed and never from an earlier run's cache (other packages are
# taken from the machine's NuGet cache as a read-only fallback when they are there, else from the registry).
export DOTNET_CLI_HOME="$work/home"
mkdir -p "$DOTNET_CLI_HOME"
cat > "$work/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <config><add key="globalPackagesFolder" value="$work/packages" /></config>
  <fallbackPackageFolders><add key="machine" value="${NUGET_PACKAGES:-$HOME/.nuget/packages}" /></fallbackPackageFolders>
  <packageSources><add key="pluginhost" value="$feed" /></packageSources>
</configuration>
XML
cd "$work"

start=$(date +%s)
step() { echo "newcomer: $(( $(date +%s) - start ))s: $*"; }

step "dotnet new install PluginHost.Templates::$version"
dotnet new install "PluginHost.Templates::$version" --add-source "$feed" > "$work/install.log" 2>&1 || { cat "$work/install.log"; exit 1; }

step "dotnet new pluginhost-handler -n Greeter --kind streaming"
dotnet new pluginhost-handler -n Greeter --kind streaming > /dev/null
cd Greeter

step "dotnet build"
dotnet build -nologo -v q -clp:ErrorsOnly

# The SDK package made the reference compile-only: no copy of the SDK beside the plugin.
if ls plugins/Greeter | grep -q '^PluginHost\.Sdk\.dll$'; then
  echo "newcomer: PluginHost.Sdk.dll was copied into plugins/Greeter/: the SDK package must keep it out" >&2
  exit 1
fi

step "dotnet test (the generated tests)"
dotnet test --no-build -nologo -v q 2>&1 | tail -n 3

step "dotnet tool install PluginHost --tool-path tools"
dotnet tool install PluginHost --version "$version" --tool-path "$work/tools" --add-source "$feed" > "$work/tool.log" 2>&1 || { cat "$work/tool.log"; exit 1; }

step "pluginhost -c plugins.yaml --port 0"
"$work/tools/pluginhost" -c plugins.yaml --host 127.0.0.1 --port 0 > "$work/proxy.log" 2>&1 &
proxy_pid=$!
base=""
for _ in $(seq 1 300); do
  base=$(grep -Eo 'http://127\.0\.0\.1:[0-9]+' "$work/proxy.log" | head -n 1 || true)
  [ -n "$base" ] && break
  kill -0 "$proxy_pid" 2>/dev/null || { cat "$work/proxy.log"; exit 1; }
  sleep 0.1
done
[ -n "$base" ] || { echo "newcomer: the proxy did not report its address" >&2; cat "$work/proxy.log"; exit 1; }

step "ask through the OpenAI .NET SDK ($base/v1)"
mkdir -p "$work/ask"
cat > "$work/ask/ask.cs" <<'CS'
#:package OpenAI@2.15.0
using System.ClientModel;
using OpenAI;
using OpenAI.Chat;

var chat = new ChatClient(args[1], new ApiKeyCredential("no-key"), new OpenAIClientOptions { Endpoint = new Uri(args[0]) });
ChatCompletion answer = await chat.CompleteChatAsync("Hello");
Console.WriteLine(answer.Content[0].Text);
CS
answer=$(cd "$work/ask" && dotnet run ask.cs -- "$base/v1" greeter)
echo "  answer: $answer"
[ "$answer" = "Hello from Greeter!" ] || { echo "newcomer: expected 'Hello from Greeter!'" >&2; cat "$work/proxy.log"; exit 1; }

ask_curl() {
  curl -sS "$base/v1/chat/completions" -H 'Content-Type: application/json' \
    -d '{"model":"greeter","messages":[{"role":"user","content":"Hello"}]}'
}

step "change the answer, dotnet build, see it live"
sed -i 's/Hello from Greeter!/Hello again from Greeter!/' Greeter/GreeterLlm.cs
dotnet build Greeter -nologo -v q -clp:ErrorsOnly
live=""
for _ in $(seq 1 100); do
  if ask_curl | grep -q 'Hello again from Greeter!'; then live=yes; break; fi
  sleep 0.2
done
[ -n "$live" ] || { echo "newcomer: the rebuilt handler never answered" >&2; cat "$work/proxy.log"; exit 1; }
kill -0 "$proxy_pid" || { echo "newcomer: the proxy stopped" >&2; exit 1; }
echo "  answer: $(ask_curl | grep -Eo '"content":"[^"]*"' | head -n 1)"

# The other two kinds, with the other two test frameworks: generated, built and their generated tests run.
cd "$work"
for variant in completion:xunit chatclient:mstest; do
  kind=${variant%%:*} tests=${variant##*:}
  step "dotnet new pluginhost-handler --kind $kind --tests $tests, dotnet test"
  dotnet new pluginhost-handler -n "Kind${kind^}" --kind "$kind" --tests "$tests" > /dev/null
  (cd "Kind${kind^}" && dotnet test -nologo -v q > "$work/test-$kind.log" 2>&1) || { cat "$work/test-$kind.log"; exit 1; }
  grep -E 'Passed!|Failed!|passed|failed' "$work/test-$kind.log" | tail -n 2
done

step "done: the newcomer path works"
