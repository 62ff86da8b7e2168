/* stun-load: the load generator of bench/stun. Keeps WINDOW Binding
 * requests in flight on each of SOCKETS UDP sockets to HOST:PORT for
 * SECONDS and prints "answers_per_s N lost N": answers that carry a
 * mapped address, per second; requests given up after 200 ms.
 *   stun-load HOST PORT SECONDS [SOCKETS [WINDOW]] */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
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
};

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
	if (send(s->fd, b, n, 0) == (ssize_t)n)
		s->inflight++;
	else if (errno != EAGAIN && errno != ENOBUFS)
		die("send");
}

int
main(int argc, char **argv)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *ai;
	struct sock socks[MAX_SOCKS];
	struct pollfd pfd[MAX_SOCKS];
	unsigned long answers = 0, lost = 0;
	double start, end, secs;
	int nsock = 4, window = 32;

	if (argc < 4 || argc > 6) {
		fprintf(stderr, "usage: stun-load host port seconds"
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
		socks[i].fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK,
		    0);
		if (socks[i].fd < 0 || connect(socks[i].fd, ai->ai_addr,
		    ai->ai_addrlen) != 0)
			die("socket");
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
			struct stun_msg m;
			ssize_t r;

			while ((r = recv(s->fd, b, sizeof(b), 0)) > 0) {
				if (stun_parse(b, (size_t)r, &m) == STUN_OK &&
				    m.cls == STUN_SUCCESS &&
				    stun_find(&m, STUN_A_XOR_MAPPED_ADDRESS)) {
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
