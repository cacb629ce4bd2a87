#!/bin/sh
# Install Ember's build, test and peer dependencies from Debian 12's packages.
# Idempotent: packages already installed are skipped, and apt-get runs only when something is missing.
set -eu

PKGS="
build-essential cmake pkg-config clang libclang-rt-14-dev
libjemalloc-dev liburcu-dev libh2o-evloop-dev libyaml-dev libsnappy-dev
libprotobuf-c-dev protobuf-c-compiler libpcre2-dev libxxhash-dev libcurl4-openssl-dev
libssl-dev zlib1g-dev libuv1-dev
libcriterion-dev libbenchmark-dev
curl nghttp2-client wrk hyperfine
prometheus prometheus-pushgateway prometheus-alertmanager prometheus-node-exporter
python3 python3-prometheus-client python3-yaml python3-requests python3-protobuf
"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages:$missing (run as root to install them)" >&2
    exit 1
fi

echo "install-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# Debian's prometheus packages start their services on install; keep them from grabbing ports.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq || true
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
