/* Unit tests for lib/peer/frame: the v2 preamble and handshake, lines in
 * transport frames fed in chunks of any size, over buffers and over a
 * socketpair to a child process, and every way a frame may be bad. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "peer/frame.h"
#include "peer/wire.h"

struct keys {
	uint8_t is[32], ipub[32], rs[32], rpub[32];
};

static void
keys_new(struct keys *k)
{
	randombytes_buf(k->is, 32);
	randombytes_buf(k->rs, 32);
	assert_int_equal(noise_pubkey(k->ipub, k->is), 0);
	assert_int_equal(noise_pubkey(k->rpub, k->rs), 0);
}

/* Moves what from has to write into to, chunk bytes a call: the last
 * return of frame_hs_feed. Every byte must be taken. */
static int
move(struct frame_hs *from, struct frame_hs *to, size_t chunk)
{
	const uint8_t *p;
	size_t len, off = 0, c, used;
	int rc = 0;

	p = frame_hs_output(from, &len);
	while (off < len) {
		c = len - off < chunk ? len - off : chunk;
		rc = frame_hs_feed(to, p + off, c, &used);
		if (rc < 0)
			return rc;
		assert_int_equal(used, c);
		off += c;
	}
	frame_hs_sent(from, len);
	return rc;
}

/* Runs a handshake to its end: 0, or the first error and which side
 * (*who: 'i' or 'r') refused. */
static int
run_hs(struct frame_hs *ini, struct frame_hs *res, size_t chunk, char *who)
{
	int rc, round;

	for (round = 0; round < 3; round++) {
		if ((rc = move(ini, res, chunk)) < 0) {
			*who = 'r';
			return rc;
		}
		if ((rc = move(res, ini, chunk)) < 0) {
			*who = 'i';
			return rc;
		}
		if (noise_hs_done(&ini->hs) && noise_hs_done(&res->hs))
			return 0;
	}
	fail_msg("the handshake did not finish");
	return 1;
}

/* The peer the lines go to: a decoder and a line reader. */
struct sink {
	struct frame_dec d;
	struct wire_buf lines;
	char **got;
	size_t ngot;
};

/* Feeds stream bytes in chunks; whole lines collected. */
static int
sink_feed(struct sink *s, const uint8_t *p, size_t n, size_t chunk)
{
	const uint8_t *plain;
	size_t plainlen, used, room, c, len;
	char *dst, *line;
	int rc;

	while (n > 0) {
		c = n < chunk ? n : chunk;
		rc = frame_dec_next(&s->d, p, c, &used, &plain, &plainlen);
		if (rc < 0)
			return rc;
		p += used;
		n -= used;
		if (rc == 0)
			continue;
		dst = wire_buf_space(&s->lines, plainlen, &room);
		assert_non_null(dst);
		assert_true(room >= plainlen);
		memcpy(dst, plain, plainlen);
		wire_buf_fill(&s->lines, plainlen);
		while (wire_buf_line(&s->lines, &line, &len) == 1) {
			s->got = realloc(s->got, (s->ngot + 1) * sizeof(char *));
			assert_non_null(s->got);
			s->got[s->ngot++] = strndup(line, len);
		}
	}
	return 0;
}

static void
sink_free(struct sink *s)
{
	for (size_t i = 0; i < s->ngot; i++)
		free(s->got[i]);
	free(s->got);
	wire_buf_free(&s->lines);
	frame_dec_wipe(&s->d);
}

/* A pair of sides through the handshake, split. */
struct chan {
	struct frame_hs ini, res;
	struct frame_enc ie, re;
	struct sink is, rs;
};

static void
chan_open(struct chan *c, enum noise_pattern p, enum noise_hash h,
    size_t chunk)
{
	struct keys k;
	char who;

	memset(c, 0, sizeof(*c));
	keys_new(&k);
	assert_int_equal(frame_hs_initiator(&c->ini, p, h, k.is,
	    p == NOISE_IK ? k.rpub : NULL), 0);
	assert_int_equal(frame_hs_responder(&c->res, FRAME_OFFER(NOISE_IK) |
	    FRAME_OFFER(NOISE_XX), k.rs, NULL), 0);
	assert_int_equal(run_hs(&c->ini, &c->res, chunk, &who), 0);
	assert_memory_equal(frame_hs_remote_static(&c->ini), k.rpub, 32);
	assert_memory_equal(frame_hs_remote_static(&c->res), k.ipub, 32);
	assert_int_equal(frame_hs_split(&c->ini, &c->ie, &c->is.d), 0);
	assert_int_equal(frame_hs_split(&c->res, &c->re, &c->rs.d), 0);
}

