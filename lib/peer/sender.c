/* sender: chat-send's connection engine (sender.h): messages in a
 * window, pipelined to the peer, acknowledged, stored, reported. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/dirclient.h"
#include "core/cli.h"
#include "core/exitcodes.h"
#include "core/jarena.h"
#include "core/util.h"
#include "core/valid.h"
#include "net/netaddr.h"
#include "peer/channel.h"
#include "peer/sender.h"
#include "peer/trust.h"
#include "sec/keys.h"
#include "peer/wire.h"

#define WINDOW 16384		/* messages read and not yet reported */
#define BATCH 5000		/* messages stored with one request, at most */
#define BATCH_BYTES (900 << 10)	/* and about this much JSON: chat-dird
				 * takes 1 MiB a request by default */
#define QUEUE 2			/* batches sealed and waiting to be posted */
#define MSG_OVERHEAD 64		/* JSON around a message's fields */
#define READ_CHUNK 65536
#define CAND_MAX 9		/* host:port and the candidates, at most */
#define CAND_MS 2000		/* a connect to one of several, at most */

enum { D_WAIT, D_ACKED, D_FAILED };
enum { S_WAIT, S_DONE, S_FAILED };

struct msg {
	char uid[UID_MAX + 1];
	char ts[TS_LEN];
	char *text;
	size_t len;
	int dstate;		/* main thread only */
	enum sender_path path;	/* acknowledged over it */
	int sstate;		/* under lock */
	int64_t id;
};

/* Messages [from, to) on their way to the directory. */
struct batch {
	uint64_t from, to;
	struct dc_outgoing *o;	/* each, its id once stored (-1: failed) */
	struct dc_ready *ready;	/* sealed; NULL: it could not be */
	enum dc_status st;	/* and why */
	char *why;
};

struct input {
	struct wire_buf buf;
	unsigned long lineno;
	bool eof;
};

struct sender {
	struct sender_cfg cfg;
	const char *user, *peer;
	bool store;
	int64_t timeout_ms;
	struct input input;
	char *first;		/* sender_add's message, sent first */
	size_t firstlen;
	struct msg *ring;	/* WINDOW slots; message n is ring[n % WINDOW] */
	uint64_t n_in;		/* messages read */
	uint64_t n_out;		/* messages reported */
	uint64_t hint;		/* no unacknowledged message below it */
	uint64_t unacked;	/* sent on this connection, not acknowledged */
	/* the connection */
	struct sender_cand cand[CAND_MAX];	/* where the peer may be */
	size_t ncand;
	size_t good;		/* the candidate that answered last */
	char host[NETADDR_HOSTLEN];	/* where the connection goes */
	int port;
	enum sender_path path;	/* and how */
	struct channel ch;	/* ch.fd -1: not connected */
	bool direct;		/* still trying to deliver */
	int reconnects;
	bool lost_idle;		/* the peer left with nothing unacknowledged */
	int64_t ack_deadline;
	enum dc_status store_warned;	/* the kind of the last warning, or DC_OK */
	/* shared with the storing thread */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t n_published;	/* messages it may store */
	uint64_t n_taken;	/* messages it took */
	uint64_t n_stored;	/* messages it is done with */
	bool done;
	int notify[2];
	struct dirclient *sdc;	/* the posting thread's */
	struct dirclient *kdc;	/* the storing thread's, which seals */
	pthread_cond_t qcond;
	struct batch queue[QUEUE];	/* sealed, for the posting thread */
	size_t qhead, nq;
	bool sealed_all;
	/* verdict */
	bool refused;		/* a key that is not the peer's */
	bool quiet_hs;		/* an IK try: its failure is not said */
	bool bad_input;
	bool lost;		/* a message neither delivered nor stored */
};

/* A storing failure, said once while it stays of one kind: a directory
 * that is down fails every batch alike (its messages differ only in how
 * many milliseconds the refusal took). A batch stored in between lets the
 * next failure be said again. */
static void
warn_store(struct sender *s, enum dc_status st, const char *why)
{
	if (st == s->store_warned)
		return;
	cli_warn("storing: %s", why);
	s->store_warned = st;
}

/* Stores r's messages [at, at + n), whose outgoing are o[0..n), with
 * one request. A batch the directory refuses (too large for it, or
 * holding a message it will not take) is split in halves, so that
 * whatever can be stored is, in a few requests. */
