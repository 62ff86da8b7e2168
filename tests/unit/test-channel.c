/* Unit tests for lib/peer/channel: a sender's and a listener's channel
 * over a socketpair, v2 (IK and XX) and v1: lines both ways, one longer
 * than a frame; an altered frame, a v1 peer where v2 is required. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "peer/channel.h"

struct pair {
	struct channel s, l;	/* sender, listener */
	uint8_t ssec[32], lsec[32], lpub[32];
};

static void
pair_open(struct pair *p, bool ik, enum noise_hash hash, bool allow_v1)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
	    sv), 0);
	randombytes_buf(p->ssec, 32);
	randombytes_buf(p->lsec, 32);
	assert_int_equal(noise_pubkey(p->lpub, p->lsec), 0);
	assert_int_equal(channel_connect(&p->s, sv[0], hash, p->ssec,
	    ik ? p->lpub : NULL), 0);
	assert_int_equal(channel_accept(&p->l, sv[1], p->lsec, allow_v1), 0);
}

/* Moves bytes both ways until both are ready, or 20 rounds. */
static void
pump_both(struct pair *p)
{
	int i;

	for (i = 0; i < 20; i++) {
		assert_int_equal(channel_flush(&p->s), 0);
		(void)channel_recv(&p->l, 65536);
		assert_int_equal(channel_flush(&p->l), 0);
		(void)channel_recv(&p->s, 65536);
		if (channel_ready(&p->s) && channel_ready(&p->l) &&
		    channel_unsent(&p->s) == 0 && channel_unsent(&p->l) == 0)
			return;
	}
	fail_msg("the handshake did not end");
}

/* Reads lines from ch until one is there (a few rounds). */
static void
expect_line(struct channel *ch, const char *want)
{
	char *line;
	size_t len;
	int i, rc;

	for (i = 0; i < 1000; i++) {
		if ((rc = channel_line(ch, &line, &len)) == 1) {
			assert_int_equal(len, strlen(want));
			assert_memory_equal(line, want, len);
			return;
		}
		assert_int_equal(rc, 0);
		(void)channel_recv(ch, 65536);
	}
	fail_msg("no line");
}

static void
v2_lines_both_ways(void **state)
{
	static const struct { bool ik; enum noise_hash hash; } cases[] = {
		{ true, NOISE_SHA256 }, { false, NOISE_SHA256 },
		{ true, NOISE_BLAKE2B }, { false, NOISE_BLAKE2B },
	};
	struct pair p;
	size_t i, big = 100000;
	char *line = malloc(big + 2);

	(void)state;
	assert_non_null(line);
	memset(line, 'x', big);
	line[big] = '\n';
	line[big + 1] = '\0';
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pair_open(&p, cases[i].ik, cases[i].hash, false);
		pump_both(&p);
		assert_memory_equal(channel_peer_key(&p.s), p.lpub, 32);
		assert_non_null(channel_peer_key(&p.l));
		assert_int_equal(wire_out_append(channel_out(&p.s), "hi\n", 3), 0);
		assert_int_equal(wire_out_append(channel_out(&p.s), line,
		    big + 1), 0);
		assert_int_equal(wire_out_append(channel_out(&p.s), "after\n", 6),
		    0);
		while (channel_unsent(&p.s) > 0) {
			assert_int_equal(channel_flush(&p.s), 0);
			(void)channel_recv(&p.l, 65536);
		}
		expect_line(&p.l, "hi");
		line[big] = '\0';
		expect_line(&p.l, line);
		line[big] = '\n';
		expect_line(&p.l, "after");
		assert_int_equal(wire_out_append(channel_out(&p.l), "ack\n", 4), 0);
		assert_int_equal(channel_flush(&p.l), 0);
		expect_line(&p.s, "ack");
		channel_close(&p.s);
		channel_close(&p.l);
	}
	free(line);
}

static void
altered_frame_refused(void **state)
{
	struct pair p;
	uint8_t frame[64];
	ssize_t n;
	long got;

	(void)state;
	pair_open(&p, false, NOISE_SHA256, false);
	pump_both(&p);
	assert_int_equal(wire_out_append(channel_out(&p.s), "one\n", 4), 0);
	assert_int_equal(channel_flush(&p.s), 0);
	/* take the frame off the wire, flip a bit, put it back */
	n = recv(p.l.fd, frame, sizeof(frame), 0);
	assert_true(n > 2);
	frame[n - 1] ^= 1;
	assert_int_equal(write(p.s.fd, frame, (size_t)n), n);
	got = channel_recv(&p.l, 65536);
	assert_int_equal(got, -1);
	assert_int_equal(errno, EPROTO);
	assert_int_equal(p.l.err, FRAME_EAUTH);
	/* and stays refused */
	assert_int_equal(channel_recv(&p.l, 65536), -1);
	assert_int_equal(errno, EPROTO);
	channel_close(&p.s);
	channel_close(&p.l);
}

static void
v1_peer_where_v2_required(void **state)
{
	static const char hello[] = "{\"type\":\"hello\",\"v\":1}\n";
	struct channel l;
	uint8_t sec[32] = { 1 };
	int sv[2];

	(void)state;
	for (int allow = 0; allow < 2; allow++) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM |
		    SOCK_NONBLOCK, 0, sv), 0);
		assert_int_equal(channel_accept(&l, sv[1], sec, allow), 0);
		assert_int_equal(write(sv[0], hello, sizeof(hello) - 1),
		    (ssize_t)sizeof(hello) - 1);
		if (allow) {
			assert_true(channel_recv(&l, 65536) > 0);
			expect_line(&l, "{\"type\":\"hello\",\"v\":1}");
			assert_null(channel_peer_key(&l));
		} else {
			assert_int_equal(channel_recv(&l, 65536), -1);
			assert_int_equal(errno, EPROTONOSUPPORT);
			/* the error line still goes, in plaintext */
			assert_int_equal(wire_put_error(channel_out(&l),
			    "v2_required", "v2 only"), 0);
			assert_int_equal(channel_flush(&l), 0);
			assert_true(recv(sv[0], (char[256]){ 0 }, 256, 0) > 0);
		}
		channel_close(&l);
		close(sv[0]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(v2_lines_both_ways),
		cmocka_unit_test(altered_frame_refused),
		cmocka_unit_test(v1_peer_where_v2_required),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
