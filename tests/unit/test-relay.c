/* Unit tests for lib/dir/relay, through real loopback sockets and the
 * client side of lib/net/relay_client: a pair is joined and spliced both
 * ways with half-closes; bad, used and expired tokens are refused with
 * their answer bytes; the rate, per-user, total, byte and time limits. */
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

#include "core/util.h"
#include "dir/relay.h"
#include "net/netaddr.h"
#include "net/relay_client.h"

static struct relay *
start(const struct relay_config *over)
{
	struct relay_config cfg = { 0 };
	struct relay *r;
	char err[256];

	if (over != NULL)
		cfg = *over;
	cfg.host = "127.0.0.1";
	cfg.port = 0;
	r = relay_start(&cfg, err, sizeof(err));
	if (r == NULL)
		fail_msg("relay_start: %s", err);
	assert_int_equal(relay_wildcard(r), 0);
	assert_string_equal(relay_host(r), "127.0.0.1");
	return r;
}

static void
offer(struct relay *r, char token[65])
{
	int64_t ms = 0;

	assert_int_equal(relay_offer(r, "alice", "bob", token, &ms),
	    RELAY_OFFER_OK);
	assert_int_equal(strlen(token), 64);
	assert_true(ms > 0);
}

static int
bind_to(struct relay *r, const char *token)
{
	char err[256];
	int fd = relay_bind("127.0.0.1", relay_port(r), token, 2000, err,
	    sizeof(err));

	if (fd < 0)
		fail_msg("relay_bind: %s", err);
	return fd;
}

/* The answer byte on fd within 3 s, or -1 when none came. */
static int
answer_byte(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };
	uint8_t b;

	if (poll(&p, 1, 3000) != 1 || read(fd, &b, 1) != 1)
		return -1;
	return b;
}

/* Whether nothing is readable on fd for ms. */
static bool
quiet(int fd, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };

	return poll(&p, 1, ms) == 0;
}

/* Reads n bytes from fd within 3 s. */
static void
read_all(int fd, char *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t k;

		assert_int_equal(poll(&p, 1, 3000), 1);
		k = read(fd, buf + got, n - got);
		if (k < 0 && errno == EAGAIN)
			continue;
		assert_true(k > 0);
		got += (size_t)k;
	}
}

/* 0 at the end of fd's stream within 3 s (data before it is an error),
 * -1 on a reset. */
static int
read_end(int fd)
{
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		char c;
		ssize_t k;

		assert_int_equal(poll(&p, 1, 3000), 1);
		k = read(fd, &c, 1);
		if (k < 0 && errno == EAGAIN)
			continue;
		assert_true(k <= 0);
		return k == 0 ? 0 : -1;
	}
}

static void
wait_counts(struct relay *r, unsigned pairs, unsigned offers)
{
	unsigned p = 0, o = 0;

	for (int i = 0; i < 300; i++) {
		relay_counts(r, &p, &o);
		if (p == pairs && o == offers)
			return;
		usleep(10000);
	}
	fail_msg("relay counts %u pairs, %u offers; want %u, %u", p, o, pairs,
	    offers);
}

static void
send_all(int fd, const char *s, size_t n)
{
	assert_int_equal(send(fd, s, n, MSG_NOSIGNAL), (ssize_t)n);
}

static void
joined_pair(struct relay *r, int *a, int *b)
{
	char token[65];

	offer(r, token);
	wait_counts(r, 0, 1);
	*a = bind_to(r, token);
	assert_true(quiet(*a, 100));	/* alone: no answer yet */
	*b = bind_to(r, token);
	assert_int_equal(answer_byte(*a), RELAY_JOINED);
	assert_int_equal(answer_byte(*b), RELAY_JOINED);
	wait_counts(r, 1, 0);
}

static void
splice_both_ways(void **state)
{
	struct relay *r = start(NULL);
	char buf[16];
	int a, b;

	(void)state;
	joined_pair(r, &a, &b);
	send_all(a, "ping", 4);
	read_all(b, buf, 4);
	assert_memory_equal(buf, "ping", 4);
	send_all(b, "pong!", 5);
	read_all(a, buf, 5);
	assert_memory_equal(buf, "pong!", 5);
	/* a is done sending: b hears the end, and may still answer. */
	assert_int_equal(shutdown(a, SHUT_WR), 0);
	assert_int_equal(read_end(b), 0);
	send_all(b, "late", 4);
	read_all(a, buf, 4);
	assert_memory_equal(buf, "late", 4);
	close(b);
	assert_int_equal(read_end(a), 0);
	close(a);
	wait_counts(r, 0, 0);
	relay_stop(r);
}

/* Megabytes each way at once, through the 64 KiB buffers: every byte
 * arrives, in order. */
