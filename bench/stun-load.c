/* stun-load: the load generator of bench/stun. Keeps WINDOW Binding
 * requests in flight on each of SOCKETS UDP sockets (or TCP connections,
 * requests back to back) to HOST:PORT for SECONDS and prints
 * "answers_per_s N lost N": answers that carry a mapped address, per
 * second; UDP requests unanswered after 200 ms are given up.
 *   stun-load [-t] HOST PORT SECONDS [SOCKETS [WINDOW]] */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netdb.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "net/stun.h"

#define MAX_SOCKS 16
#define GIVE_UP_MS 200

static double
now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void
die(const char *what)
{
	perror(what);
	exit(1);
}

struct sock {
	int fd;
	unsigned inflight;
	double last;		/* ms: the last answer, or the last refill */
	uint32_t seq;
	size_t have;		/* TCP: bytes of answers read so far */
	uint8_t in[STUN_MAX];
};

static void send_one(struct sock *s, int idx);

static bool
is_answer(const uint8_t *b, size_t n)
{
	struct stun_msg m;

	return stun_parse(b, n, &m) == STUN_OK && m.cls == STUN_SUCCESS &&
	    stun_find(&m, STUN_A_XOR_MAPPED_ADDRESS) != NULL;
}

/* TCP: reads what came and answers each whole message with a new
 * request; the count of answers. */
static unsigned long
tcp_read(struct sock *s, int idx)
{
	unsigned long n = 0;
	ssize_t r;

	while ((r = recv(s->fd, s->in + s->have, sizeof(s->in) - s->have,
	    0)) > 0) {
		size_t used = 0;
		long len;

		s->have += (size_t)r;
		while ((len = stun_frame_len(s->in + used, s->have - used)) > 0
		    && (size_t)len <= s->have - used) {
			if (!is_answer(s->in + used, (size_t)len)) {
				fprintf(stderr, "stun-load: not an answer\n");
				exit(1);
			}
			n++;
			send_one(s, idx);
			used += (size_t)len;
		}
		if (len < 0) {
			fprintf(stderr, "stun-load: not STUN\n");
			exit(1);
		}
		memmove(s->in, s->in + used, s->have - used);
		s->have -= used;
	}
	if (r == 0) {
		fprintf(stderr, "stun-load: the server closed\n");
		exit(1);
	}
	if (errno != EAGAIN)
		die("recv");
	return n;
}

/* One request, its transaction id the socket's index and a counter. */
static void
send_one(struct sock *s, int idx)
{
	uint8_t tid[STUN_TIDLEN] = { 0 }, b[64];
	struct stun_writer w;
	size_t n;

	tid[0] = (uint8_t)idx;
	memcpy(tid + 4, &s->seq, sizeof(s->seq));
	s->seq++;
	stun_begin(&w, b, sizeof(b), STUN_BINDING, STUN_REQUEST, tid);
	n = stun_finish(&w, true);
	if (send(s->fd, b, n, MSG_NOSIGNAL) == (ssize_t)n)
		s->inflight++;
	else if (errno != EAGAIN && errno != ENOBUFS)
		die("send");
}

int
main(int argc, char **argv)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *ai;
	bool tcp = argc > 1 && strcmp(argv[1], "-t") == 0;
	struct sock socks[MAX_SOCKS];
	struct pollfd pfd[MAX_SOCKS];
	unsigned long answers = 0, lost = 0;
	double start, end, secs;
	int nsock = 4, window = 32;

	if (tcp) {
		argv++;
		argc--;
		hints.ai_socktype = SOCK_STREAM;
	}
	if (argc < 4 || argc > 6) {
		fprintf(stderr, "usage: stun-load [-t] host port seconds"
		    " [sockets [window]]\n");
		return 64;
	}
	secs = atof(argv[3]);
	if (argc > 4)
		nsock = atoi(argv[4]);
	if (argc > 5)
		window = atoi(argv[5]);
	if (secs <= 0 || secs > 600 || nsock < 1 || nsock > MAX_SOCKS ||
	    window < 1 || window > 1024) {
		fprintf(stderr, "stun-load: seconds 0 to 600, sockets 1 to %d,"
		    " window 1 to 1024\n", MAX_SOCKS);
		return 64;
	}
	if (getaddrinfo(argv[1], argv[2], &hints, &ai) != 0)
		die("getaddrinfo");
	start = now_ms();
	for (int i = 0; i < nsock; i++) {
		socks[i] = (struct sock){ .last = start };
		int one = 1;

		/* Blocking while it connects; non-blocking after. */
		socks[i].fd = socket(ai->ai_family, hints.ai_socktype, 0);
		if (socks[i].fd < 0 || connect(socks[i].fd, ai->ai_addr,
		    ai->ai_addrlen) != 0)
			die("socket");
		if (fcntl(socks[i].fd, F_SETFL, O_NONBLOCK) != 0)
			die("fcntl");
		if (tcp)
			(void)setsockopt(socks[i].fd, IPPROTO_TCP, TCP_NODELAY,
			    &one, sizeof(one));
		pfd[i] = (struct pollfd){ socks[i].fd, POLLIN, 0 };
		for (int k = 0; k < window; k++)
			send_one(&socks[i], i);
	}
	freeaddrinfo(ai);
	end = start + secs * 1e3;
	while (now_ms() < end) {
		if (poll(pfd, (nfds_t)nsock, 50) < 0 && errno != EINTR)
			die("poll");
		for (int i = 0; i < nsock; i++) {
			struct sock *s = &socks[i];
			uint8_t b[STUN_MAX];
			ssize_t r;

			if (tcp) {
				answers += tcp_read(s, i);
				continue;
			}
			while ((r = recv(s->fd, b, sizeof(b), 0)) > 0) {
				if (is_answer(b, (size_t)r)) {
					answers++;
					if (s->inflight > 0)
						s->inflight--;
					s->last = now_ms();
					send_one(s, i);
				}
			}
			if (r < 0 && errno != EAGAIN && errno != ECONNREFUSED)
				die("recv");
			/* Datagrams lost: give them up, fill the window. */
			if (now_ms() - s->last > GIVE_UP_MS) {
				lost += s->inflight;
				s->inflight = 0;
				s->last = now_ms();
				for (int k = 0; k < window; k++)
					send_one(s, i);
			}
		}
	}
	printf("answers_per_s %.0f lost %lu\n", answers / ((now_ms() - start)
	    / 1e3), lost);
	for (int i = 0; i < nsock; i++)
		close(socks[i].fd);
	return 0;
}