static void
store_split(struct sender *s, struct dc_ready *r, size_t at,
    struct dc_outgoing *o, size_t n)
{
	enum dc_status st;

	if ((st = dc_post(s->sdc, r, at, n)) == DC_OK) {
		s->store_warned = DC_OK;
		return;
	}
	if (st == DC_REJECTED && n > 1) {
		store_split(s, r, at, o, n / 2);
		store_split(s, r, at + n / 2, o + n / 2, n - n / 2);
		return;
	}
	warn_store(s, st, dc_error(s->sdc));
	for (size_t i = 0; i < n; i++)
		o[i].id = -1;
}

/* Stores a sealed batch, in the posting thread, and tells the main
 * thread. */
static void
post_batch(struct sender *s, struct batch *b)
{
	size_t n = (size_t)(b->to - b->from), i;
	struct msg *m;

	/* The answers' JSON (thousands of ids) lives in an arena. */
	jarena_open();
	if (b->ready != NULL)
		store_split(s, b->ready, 0, b->o, n);
	else {
		/* Not sealed: the peer's key could not be had (a directory
		 * that is down), or memory. */
		warn_store(s, b->st, b->why != NULL ? b->why :
		    "out of memory");
		for (i = 0; i < n; i++)
			b->o[i].id = -1;
	}
	jarena_close();
	pthread_mutex_lock(&s->lock);
	for (i = 0; i < n; i++) {
		m = &s->ring[(b->from + i) % WINDOW];
		m->sstate = b->o[i].id >= 0 ? S_DONE : S_FAILED;
		m->id = b->o[i].id;
	}
	s->n_stored = b->to;
	pthread_mutex_unlock(&s->lock);
	dc_ready_free(b->ready);
	free(b->why);
	free(b->o);
	while (write(s->notify[1], "", 1) < 0 && errno == EINTR)
		;
}

/* Makes messages [from, to) ready to store: sealed, when the user
 * seals, with the sealing dirclient. */
static void
seal_batch(struct sender *s, uint64_t from, uint64_t to, struct batch *b)
{
	struct dirclient *dc = s->kdc;
	size_t n = (size_t)(to - from);
	struct msg *m;

	*b = (struct batch){ .from = from, .to = to };
	if ((b->o = calloc(n, sizeof(*b->o))) == NULL)
		cli_die(EX_SOFTWARE, "out of memory");
	for (size_t i = 0; i < n; i++) {
		m = &s->ring[(from + i) % WINDOW];
		b->o[i] = (struct dc_outgoing){ .from = s->user,
		    .to = s->peer, .text = m->text, .uid = m->uid };
	}
	jarena_open();
	if ((b->st = dc_seal(dc, b->o, n, &b->ready)) != DC_OK)
		b->why = strdup(dc_error(dc));
	jarena_close();
}

/* The end of the next batch from message from on: at most BATCH
 * messages, and at most about BATCH_BYTES unless one message is more. */
static uint64_t
batch_end(const struct sender *s, uint64_t from, uint64_t avail)
{
	size_t fixed = strlen(s->user) + strlen(s->peer) + MSG_OVERHEAD;
	size_t bytes = 0, b;
	uint64_t to;

	for (to = from; to < avail && to - from < BATCH; to++) {
		const struct msg *m = &s->ring[to % WINDOW];

		b = m->len + strlen(m->uid) + fixed;
		if (to > from && bytes + b > BATCH_BYTES)
			break;
		bytes += b;
	}
	return to;
}

/* Storing, in threads of its own, so that the directory's round trips
 * never hold up the peer's: the storing thread takes what was read since
 * its last batch, up to BATCH messages and about BATCH_BYTES, and seals
 * it; the posting thread stores each batch with one request (more when
 * sealed ones pass the directory's limit) while the next is sealed. */
static void *
storer(void *arg)
{
	struct sender *s = arg;
	struct batch b;
	uint64_t from, to;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		while (s->n_taken == s->n_published && !s->done)
			pthread_cond_wait(&s->cond, &s->lock);
		if (s->n_taken == s->n_published)
			break;
		from = s->n_taken;
		to = batch_end(s, from, s->n_published);
		s->n_taken = to;
		pthread_mutex_unlock(&s->lock);
		seal_batch(s, from, to, &b);
		pthread_mutex_lock(&s->lock);
		while (s->nq == QUEUE)
			pthread_cond_wait(&s->qcond, &s->lock);
		s->queue[(s->qhead + s->nq++) % QUEUE] = b;
		pthread_cond_broadcast(&s->qcond);
	}
	s->sealed_all = true;
	pthread_cond_broadcast(&s->qcond);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static void *