static void
chan_close(struct chan *c)
{
	frame_enc_free(&c->ie);
	frame_enc_free(&c->re);
	sink_free(&c->is);
	sink_free(&c->rs);
}

/* Frames in a stream: their count, checking each length. */
static size_t
count_frames(const uint8_t *p, size_t n)
{
	size_t count = 0, len;

	while (n > 0) {
		assert_true(n >= 2);
		len = (size_t)p[0] << 8 | p[1];
		assert_true(len > NOISE_TAGLEN && len <= FRAME_MAX);
		assert_true(n >= 2 + len);
		p += 2 + len;
		n -= 2 + len;
		count++;
	}
	return count;
}

static const size_t chunks[] = { 1, 3, 7, 100, 4096, 1 << 20 };

/* Both patterns, both hashes, each chunk size: the handshake, then lines
 * both ways, one of them longer than three frames. */
static void
lines_both_ways(void **state)
{
	static const enum noise_pattern ps[] = { NOISE_IK, NOISE_XX };
	static const enum noise_hash hs[] = { NOISE_SHA256, NOISE_BLAKE2B };
	size_t longlen = 3 * FRAME_PLAIN_MAX + 1000, n, ci;
	char *longline = malloc(longlen + 1);
	struct chan *c = malloc(sizeof(*c));
	const uint8_t *out;

	(void)state;
	assert_non_null(longline);
	assert_non_null(c);
	memset(longline, 'x', longlen);
	longline[longlen] = '\n';
	for (size_t p = 0; p < 2; p++) for (size_t h = 0; h < 2; h++)
	for (ci = 0; ci < sizeof(chunks) / sizeof(chunks[0]); ci++) {
		chan_open(c, ps[p], hs[h], chunks[ci]);
		assert_int_equal(frame_enc_put(&c->ie, "{\"a\":1}\n", 8), 0);
		assert_int_equal(frame_enc_put(&c->ie, "{\"b\":", 5), 0);
		assert_int_equal(frame_enc_flush(&c->ie), 0);
		assert_int_equal(frame_enc_put(&c->ie, "2}\n", 3), 0);
		assert_int_equal(frame_enc_put(&c->ie, longline, longlen + 1),
		    0);
		assert_int_equal(frame_enc_flush(&c->ie), 0);
		assert_int_equal(frame_enc_flush(&c->ie), 0);
		out = frame_enc_data(&c->ie, &n);
		assert_int_equal(count_frames(out, n), 5);
		assert_int_equal(sink_feed(&c->rs, out, n - 1, chunks[ci]), 0);
		assert_true(frame_dec_partial(&c->rs.d));
		assert_int_equal(sink_feed(&c->rs, out + n - 1, 1, 1), 0);
		assert_false(frame_dec_partial(&c->rs.d));
		frame_enc_consume(&c->ie, n);
		assert_int_equal(c->rs.ngot, 3);
		assert_string_equal(c->rs.got[0], "{\"a\":1}");
		assert_string_equal(c->rs.got[1], "{\"b\":2}");
		assert_int_equal(strlen(c->rs.got[2]), longlen);
		assert_int_equal(strspn(c->rs.got[2], "x"), longlen);

		assert_int_equal(frame_enc_put(&c->re, "{\"ack\":1}\n", 10), 0);
		assert_int_equal(frame_enc_flush(&c->re), 0);
		out = frame_enc_data(&c->re, &n);
		assert_int_equal(sink_feed(&c->is, out, n, chunks[ci]), 0);
		frame_enc_consume(&c->re, n);
		assert_int_equal(c->is.ngot, 1);
		assert_string_equal(c->is.got[0], "{\"ack\":1}");
		chan_close(c);
	}
	free(c);
	free(longline);
}

