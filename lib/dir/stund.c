/* stund: chat-dird's STUN server. One thread polls the UDP socket, the TCP
 * listener and its connections; TCP carries messages back to back. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "dir/stund.h"
#include "net/netaddr.h"
#include "net/stun.h"

#define UDP_BURST 64		/* datagrams a wake-up, then TCP's turn */
#define BIND_TRIES 32		/* a free port for UDP that TCP can share */
#define ACCEPT_PAUSE_MS 100	/* out of descriptors: let some close */

struct conn {
	int fd;
	int64_t last;		/* ms, monotonic: the last byte read */
	size_t inlen, outlen, outoff;
	struct sockaddr_storage peer;
	uint8_t in[STUN_MAX];
	uint8_t out[4 * STUN_MAX];	/* answers to requests back to back */
};

struct stund {
	struct stund_config cfg;
	int udp, tcp, wake[2], port;
	pthread_t thread;
	struct conn *conns;	/* cfg.max_conns of them; fd -1 when free */
	unsigned nconns;
	int64_t accept_after;	/* ms: the listener rests until then */
	struct pollfd *pfd;	/* wake, udp, tcp, then connections */
	unsigned *map;		/* pfd[3 + k] serves conns[map[k]] */
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An answer to m begun: an RFC 3489 client gets its own 128-bit id back,
 * cookie field and all (RFC 8489, 12). */
static void
answer_begin(struct stun_writer *w, uint8_t *out, size_t cap,
    const uint8_t *req, const struct stun_msg *m, enum stun_class cls)
{
	stun_begin(w, out, cap, m->method, cls, m->tid);
	if (m->classic && !w->failed)
		memcpy(out + 4, req + 4, 4);
}

/* RFC 3489 wanted its SERVER attribute (SOFTWARE's type) a multiple of 4
 * long, and its clients refuse another length: they get none. */
static void
put_software(struct stun_writer *w, const struct stun_msg *m,
    const char *software)
{
	if (!m->classic)
		stun_put(w, STUN_A_SOFTWARE, software, strlen(software));
}

static size_t
answer_error(uint8_t *out, size_t cap, const uint8_t *req,
    const struct stun_msg *m, int code, const char *reason,
    const uint16_t *unk, size_t nunk, const char *software)
{
	struct stun_writer w;

	answer_begin(&w, out, cap, req, m, STUN_ERROR);
	stun_put_error(&w, code, reason);
	if (nunk > 0)
		stun_put_unknown(&w, unk, nunk);
	put_software(&w, m, software);
	return stun_finish(&w, !m->classic);
}

/* The comprehension-required attributes we cannot honour. A CHANGE-REQUEST
 * (RFC 5780, sent by RFC 3489 clients) asking for no change is honoured:
 * the answer comes from where the request went. */
static size_t
not_understood(const struct stun_msg *m, uint16_t *unk, size_t max)
{
	const struct stun_attr *cr = stun_find(m, STUN_A_CHANGE_REQUEST);
	size_t n = stun_unknown(m, unk, max), k = 0;
	bool no_change = cr != NULL && cr->len == 4 &&
	    memcmp(cr->val, "\0\0\0\0", 4) == 0;

	for (size_t i = 0; i < n; i++)
		if (!(no_change && unk[i] == STUN_A_CHANGE_REQUEST))
			unk[k++] = unk[i];
	return k;
}

size_t
stund_answer(const uint8_t *req, size_t n, const struct sockaddr *from,
    const char *software, uint8_t *out, size_t cap)
{
	struct stun_msg m;
	struct stun_writer w;
	uint16_t unk[STUN_MAX_ATTRS];
	size_t nunk;

	switch (stun_parse(req, n, &m)) {
	case STUN_OK:
		break;
	case STUN_MALFORMED:
		/* The header is good, so its class and id are known. */
		if (m.cls != STUN_REQUEST)
			return 0;
		return answer_error(out, cap, req, &m, 400, "Bad Request",
		    NULL, 0, software);
	default:
		return 0;
	}
	if (m.cls != STUN_REQUEST)
		return 0;
	if (m.method != STUN_BINDING)
		return answer_error(out, cap, req, &m, 400, "Unknown method",
		    NULL, 0, software);
	if ((nunk = not_understood(&m, unk, STUN_MAX_ATTRS)) > 0)
		return answer_error(out, cap, req, &m, 420, "Unknown Attribute",
		    unk, nunk, software);
	answer_begin(&w, out, cap, req, &m, STUN_SUCCESS);
	if (m.classic)
		stun_put_mapped_addr(&w, from);
	else
		stun_put_xor_addr(&w, from);
	put_software(&w, &m, software);
	return stun_finish(&w, !m.classic);
}

static void
conn_close(struct stund *s, struct conn *c)
{
	close(c->fd);
	c->fd = -1;
	s->nconns--;
}

/* Answers every whole message in c->in while c->out has room for an
 * answer; false when the stream is not STUN and the connection must
 * close. */
static bool
conn_serve(struct stund *s, struct conn *c)
{
	size_t used = 0;

	while (sizeof(c->out) - c->outlen >= STUN_MAX) {
		long len = stun_frame_len(c->in + used, c->inlen - used);

		if (len < 0)
			return false;
		if (len == 0 || (size_t)len > c->inlen - used)
			break;
		c->outlen += stund_answer(c->in + used, (size_t)len,
		    (struct sockaddr *)&c->peer, s->cfg.software,
		    c->out + c->outlen, sizeof(c->out) - c->outlen);
		used += (size_t)len;
	}
	memmove(c->in, c->in + used, c->inlen - used);
	c->inlen -= used;
	return true;
}

/* Reads and answers, then writes what is pending; false: close it. */
static bool
conn_io(struct stund *s, struct conn *c, short revents)
{
	ssize_t r;

	if (revents & (POLLERR | POLLNVAL))
		return false;
	if ((revents & (POLLIN | POLLHUP)) && c->inlen < sizeof(c->in)) {
		r = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, 0);
		if (r == 0)
			return false;
		if (r < 0 && errno != EAGAIN && errno != EINTR)
			return false;
		if (r > 0) {
			c->inlen += (size_t)r;
			c->last = now_ms();
		}
	}
	if (!conn_serve(s, c))
		return false;
	while (c->outoff < c->outlen) {
		r = send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
		    MSG_NOSIGNAL);
		if (r < 0)
			return errno == EAGAIN || errno == EINTR;
		c->outoff += (size_t)r;
		if (c->outoff == c->outlen) {
			c->outoff = c->outlen = 0;
			/* Input held back while the answers did not fit. */
			if (!conn_serve(s, c))
				return false;
		}
	}
	return true;
}