poster(void *arg)
{
	struct sender *s = arg;
	struct batch b;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		while (s->nq == 0 && !s->sealed_all)
			pthread_cond_wait(&s->qcond, &s->lock);
		if (s->nq == 0)
			break;
		b = s->queue[s->qhead];
		s->qhead = (s->qhead + 1) % QUEUE;
		s->nq--;
		pthread_cond_broadcast(&s->qcond);
		pthread_mutex_unlock(&s->lock);
		post_batch(s, &b);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static void
publish(struct sender *s)
{
	if (!s->store)
		return;
	pthread_mutex_lock(&s->lock);
	s->n_published = s->n_in;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

/* The connection */

/* Reads until a whole line is there or the deadline passes. */
static int
read_line(struct sender *s, int64_t deadline, char **line, size_t *len)
{
	struct pollfd p = { .fd = s->ch.fd, .events = POLLIN };
	long n;
	int rc;

	while ((rc = channel_line(&s->ch, line, len)) == 0) {
		if (mono_ms() >= deadline ||
		    poll(&p, 1, (int)(deadline - mono_ms())) <= 0)
			return -1;
		n = channel_recv(&s->ch, 4096);
		if (n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EINTR ||
		    errno == ENOBUFS)))
			return -1;
	}
	return rc > 0 ? 0 : -1;
}

static void
drop_fd(struct sender *s)
{
	channel_close(&s->ch);
	s->unacked = 0;
}

#define WARN(...) do { if (loud) cli_warn(__VA_ARGS__); } while (0)

/* The v2 handshake, to its end or the deadline: 0, or -1 said (loud). */
static int
handshake(struct sender *s, int64_t deadline, bool loud)
{
	struct pollfd p = { .fd = s->ch.fd };
	long n;

	for (;;) {
		if (channel_flush(&s->ch) != 0) {
			WARN("%s: %s:%d: %s", s->peer, s->host, s->port,
			    strerror(errno));
			return -1;
		}
		if (channel_ready(&s->ch) && channel_unsent(&s->ch) == 0)
			return 0;
		p.events = POLLIN | (channel_unsent(&s->ch) > 0 ? POLLOUT : 0);
		if (mono_ms() >= deadline ||
		    poll(&p, 1, (int)(deadline - mono_ms())) <= 0) {
			WARN("%s: %s:%d: no wire v2 handshake in time",
			    s->peer, s->host, s->port);
			return -1;
		}
		if (channel_ready(&s->ch))
			continue;
		n = channel_recv(&s->ch, 4096);
		if (n == 0 || (n < 0 && errno == EPROTO)) {
			if (s->quiet_hs)
				return -1;
			WARN("%s: %s:%d: the wire v2 handshake failed: %s", s->peer,
			    s->host, s->port, n == 0 ? "closed by the listener "
			    "(not the key it has, or a v1 listener?)" :
			    frame_strerror(s->ch.err));
			return -1;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR &&
		    errno != ENOBUFS) {
			WARN("%s: %s:%d: %s", s->peer, s->host, s->port,
			    strerror(errno));
			return -1;
		}
	}
}

/* The listener's v2 hello: its key is the handshake's and the peer's. */
static bool
check_listener(struct sender *s, const struct wire_obj *o, bool loud)
{
	unsigned char ed[32], pk[32];
	const unsigned char *dirkey = s->cfg.dirkey;
	char why[512];
	enum trust t;

	if (trust_hello_key(o->json, channel_peer_key(&s->ch), ed) !=
	    TRUST_OK) {
		WARN("%s: %s:%d: the listener's hello has not the key of its "
		    "handshake", s->peer, s->host, s->port);
		return false;
	}
	if (pin_get(s->cfg.pins, s->peer, pk) == PIN_OK)
		dirkey = NULL;
	t = trust_check(s->cfg.pins, s->peer, ed, dirkey, why, sizeof(why));
	if (t == TRUST_MISMATCH) {
		/* Said even when quiet: no retry will change it. */
		cli_warn("%s: %s:%d: %s", s->peer, s->host, s->port, why);
		s->reconnects = 0;
		s->refused = true;
		return false;
	}
	if (t == TRUST_UNPINNED)
		cli_warn("%s", why);
	else if (t != TRUST_OK && t != TRUST_PINNED) {
		WARN("%s", why);
		return false;
	}
	return true;
}

