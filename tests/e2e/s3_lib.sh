# Helpers for the S3 tests (test_s3.sh, test_plan_objectstore.sh) and the bench's s3 row: moto_server instances on loopback
# with SigV4 checked (moto's IAM mode, through moto_iam.py), each with an IAM user whose access key
# is written as an AWS shared-credentials file, and s3_tool.py (boto3) to fill and describe them.
S3_TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# moto_python: the Python that has moto (moto_server's own), or nothing.
moto_python() {
	local m
	if python3 -c 'import moto.server, boto3' 2>/dev/null; then
		command -v python3
		return 0
	fi
	m=$(command -v moto_server 2>/dev/null || echo /root/.pyenv/shims/moto_server)
	[ -x "$m" ] || return 1
	m=$(head -n1 "$(pyenv which moto_server 2>/dev/null || echo "$m")" | sed -n 's/^#!//p')
	[ -n "$m" ] && "$m" -c 'import moto.server, boto3' 2>/dev/null && echo "$m"
}

# free_port: a TCP port free on 127.0.0.1 now.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# moto_start NAME DIR: a moto_server with IAM checks on a free port; sets NAME_URL, NAME_PID,
# NAME_AK, NAME_SK and writes DIR/NAME.creds (profile default). Its log is DIR/NAME.log.
moto_start() {
	local name=$1 dir=$2 py port url i key ak sk
	py=$(moto_python) || {
		echo "moto is missing (scripts/install-deps.sh says how to get it)" >&2
		return 1
	}
	port=$(free_port)
	url="http://127.0.0.1:$port"
	# 3 requests without authentication: the IAM user, its policy and its access key
	INITIAL_NO_AUTH_ACTION_COUNT=3 "$py" "$S3_TESTS_DIR/moto_iam.py" -H 127.0.0.1 -p "$port" >"$dir/$name.log" 2>&1 &
	printf -v "${name}_PID" %s $!
	for i in $(seq 1 100); do
		curl -s -o /dev/null "$url/moto-api/" && break
		sleep 0.1
	done
	iam() { curl -sS --fail-with-body --aws-sigv4 "aws:amz:us-east-1:iam" -u AKIDBOOTSTRAP:bootstrap -X POST "$url/" "$@"; }
	iam -d 'Action=CreateUser&UserName=volshift&Version=2010-05-08' >/dev/null &&
		iam --data-urlencode 'PolicyDocument={"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}' \
			-d 'Action=PutUserPolicy&UserName=volshift&PolicyName=all&Version=2010-05-08' >/dev/null &&
		key=$(iam -d 'Action=CreateAccessKey&UserName=volshift&Version=2010-05-08') || {
		echo "moto at $url: no IAM user: $(tail -3 "$dir/$name.log")" >&2
		return 1
	}
	ak=$(sed -n 's/.*<AccessKeyId>\([^<]*\)<.*/\1/p' <<<"$key")
	sk=$(sed -n 's/.*<SecretAccessKey>\([^<]*\)<.*/\1/p' <<<"$key")
	printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$ak" "$sk" >"$dir/$name.creds"
	printf -v "${name}_URL" %s "$url"
	printf -v "${name}_AK" %s "$ak"
	printf -v "${name}_SK" %s "$sk"
}

# moto_stop NAME: ends that moto_server.
moto_stop() {
	local pid_var="${1}_PID"
	[ -n "${!pid_var:-}" ] || return 0
	kill "${!pid_var}" 2>/dev/null
	wait "${!pid_var}" 2>/dev/null
	printf -v "$pid_var" %s ""
}

# s3tool NAME ARGS...: s3_tool.py against moto NAME.
s3tool() {
	local u="${1}_URL" a="${1}_AK" s="${1}_SK"
	"$MOTO_PY" "$S3_TESTS_DIR/s3_tool.py" "${!u}" "${!a}" "${!s}" "${@:2}"
}

# s3_require_moto: sets MOTO_PY, or skips the calling test file when moto is missing.
s3_require_moto() {
	MOTO_PY=$(moto_python) && return 0
	echo "skip $(basename "$0"): moto is missing (scripts/install-deps.sh says how to get it)"
	echo "0 0" >"${E2E_RESULT:-/dev/null}"
	exit 0
}

# s3_setup: two fresh moto servers, SRC and DST (and the fault proxy PROXY_PID, when a test starts
# one), torn down when the test ends.
s3_setup() {
	moto_start SRC "$SIM_DIR" && moto_start DST "$SIM_DIR" || return 1
	trap 'moto_stop SRC; moto_stop DST; [ -n "${PROXY_PID:-}" ] && kill "$PROXY_PID" 2>/dev/null; true' EXIT
}

# equal_trees: every object of SRC is on DST with the same size, content, headers and metadata,
# and DST holds nothing else.
equal_trees() {
	s3tool SRC tree >"$SIM_DIR/src.tree" && s3tool DST tree >"$SIM_DIR/dst.tree" || fail "describing the trees failed"
	diff "$SIM_DIR/src.tree" "$SIM_DIR/dst.tree" >"$SIM_DIR/tree.diff" ||
		fail "the trees differ: $(head -c 600 "$SIM_DIR/tree.diff")"
}

# s3_secret NS NAME ACCESS-KEY-ID SECRET-ACCESS-KEY: a Secret with the keys volshift reads.
s3_secret() {
	jq -n --arg ns "$1" --arg n "$2" --arg a "$(printf %s "$3" | base64 -w0)" --arg s "$(printf %s "$4" | base64 -w0)" \
		'{apiVersion: "v1", kind: "Secret", metadata: {namespace: $ns, name: $n},
		  data: {"access-key-id": $a, "secret-access-key": $s}}' | kubectl apply -f - >/dev/null
}

# kill_mid_sync PID FILE N SELECT: waits (up to 30 s) until FILE, the JSON events of a sync that
# volshift PID writes, holds N events that the jq filter SELECT keeps (objects copied), then kills
# PID with SIGKILL; KILLED_AT is how many FILE held then (a line cut short by the kill is skipped).
kill_mid_sync() {
	local pid=$1 file=$2 want=$3 count="[split(\"\\n\")[] | fromjson? | select($4)] | length"
	for _ in $(seq 1 300); do
		KILLED_AT=$(jq -R -s "$count" "$file" 2>/dev/null || echo 0)
		[ "${KILLED_AT:-0}" -ge "$want" ] && break
		sleep 0.1
	done
	kill -9 "$pid"
	wait "$pid" 2>/dev/null || true
	KILLED_AT=$(jq -R -s "$count" "$file")
}