static void
accept_all(struct stund *s)
{
	while (s->nconns < s->cfg.max_conns) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct conn *c = NULL;
		int fd = accept4(s->tcp, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				s->accept_after = now_ms() + ACCEPT_PAUSE_MS;
			return;
		}
		for (unsigned i = 0; i < s->cfg.max_conns && c == NULL; i++)
			if (s->conns[i].fd < 0)
				c = &s->conns[i];
		c->fd = fd;
		c->peer = ss;
		c->inlen = c->outlen = c->outoff = 0;
		c->last = now_ms();
		s->nconns++;
	}
}

static void
udp_all(struct stund *s)
{
	uint8_t in[STUN_MAX + 1], out[STUN_MAX];

	for (int i = 0; i < UDP_BURST; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		ssize_t r = recvfrom(s->udp, in, sizeof(in), 0,
		    (struct sockaddr *)&ss, &sl);
		size_t n;

		if (r < 0)
			return;
		n = stund_answer(in, (size_t)r, (struct sockaddr *)&ss,
		    s->cfg.software, out, sizeof(out));
		/* A lost answer is the client's to retransmit for. */
		if (n > 0)
			(void)sendto(s->udp, out, n, 0, (struct sockaddr *)&ss,
			    sl);
	}
}

static void *
run(void *arg)
{
	struct stund *s = arg;

	for (;;) {
		unsigned np = 3;
		int64_t t = now_ms(), next = t + s->cfg.idle_ms;

		s->pfd[0] = (struct pollfd){ s->wake[0], POLLIN, 0 };
		s->pfd[1] = (struct pollfd){ s->udp, POLLIN, 0 };
		s->pfd[2] = (struct pollfd){ s->tcp, s->nconns <
		    s->cfg.max_conns && t >= s->accept_after ? POLLIN : 0, 0 };
		if (t < s->accept_after && s->accept_after < next)
			next = s->accept_after;
		for (unsigned i = 0; i < s->cfg.max_conns; i++) {
			struct conn *c = &s->conns[i];

			if (c->fd < 0)
				continue;
			if (t - c->last >= (int64_t)s->cfg.idle_ms) {
				conn_close(s, c);
				continue;
			}
			if (c->last + s->cfg.idle_ms < next)
				next = c->last + s->cfg.idle_ms;
			s->map[np - 3] = i;
			s->pfd[np++] = (struct pollfd){ c->fd,
			    (short)((c->outlen > 0 ? POLLOUT : 0) |
			    (c->inlen < sizeof(c->in) ? POLLIN : 0)), 0 };
		}
		if (poll(s->pfd, np, (int)(next - t) + 1) < 0) {
			if (errno == EINTR)
				continue;
			log_event("error", "stun", json_pack("{s:s}", "error",
			    strerror(errno)));
			return NULL;
		}
		if (s->pfd[0].revents)
			return NULL;
		if (s->pfd[1].revents & POLLIN)
			udp_all(s);
		for (unsigned k = 3; k < np; k++) {
			struct conn *c = &s->conns[s->map[k - 3]];

			if (s->pfd[k].revents && !conn_io(s, c,
			    s->pfd[k].revents))
				conn_close(s, c);
		}
		if (s->pfd[2].revents & POLLIN)
			accept_all(s);
	}
}