/* A connection to the peer by the best way there is now: each of its
 * addresses in turn, the one that answered last first, each time-boxed
 * when there are others to try; then the fallback (a punched hole, the
 * relay). The descriptor, with s->host, s->port and s->path saying where
 * it goes; or -1, said when loud. */
static int
dial(struct sender *s, bool loud)
{
	char err[512];
	int64_t ms = s->timeout_ms;
	size_t i, k;
	int fd;

	if ((s->ncand > 1 || s->cfg.fallback != NULL) && ms > CAND_MS)
		ms = CAND_MS;
	for (k = 0; k < s->ncand && !s->cfg.no_direct; k++) {
		i = (s->good + k) % s->ncand;
		fd = net_connect(s->cand[i].host, s->cand[i].port, ms, err,
		    sizeof(err));
		if (fd >= 0) {
			s->good = i;
			snprintf(s->host, sizeof(s->host), "%s", s->cand[i].host);
			s->port = s->cand[i].port;
			s->path = SENDER_PATH_DIRECT;
			return fd;
		}
		WARN("%s: %s", s->peer, err);
	}
	if (s->cfg.fallback == NULL)
		return -1;
	fd = s->cfg.fallback(s->cfg.fallback_arg, s->timeout_ms, &s->path,
	    s->host, &s->port, err, sizeof(err));
	if (fd < 0)
		WARN("%s: %s", s->peer, err);
	return fd;
}

/* Connects and shakes hands; false, and (loud) a warning, when it
 * cannot. ik: Noise_IK with the key known for the peer. */
static bool
try_conn(struct sender *s, bool loud, const uint8_t *ik, bool *hs_failed)
{
	struct wire_obj o;
	char *line;
	size_t len;
	int64_t deadline;
	bool ok = false;
	int fd, rc;

	*hs_failed = false;
	if ((fd = dial(s, loud)) < 0)
		return false;
	deadline = mono_ms() + s->timeout_ms;
	if (s->cfg.plaintext)
		channel_init(&s->ch, fd);
	else if (channel_connect(&s->ch, fd, s->cfg.hash, s->cfg.xsk, ik) != 0)
		cli_die(EX_SOFTWARE, "out of memory");
	else if (handshake(s, deadline, loud) != 0) {
		*hs_failed = true;
		drop_fd(s);
		return false;
	}
	rc = s->cfg.plaintext ? wire_put_hello(channel_out(&s->ch), s->user,
	    s->peer) : trust_put_hello(channel_out(&s->ch), s->user, s->peer,
	    s->cfg.edpk);
	if (rc != 0 || channel_flush(&s->ch) != 0 ||
	    channel_unsent(&s->ch) > 0) {
		WARN("%s: %s:%d: cannot send the hello", s->peer, s->host,
		    s->port);
		drop_fd(s);
		return false;
	}
	if (read_line(s, deadline, &line, &len) != 0) {
		WARN("%s: %s:%d: no hello in time", s->peer, s->host,
		    s->port);
		drop_fd(s);
		return false;
	}
	switch (wire_parse(line, len, &o)) {
	case WIRE_HELLO:
		ok = s->cfg.plaintext || check_listener(s, &o, loud);
		break;
	case WIRE_ERROR:
		if (strcmp(o.code, "key_mismatch") == 0) {
			cli_warn("%s: %s:%d: refused by the listener: %s",
			    s->peer, s->host, s->port, o.error);
			s->reconnects = 0;
			s->refused = true;
		} else
			WARN("%s: %s:%d: %s: %s", s->peer, s->host, s->port,
			    o.code, o.error);
		break;
	default:
		WARN("%s: %s:%d: not a chat peer's hello", s->peer, s->host,
		    s->port);
	}
	wire_obj_free(&o);
	if (!ok)
		drop_fd(s);
	return ok;
}

/* IK when the peer's key is known; when IK fails, XX once, which learns
 * the key the listener has, so that a changed key is named. */
