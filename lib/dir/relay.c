/* relay: chat-dird's TCP relay (relay.h). One thread polls the listener
 * and every connection; the offers, which HTTP threads add, share a lock
 * with it. A connection binds, waits for its other side, then is half of
 * a pair whose bytes go each way through a bounded buffer: a side that
 * does not read holds back the other's reads, never the relay's memory. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "core/log.h"
#include "core/util.h"
#include "core/valid.h"
#include "dir/relay.h"
#include "net/netaddr.h"
#include "net/relay_client.h"

#define BIND_SLACK 32		/* connections binding, past two a pair */
#define BIND_MS 5000		/* a connection has this long to bind */
#define ACCEPT_PAUSE_MS 100	/* out of descriptors: let some close */
#define RATE_SLOTS 1024		/* askers whose rate is remembered */
#define RATE_WINDOW_MS 60000

enum cstate { C_FREE, C_BIND, C_WAIT, C_SPLICE };

struct conn {
	int fd;
	enum cstate st;
	int64_t since;		/* ms, monotonic: accepted */
	size_t blen;
	uint8_t bind[RELAY_BIND_LEN];
	int owner;		/* C_WAIT: its offer; C_SPLICE: its pair */
	bool hup;		/* poll said the other end is gone */
};

/* The bytes from one side of a pair to the other. */
struct way {
	uint8_t *buf;
	size_t off, len;
	bool eof;		/* its source has closed for writing */
	bool shut;		/* and its destination has been told */
	int64_t bytes;
};

struct pair {
	bool used;
	int c[2];		/* the first to bind, then the second */
	struct way w[2];	/* w[k]: from c[k] to c[1 - k] */
	int64_t start;
	char asker[USERNAME_MAX + 1], peer[USERNAME_MAX + 1];
};

struct offer {
	bool used;
	uint8_t token[RELAY_TOKEN_LEN];
	char asker[USERNAME_MAX + 1], peer[USERNAME_MAX + 1];
	int64_t expires;
	int waiter;		/* the conn that bound first, or -1 */
};

struct rate {
	char user[USERNAME_MAX + 1];
	int64_t window;		/* ms, monotonic: the minute began */
	unsigned n;
};

struct relay {
	struct relay_config cfg;
	int lfd, wake[2], port, wildcard;
	char host[NETADDR_HOSTLEN];
	pthread_t thread;
	pthread_mutex_t lock;
	struct conn *conns;
	unsigned nconns, maxconns;
	struct pair *pairs;	/* cfg.max_total of each */
	struct offer *offers;
	unsigned npairs, noffers;
	struct rate rates[RATE_SLOTS];
	int64_t accept_after;
	struct pollfd *pfd;	/* wake, listener, then conns[map[k]] */
	unsigned *map;
};

static void
conn_close(struct relay *r, int i)
{
	struct conn *c = &r->conns[i];

	close(c->fd);
	c->fd = -1;
	c->st = C_FREE;
	r->nconns--;
}

/* One answer byte to a connection that has sent nothing since its bind:
 * its socket buffer takes it. */