/* Lines that come fast go in few frames: 1000 lines of 100 bytes, two. */
static void
batching(void **state)
{
	struct chan *c = malloc(sizeof(*c));
	char line[100];
	const uint8_t *out;
	size_t n, written;

	(void)state;
	assert_non_null(c);
	chan_open(c, NOISE_XX, NOISE_SHA256, 1 << 20);
	memset(line, 'm', sizeof(line) - 1);
	line[99] = '\n';
	for (int i = 0; i < 1000; i++)
		assert_int_equal(frame_enc_put(&c->ie, line, 100), 0);
	assert_int_equal(frame_enc_flush(&c->ie), 0);
	out = frame_enc_data(&c->ie, &n);
	assert_int_equal(count_frames(out, n), 2);
	assert_int_equal(n, 100000 + 2 * (2 + NOISE_TAGLEN));
	/* Written in parts, while more is put. */
	assert_int_equal(sink_feed(&c->rs, out, 1000, 1 << 20), 0);
	frame_enc_consume(&c->ie, 1000);
	written = 1000;
	assert_int_equal(frame_enc_put(&c->ie, line, 100), 0);
	assert_int_equal(frame_enc_flush(&c->ie), 0);
	out = frame_enc_data(&c->ie, &n);
	assert_int_equal(n, 100000 + 3 * (2 + NOISE_TAGLEN) + 100 - written);
	assert_int_equal(sink_feed(&c->rs, out, n, 1 << 20), 0);
	frame_enc_consume(&c->ie, n);
	assert_int_equal(c->rs.ngot, 1001);
	chan_close(c);
	free(c);
}

/* Two sealed frames, "one\n" and "two\n", in buf. */
static size_t
two_frames(struct chan *c, uint8_t *buf)
{
	const uint8_t *out;
	size_t n;

	chan_open(c, NOISE_IK, NOISE_SHA256, 1 << 20);
	assert_int_equal(frame_enc_put(&c->ie, "one\n", 4), 0);
	assert_int_equal(frame_enc_flush(&c->ie), 0);
	assert_int_equal(frame_enc_put(&c->ie, "two\n", 4), 0);
	assert_int_equal(frame_enc_flush(&c->ie), 0);
	out = frame_enc_data(&c->ie, &n);
	assert_int_equal(n, 2 * (2 + 4 + NOISE_TAGLEN));
	memcpy(buf, out, n);
	frame_enc_consume(&c->ie, n);
	return n;
}

/* Altered, replayed, reordered, cut, empty and too short frames are all
 * refused, and a refusal is final. */
static void
bad_frames(void **state)
{
	struct chan *c = malloc(sizeof(*c));
	uint8_t buf[64], bad[64];
	const size_t f = 2 + 4 + NOISE_TAGLEN;
	size_t n, bit;

	(void)state;
	assert_non_null(c);
	/* Every bit of the body and tag. */
	for (bit = 16; bit < 8 * f; bit++) {
		n = two_frames(c, buf);
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(sink_feed(&c->rs, buf, n, 1 << 20),
		    FRAME_EAUTH);
		assert_int_equal(c->rs.ngot, 0);
		chan_close(c);
	}
	/* Replayed: the first frame twice. */
	two_frames(c, buf);
	memcpy(bad, buf, f);
	memcpy(bad + f, buf, f);
	assert_int_equal(sink_feed(&c->rs, bad, 2 * f, 5), FRAME_EAUTH);
	assert_int_equal(c->rs.ngot, 1);
	chan_close(c);
	/* Reordered. */
	n = two_frames(c, buf);
	memcpy(bad, buf + f, f);
	memcpy(bad + f, buf, f);
	assert_int_equal(sink_feed(&c->rs, bad, 2 * f, 1), FRAME_EAUTH);
	assert_int_equal(c->rs.ngot, 0);
	/* Once refused, always. */
	assert_int_equal(sink_feed(&c->rs, buf, n, 1 << 20), FRAME_EAUTH);
	chan_close(c);
	/* Cut: the length says more than the frame holds, so the next
	 * frame's bytes are taken as its own. */
	two_frames(c, buf);
	memcpy(bad, buf, f - 1);
	bad[1]--;
	memcpy(bad + f - 1, buf + f, f);
	assert_int_equal(sink_feed(&c->rs, bad, 2 * f - 1, 3), FRAME_EAUTH);
	chan_close(c);
	two_frames(c, buf);
	memcpy(bad, buf, f);
	bad[0] = 0xff;
	assert_false(frame_dec_partial(&c->rs.d));
	assert_int_equal(sink_feed(&c->rs, bad, f, 1 << 20), 0);
	assert_int_equal(c->rs.ngot, 0);
	assert_true(frame_dec_partial(&c->rs.d));
	chan_close(c);
	/* A zero length; a frame with no room for data. */
	two_frames(c, buf);
	assert_int_equal(sink_feed(&c->rs, (const uint8_t *)"\0\0", 2, 1),
	    FRAME_EZERO);
	chan_close(c);
	two_frames(c, buf);
	memcpy(bad, "\0\x10", 2);
	memcpy(bad + 2, buf + 6, NOISE_TAGLEN);
	assert_int_equal(sink_feed(&c->rs, bad, 2 + NOISE_TAGLEN, 1 << 20),
	    FRAME_ESHORT);
	chan_close(c);
	two_frames(c, buf);
	assert_int_equal(sink_feed(&c->rs, (const uint8_t *)"\0\x05" "abcde",
	    7, 2), FRAME_ESHORT);
	chan_close(c);
	free(c);
}