static bool
open_conn(struct sender *s, bool loud)
{
	unsigned char pk[32];
	const unsigned char *known = NULL;
	uint8_t x[NOISE_KEYLEN];
	bool hs_failed, ok;

	if (!s->cfg.plaintext) {
		if (pin_get(s->cfg.pins, s->peer, pk) == PIN_OK)
			known = pk;
		else
			known = s->cfg.dirkey;
		if (known != NULL && noise_pub_from_ed25519(x, known) != 0)
			known = NULL;
	}
	if (known == NULL)
		return try_conn(s, loud, NULL, &hs_failed);
	s->quiet_hs = true;
	ok = try_conn(s, loud, x, &hs_failed);
	s->quiet_hs = false;
	if (ok || !hs_failed || s->refused)
		return ok;
	return try_conn(s, loud, NULL, &hs_failed);
}

static void
send_msg(struct sender *s, struct msg *m)
{
	if (wire_put_msg(channel_out(&s->ch), m->uid, m->text, m->len, m->ts) != 0)
		cli_die(EX_SOFTWARE, "out of memory");
	if (s->unacked++ == 0)
		s->ack_deadline = mono_ms() + s->timeout_ms;
}

/* Connects again, once, and sends again what was not acknowledged; else
 * nothing more is delivered. It may take up to the timeout: a listener
 * that restarts comes back on the same port within it. */
static void
reconnect(struct sender *s)
{
	int64_t deadline = mono_ms() + s->timeout_ms;
	uint64_t i;

	while (s->reconnects > 0 && !open_conn(s, false)) {
		if (mono_ms() + 100 >= deadline) {
			s->reconnects = 0;
			break;
		}
		usleep(100000);
	}
	if (s->reconnects-- > 0) {
		cli_warn("%s: %s:%d: connected again", s->peer, s->host,
		    s->port);
		for (i = s->n_out; i < s->n_in; i++)
			if (s->ring[i % WINDOW].dstate == D_WAIT)
				send_msg(s, &s->ring[i % WINDOW]);
		return;
	}
	s->direct = false;
	for (i = s->n_out; i < s->n_in; i++)
		if (s->ring[i % WINDOW].dstate == D_WAIT)
			s->ring[i % WINDOW].dstate = D_FAILED;
}

/* The connection broke. With messages awaiting their ack, connect again
 * now; with none, only when the next message comes, if one does: the
 * peer may simply have left, and the input may be about to end. */
static void
lost_conn(struct sender *s, const char *why)
{
	uint64_t i;

	drop_fd(s);
	cli_warn("%s: %s:%d: %s", s->peer, s->host, s->port, why);
	for (i = s->n_out; i < s->n_in; i++)
		if (s->ring[i % WINDOW].dstate == D_WAIT)
			break;
	if (i == s->n_in && s->direct) {
		s->lost_idle = true;
		return;
	}
	reconnect(s);
}

static void
on_ack(struct sender *s, const char *uid)
{
	uint64_t i;
	struct msg *m;

	while (s->hint < s->n_in && s->ring[s->hint % WINDOW].dstate != D_WAIT)
		s->hint++;
	if (s->hint < s->n_in && strcmp(s->ring[s->hint % WINDOW].uid,
	    uid) == 0)
		i = s->hint;
	else
		for (i = s->n_out; i < s->n_in; i++)
			if (s->ring[i % WINDOW].dstate == D_WAIT &&
			    strcmp(s->ring[i % WINDOW].uid, uid) == 0)
				break;
	if (i == s->n_in)
		return;
	m = &s->ring[i % WINDOW];
	m->dstate = D_ACKED;
	m->path = s->path;
	if (s->unacked > 0)
		s->unacked--;
	s->ack_deadline = mono_ms() + s->timeout_ms;
}

