#!/usr/bin/env bash
# Installs the tools the tests call that do not come with the .NET SDK, from apt, and only those missing:
#   promtool (package prometheus)   checks the /metrics output, the Prometheus config and alert rules
#   docker-compose                  `docker-compose config` on docker-compose.yml (no Docker engine needed)
#   nginx                           `nginx -t` on deploy/nginx/nginx.conf
#   PyYAML (python3-yaml)           scripts/validate-deploy.py reads the compose, Prometheus and Kubernetes YAML
#   postgresql                      server binaries for the Postgres storage tests' throwaway cluster
# Does nothing when they are all there. Installing never starts the packages' services where a policy-rc.d forbids it
# (as in containers); elsewhere apt may start nginx and prometheus as usual.
set -euo pipefail

missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
# validate-deploy.sh uses the python3 on PATH when it has PyYAML, else Debian's, which the package gives it.
python3 -c 'import yaml' 2>/dev/null || /usr/bin/python3 -c 'import yaml' 2>/dev/null || missing+=(python3-yaml)
# The Postgres storage tests start a throwaway cluster of their own from the server binaries.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

# Others may be running apt on a shared machine: wait for its lock rather than fail.
apt_get=(apt-get -o DPkg::Lock::Timeout=300)
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || { echo "missing test tools; installing them needs root: apt-get install ${missing[*]}" >&2; exit 1; }
  apt_get=(sudo "${apt_get[@]}")
fi
echo "Installing test tools from apt: ${missing[*]}..."
"${apt_get[@]}" update -qq
DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
command -v promtool >/dev/null && command -v docker-compose >/dev/null && { command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]]; } &&
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
