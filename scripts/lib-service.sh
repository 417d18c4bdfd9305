# shellcheck shell=bash
# work (in), url, api_key and service_pid (out) are the sourcing script's variables.
# shellcheck disable=SC2154,SC2034
# Shared by the benchmark scripts (source it): builds the service into $work/service and starts it on a free loopback
# port with its own storage root and a fresh API key (scope manage, read, infer) in api_key, training on both cores;
# sets url, api_key and service_pid. The caller's EXIT trap stops it. Send the key with api_curl.

# API_KEY from the environment is used for a service given with --url; start_service makes its own.
api_key=${API_KEY:-}

# curl with the API key in X-Api-Key (when there is one): api_curl CURL-ARGUMENTS...
api_curl() {
  if [[ -n $api_key ]]; then curl -H "X-Api-Key: $api_key" "$@"; else curl "$@"; fi
}

start_service() {
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  url="http://127.0.0.1:$port"
  api_key=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
  dotnet build src/GruService.Api -c Release -o "$work/service" >/dev/null
  # Both cores train: nothing else is being served during a benchmark.
  dotnet "$work/service/GruService.Api.dll" --urls "$url" --Storage:Root="$work/data" --Models:BundledDirectory= \
    --Training:Threads=2 --Serilog:MinimumLevel=Warning --Shutdown:DrainDelaySeconds=0 \
    --Security:ApiKeys:benchmark:Key="$api_key" --Security:ApiKeys:benchmark:Scopes:0=manage \
    --Security:ApiKeys:benchmark:Scopes:1=read --Security:ApiKeys:benchmark:Scopes:2=infer >"$work/service.log" 2>&1 &
  service_pid=$!
  for _ in $(seq 1 120); do curl -sf "$url/readyz" >/dev/null && return 0; sleep 0.5; done
  echo "the service did not become ready; its log:" >&2; tail -20 "$work/service.log" >&2; return 1
}

# The value of a top-level field of a JSON document: json_field DOCUMENT FIELD
json_field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
