#!/usr/bin/env bash
# Validates the container and deployment files without a Docker engine (docs/deploy.md, "What CI validates"):
#   1. docker-compose.yml       `docker-compose config`, and that it agrees with nginx, Prometheus and the service
#   2. deploy/prometheus         `promtool check config`, `check rules`, and the alert rules' unit tests
#   3. deploy/nginx/nginx.conf   `nginx -t` on a copy whose replica host names point at 127.0.0.1
#   4. deploy/k8s                the manifests parse, probe paths the service serves, ports, selectors, Secret, grace
#   5. deploy/grafana            dashboards parse, name the provisioned data source, and their PromQL parses
#   6. the image                 its build step (`dotnet publish`) and its runtime: the published app started as an
#                                unprivileged user with the Dockerfile's ENV, ready on /readyz, bundled models served,
#                                `--healthcheck` 0 while up and 1 once stopped, the metrics the dashboards use exported
# Run by scripts/test.sh; scripts/install-test-deps.sh installs docker-compose, nginx, promtool and PyYAML.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d "${TMPDIR:-/tmp}/validate-deploy.XXXXXX")
service_pid=""
cleanup() {
  if [[ -n $service_pid ]]; then kill "$service_pid" 2>/dev/null || true; wait "$service_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n== %s\n' "$*"; }
fail() { echo "FAILED: $*" >&2; exit 1; }

# The interpreter with PyYAML: the one on PATH, else Debian's (apt package python3-yaml).
python=""
for candidate in python3 /usr/bin/python3; do
  if "$candidate" -c 'import yaml' 2>/dev/null; then python=$candidate; break; fi
done
[[ -n $python ]] || fail "PyYAML is missing (apt-get install python3-yaml, or scripts/install-test-deps.sh)"
checks() { "$python" scripts/validate-deploy.py "$@"; }

step "docker-compose.yml"
# Schema and interpolation; -q prints nothing when the file is valid.
docker-compose --file docker-compose.yml config --quiet
echo "docker-compose $(docker-compose version --short) config: valid"
checks compose

step "deploy/prometheus"
promtool check config deploy/prometheus/prometheus.yml
promtool check rules deploy/prometheus/alerts.yml
promtool test rules deploy/prometheus/alerts.test.yml

step "deploy/nginx/nginx.conf"
# nginx -t resolves every upstream host name and fails on ones it cannot, and compose's names (gruservice) resolve
# only inside the stack: the copy tested points them at 127.0.0.1, which changes nothing else. Open-source nginx
# learned `server ... resolve` in 1.27.3; Debian 12 has 1.22, so with an older nginx the copy also drops that one
# parameter (validate-deploy.py checks the zone and resolver it needs are there).
nginx=$(command -v nginx || echo /usr/sbin/nginx) # /usr/sbin is not on a plain user's PATH
nginx_version=$("$nginx" -v 2>&1 | sed -n 's#^nginx version: nginx/\([0-9.]*\).*#\1#p')
mkdir -p "$work/nginx"
sed_script="s/^([[:space:]]*server[[:space:]]+)[a-z][a-z0-9.-]*:/\1127.0.0.1:/"
if [[ $(printf '%s\n' "$nginx_version" 1.27.3 | sort -V | head -n1) != 1.27.3 ]]; then
  echo "nginx $nginx_version predates 'server ... resolve' (1.27.3): the tested copy leaves that parameter out"
  sed_script+="; s/^([[:space:]]*server[[:space:]].*)[[:space:]]resolve([[:space:];])/\1\2/"
fi
sed -E "$sed_script" deploy/nginx/nginx.conf >"$work/nginx/nginx.conf"
# diff exits 1 when the files differ, which they do.
{ diff deploy/nginx/nginx.conf "$work/nginx/nginx.conf" || true; } | sed -n 's/^> */  tested as: /p'
# -e: the error log before the configuration is read; -p: the prefix for its relative paths.
"$nginx" -t -e stderr -p "$work/nginx" -c "$work/nginx/nginx.conf"

step "deploy/k8s"
checks k8s
# kubectl is not in Debian 12's archive; where a machine has it, the kustomization must render (offline: no
# cluster is needed for that, unlike schema validation).
if command -v kubectl >/dev/null 2>&1; then
  kubectl kustomize deploy/k8s >"$work/k8s-rendered.yaml"
  echo "kubectl kustomize deploy/k8s: renders $(grep -c '^kind:' "$work/k8s-rendered.yaml") objects"
else
  echo "kubectl is not installed: kustomization rendering not checked"
fi

step "deploy/grafana"
checks grafana "$work/dashboard-queries.yml"
# Every dashboard query, as a recording rule, through Prometheus's own parser.
promtool check rules "$work/dashboard-queries.yml"

step "the image's steps: dotnet publish, then the app as an unprivileged user"
# The Dockerfile's build stage, as one plain publish (bundled models included, as in the image).
dotnet publish src/GruService.Api/GruService.Api.csproj -c Release -o "$work/app" --nologo -v quiet >"$work/publish.log" 2>&1 ||
  { tail -n 40 "$work/publish.log" >&2; fail "dotnet publish"; }
for model in models/*.safetensors; do
  [[ -f $work/app/models/$(basename "$model") ]] || fail "the published app lacks the bundled model $model"
done

# The runtime stage's environment, read from the Dockerfile, then this machine's stand-ins for what differs: a free
# loopback port instead of 8080 (ASPNETCORE_URLS binds loopback only; ASPNETCORE_HTTP_PORTS stays what the
# --healthcheck probe reads) and a temporary storage root instead of the /data volume.
mapfile -t image_env < <(checks dockerfile-env)
port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/data"
run_env=(env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/nonexistent DOTNET_RUNNING_IN_CONTAINER=true DOTNET_NOLOGO=1
  "${image_env[@]}" ASPNETCORE_HTTP_PORTS="$port" ASPNETCORE_URLS="http://127.0.0.1:$port" Storage__Root="$work/data"
  Serilog__MinimumLevel__Default=Warning)
dotnet_host=$(readlink -f "$(command -v dotnet)")
if [[ $(id -u) -eq 0 ]]; then
  # As root here, the image's USER is played by nobody: no home, no groups, no way to regain privileges. It can read
  # the published app (root's, read-only to it, as in the image) and write only the storage root.
  chmod 755 "$work"
  chown -R nobody: "$work/data"
  as_app_user=(setpriv --reuid=nobody --regid=nogroup --clear-groups --no-new-privs)
  app_user=nobody
else
  as_app_user=() # already unprivileged
  app_user=$(id -un)
fi
echo "the Dockerfile's ENV (${image_env[*]}) with port $port and storage root $work/data instead; running as $app_user"
(cd "$work/app" && exec "${as_app_user[@]}" "${run_env[@]}" "$dotnet_host" GruService.Api.dll) >"$work/service.log" 2>&1 &
service_pid=$!

for ((i = 0; ; i++)); do
  curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null && break
  if ! kill -0 "$service_pid" 2>/dev/null || ((i >= 240)); then
    tail -n 40 "$work/service.log" >&2; fail "the published app did not become ready on /readyz"
  fi
  sleep 0.25
done
echo "/readyz: 200"
uid=$(awk '/^Uid:/ { print $3 }' "/proc/$service_pid/status") # the effective uid
[[ $uid -ne 0 ]] || fail "the service runs as root"
echo "the service's effective uid: $uid ($(id -nu "$uid"))"
[[ -z $(find "$work/data" -mindepth 1 -maxdepth 1 ! -user "$uid" -print -quit) ]] || fail "the storage root holds files the app user does not own"

# The image's HEALTHCHECK command, as the app user with the same environment.
(cd "$work/app" && "${as_app_user[@]}" "${run_env[@]}" "$dotnet_host" GruService.Api.dll --healthcheck) ||
  fail "--healthcheck exited $? while the service is up"
echo "--healthcheck: exit 0"

# The bundled models are served, and some traffic for the metric check: a forecast, and a 404 for the error counter.
models=$(curl -fsS "http://127.0.0.1:$port/v1/models")
for model in models/*.safetensors; do
  name=$(basename "$model" .safetensors)
  [[ $models == *"\"$name\""* ]] || fail "the bundled model $name is not served"
done
curl -fsS -o /dev/null -H 'Content-Type: application/json' -d @models/examples/ett-oil-temperature.json \
  "http://127.0.0.1:$port/v1/models/ett-oil-temperature/forecast" || fail "a forecast with the bundled model failed"
[[ $(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/models/no-such-model") == 404 ]] || fail "an unknown model did not answer 404"
echo "the bundled models are served and answer: $(basename -s .safetensors models/*.safetensors | paste -sd ' ')"
curl -fsS "http://127.0.0.1:$port/metrics" >"$work/metrics.txt"
checks metric-names "$work/metrics.txt"

# docker stop: SIGTERM, then the process must end by itself well within the grace period.
kill -TERM "$service_pid"
for ((i = 0; ; i++)); do
  kill -0 "$service_pid" 2>/dev/null || break
  ((i < 120)) || fail "the service did not stop within 30 s of SIGTERM"
  sleep 0.25
done
status=0; wait "$service_pid" || status=$?
service_pid=""
[[ $status -eq 0 ]] || { tail -n 20 "$work/service.log" >&2; fail "the service exited $status on SIGTERM"; }
echo "SIGTERM: stopped, exit 0"
status=0; (cd "$work/app" && "${as_app_user[@]}" "${run_env[@]}" "$dotnet_host" GruService.Api.dll --healthcheck 2>/dev/null) || status=$?
[[ $status -eq 1 ]] || fail "--healthcheck exited $status with the service stopped; expected 1"
echo "--healthcheck with the service stopped: exit 1"

printf '\ndeploy validation: every check passed\n'
