#!/usr/bin/env bats
# The client programs against servers that fail: one that is not running,
# one that answers garbage, one that answers with errors, one that never
# answers; and against a standard output that cannot be written. Each
# failure is one line on stderr and its own exit status, never a hang.

bats_require_minimum_version 1.5.0

load helper

# Every client program, with arguments that make it ask the directory.
CLIENTS=(
	"chat-peers"
	"chat-peers alice"
	"chat-register -u alice -p 5000"
	"chat-friends -u alice"
	"chat-friends -u alice add bob"
	"chat-history -u alice"
	"chat-history -u alice bob"
	"chat-history -u alice -f"
)

setup() {
	unset CHAT_TIMEOUT CHAT_USER CHAT_PORT
	FAKE_PID=
}
teardown() {
	if [ -n "$FAKE_PID" ]; then
		kill "$FAKE_PID" 2>/dev/null || true
		wait "$FAKE_PID" 2>/dev/null || true
	fi
	stop_dird
}

# fake_server MODE [REPLY]: a tiny listener on an ephemeral loopback port
# (perl, which every Debian has), CHAT_SERVER pointing at it. MODE reply:
# reads each request and answers REPLY (bytes, printf %b escapes), then
# closes; close: reads each request and closes without an answer; slow:
# holds each connection open and never answers. It stops itself after 60 s.
fake_server() {
	local dir=$BATS_TEST_TMPDIR
	printf '%b' "${2-}" >"$dir/reply"
	rm -f "$dir/fake.port"
	cat >"$dir/fake.pl" <<'PERL'
use strict;
use warnings;
use IO::Socket::INET;
my ($mode, $file, $portfile) = @ARGV;
alarm 60;
my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
    Listen => 16, ReuseAddr => 1, Proto => 'tcp') or die "listen: $!";
open(my $f, '<', $file) or die "$file: $!";
binmode $f;
my $reply = do { local $/; <$f> } // '';
close $f;
open(my $p, '>', "$portfile.tmp") or die "$portfile: $!";
print $p $srv->sockport, "\n";
close $p;
rename "$portfile.tmp", $portfile;
my @held;
while (my $c = $srv->accept) {
	if ($mode eq 'slow') { push @held, $c; next; }
	my $req = '';
	while ($req !~ /\r\n\r\n/) {
		my $n = sysread($c, $req, 4096, length $req);
		last if !$n;
	}
	my ($len) = $req =~ /^Content-Length:\s*(\d+)/mi;
	my $body = (split /\r\n\r\n/, $req, 2)[1] // '';
	while (defined $len && length($body) < $len) {
		my $n = sysread($c, $body, 4096, length $body);
		last if !$n;
	}
	syswrite($c, $reply) if $mode eq 'reply';
	close $c;
}
PERL
	perl "$dir/fake.pl" "$1" "$dir/reply" "$dir/fake.port" 3>&- &
	FAKE_PID=$!
	for _ in $(seq 1 100); do
		[ -s "$dir/fake.port" ] && break
		sleep 0.05
	done
	[ -s "$dir/fake.port" ] || { echo "fake server did not start" >&2; return 1; }
	export CHAT_SERVER=http://127.0.0.1:$(cat "$dir/fake.port")
}

# http STATUS BODY: an HTTP/1.1 answer with a JSON body, as fake_server's
# REPLY.
http() {
	printf 'HTTP/1.1 %s\\r\\nContent-Type: application/json\\r\\nContent-Length: %d\\r\\nConnection: close\\r\\n\\r\\n%s' \
		"$1" "${#2}" "${2//\\/\\\\}"
}

# all_exit STATUS [PATTERN]: every client exits STATUS within 10 s, prints
# nothing on stdout and one line on stderr, "prog: ...PATTERN...".
all_exit() {
	local c prog
	for c in "${CLIENTS[@]}"; do
		prog=${c%% *}
		# shellcheck disable=SC2086
		run --separate-stderr timeout 10 $c
		if [ "$status" -ne "$1" ]; then
			echo "$c: status $status, not $1: $stderr" >&2
			return 1
		fi
		if [ -n "$output" ] || [ "${#stderr_lines[@]}" -ne 1 ] ||
			[[ "$stderr" != "$prog: "*"${2-}"* ]]; then
			echo "$c: stdout '$output', stderr '$stderr'" >&2
			return 1
		fi
	done
}

@test "a directory that is not running: 69 at once, naming the URL" {
	start_dird
	stop_dird
	local t0=$SECONDS
	all_exit 69 "http://127.0.0.1:$DIRD_PORT/"
	[ $((SECONDS - t0)) -le 5 ]
}

@test "a server that answers garbage that is not HTTP: 76" {
	fake_server reply 'SSH-2.0-OpenSSH_9.2\r\n\x00\x01\xff nonsense\r\n'
	all_exit 76 "$CHAT_SERVER/"
}