/* The responder's reading of the preamble. */
static void
bad_preamble(void **state)
{
	static const char *const bad[] = {
		"{\"ty", "\x01IS", "\x02ZS", "\x02IZ", "\x02IS\x01", "\x02xS",
	};
	struct frame_hs *h = malloc(sizeof(*h));
	struct keys k;
	size_t used;

	(void)state;
	assert_non_null(h);
	keys_new(&k);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(frame_hs_responder(h, FRAME_OFFER(NOISE_IK) |
		    FRAME_OFFER(NOISE_XX), k.rs, NULL), 0);
		assert_int_equal(frame_hs_feed(h, (const uint8_t *)bad[i], 4,
		    &used), FRAME_EPREAMBLE);
	}
	/* A pattern not offered. */
	assert_int_equal(frame_hs_responder(h, FRAME_OFFER(NOISE_IK), k.rs,
	    NULL), 0);
	assert_int_equal(frame_hs_feed(h, (const uint8_t *)"\x02XS", 4, &used),
	    FRAME_EPREAMBLE);
	assert_int_equal(frame_hs_feed(h, (const uint8_t *)"\x02IS", 4, &used),
	    FRAME_EPREAMBLE);
	/* Half a preamble waits for the rest. */
	assert_int_equal(frame_hs_responder(h, FRAME_OFFER(NOISE_XX), k.rs,
	    NULL), 0);
	assert_int_equal(frame_hs_feed(h, (const uint8_t *)"\x02X", 2, &used),
	    0);
	assert_int_equal(frame_hs_feed(h, (const uint8_t *)"S", 2, &used), 0);
	assert_int_equal(used, 2);
	assert_false(frame_hs_output(h, &used) == NULL);
	assert_int_equal(used, 0);
	/* No pattern at all; NK is not spoken on the wire; IK needs a pin. */
	assert_int_equal(frame_hs_responder(h, 0, k.rs, NULL), FRAME_ESTATE);
	assert_int_equal(frame_hs_initiator(h, NOISE_NK, NOISE_SHA256, k.is,
	    k.rpub), FRAME_ESTATE);
	assert_int_equal(frame_hs_initiator(h, NOISE_IK, NOISE_SHA256, k.is,
	    NULL), FRAME_ESTATE);
	frame_hs_wipe(h);
	free(h);
}