static void
splice_bulk(void **state)
{
	enum { N = 4 << 20 };
	struct relay *r = start(NULL);
	uint8_t *out[2], *in[2];
	size_t sent[2] = { 0 }, got[2] = { 0 };
	int fd[2];
	int64_t deadline = mono_ms() + 20000;

	(void)state;
	joined_pair(r, &fd[0], &fd[1]);
	for (int k = 0; k < 2; k++) {
		out[k] = malloc(N);
		in[k] = malloc(N);
		assert_non_null(out[k]);
		assert_non_null(in[k]);
		randombytes_buf(out[k], N);
	}
	while ((got[0] < N || got[1] < N) && mono_ms() < deadline) {
		struct pollfd p[2];

		for (int k = 0; k < 2; k++)
			p[k] = (struct pollfd){ fd[k], (short)(POLLIN |
			    (sent[k] < N ? POLLOUT : 0)), 0 };
		assert_true(poll(p, 2, 3000) > 0);
		for (int k = 0; k < 2; k++) {
			ssize_t n;

			if ((p[k].revents & POLLOUT) && sent[k] < N) {
				n = send(fd[k], out[k] + sent[k], N - sent[k],
				    MSG_NOSIGNAL);
				assert_true(n > 0 || errno == EAGAIN);
				if (n > 0)
					sent[k] += (size_t)n;
			}
			if (p[k].revents & POLLIN) {
				n = read(fd[k], in[k] + got[k], N - got[k]);
				assert_true(n > 0 || errno == EAGAIN);
				if (n > 0)
					got[k] += (size_t)n;
			}
		}
	}
	assert_int_equal(got[0], N);
	assert_int_equal(got[1], N);
	assert_memory_equal(in[1], out[0], N);
	assert_memory_equal(in[0], out[1], N);
	for (int k = 0; k < 2; k++) {
		free(out[k]);
		free(in[k]);
		close(fd[k]);
	}
	wait_counts(r, 0, 0);
	relay_stop(r);
}

/* One side never reads: the other's writes stop at what the buffers
 * and sockets hold, and resume, intact, once it reads. */
static void
backpressure(void **state)
{
	enum { CHUNK = 65536 };
	struct relay *r = start(NULL);
	static char out[CHUNK], in[CHUNK];
	size_t sent = 0, got = 0;
	int a, b;

	(void)state;
	joined_pair(r, &a, &b);
	memset(out, 'x', sizeof(out));
	for (int i = 0; i < 2000; i++) {
		struct pollfd p = { a, POLLOUT, 0 };
		ssize_t n;

		if (poll(&p, 1, 300) == 0)
			break;
		n = send(a, out, sizeof(out), MSG_NOSIGNAL);
		assert_true(n > 0 || errno == EAGAIN);
		if (n > 0)
			sent += (size_t)n;
	}
	/* Held: far less than the 131 MB tried. */
	assert_true(sent > 0 && sent < 64u << 20);
	assert_int_equal(shutdown(a, SHUT_WR), 0);
	for (;;) {
		struct pollfd p = { b, POLLIN, 0 };
		ssize_t n;

		assert_int_equal(poll(&p, 1, 3000), 1);
		n = read(b, in, sizeof(in));
		if (n == 0)
			break;
		assert_true(n > 0);
		for (ssize_t i = 0; i < n; i++)
			assert_int_equal(in[i], 'x');
		got += (size_t)n;
	}
	assert_int_equal(got, sent);
	close(a);
	close(b);
	wait_counts(r, 0, 0);
	relay_stop(r);
}

static void
refusals(void **state)
{
	struct relay *r = start(NULL);
	char token[65], other[65];
	uint8_t raw[RELAY_TOKEN_LEN];
	int a, b, c, fd;
	char err[256];

	(void)state;
	/* A token it never gave. */
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(other, sizeof(other), raw, sizeof(raw));
	fd = bind_to(r, other);
	assert_int_equal(answer_byte(fd), RELAY_UNKNOWN);
	close(fd);
	/* Not a bind at all. */
	fd = net_connect("127.0.0.1", relay_port(r), 2000, err, sizeof(err));
	assert_true(fd >= 0);
	send_all(fd, "GET / HTTP/1.1\r\n\r\n", 18);
	assert_int_equal(answer_byte(fd), RELAY_MALFORMED);
	close(fd);
	/* A token is good for one pair: a third side is refused. */
	offer(r, token);
	a = bind_to(r, token);
	b = bind_to(r, token);
	assert_int_equal(answer_byte(a), RELAY_JOINED);
	assert_int_equal(answer_byte(b), RELAY_JOINED);
	c = bind_to(r, token);
	assert_int_equal(answer_byte(c), RELAY_UNKNOWN);
	close(a);
	close(b);
	close(c);
	/* The client's side says what the bytes mean. */
	assert_non_null(strstr(relay_strerror(RELAY_UNKNOWN), "token"));
	assert_int_equal(relay_token_parse("abc", raw), -1);
	assert_int_equal(relay_bind("127.0.0.1", relay_port(r), "zz", 1000,
	    err, sizeof(err)), -1);
	wait_counts(r, 0, 0);
	relay_stop(r);
}

/* The first side waits out the token's life and is told so; a side that
 * gives up waiting leaves the token to the next. */