static bool
say(struct conn *c, uint8_t answer)
{
	ssize_t n;

	do
		n = send(c->fd, &answer, 1, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == 1;
}

static void
refuse(struct relay *r, int i, uint8_t answer)
{
	(void)say(&r->conns[i], answer);
	conn_close(r, i);
}

static void
offer_drop(struct relay *r, struct offer *o)
{
	sodium_memzero(o->token, sizeof(o->token));
	o->used = false;
	r->noffers--;
}

static void
pair_end(struct relay *r, struct pair *p, const char *why)
{
	int64_t ms = mono_ms() - p->start;

	log_event("info", "relay_end", json_pack("{s:s, s:s, s:I, s:I, s:I,"
	    " s:s}", "asker", p->asker, "peer", p->peer, "bytes_first",
	    (json_int_t)p->w[0].bytes, "bytes_second",
	    (json_int_t)p->w[1].bytes, "ms", (json_int_t)ms, "reason", why));
	for (int k = 0; k < 2; k++) {
		conn_close(r, p->c[k]);
		free(p->w[k].buf);
	}
	memset(p, 0, sizeof(*p));
	r->npairs--;
}

/* Expired offers go, their waiters told; binds too slow are closed;
 * pairs past their life end. The next deadline, for poll. */
static int64_t
expire(struct relay *r, int64_t t)
{
	int64_t next = t + RATE_WINDOW_MS;

	for (unsigned i = 0; i < r->cfg.max_total; i++) {
		struct offer *o = &r->offers[i];
		struct pair *p = &r->pairs[i];

		if (o->used && t >= o->expires) {
			if (o->waiter >= 0)
				refuse(r, o->waiter, RELAY_EXPIRED);
			offer_drop(r, o);
		} else if (o->used && o->waiter >= 0 && o->expires < next) {
			next = o->expires;
		}
		if (p->used && t - p->start >= r->cfg.max_ms)
			pair_end(r, p, "max_seconds");
		else if (p->used && p->start + r->cfg.max_ms < next)
			next = p->start + r->cfg.max_ms;
	}
	for (unsigned i = 0; i < r->maxconns; i++) {
		struct conn *c = &r->conns[i];

		if (c->st != C_BIND)
			continue;
		if (t - c->since >= BIND_MS)
			conn_close(r, (int)i);
		else if (c->since + BIND_MS < next)
			next = c->since + BIND_MS;
	}
	if (t < r->accept_after && r->accept_after < next)
		next = r->accept_after;
	return next;
}

static bool
want_read(const struct pair *p, int k)
{
	return !p->w[k].eof && p->w[k].off + p->w[k].len < RELAY_BUF;
}

/* Sends what way k holds to its destination, and its end once it is
 * empty. false: the destination is gone. */
static bool
flush(struct relay *r, struct pair *p, int k)
{
	struct way *w = &p->w[k];
	int fd = r->conns[p->c[1 - k]].fd;
	ssize_t n;

	while (w->len > 0) {
		n = send(fd, w->buf + w->off, w->len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN;
		}
		w->off += (size_t)n;
		w->len -= (size_t)n;
	}
	w->off = 0;
	if (w->eof && !w->shut) {
		/* The other side may still send: half-close, as TCP does. */
		if (shutdown(fd, SHUT_WR) != 0 && errno != ENOTCONN)
			return false;
		w->shut = true;
	}
	return true;
}

/* Reads side k into its way. false: it failed (a reset). */
static bool
fill(struct relay *r, struct pair *p, int k)
{
	struct way *w = &p->w[k];
	ssize_t n;

	do
		n = recv(r->conns[p->c[k]].fd, w->buf + w->off + w->len,
		    RELAY_BUF - w->off - w->len, 0);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		w->eof = true;
	if (n < 0)
		return errno == EAGAIN;
	if (n > 0) {
		w->len += (size_t)n;
		w->bytes += n;
	}
	return true;
}

/* Moves what can move for pair p, after an event on its side k (or on
 * none, k -1); ends it when both ways are done, or on a failure or a
 * limit. */
static void
pair_io(struct relay *r, struct pair *p, int k, short revents)
{
	if (k >= 0 && (revents & POLLERR)) {
		pair_end(r, p, "reset");
		return;
	}
	if (k >= 0 && (revents & POLLHUP))
		r->conns[p->c[k]].hup = true;
	for (int s = 0; s < 2; s++) {
		bool ready = s == k || r->conns[p->c[s]].hup;

		if (ready && want_read(p, s) && !fill(r, p, s)) {
			pair_end(r, p, "reset");
			return;
		}
	}
	if (p->w[0].bytes + p->w[1].bytes > r->cfg.max_bytes) {
		pair_end(r, p, "max_bytes");
		return;
	}
	for (int s = 0; s < 2; s++)
		if (!flush(r, p, s)) {
			pair_end(r, p, "reset");
			return;
		}
	if (p->w[0].shut && p->w[1].shut)
		pair_end(r, p, "closed");
}

static struct offer *
offer_find(struct relay *r, const uint8_t *token)
{
	for (unsigned i = 0; i < r->cfg.max_total; i++) {
		struct offer *o = &r->offers[i];

		if (o->used && sodium_memcmp(o->token, token,
		    RELAY_TOKEN_LEN) == 0)
			return o;
	}
	return NULL;
}

/* The second side came: the offer becomes a pair. */
static void
join(struct relay *r, struct offer *o, int second)
{
	struct pair *p = NULL;
	int first = o->waiter;

	for (unsigned i = 0; i < r->cfg.max_total && p == NULL; i++)
		if (!r->pairs[i].used)
			p = &r->pairs[i];
	/* An offer is counted as a pair would be: there is a slot. */
	if (p != NULL) {
		p->w[0].buf = malloc(RELAY_BUF);
		p->w[1].buf = malloc(RELAY_BUF);
	}
	if (p == NULL || p->w[0].buf == NULL || p->w[1].buf == NULL) {
		if (p != NULL) {
			free(p->w[0].buf);
			free(p->w[1].buf);
			memset(p, 0, sizeof(*p));
		}
		refuse(r, first, RELAY_LIMIT);
		refuse(r, second, RELAY_LIMIT);
		offer_drop(r, o);
		return;
	}
	p->used = true;
	p->c[0] = first;
	p->c[1] = second;
	p->start = mono_ms();
	memcpy(p->asker, o->asker, sizeof(p->asker));
	memcpy(p->peer, o->peer, sizeof(p->peer));
	offer_drop(r, o);
	r->npairs++;
	for (int k = 0; k < 2; k++) {
		r->conns[p->c[k]].st = C_SPLICE;
		r->conns[p->c[k]].owner = (int)(p - r->pairs);
	}
	if (!say(&r->conns[first], RELAY_JOINED) ||
	    !say(&r->conns[second], RELAY_JOINED))
		pair_end(r, p, "reset");
}

/* Reads the bind of connection i; once whole, it waits or joins. */
static void
bind_io(struct relay *r, int i)
{
	struct conn *c = &r->conns[i];
	struct offer *o;
	ssize_t n;

	do
		n = recv(c->fd, c->bind + c->blen, sizeof(c->bind) - c->blen, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		conn_close(r, i);
		return;
	}
	c->blen += (size_t)n;
	if (memcmp(c->bind, RELAY_MAGIC, c->blen < 4 ? c->blen : 4) != 0) {
		refuse(r, i, RELAY_MALFORMED);
		return;
	}
	if (c->blen < sizeof(c->bind))
		return;
	o = offer_find(r, c->bind + 4);
	sodium_memzero(c->bind, sizeof(c->bind));
	if (o == NULL || mono_ms() >= o->expires) {
		refuse(r, i, o == NULL ? RELAY_UNKNOWN : RELAY_EXPIRED);
		return;
	}
	if (o->waiter < 0) {
		o->waiter = i;
		c->st = C_WAIT;
		c->owner = (int)(o - r->offers);
		return;
	}
	join(r, o, i);
}

static void
accept_all(struct relay *r)
{
	while (r->nconns < r->maxconns) {
		int fd = accept4(r->lfd, NULL, NULL, SOCK_NONBLOCK |
		    SOCK_CLOEXEC), one = 1;
		struct conn *c = NULL;

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				r->accept_after = mono_ms() + ACCEPT_PAUSE_MS;
			return;
		}
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
		for (unsigned i = 0; i < r->maxconns && c == NULL; i++)
			if (r->conns[i].st == C_FREE)
				c = &r->conns[i];
		*c = (struct conn){ .fd = fd, .st = C_BIND,
		    .since = mono_ms(), .owner = -1 };
		r->nconns++;
	}
}

