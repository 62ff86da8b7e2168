# Helpers for the chat-dird HTTP API suites (1NN-*.bats), on top of
# helper.bash: requests that keep the response headers, error checks, and
# short ways to make peers and messages.
# shellcheck shell=bash disable=SC2034 # sets variables for the suites

# RFC 3339 UTC with milliseconds, as a jq regex.
TS_RE='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$'

# req METHOD PATH [CURL-ARGS...]: one request; sets $status_code, $body
# and $headers (the response header block, without CRs). A failed
# transfer leaves status 000.
req() {
	local method=$1 path=$2
	shift 2
	local f=$BATS_TEST_TMPDIR/req.body h=$BATS_TEST_TMPDIR/req.head
	: >"$f"
	: >"$h"
	status_code=$(curl -s -o "$f" -D "$h" -w '%{http_code}' -X "$method" \
		"$@" "$CHAT_SERVER$path") || true
	body=$(<"$f")
	headers=$(<"$h")
	headers=${headers//$'\r'/}
	rm -f "$f" "$h"
}

# post PATH JSON: a POST with a JSON body (any bytes); as req.
post() {
	req POST "$1" -H 'Content-Type: application/json' --data-binary "$2"
}

# post_file PATH FILE: a POST whose body is the file (for big bodies).
post_file() {
	req POST "$1" -H 'Content-Type: application/json' --data-binary "@$2"
}

# get PATH: a GET; as req.
get() {
	req GET "$1"
}

# header NAME: the value of the last response's header NAME.
header() {
	local line n=${1,,}
	while IFS= read -r line; do
		if [[ "${line,,}" == "$n:"* ]]; then
			line=${line#*:}
			printf '%s' "${line# }"
			return 0
		fi
	done <<<"$headers"
}

# expect_json: the last response is Content-Type application/json.
expect_json() {
	local ct
	ct=$(header Content-Type)
	case "$ct" in
	application/json | "application/json;"*) ;;
	*)
		echo "Content-Type is '$ct', not application/json: $body" >&2
		return 1
		;;
	esac
}