static void
expiry(void **state)
{
	struct relay_config cfg = { .ttl_ms = 300 };
	struct relay *r = start(&cfg);
	char token[65];
	int a, b, c;
	int64_t t0;

	(void)state;
	offer(r, token);
	t0 = mono_ms();
	a = bind_to(r, token);
	assert_int_equal(answer_byte(a), RELAY_EXPIRED);
	assert_true(mono_ms() - t0 >= 250);
	close(a);
	wait_counts(r, 0, 0);
	/* Gone while waiting: the token still joins the next two. */
	offer(r, token);
	a = bind_to(r, token);
	assert_true(quiet(a, 50));
	close(a);
	usleep(50000);
	b = bind_to(r, token);
	assert_true(quiet(b, 50));
	c = bind_to(r, token);
	assert_int_equal(answer_byte(b), RELAY_JOINED);
	assert_int_equal(answer_byte(c), RELAY_JOINED);
	close(b);
	close(c);
	wait_counts(r, 0, 0);
	relay_stop(r);
}

static void
limits(void **state)
{
	struct relay_config rate = { .rate = 3 }, user = { .max_conns = 2 },
	    total = { .max_total = 2 };
	struct relay *r;
	char token[65];
	int64_t ms;

	(void)state;
	r = start(&rate);
	for (int i = 0; i < 3; i++)
		assert_int_equal(relay_offer(r, "alice", "p", token, &ms),
		    RELAY_OFFER_OK);
	assert_int_equal(relay_offer(r, "ALICE", "q", token, &ms),
	    RELAY_OFFER_RATE);
	assert_int_equal(relay_offer(r, "carol", "q", token, &ms),
	    RELAY_OFFER_OK);
	relay_stop(r);

	r = start(&user);
	assert_int_equal(relay_offer(r, "a", "bob", token, &ms),
	    RELAY_OFFER_OK);
	assert_int_equal(relay_offer(r, "c", "bob", token, &ms),
	    RELAY_OFFER_OK);
	/* bob is in two already, asked for or asking. */
	assert_int_equal(relay_offer(r, "d", "Bob", token, &ms),
	    RELAY_OFFER_USER_FULL);
	assert_int_equal(relay_offer(r, "bob", "e", token, &ms),
	    RELAY_OFFER_USER_FULL);
	assert_int_equal(relay_offer(r, "d", "e", token, &ms),
	    RELAY_OFFER_OK);
	relay_stop(r);

	r = start(&total);
	assert_int_equal(relay_offer(r, "a", "b", token, &ms),
	    RELAY_OFFER_OK);
	assert_int_equal(relay_offer(r, "c", "d", token, &ms),
	    RELAY_OFFER_OK);
	assert_int_equal(relay_offer(r, "e", "f", token, &ms),
	    RELAY_OFFER_FULL);
	relay_stop(r);
}

/* Past its bytes or its time a pair is cut: both sides hear the end. */
static void
pair_limits(void **state)
{
	struct relay_config bytes = { .max_bytes = 1000 },
	    secs = { .max_ms = 300 };
	static char big[5000];
	struct relay *r;
	int a, b;
	int64_t t0;

	(void)state;
	r = start(&bytes);
	joined_pair(r, &a, &b);
	memset(big, 'y', sizeof(big));
	send_all(a, big, sizeof(big));
	wait_counts(r, 0, 0);
	/* b may have had the first bytes before the cut, never all. */
	for (size_t got = 0;;) {
		struct pollfd p = { b, POLLIN, 0 };
		ssize_t n;

		assert_int_equal(poll(&p, 1, 3000), 1);
		n = read(b, big, sizeof(big));
		if (n <= 0)
			break;
		got += (size_t)n;
		assert_true(got < sizeof(big));
	}
	close(a);
	close(b);
	relay_stop(r);

	r = start(&secs);
	t0 = mono_ms();
	joined_pair(r, &a, &b);
	assert_true(read_end(a) <= 0);
	assert_true(mono_ms() - t0 >= 250);
	wait_counts(r, 0, 0);
	close(a);
	close(b);
	relay_stop(r);
}

/* Stopping with pairs and waiters open frees everything (the sanitizer
 * build checks), and their sides hear the end. */
static void
stop_while_busy(void **state)
{
	struct relay *r = start(NULL);
	char token[65];
	int a, b, w;

	(void)state;
	joined_pair(r, &a, &b);
	offer(r, token);
	w = bind_to(r, token);
	assert_true(quiet(w, 50));
	relay_stop(r);
	assert_true(read_end(a) <= 0);
	assert_true(read_end(w) <= 0);
	close(a);
	close(b);
	close(w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(splice_both_ways),
		cmocka_unit_test(splice_bulk),
		cmocka_unit_test(backpressure),
		cmocka_unit_test(refusals),
		cmocka_unit_test(expiry),
		cmocka_unit_test(limits),
		cmocka_unit_test(pair_limits),
		cmocka_unit_test(stop_while_busy),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