/* Keys that are not the pinned ones, and messages that are not right. */
static void
bad_handshakes(void **state)
{
	struct frame_hs *ini = malloc(sizeof(*ini)), *res = malloc(sizeof(*res));
	struct keys k, other;
	char who = 0;
	uint8_t buf[256];
	const uint8_t *out;
	size_t n, used;

	(void)state;
	assert_non_null(ini);
	assert_non_null(res);
	keys_new(&k);
	keys_new(&other);
	for (int h = 0; h < 2; h++) {
		/* IK to the wrong key: the responder cannot read it. */
		assert_int_equal(frame_hs_initiator(ini, NOISE_IK, h, k.is,
		    other.rpub), 0);
		assert_int_equal(frame_hs_responder(res, FRAME_OFFER(NOISE_IK),
		    k.rs, NULL), 0);
		assert_int_equal(run_hs(ini, res, 1, &who), FRAME_EHANDSHAKE);
		assert_int_equal(who, 'r');
		frame_hs_output(res, &n);
		assert_int_equal(n, 0);
		/* XX: the initiator pinned another key for the listener. */
		assert_int_equal(frame_hs_initiator(ini, NOISE_XX, h, k.is,
		    other.rpub), 0);
		assert_int_equal(frame_hs_responder(res, FRAME_OFFER(NOISE_XX),
		    k.rs, NULL), 0);
		assert_int_equal(run_hs(ini, res, 1 << 20, &who), FRAME_EPEER);
		assert_int_equal(who, 'i');
		frame_hs_output(ini, &n);
		assert_int_equal(n, 0);
		/* XX and IK: the responder pinned another key for the sender. */
		for (int p = 0; p < 2; p++) {
			assert_int_equal(frame_hs_initiator(ini, p == 0 ?
			    NOISE_XX : NOISE_IK, h, k.is, k.rpub), 0);
			assert_int_equal(frame_hs_responder(res,
			    FRAME_OFFER(NOISE_XX) | FRAME_OFFER(NOISE_IK), k.rs,
			    other.ipub), 0);
			assert_int_equal(run_hs(ini, res, 3, &who),
			    FRAME_EPEER);
			assert_int_equal(who, 'r');
			frame_hs_output(res, &n);
			assert_int_equal(n, 0);
		}
		/* The right pins pass. */
		assert_int_equal(frame_hs_initiator(ini, NOISE_XX, h, k.is,
		    k.rpub), 0);
		assert_int_equal(frame_hs_responder(res, FRAME_OFFER(NOISE_XX),
		    k.rs, k.ipub), 0);
		assert_int_equal(run_hs(ini, res, 2, &who), 0);
	}
	/* A handshake frame of length zero; one longer than any, refused at
	 * its length; one with a payload. */
	assert_int_equal(frame_hs_responder(res, FRAME_OFFER(NOISE_XX), k.rs,
	    NULL), 0);
	assert_int_equal(frame_hs_feed(res, (const uint8_t *)"\x02XS\0\0\0", 6,
	    &used), FRAME_EHANDSHAKE);
	assert_int_equal(frame_hs_responder(res, FRAME_OFFER(NOISE_XX), k.rs,
	    NULL), 0);
	assert_int_equal(frame_hs_feed(res, (const uint8_t *)"\x02XS\0\0\x61",
	    6, &used), FRAME_EHANDSHAKE);
	assert_int_equal(frame_hs_initiator(ini, NOISE_XX, NOISE_SHA256, k.is,
	    NULL), 0);
	out = frame_hs_output(ini, &n);
	assert_int_equal(n, 4 + 2 + 32);
	memcpy(buf, out, n);
	buf[5] = 33;
	buf[n++] = 'x';
	assert_int_equal(frame_hs_responder(res, FRAME_OFFER(NOISE_XX), k.rs,
	    NULL), 0);
	assert_int_equal(frame_hs_feed(res, buf, n, &used), FRAME_EHANDSHAKE);
	/* After the handshake, the bytes that follow are left for frames. */
	assert_int_equal(frame_hs_initiator(ini, NOISE_XX, NOISE_SHA256, k.is,
	    NULL), 0);
	assert_int_equal(frame_hs_responder(res, FRAME_OFFER(NOISE_XX), k.rs,
	    NULL), 0);
	out = frame_hs_output(ini, &n);
	assert_int_equal(frame_hs_feed(res, out, n, &used), 0);
	frame_hs_sent(ini, n);
	out = frame_hs_output(res, &n);
	assert_int_equal(frame_hs_feed(ini, out, n, &used), 1);
	frame_hs_sent(res, n);
	out = frame_hs_output(ini, &n);
	memcpy(buf, out, n);
	memcpy(buf + n, "\0\x20", 2);
	assert_int_equal(frame_hs_feed(res, buf, n + 2, &used), 1);
	assert_int_equal(used, n);
	free(ini);
	free(res);
}

/* Over a socketpair to a child: the child answers as responder and
 * sends each line back; the reads come in whatever pieces the kernel
 * gives. */