static void
on_socket(struct sender *s)
{
	struct wire_obj o;
	size_t len;
	long n;
	char *line, why[256];
	int rc;

again:
	n = channel_recv(&s->ch, READ_CHUNK);
	if (n < 0 && errno == ENOMEM)
		cli_die(EX_SOFTWARE, "out of memory");
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0 && errno == EPROTO) {
		lost_conn(s, frame_strerror(s->ch.err));
		return;
	}
	if (n == 0 || (n < 0 && errno != ENOBUFS)) {
		lost_conn(s, n == 0 ? "closed the connection" :
		    strerror(errno));
		return;
	}
	while ((rc = channel_line(&s->ch, &line, &len)) != 0) {
		if (rc < 0) {
			lost_conn(s, "sent a line too long");
			return;
		}
		switch (wire_parse(line, len, &o)) {
		case WIRE_ACK:
			on_ack(s, o.uid);
			break;
		case WIRE_ERROR:
			snprintf(why, sizeof(why), "%s: %s", o.code, o.error);
			wire_obj_free(&o);
			lost_conn(s, why);
			return;
		default:
			wire_obj_free(&o);
			lost_conn(s, "broke the protocol");
			return;
		}
		wire_obj_free(&o);
	}
	if (channel_backlog(&s->ch))
		goto again;
}

static void
flush_out(struct sender *s)
{
	while (s->ch.fd >= 0 && channel_unsent(&s->ch) > 0) {
		if (channel_flush(&s->ch) != 0) {
			lost_conn(s, strerror(errno));
			continue;
		}
		if (channel_unsent(&s->ch) > 0)
			return;
	}
}

/* Input */

static void
add_msg(struct sender *s, const char *text, size_t len, const char *uid)
{
	struct msg *m = &s->ring[s->n_in % WINDOW];

	memset(m, 0, sizeof(*m));
	if (uid != NULL)
		snprintf(m->uid, sizeof(m->uid), "%s", uid);
	else
		uid_new(m->uid);
	ts_format(now_ms(), m->ts);
	if ((m->text = malloc(len + 1)) == NULL)
		cli_die(EX_SOFTWARE, "out of memory");
	memcpy(m->text, text, len);
	m->text[len] = '\0';
	m->len = len;
	m->dstate = s->direct ? D_WAIT : D_FAILED;
	m->sstate = s->store ? S_WAIT : S_FAILED;
	s->n_in++;
	if (s->ch.fd < 0 && s->lost_idle) {
		s->lost_idle = false;
		reconnect(s);	/* sends m too, or fails it */
	} else if (s->ch.fd >= 0)
		send_msg(s, m);
}

static bool
text_ok(struct sender *s, unsigned long lineno, const char *text,
    size_t len)
{
	if (len > WIRE_TEXT_MAX)
		cli_warn("line %lu: longer than 64 KiB; not sent", lineno);
	else if (!valid_utf8(text, len))
		cli_warn("line %lu: not UTF-8 text; not sent", lineno);
	else
		return true;
	s->bad_input = true;
	return false;
}

static void
on_input_line(struct sender *s, bool json, unsigned long lineno,
    const char *line, size_t len)
{
	json_t *j;
	const char *text, *uid, *why;
	size_t textlen;

	if (!json) {
		if (len > 0 && text_ok(s, lineno, line, len))
			add_msg(s, line, len, NULL);
		return;
	}
	if (len == 0)
		return;
	if (wire_input_json(line, len, &j, &text, &textlen, &uid, &why) != 0) {
		cli_warn("line %lu: %s; not sent", lineno, why);
		s->bad_input = true;
		return;
	}
	add_msg(s, text, textlen, uid);
	json_decref(j);
}

/* The "path" of a status line: how the message reached the peer, or
 * "stored" when it did not but waits in the directory; null when lost. */
static const char *
path_json(const struct msg *m)
{
	if (m->dstate == D_ACKED)
		switch (m->path) {
		case SENDER_PATH_PUNCHED:
			return "\"punched\"";
		case SENDER_PATH_RELAYED:
			return "\"relayed\"";
		default:
			return "\"direct\"";
		}
	return m->sstate == S_DONE ? "\"stored\"" : "null";
}

/* Reports, in order, every message whose fate is known. */
static void
report(struct sender *s)
{
	uint64_t stored = s->n_in;
	struct msg *m;

	if (s->store) {
		pthread_mutex_lock(&s->lock);
		stored = s->n_stored;
		pthread_mutex_unlock(&s->lock);
	}
	while (s->n_out < stored) {
		m = &s->ring[s->n_out % WINDOW];
		if (m->dstate == D_WAIT)
			break;
		if (m->dstate != D_ACKED && m->sstate != S_DONE)
			s->lost = true;
		if (m->sstate == S_DONE)
			fprintf(s->cfg.out, "{\"uid\":\"%s\",\"to\":\"%s\",\"delivered\":%s,"
			    "\"stored\":true,\"id\":%lld,\"path\":%s}\n", m->uid,
			    s->peer, m->dstate == D_ACKED ? "true" : "false",
			    (long long)m->id, path_json(m));
		else
			fprintf(s->cfg.out, "{\"uid\":\"%s\",\"to\":\"%s\",\"delivered\":%s,"
			    "\"stored\":false,\"path\":%s}\n", m->uid, s->peer,
			    m->dstate == D_ACKED ? "true" : "false", path_json(m));
		free(m->text);
		m->text = NULL;
		s->n_out++;
	}
}