/* The poll set for now; *now: some connection is ready without it. */
static unsigned
poll_set(struct relay *r, int64_t t, bool *now)
{
	unsigned np = 2;

	*now = false;
	r->pfd[0] = (struct pollfd){ r->wake[0], POLLIN, 0 };
	r->pfd[1] = (struct pollfd){ r->lfd, r->nconns < r->maxconns &&
	    t >= r->accept_after ? POLLIN : 0, 0 };
	for (unsigned i = 0; i < r->maxconns; i++) {
		struct conn *c = &r->conns[i];
		short ev = 0;

		if (c->st == C_BIND) {
			ev = POLLIN;
		} else if (c->st == C_WAIT) {
			/* Bytes before the join stay in its socket. */
			ev = POLLRDHUP;
		} else if (c->st == C_SPLICE) {
			struct pair *p = &r->pairs[c->owner];
			int k = p->c[0] == (int)i ? 0 : 1;

			if (want_read(p, k)) {
				if (c->hup)
					*now = true;
				else
					ev |= POLLIN;
			}
			if (p->w[1 - k].len > 0)
				ev |= POLLOUT;
			/* Gone, and nothing to move: poll would say so
			 * again and again. */
			if (c->hup && ev == 0)
				continue;
		} else {
			continue;
		}
		r->map[np - 2] = i;
		r->pfd[np++] = (struct pollfd){ c->fd, ev, 0 };
	}
	return np;
}