# expect_error STATUS CODE...: the last response is an error of STATUS,
# Content-Type application/json, with a body {"error": a non-empty
# string, "code": one of CODE...}. To keep loops of bad requests fast the
# body is checked here with a pattern and kept in $BATS_TEST_TMPDIR/errors;
# check_errors (in teardown) checks every kept body with jq at once.
expect_error() {
	local want=$1 c
	shift
	if [ "$status_code" != "$want" ]; then
		echo "expected status $want, got $status_code: $body" >&2
		return 1
	fi
	expect_json || return 1
	if ! [[ "$body" =~ ^\{.*\"error\":\ *\"[^\"]+.*\}$ ]] ||
		! [[ "$body" =~ \"code\":\ *\"([^\"]*)\" ]]; then
		echo "not an error object: $body" >&2
		return 1
	fi
	c=${BASH_REMATCH[1]}
	printf '%s\n' "$body" >>"$BATS_TEST_TMPDIR/errors"
	echo >>"$BATS_TEST_TMPDIR/errors.count"
	for want in "$@"; do
		[ "$c" = "$want" ] && return 0
	done
	echo "expected code $*, got $c: $body" >&2
	return 1
}

# check_errors: every body expect_error saw is exactly one JSON object
# with a non-empty string "error" and a non-empty string "code".
check_errors() {
	local f=$BATS_TEST_TMPDIR/errors
	[ -s "$f" ] || return 0
	if ! jq -e -s --argjson n "$(wc -l <"$f.count")" \
		'length == $n and all(.[]; type == "object" and (.error | type == "string" and length > 0) and (.code | type == "string" and length > 0))' \
		"$f" >/dev/null; then
		echo "error bodies that are not one {error, code} object each:" >&2
		cat "$f" >&2
		return 1
	fi
}

# json KEY VALUE ...: a compact JSON object of string values.
json() {
	local args=() prog="" n=0
	while [ $# -ge 2 ]; do
		args+=(--arg "v$n" "$2")
		prog="$prog${prog:+,}\"$1\": \$v$n"
		n=$((n + 1))
		shift 2
	done
	jq -nc "${args[@]}" "{$prog}"
}

# jstr TEXT: TEXT as a JSON string (plain text without jq, to save time).
jstr() {
	if [[ "$1" =~ ^[A-Za-z0-9\ .,:_@+=/-]*$ ]]; then
		printf '"%s"' "$1"
	else
		jq -nj --arg t "$1" '$t | tojson'
	fi
}

# register NAME [PORT] [IP]: registers (or updates) a peer, asserting 2xx.
register() {
	post /register "{\"username\":$(jstr "$1"),\"ip\":$(jstr "${3:-127.0.0.1}"),\"port\":${2:-5000}}"
	case "$status_code" in
	200 | 201) ;;
	*)
		echo "register $1: $status_code $body" >&2
		return 1
		;;
	esac
}

# register_many PREFIX N: registers PREFIX0001..PREFIXN (zero-padded to
# 4 digits) over one keep-alive connection, asserting each is 201.
register_many() {
	local cfg=$BATS_TEST_TMPDIR/register.cfg i codes
	: >"$cfg"
	for i in $(seq -w 1 "$2" | sed -e 's/^/000/' -e 's/.*\(....\)$/\1/'); do
		[ -s "$cfg" ] && echo next >>"$cfg"
		printf 'url = "%s/register"\nheader = "Content-Type: application/json"\ndata-binary = "{\\"username\\":\\"%s%s\\",\\"port\\":5000}"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n' \
			"$CHAT_SERVER" "$1" "$i" >>"$cfg"
	done
	codes=$(curl -s -K "$cfg" | sort | uniq -c | awk '{ print $2 "x" $1 }')
	[ "$codes" = "201x$2" ] || { echo "register_many: $codes" >&2; return 1; }
}

# no_5xx_logged: the log of the daemon last started shows no request
# answered 5xx (nothing to check when none was started).
no_5xx_logged() {
	[ -n "${DIRD_LOG:-}" ] && [ -f "$DIRD_LOG" ] || return 0
	if grep '"status": *5[0-9][0-9]' "$DIRD_LOG" >&2; then
		echo "a request was answered 5xx" >&2
		return 1
	fi
}

# send FROM TO TEXT [UID]: stores one message, asserting 2xx; sets $msg_id.
send() {
	local b
	b="{\"sender\":$(jstr "$1"),\"receiver\":$(jstr "$2"),\"content\":$(jstr "$3")"
	[ -z "${4-}" ] || b="$b,\"uid\":$(jstr "$4")"
	post /message/create/ "$b}"
	case "$status_code" in
	200 | 201) ;;
	*)
		echo "send $1 -> $2: $status_code $body" >&2
		return 1
		;;
	esac
	[[ "$body" =~ \"message_id\":\ *([0-9]+) ]] || {
		echo "send: no message_id: $body" >&2
		return 1
	}
	msg_id=${BASH_REMATCH[1]}
}

# launch_dird [ARGS...]: starts chat-dird with exactly ARGS (start_dird
# always adds -l 127.0.0.1:0 -d ...), waits for its "listening" line and
# sets what start_dird sets; CHAT_SERVER uses the printed address.
launch_dird() {
	local addr
	DIRD_LOG=$BATS_TEST_TMPDIR/dird.log
	DIRD_OUT=$BATS_TEST_TMPDIR/dird.out
	: >"$DIRD_OUT"
	chat-dird "$@" >"$DIRD_OUT" 2>"$DIRD_LOG" &
	DIRD_PID=$!
	for _ in $(seq 1 200); do
		if grep -q '"listening"' "$DIRD_OUT" 2>/dev/null; then
			DIRD_PORT=$(jq -r .port "$DIRD_OUT" | head -n 1)
			addr=$(jq -r .addr "$DIRD_OUT" | head -n 1)
			case "$addr" in
			*:*) CHAT_SERVER=http://[$addr]:$DIRD_PORT ;;
			*) CHAT_SERVER=http://$addr:$DIRD_PORT ;;
			esac
			export CHAT_SERVER DIRD_PID DIRD_PORT
			return 0
		fi
		kill -0 "$DIRD_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "chat-dird did not start:" >&2
	cat "$DIRD_LOG" >&2
	return 1
}

# signal_dird SIG: sends SIG to the daemon this test started and waits
# up to 10 s for it to exit; sets $dird_rc (its exit status). Fails, and
# kills it, when it does not exit in time.
signal_dird() {
	local i
	kill -s "$1" "$DIRD_PID" 2>/dev/null || true
	for i in $(seq 1 200); do
		kill -0 "$DIRD_PID" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$DIRD_PID" 2>/dev/null; then
		echo "chat-dird did not exit within 10 s of SIG$1" >&2
		kill -9 "$DIRD_PID"
		wait "$DIRD_PID" 2>/dev/null || true
		DIRD_PID=
		return 1
	fi
	dird_rc=0
	wait "$DIRD_PID" || dird_rc=$?
	DIRD_PID=
}

# repeat CHAR N: CHAR written N times.
repeat() {
	local s
	printf -v s '%*s' "$2" ''
	printf '%s' "${s// /$1}"
}
