/* libFuzzer target: a listener's channel (lib/peer/channel.c) fed
 * arbitrary bytes over a socketpair, as a peer would send them: the
 * first byte sets the chunk size and whether v1 is taken; then v1 lines,
 * a v2 preamble and handshake, or frames, until it refuses or the bytes
 * end. Every line it gives is checked to be within the limits. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "peer/channel.h"

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "fuzz-channel: %s:%d: " \
	"check failed: %s\n", __FILE__, __LINE__, #c); abort(); } } while (0)

static const uint8_t sec[32] = { 7, 7, 7 };

int
LLVMFuzzerTestOneInput(const uint8_t *p, size_t n)
{
	struct channel ch;
	size_t chunk, off = 0, k, len;
	bool closed = false;
	char *line;
	long got;
	int sv[2], rc, err, rounds;

	if (n < 1)
		return 0;
	chunk = (size_t)(p[0] & 0x7f) * 97 + 1;
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
	CHECK(channel_accept(&ch, sv[0], sec, p[0] & 0x80) == 0);
	p++;
	n--;
	for (rounds = 0; rounds < 10000; rounds++) {
		k = n - off < chunk ? n - off : chunk;
		if (k > 0) {
			CHECK(write(sv[1], p + off, k) == (ssize_t)k);
			off += k;
		} else if (!closed) {
			shutdown(sv[1], SHUT_WR);
			closed = true;
		}
		got = channel_recv(&ch, 65536);
		err = errno;
		while ((rc = channel_line(&ch, &line, &len)) != 0)
			CHECK(rc < 0 || len <= WIRE_LINE_MAX);
		if (got == 0 || (got < 0 && (err == EPROTO ||
		    err == EPROTONOSUPPORT || err == ENOMEM)))
			break;
		/* What it answers stays in the socket, unread. */
		(void)channel_flush(&ch);
		if (closed && got < 0 && err == EAGAIN && !channel_backlog(&ch))
			break;
	}
	channel_close(&ch);
	close(sv[1]);
	return 0;
}