static int
udp_bind(const char *host, int port, char *err, size_t errlen)
{
	struct addrinfo hints = { 0 }, *res, *ai;
	char service[8];
	int fd = -1, rc, saved = 0;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(service, sizeof(service), "%d", port);
	if ((rc = getaddrinfo(host, service, &hints, &res)) != 0) {
		snprintf(err, errlen, "%s: %s", host, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		snprintf(err, errlen, "udp %s:%d: %s", host, port,
		    strerror(saved));
	return fd;
}

static int
bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[NETADDR_HOSTLEN];
	int port = -1;

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
		return -1;
	netaddr_format((struct sockaddr *)&ss, host, &port);
	return port;
}

/* UDP and TCP on one port; with port 0, a free UDP port that TCP can
 * take too. */
static int
bind_both(struct stund *s, char *err, size_t errlen)
{
	for (int i = 0; i < BIND_TRIES; i++) {
		s->udp = udp_bind(s->cfg.host, s->cfg.port, err, errlen);
		if (s->udp < 0)
			return -1;
		if ((s->port = bound_port(s->udp)) < 0) {
			snprintf(err, errlen, "udp: getsockname: %s",
			    strerror(errno));
			return -1;
		}
		s->tcp = net_listen(s->cfg.host, s->port, 128, err, errlen);
		if (s->tcp >= 0)
			return 0;
		close(s->udp);
		s->udp = -1;
		if (s->cfg.port != 0)
			return -1;
	}
	return -1;
}

struct stund *
stund_start(const struct stund_config *cfg, char *err, size_t errlen)
{
	struct stund *s = calloc(1, sizeof(*s));

	if (s == NULL || cfg->max_conns == 0 || cfg->idle_ms == 0) {
		snprintf(err, errlen, "%s", s == NULL ? "out of memory" :
		    "no connections or no idle time allowed");
		free(s);
		return NULL;
	}
	s->cfg = *cfg;
	s->udp = s->tcp = s->wake[0] = s->wake[1] = -1;
	s->conns = calloc(cfg->max_conns, sizeof(*s->conns));
	s->pfd = calloc(cfg->max_conns + 3, sizeof(*s->pfd));
	s->map = calloc(cfg->max_conns, sizeof(*s->map));
	if (s->conns == NULL || s->pfd == NULL || s->map == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (unsigned i = 0; i < cfg->max_conns; i++)
		s->conns[i].fd = -1;
	if (bind_both(s, err, errlen) != 0)
		goto fail;
	if (pipe2(s->wake, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		goto fail;
	}
	if ((errno = pthread_create(&s->thread, NULL, run, s)) != 0) {
		snprintf(err, errlen, "thread: %s", strerror(errno));
		goto fail;
	}
	return s;
fail:
	if (s->udp >= 0)
		close(s->udp);
	if (s->tcp >= 0)
		close(s->tcp);
	if (s->wake[0] >= 0) {
		close(s->wake[0]);
		close(s->wake[1]);
	}
	free(s->conns);
	free(s->pfd);
	free(s->map);
	free(s);
	return NULL;
}

int
stund_port(const struct stund *s)
{
	return s->port;
}

void
stund_stop(struct stund *s)
{
	if (s == NULL)
		return;
	while (write(s->wake[1], "x", 1) < 0 && errno == EINTR)
		;
	(void)pthread_join(s->thread, NULL);
	for (unsigned i = 0; i < s->cfg.max_conns; i++)
		if (s->conns[i].fd >= 0)
			close(s->conns[i].fd);
	close(s->udp);
	close(s->tcp);
	close(s->wake[0]);
	close(s->wake[1]);
	free(s->conns);
	free(s->pfd);
	free(s->map);
	free(s);
}