/* Takes the whole lines read, as far as the window lets it. */
static void
take_lines(struct sender *s, struct input *in)
{
	size_t len;
	char *line;
	int rc;

	while (s->n_in - s->n_out < WINDOW &&
	    (rc = wire_buf_line(&in->buf, &line, &len)) != 0) {
		in->lineno++;
		if (rc < 0) {
			cli_warn("line %lu: longer than 256 KiB; not sent",
			    in->lineno);
			s->bad_input = true;
			continue;
		}
		on_input_line(s, s->cfg.json, in->lineno, line, len);
	}
	publish(s);
	flush_out(s);
}

static void
read_input(struct sender *s, struct input *in)
{
	size_t room;
	ssize_t n;
	char *at;

	if ((at = wire_buf_space(&in->buf, READ_CHUNK, &room)) == NULL)
		cli_die(EX_SOFTWARE, "out of memory");
	n = room > 0 ? read(s->cfg.infd, at, room) : 0;
	if (n < 0 && errno != EINTR && errno != EAGAIN)
		cli_die(EX_IOERR, "input: %s", strerror(errno));
	if (n > 0)
		wire_buf_fill(&in->buf, (size_t)n);
	if (n == 0) {
		/* A last line without its newline counts too. */
		if (wire_buf_pending(&in->buf) > 0 &&
		    (at = wire_buf_space(&in->buf, 1, &room)) != NULL &&
		    room > 0) {
			*at = '\n';
			wire_buf_fill(&in->buf, 1);
		}
		in->eof = true;
	}
	take_lines(s, in);
}

static void
run(struct sender *s, struct input *in)
{
	struct pollfd p[3];
	int64_t wait;
	char junk[64];
	int np, ip, is;

	for (;;) {
		report(s);
		take_lines(s, in);
		if (in->eof && wire_buf_pending(&in->buf) == 0 &&
		    s->n_out == s->n_in) {
			pthread_mutex_lock(&s->lock);
			s->done = true;
			pthread_cond_signal(&s->cond);
			pthread_mutex_unlock(&s->lock);
			break;
		}
		if (fflush(s->cfg.out) == EOF)
			cli_die(EX_IOERR, "stdout: %s", strerror(errno));
		np = 0;
		ip = is = -1;
		p[np++] = (struct pollfd){ .fd = s->notify[0], .events = POLLIN };
		if (!in->eof && s->n_in - s->n_out < WINDOW) {
			ip = np;
			p[np++] = (struct pollfd){ .fd = s->cfg.infd,
			    .events = POLLIN };
		}
		if (s->ch.fd >= 0) {
			is = np;
			p[np++] = (struct pollfd){ .fd = s->ch.fd, .events =
			    POLLIN | (channel_unsent(&s->ch) > 0 ? POLLOUT : 0) };
		}
		wait = -1;
		if (s->ch.fd >= 0 && s->unacked > 0) {
			wait = s->ack_deadline - mono_ms();
			if (wait <= 0) {
				lost_conn(s, "no acknowledgement in time");
				continue;
			}
		}
		if (poll(p, (nfds_t)np, (int)wait) < 0) {
			if (errno == EINTR)
				continue;
			cli_die(EX_OSERR, "poll: %s", strerror(errno));
		}
		if (p[0].revents)
			while (read(s->notify[0], junk, sizeof(junk)) ==
			    sizeof(junk))
				;
		if (is >= 0 && p[is].revents & POLLOUT)
			flush_out(s);
		if (is >= 0 && s->ch.fd >= 0 && p[is].revents &
		    (POLLIN | POLLERR | POLLHUP))
			on_socket(s);
		if (ip >= 0 && p[ip].revents)
			read_input(s, in);
	}
}