static void
serve(struct relay *r, unsigned np)
{
	for (unsigned k = 2; k < np; k++) {
		int i = (int)r->map[k - 2];
		struct conn *c = &r->conns[i];
		short ev = r->pfd[k].revents;

		/* An earlier event may have closed it, or reused its slot. */
		if (ev == 0 || c->fd != r->pfd[k].fd)
			continue;
		if (c->st == C_BIND) {
			bind_io(r, i);
		} else if (c->st == C_WAIT) {
			r->offers[c->owner].waiter = -1;
			conn_close(r, i);
		} else if (c->st == C_SPLICE) {
			struct pair *p = &r->pairs[c->owner];

			pair_io(r, p, p->c[0] == i ? 0 : 1, ev);
		}
	}
	/* Sides that poll leaves out, the other end gone: read them. */
	for (unsigned i = 0; i < r->cfg.max_total; i++) {
		struct pair *p = &r->pairs[i];

		if (p->used && ((r->conns[p->c[0]].hup && want_read(p, 0)) ||
		    (r->conns[p->c[1]].hup && want_read(p, 1))))
			pair_io(r, p, -1, 0);
	}
}

static void *
run(void *arg)
{
	struct relay *r = arg;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		int64_t t = mono_ms(), next = expire(r, t);
		bool now;
		unsigned np = poll_set(r, t, &now);
		int n;

		pthread_mutex_unlock(&r->lock);
		n = poll(r->pfd, np, now ? 0 : (int)(next - t) + 1);
		pthread_mutex_lock(&r->lock);
		if (n < 0 && errno != EINTR) {
			log_event("error", "relay", json_pack("{s:s}", "error",
			    strerror(errno)));
			break;
		}
		if (n < 0)
			continue;
		if (r->pfd[0].revents)
			break;
		serve(r, np);
		if (r->pfd[1].revents & POLLIN)
			accept_all(r);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

/* Whether the asker may ask once more this minute; counts it. */
static bool
rate_take(struct relay *r, const char *asker, int64_t t)
{
	struct rate *slot = NULL, *oldest = &r->rates[0];

	for (unsigned i = 0; i < RATE_SLOTS && slot == NULL; i++) {
		struct rate *x = &r->rates[i];

		if (strcasecmp(x->user, asker) == 0)
			slot = x;
		else if (x->window < oldest->window)
			oldest = x;
	}
	if (slot == NULL) {
		slot = oldest;
		snprintf(slot->user, sizeof(slot->user), "%s", asker);
		slot->window = t;
		slot->n = 0;
	}
	if (t - slot->window >= RATE_WINDOW_MS) {
		slot->window = t;
		slot->n = 0;
	}
	if (slot->n >= r->cfg.rate)
		return false;
	slot->n++;
	return true;
}

/* The offers and pairs that user is in. */
static unsigned
user_load(struct relay *r, const char *user)
{
	unsigned n = 0;

	for (unsigned i = 0; i < r->cfg.max_total; i++) {
		const struct offer *o = &r->offers[i];
		const struct pair *p = &r->pairs[i];

		if (o->used && (strcasecmp(o->asker, user) == 0 ||
		    strcasecmp(o->peer, user) == 0))
			n++;
		if (p->used && (strcasecmp(p->asker, user) == 0 ||
		    strcasecmp(p->peer, user) == 0))
			n++;
	}
	return n;
}

enum relay_offer
relay_offer(struct relay *r, const char *asker, const char *peer,
    char token_hex[65], int64_t *expires_ms)
{
	struct offer *o = NULL;
	enum relay_offer st = RELAY_OFFER_OK;
	int64_t t = mono_ms();

	pthread_mutex_lock(&r->lock);
	/* Offers nobody came for are let go here: the thread wakes only
	 * for those with a waiter. */
	for (unsigned i = 0; i < r->cfg.max_total; i++)
		if (r->offers[i].used && r->offers[i].waiter < 0 &&
		    t >= r->offers[i].expires)
			offer_drop(r, &r->offers[i]);
	if (r->noffers + r->npairs >= r->cfg.max_total)
		st = RELAY_OFFER_FULL;
	else if (user_load(r, asker) >= r->cfg.max_conns ||
	    user_load(r, peer) >= r->cfg.max_conns)
		st = RELAY_OFFER_USER_FULL;
	else if (!rate_take(r, asker, t))
		st = RELAY_OFFER_RATE;
	for (unsigned i = 0; st == RELAY_OFFER_OK && o == NULL &&
	    i < r->cfg.max_total; i++)
		if (!r->offers[i].used)
			o = &r->offers[i];
	if (o != NULL) {
		o->used = true;
		randombytes_buf(o->token, sizeof(o->token));
		snprintf(o->asker, sizeof(o->asker), "%s", asker);
		snprintf(o->peer, sizeof(o->peer), "%s", peer);
		o->expires = t + r->cfg.ttl_ms;
		o->waiter = -1;
		r->noffers++;
		sodium_bin2hex(token_hex, 65, o->token, sizeof(o->token));
		*expires_ms = r->cfg.ttl_ms;
	}
	pthread_mutex_unlock(&r->lock);
	return st;
}

void
relay_counts(struct relay *r, unsigned *pairs, unsigned *offers)
{
	pthread_mutex_lock(&r->lock);
	*pairs = r->npairs;
	*offers = r->noffers;
	pthread_mutex_unlock(&r->lock);
}

static int
is_wildcard(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in *v4 = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)ss;

	if (ss->ss_family == AF_INET)
		return v4->sin_addr.s_addr == htonl(INADDR_ANY);
	return ss->ss_family == AF_INET6 &&
	    IN6_IS_ADDR_UNSPECIFIED(&v6->sin6_addr);
}

