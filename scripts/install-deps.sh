#!/usr/bin/env bash
# Installs what volshift needs to build and test, from Debian's packages, when it is missing.
# Idempotent and quiet when everything is present. Needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(gcc make pkg-config libcurl4-openssl-dev libjansson-dev libyaml-dev libmicrohttpd-dev
	libcmocka-dev libxml2-dev libssl-dev libgnutls28-dev rsync bubblewrap acl attr procps jq
	time openssl curl) # the last three for make bench (/usr/bin/time, its data, the sim's counters)
packages+=(libwslay-dev) # volshift-sim's WebSocket framing (kubectl exec and cp)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# kubectl: any kubectl on PATH will do; otherwise Debian's kubernetes-client provides one.
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)

# make fuzz: libFuzzer comes with Debian's clang.
command -v clang >/dev/null 2>&1 || missing+=(clang)

# volshift s3's tests and its bench row run moto_server (Python), an S3 server with SigV4 checked
# against IAM users. It is not a Debian package: say how to get it, and do not fail for people who
# only use the rest (test_s3.sh skips itself without it).
moto_ok() { python3 -c 'import moto.server, boto3' 2>/dev/null || command -v moto_server >/dev/null 2>&1 ||
	[ -x /root/.pyenv/shims/moto_server ]; }
moto_ok || echo "install-deps: moto is missing: tests/e2e/test_s3.sh and the bench's s3 row need it;" \
	"get it with: pip install 'moto[server]' boto3" >&2

[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
	sudo=()
elif command -v sudo >/dev/null 2>&1; then
	sudo=(sudo)
else
	echo "install-deps: missing packages: ${missing[*]}; run as root: scripts/install-deps.sh" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq >/dev/null
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