static int
child(int fd, const uint8_t *rs)
{
	static struct frame_hs h;
	static struct frame_dec d;
	struct frame_enc e;
	uint8_t in[8192];
	const uint8_t *out, *plain;
	size_t n, used, plainlen, off;
	ssize_t r;
	bool split = false;
	int rc;

	if (frame_hs_responder(&h, FRAME_OFFER(NOISE_IK) | FRAME_OFFER(NOISE_XX),
	    rs, NULL) != 0)
		return 1;
	while ((r = read(fd, in, sizeof(in))) > 0) {
		off = 0;
		while (!split && off < (size_t)r) {
			if ((rc = frame_hs_feed(&h, in + off, (size_t)r - off,
			    &used)) < 0)
				return 2;
			off += used;
			out = frame_hs_output(&h, &n);
			if (n > 0 && write(fd, out, n) != (ssize_t)n)
				return 3;
			frame_hs_sent(&h, n);
			if (rc == 1 && frame_hs_split(&h, &e, &d) != 0)
				return 4;
			split = rc == 1;
		}
		while (off < (size_t)r) {
			rc = frame_dec_next(&d, in + off, (size_t)r - off,
			    &used, &plain, &plainlen);
			if (rc < 0)
				return 5;
			off += used;
			if (rc == 1 && frame_enc_put(&e, plain, plainlen) != 0)
				return 6;
		}
		if (split && frame_enc_flush(&e) != 0)
			return 7;
		if (!split)
			continue;
		out = frame_enc_data(&e, &n);
		if (n > 0 && write(fd, out, n) != (ssize_t)n)
			return 8;
		frame_enc_consume(&e, n);
	}
	frame_enc_free(&e);
	return r == 0 ? 0 : 9;
}

static void
socketpair_echo(void **state)
{
	struct frame_hs *h = malloc(sizeof(*h));
	struct frame_enc e;
	struct sink *s = calloc(1, sizeof(*s));
	struct keys k;
	uint8_t in[4096];
	const uint8_t *out;
	size_t n, used, off;
	ssize_t r;
	char line[200];
	int sv[2], status, rc = 0;
	pid_t pid;

	(void)state;
	assert_non_null(h);
	assert_non_null(s);
	keys_new(&k);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sv[0]);
		alarm(20);
		_exit(child(sv[1], k.rs));
	}
	close(sv[1]);
	assert_int_equal(frame_hs_initiator(h, NOISE_IK, NOISE_BLAKE2B, k.is,
	    k.rpub), 0);
	out = frame_hs_output(h, &n);
	assert_int_equal(write(sv[0], out, n), (ssize_t)n);
	frame_hs_sent(h, n);
	while (rc != 1 && (r = read(sv[0], in, sizeof(in))) > 0) {
		rc = frame_hs_feed(h, in, (size_t)r, &used);
		assert_true(rc >= 0);
		assert_int_equal(used, (size_t)r);
	}
	assert_int_equal(rc, 1);
	assert_int_equal(frame_hs_split(h, &e, &s->d), 0);
	for (int i = 0; i < 3000; i++) {
		snprintf(line, sizeof(line), "{\"type\":\"msg\",\"n\":%d}\n", i);
		assert_int_equal(frame_enc_put(&e, line, strlen(line)), 0);
	}
	assert_int_equal(frame_enc_flush(&e), 0);
	out = frame_enc_data(&e, &n);
	for (off = 0; off < n; off += (size_t)r) {
		r = write(sv[0], out + off, n - off);
		assert_true(r > 0);
	}
	frame_enc_consume(&e, n);
	shutdown(sv[0], SHUT_WR);
	while (s->ngot < 3000 && (r = read(sv[0], in, sizeof(in))) > 0)
		assert_int_equal(sink_feed(s, in, (size_t)r, (size_t)r), 0);
	assert_int_equal(s->ngot, 3000);
	assert_string_equal(s->got[2999], "{\"type\":\"msg\",\"n\":2999}");
	close(sv[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	frame_enc_free(&e);
	sink_free(s);
	free(s);
	free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lines_both_ways),
		cmocka_unit_test(batching),
		cmocka_unit_test(bad_frames),
		cmocka_unit_test(bad_preamble),
		cmocka_unit_test(bad_handshakes),
		cmocka_unit_test(socketpair_echo),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