static void
relay_free(struct relay *r)
{
	if (r->lfd >= 0)
		close(r->lfd);
	if (r->wake[0] >= 0) {
		close(r->wake[0]);
		close(r->wake[1]);
	}
	for (unsigned i = 0; r->pairs != NULL && i < r->cfg.max_total; i++) {
		free(r->pairs[i].w[0].buf);
		free(r->pairs[i].w[1].buf);
	}
	for (unsigned i = 0; r->conns != NULL && i < r->maxconns; i++)
		if (r->conns[i].st != C_FREE)
			close(r->conns[i].fd);
	free(r->conns);
	free(r->pairs);
	free(r->offers);
	free(r->pfd);
	free(r->map);
	free(r);
}

struct relay *
relay_start(const struct relay_config *cfg, char *err, size_t errlen)
{
	struct relay *r = calloc(1, sizeof(*r));
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (r == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->cfg = *cfg;
	r->lfd = r->wake[0] = r->wake[1] = -1;
	if (r->cfg.ttl_ms <= 0)
		r->cfg.ttl_ms = RELAY_TTL_MS;
	if (r->cfg.rate == 0)
		r->cfg.rate = RELAY_RATE;
	if (r->cfg.max_conns == 0)
		r->cfg.max_conns = RELAY_MAX_CONNS;
	if (r->cfg.max_total == 0)
		r->cfg.max_total = RELAY_MAX_TOTAL;
	if (r->cfg.max_bytes <= 0)
		r->cfg.max_bytes = RELAY_MAX_BYTES;
	if (r->cfg.max_ms <= 0)
		r->cfg.max_ms = RELAY_MAX_MS;
	r->maxconns = 2 * r->cfg.max_total + BIND_SLACK;
	r->conns = calloc(r->maxconns, sizeof(*r->conns));
	r->pairs = calloc(r->cfg.max_total, sizeof(*r->pairs));
	r->offers = calloc(r->cfg.max_total, sizeof(*r->offers));
	r->pfd = calloc(r->maxconns + 2, sizeof(*r->pfd));
	r->map = calloc(r->maxconns, sizeof(*r->map));
	if (r->conns == NULL || r->pairs == NULL || r->offers == NULL ||
	    r->pfd == NULL || r->map == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (unsigned i = 0; i < r->maxconns; i++)
		r->conns[i].fd = -1;
	if ((r->lfd = net_listen(cfg->host, cfg->port, 128, err,
	    errlen)) < 0)
		goto fail;
	if (getsockname(r->lfd, (struct sockaddr *)&ss, &sl) != 0) {
		snprintf(err, errlen, "getsockname: %s", strerror(errno));
		goto fail;
	}
	netaddr_format((struct sockaddr *)&ss, r->host, &r->port);
	r->wildcard = is_wildcard(&ss);
	if (pipe2(r->wake, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		goto fail;
	}
	if ((errno = pthread_mutex_init(&r->lock, NULL)) != 0) {
		snprintf(err, errlen, "mutex: %s", strerror(errno));
		goto fail;
	}
	if ((errno = pthread_create(&r->thread, NULL, run, r)) != 0) {
		snprintf(err, errlen, "thread: %s", strerror(errno));
		pthread_mutex_destroy(&r->lock);
		goto fail;
	}
	return r;
fail:
	relay_free(r);
	return NULL;
}

int
relay_port(const struct relay *r)
{
	return r->port;
}

const char *
relay_host(const struct relay *r)
{
	return r->host;
}

int
relay_wildcard(const struct relay *r)
{
	return r->wildcard;
}

void
relay_stop(struct relay *r)
{
	if (r == NULL)
		return;
	while (write(r->wake[1], "x", 1) < 0 && errno == EINTR)
		;
	(void)pthread_join(r->thread, NULL);
	for (unsigned i = 0; i < r->cfg.max_total; i++)
		if (r->pairs[i].used)
			pair_end(r, &r->pairs[i], "stopped");
	pthread_mutex_destroy(&r->lock);
	relay_free(r);
}