/* host:port joins the addresses to try, unless it is there already. */
static void
add_cand(struct sender *s, const char *host, int port)
{
	size_t i;

	if (s->ncand == CAND_MAX || port <= 0 || port > 65535 ||
	    strlen(host) >= sizeof(s->cand[0].host))
		return;
	for (i = 0; i < s->ncand; i++)
		if (s->cand[i].port == port && strcmp(s->cand[i].host,
		    host) == 0)
			return;
	snprintf(s->cand[i].host, sizeof(s->cand[i].host), "%s", host);
	s->cand[i].port = port;
	s->ncand++;
}

struct sender *
sender_new(const struct sender_cfg *cfg)
{
	struct sender *s;

	if ((!cfg->plaintext && (cfg->xsk == NULL || cfg->edpk == NULL ||
	    cfg->pins == NULL)) || (cfg->store != NULL && cfg->seal == NULL)) {
		errno = EINVAL;
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->cfg = *cfg;
	s->user = cfg->user;
	s->peer = cfg->peer;
	s->sdc = cfg->store;
	s->kdc = cfg->seal;
	s->store = cfg->store != NULL;
	s->timeout_ms = cfg->timeout_ms;
	s->reconnects = cfg->reconnects;
	s->ch.fd = -1;
	s->input.eof = cfg->infd < 0;
	if (cfg->host != NULL) {
		add_cand(s, cfg->host, cfg->port);
		for (size_t i = 0; i < cfg->ncands; i++)
			add_cand(s, cfg->cands[i].host, cfg->cands[i].port);
		snprintf(s->host, sizeof(s->host), "%s", cfg->host);
		s->port = cfg->port;
		s->direct = true;
	}
	s->notify[0] = s->notify[1] = -1;
	if ((s->ring = calloc(WINDOW, sizeof(*s->ring))) == NULL ||
	    pipe2(s->notify, O_CLOEXEC | O_NONBLOCK) != 0 ||
	    pthread_mutex_init(&s->lock, NULL) != 0)
		goto fail;
	if (pthread_cond_init(&s->cond, NULL) != 0)
		goto fail_lock;
	if (pthread_cond_init(&s->qcond, NULL) != 0) {
		pthread_cond_destroy(&s->cond);
		goto fail_lock;
	}
	return s;
fail_lock:
	pthread_mutex_destroy(&s->lock);
fail:
	if (s->notify[0] >= 0) {
		close(s->notify[0]);
		close(s->notify[1]);
	}
	free(s->ring);
	free(s);
	return NULL;
}

bool
sender_open(struct sender *s)
{
	if (s->direct && !open_conn(s, true)) {
		s->direct = false;
		cli_warn("%s: cannot deliver directly; storing the messages "
		    "for later", s->peer);
	}
	return s->direct;
}

void
sender_add(struct sender *s, const char *text, size_t len)
{
	free(s->first);
	if ((s->first = malloc(len + 1)) == NULL)
		cli_die(EX_SOFTWARE, "out of memory");
	memcpy(s->first, text, len);
	s->first[len] = '\0';
	s->firstlen = len;
}

int
sender_run(struct sender *s)
{
	pthread_t thread, posting;

	if (s->store && (pthread_create(&thread, NULL, storer, s) != 0 ||
	    pthread_create(&posting, NULL, poster, s) != 0))
		cli_die(EX_OSERR, "cannot start storing");
	if (s->first != NULL) {
		add_msg(s, s->first, s->firstlen, NULL);
		publish(s);
		flush_out(s);
		s->input.eof = true;
	}
	run(s, &s->input);
	if (s->store) {
		pthread_join(thread, NULL);
		pthread_join(posting, NULL);
	}
	drop_fd(s);
	if (fflush(s->cfg.out) == EOF)
		cli_die(EX_IOERR, "stdout: %s", strerror(errno));
	if (s->lost)
		return EX_UNAVAILABLE;
	return s->bad_input ? EX_DATAERR : EX_OK;
}

void
sender_free(struct sender *s)
{
	uint64_t i;

	if (s == NULL)
		return;
	drop_fd(s);
	for (i = s->n_out; i < s->n_in; i++)
		free(s->ring[i % WINDOW].text);
	wire_buf_free(&s->input.buf);
	free(s->first);
	free(s->ring);
	close(s->notify[0]);
	close(s->notify[1]);
	pthread_cond_destroy(&s->qcond);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