@test "a server that reads the request and closes without answering: 76" {
	fake_server close
	all_exit 76 "$CHAT_SERVER/"
}

@test "HTTP with a body that is not JSON: 76" {
	fake_server reply 'HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 13\r\nConnection: close\r\n\r\n<html></html>'
	all_exit 76 "answer is not JSON"
}

@test "HTTP with a body cut short: 76" {
	fake_server reply 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{"peers":['
	all_exit 76
}

@test "JSON of the wrong shape: 76" {
	# (an answer to "add" needs no more than to be an object: seed
	# directories say only {"message": ...})
	CLIENTS=("${CLIENTS[@]/chat-friends -u alice add bob/chat-peers}")
	fake_server reply "$(http '200 OK' '{"peers":5,"friends":"x","messages":{},"username":7,"ip":1}')"
	all_exit 76 "$CHAT_SERVER/"
	fake_server reply "$(http '200 OK' '[1,2,3]')"
	all_exit 76
}

@test "lists whose items are not peers or messages: 76" {
	fake_server reply "$(http '200 OK' '{"peers":[{"name":"x"}],"friends":[{"username":1}],"messages":[{"text":"x"}]}')"
	run --separate-stderr timeout 10 chat-peers
	[ "$status" -eq 76 ]
	[[ "$stderr" == *"wrong shape"* ]]
	run timeout 10 chat-friends -u alice
	[ "$status" -eq 76 ]
	run timeout 10 chat-history -u alice
	[ "$status" -eq 76 ]
}

@test "a \"next\" cursor that does not move: 76, not a loop" {
	fake_server reply "$(http '200 OK' '{"peers":[{"username":"a"}],"next":"a"}')"
	run --separate-stderr timeout 10 chat-peers
	[ "$status" -eq 76 ]
	[[ "$stderr" == *'bad "next"'* ]]
	fake_server reply "$(http '200 OK' '{"messages":[],"next":5}')"
	run --separate-stderr timeout 10 chat-history -u alice
	[ "$status" -eq 76 ]
}

@test "a 404 that is not about a peer (not a chat directory): 76" {
	fake_server reply 'HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 9\r\nConnection: close\r\n\r\nNot Found'
	all_exit 76
	fake_server reply "$(http '404 Not Found' '{"error":"no such path","code":"not_found"}')"
	all_exit 76 "no such path"
}

@test "a redirect is not followed: 76" {
	fake_server reply 'HTTP/1.1 301 Moved\r\nLocation: http://127.0.0.1:1/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'
	all_exit 76
}

@test "the directory refuses a request (4xx): 65, with its reason" {
	fake_server reply "$(http '400 Bad Request' '{"error":"port must be 1 to 65535","code":"invalid_port"}')"
	all_exit 65 "400 port must be 1 to 65535"
}

@test "what a server says reaches the terminal without control characters" {
	fake_server reply "$(http '400 Bad Request' '{"error":"\u001b[2J\u0007bad\nthing","code":"x"}')"
	run --separate-stderr timeout 10 chat-peers
	[ "$status" -eq 65 ]
	[[ "$stderr" == *": 400 ?[2J?bad?thing" ]]
}

@test "the directory is busy (503): 75" {
	fake_server reply "$(http '503 Service Unavailable' '{"error":"storage is full; try later","code":"storage_full"}')"
	all_exit 75 "storage is full"
}

@test "the directory fails (500): 69" {
	fake_server reply "$(http '500 Internal Server Error' '{"error":"boom","code":"store_failed"}')"
	all_exit 69 "500 boom"
}

@test "a seed-style 404 {error} from /peerinfo means an unknown peer: 67" {
	fake_server reply "$(http '404 Not Found' '{"error":"Peer not found"}')"
	run --separate-stderr timeout 10 chat-peers bob
	[ "$status" -eq 67 ]
	[ "$stderr" = "chat-peers: bob: no such peer" ]
}

@test "a server that never answers: the timeout, 69, no hang" {
	fake_server slow
	export CHAT_TIMEOUT=0.5
	local t0=$SECONDS
	all_exit 69 "timed out"
	# eight programs, half a second each
	[ $((SECONDS - t0)) -le 9 ]
}

@test "the default timeout is 10 seconds" {
	fake_server slow
	local t0=$SECONDS
	run --separate-stderr timeout 30 chat-peers
	[ "$status" -eq 69 ]
	[ $((SECONDS - t0)) -ge 9 ] && [ $((SECONDS - t0)) -le 13 ]
}

@test "a malformed server URL or CHAT_TIMEOUT: 64, before any request" {
	local url
	for url in ftp://127.0.0.1/ 127.0.0.1:8000 'http://127.0.0.1:8000/?x=1' 'http://' 'http://h/#f'; do
		run --separate-stderr chat-peers -s "$url"
		[ "$status" -eq 64 ] || { echo "$url: $status" >&2; return 1; }
		[ "$stderr" = "chat-peers: $url: ${stderr#chat-peers: "$url": }" ]
		CHAT_SERVER=$url run chat-history -u alice
		[ "$status" -eq 64 ]
	done
	local t
	for t in 0 -1 abc 1e9 '' ' 1' 100000; do
		[ -z "$t" ] && continue
		CHAT_TIMEOUT=$t run --separate-stderr chat-peers -s http://127.0.0.1:1
		[ "$status" -eq 64 ] || { echo "CHAT_TIMEOUT=$t: $status" >&2; return 1; }
		[[ "$stderr" == "chat-peers: CHAT_TIMEOUT: $t: not a number of seconds" ]]
	done
}

@test "a standard output that cannot be written: 74" {
	start_dird
	curl -s -o /dev/null -d '{"username":"alice","ip":"127.0.0.1","port":1}' "$CHAT_SERVER/register"
	run --separate-stderr bash -c 'chat-peers alice >&-'
	[ "$status" -eq 74 ]
	[[ "$stderr" == "chat-peers: stdout: "* ]]
	run --separate-stderr bash -c 'chat-peers alice >/dev/full'
	[ "$status" -eq 74 ]
	[ "$stderr" = "chat-peers: stdout: No space left on device" ]
	run bash -c 'chat-register -u alice -p 1 >/dev/full'
	[ "$status" -eq 74 ]
	run bash -c 'chat-friends -u alice >&- && chat-friends -u alice add alice >/dev/full'
	[ "$status" -eq 65 ]
}

@test "a reader that goes away: 74 once its pipe is gone" {
	start_dird
	for u in alice bob; do
		curl -s -o /dev/null -d "{\"username\":\"$u\",\"ip\":\"127.0.0.1\",\"port\":1}" "$CHAT_SERVER/register"
	done
	jq -nc '{messages: [range(0; 3000) | {sender: "alice", receiver: "bob", content: "m\(.)"}]}' >"$BATS_TEST_TMPDIR/b.json"
	curl -s -f -o /dev/null --data-binary "@$BATS_TEST_TMPDIR/b.json" "$CHAT_SERVER/message/create/"
	run --separate-stderr bash -c 'chat-history -u bob | head -n 1; echo "${PIPESTATUS[0]}"'
	[ "${lines[1]}" = 74 ]
	[ "$stderr" = "chat-history: stdout: Broken pipe" ]
	run bash -c 'timeout 10 chat-history -u bob -f 2>/dev/null | head -n 2 >/dev/null; echo "${PIPESTATUS[0]}"'
	[ "$output" = 74 ]
}

@test "every program's usage line is its man page's SYNOPSIS" {
	local prog syn use
	for prog in chat-register chat-peers chat-friends chat-history; do
		syn=$(mandoc -Tascii -O width=200 "$BATS_TEST_DIRNAME/../man/$prog.1" | sed 's/.\x08//g' |
			sed -n '/^SYNOPSIS/{n;p;}' | sed 's/^ *//')
		use=$("$prog" -h | head -n 1)
		[ "$use" = "usage: $syn" ] || { echo "$prog: '$use' vs '$syn'" >&2; return 1; }
	done
}

@test "the man pages: lint clean, canonical sections, every exit status" {
	local prog page code
	for prog in chat-register chat-peers chat-friends chat-history; do
		page=$BATS_TEST_DIRNAME/../man/$prog.1
		run mandoc -Tlint -Wwarning "$page"
		[ "$status" -eq 0 ] && [ -z "$output" ] || { echo "$output" >&2; return 1; }
		# FILES, where a page has it, in its canonical place
		[ "$(grep '^\.Sh ' "$page" | tr '\n' '|' | sed 's/|\.Sh FILES|/|/')" = \
			'.Sh NAME|.Sh SYNOPSIS|.Sh DESCRIPTION|.Sh ENVIRONMENT|.Sh EXIT STATUS|.Sh EXAMPLES|.Sh SEE ALSO|' ]
		run grep -c '^\.Sh FILES' "$page"
		[ "$output" = 0 ] || grep '^\.Sh ' "$page" | tr '\n' '|' |
			grep -q '|\.Sh ENVIRONMENT|\.Sh FILES|\.Sh EXIT STATUS|'
		for code in 0 64 69 70 74 75 76; do
			sed -n '/^\.Sh EXIT STATUS/,/^\.Sh EXAMPLES/p' "$page" | grep -qx "\.It $code" ||
				{ echo "$prog: no exit $code" >&2; return 1; }
		done
		grep -q '^\.It Ev CHAT_SERVER$' "$page"
		grep -q '^\.It Ev CHAT_TIMEOUT$' "$page"
	done
}
