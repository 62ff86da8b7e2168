/* v2ping: bench/p2p's probe of a chat-listen on wire v2, through the
 * same channel code chat-send uses: Noise_IK handshakes (TCP connect to
 * the listener's hello), then one connection's msg-to-ack round trips.
 *   v2ping PORT HANDSHAKES PINGS FROM TO [HOLD]
 * Keys come from CHAT_HOME/keys (FROM's own, TO's public half from its
 * key file, as a pin would give it). Prints two lines:
 *   handshake p50_us X p99_us Y
 *   ping p50_us X p99_us Y
 * With HOLD, it then opens HOLD channels, prints "held HOLD" and keeps
 * them for 3 seconds. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"
#include "peer/channel.h"
#include "peer/trust.h"
#include "peer/wire.h"
#include "sec/keys.h"
#include "sec/noise.h"

static struct keypair me, them;
static uint8_t xsk[NOISE_KEYLEN], rs[NOISE_KEYLEN];

static double
now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static void
die(const char *what)
{
	fprintf(stderr, "v2ping: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int
dial(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
	    .sin_port = htons((unsigned short)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		die("connect");
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 ||
	    fcntl(fd, F_SETFL, O_NONBLOCK) != 0)
		die("socket options");
	return fd;
}

/* Moves bytes until the channel is ready (want_line false) or has a
 * line; the line's type, or -1. */
static int
pump(struct channel *ch, bool want_line)
{
	struct pollfd p = { .fd = ch->fd };
	struct wire_obj o;
	char *line;
	size_t len;
	int type;

	for (;;) {
		if (channel_flush(ch) != 0)
			die("write");
		if (!want_line && channel_ready(ch) && channel_unsent(ch) == 0)
			return 0;
		if (want_line && channel_line(ch, &line, &len) == 1) {
			type = (int)wire_parse(line, len, &o);
			wire_obj_free(&o);
			return type;
		}
		p.events = POLLIN | (channel_unsent(ch) > 0 ? POLLOUT : 0);
		if (poll(&p, 1, 5000) != 1)
			die("poll");
		if (channel_recv(ch, 65536) < 0 && errno != EAGAIN &&
		    errno != EINTR)
			die("read");
	}
}

static struct channel
open_channel(int port, const char *from, const char *to)
{
	struct channel ch;

	if (channel_connect(&ch, dial(port), NOISE_SHA256, xsk, rs) != 0)
		die("channel");
	pump(&ch, false);
	if (trust_put_hello(channel_out(&ch), from, to, me.pk) != 0)
		die("hello");
	if (pump(&ch, true) != WIRE_HELLO)
		die("the listener's hello");
	return ch;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
report(const char *what, double *t, long n)
{
	qsort(t, (size_t)n, sizeof(*t), cmp);
	printf("%s p50_us %.1f p99_us %.1f\n", what, t[n / 2],
	    t[n * 99 / 100]);
}

int
main(int argc, char **argv)
{
	char err[512], uid[UID_HEX_LEN], *home = getenv("CHAT_HOME");
	long hs, pings;
	double *t, t0;
	struct channel ch;
	int port;

	if ((argc != 6 && argc != 7) || home == NULL || (port = atoi(argv[1])) <= 0 ||
	    (hs = atol(argv[2])) <= 0 || (pings = atol(argv[3])) <= 0) {
		fprintf(stderr, "usage: CHAT_HOME=dir v2ping PORT HANDSHAKES "
		    "PINGS FROM TO [HOLD]\n");
		return 64;
	}
	if (key_load(home, argv[4], false, &me, err, sizeof(err)) != KEY_OK ||
	    key_load(home, argv[5], false, &them, err, sizeof(err)) != KEY_OK ||
	    noise_key_from_ed25519(xsk, me.sk) != 0 ||
	    noise_pub_from_ed25519(rs, them.pk) != 0) {
		fprintf(stderr, "v2ping: keys: %s\n", err);
		return 1;
	}
	if ((t = calloc((size_t)(hs > pings ? hs : pings), sizeof(*t))) == NULL)
		die("memory");
	for (long i = 0; i < hs; i++) {
		t0 = now_us();
		ch = open_channel(port, argv[4], argv[5]);
		t[i] = now_us() - t0;
		channel_close(&ch);
	}
	report("handshake", t, hs);
	ch = open_channel(port, argv[4], argv[5]);
	for (long i = 0; i < pings; i++) {
		uid_new(uid);
		t0 = now_us();
		if (wire_put_msg(channel_out(&ch), uid, "ping", 4,
		    "2026-11-24T20:05:18.123Z") != 0)
			die("msg");
		if (pump(&ch, true) != WIRE_ACK)
			die("no ack");
		t[i] = now_us() - t0;
	}
	channel_close(&ch);
	report("ping", t, pings);
	free(t);
	if (argc == 7) {
		long n = atol(argv[6]);
		struct channel *held = calloc((size_t)n, sizeof(*held));

		if (n <= 0 || held == NULL)
			die("hold");
		for (long i = 0; i < n; i++)
			held[i] = open_channel(port, argv[4], argv[5]);
		printf("held %ld\n", n);
		fflush(stdout);
		sleep(3);
		for (long i = 0; i < n; i++)
			channel_close(&held[i]);
		free(held);
	}
	return 0;
}
