/* listener: chat-listen's connection engine (listener.h): the v1
 * handshake, messages printed then acknowledged, limits and timeouts. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include "core/cli.h"
#include "core/exitcodes.h"
#include "core/jsonw.h"
#include "core/util.h"
#include "core/valid.h"
#include "net/netaddr.h"
#include "sec/keys.h"
#include "peer/channel.h"
#include "peer/listener.h"
#include "peer/trust.h"
#include "peer/wire.h"

#define OUT_HIGH (1 << 20)	/* unread acks that stop reading a sender */
#define READ_CHUNK 65536
#define WATCH_MAX 8

enum { ST_HELLO, ST_OPEN };
enum { K_CONN = 1, K_WATCH };

struct conn {
	int kind;		/* K_CONN: first, as in struct watch */
	int state;
	bool reading, writing;
	char host[NETADDR_HOSTLEN];
	int port;
	char from[USERNAME_MAX + 1];
	struct channel ch;
	struct jsonw acks;	/* to move to the channel once printed */
	int64_t deadline;	/* mono_ms */
	int64_t msgs;
	size_t index;		/* in the listener's array */
};

struct watch {
	int kind;		/* K_WATCH */
	int fd;
	void *tag;
};

struct listener {
	struct listener_cfg cfg;
	int epfd;
	struct conn **conns;
	size_t nconns;
	struct watch watches[WATCH_MAX];
	struct jsonw print;	/* lines for stdout, not yet written */
	int status;		/* set: stop with it */
};

/* Writes all of buf to fd, a blocking or non-blocking descriptor. */
static int
write_all(int fd, const char *buf, size_t len)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	ssize_t w;

	while (len > 0) {
		w = write(fd, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			poll(&p, 1, 1000);
			continue;
		}
		if (w <= 0)
			return -1;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

void
listener_print(struct listener *l, json_t *j)
{
	if (wire_out_json(&l->print, j) != 0)
		cli_die(EX_SOFTWARE, "out of memory");
	json_decref(j);
}

size_t
listener_pending(const struct listener *l)
{
	return l->print.len;
}

int
listener_status(const struct listener *l)
{
	return l->status;
}

void
listener_set_status(struct listener *l, int status)
{
	l->status = status;
}

/* Prints what is waiting, then records its uids as seen: the one window
 * for a duplicate is between these two writes. Then c's acks may go. */
static int
commit(struct listener *l, struct conn *c)
{
	char err[512];

	if (l->print.len > 0) {
		if (write_all(l->cfg.outfd, l->print.data, l->print.len) != 0) {
			cli_warn("stdout: %s", strerror(errno));
			l->status = EX_IOERR;
			return -1;
		}
		wire_out_consume(&l->print, l->print.len);
	}
	if (l->cfg.seen != NULL &&
	    seen_commit(l->cfg.seen, err, sizeof(err)) != 0) {
		cli_warn("%s", err);
		l->status = EX_IOERR;
		return -1;
	}
	if (c != NULL && c->acks.len > 0) {
		if (wire_out_append(channel_out(&c->ch), c->acks.data,
		    c->acks.len) != 0)
			cli_die(EX_SOFTWARE, "out of memory");
		wire_out_consume(&c->acks, c->acks.len);
	}
	return 0;
}

int
listener_commit(struct listener *l)
{
	return commit(l, NULL);
}

static void
watch(struct listener *l, struct conn *c)
{
	size_t unsent = channel_unsent(&c->ch);
	bool r = unsent < OUT_HIGH, w = unsent > 0;
	struct epoll_event ev = { .data.ptr = c };

	if (r == c->reading && w == c->writing)
		return;
	ev.events = (r ? EPOLLIN : 0) | (w ? EPOLLOUT : 0);
	epoll_ctl(l->epfd, EPOLL_CTL_MOD, c->ch.fd, &ev);
	c->reading = r;
	c->writing = w;
}

static void
close_conn(struct listener *l, struct conn *c, const char *reason)
{
	if (c->state == ST_OPEN) {
		listener_print(l, json_pack("{s:s, s:s, s:s, s:i, s:I, s:s}",
		    "type", "disconnect", "from", c->from, "addr", c->host,
		    "port", c->port, "messages", (json_int_t)c->msgs,
		    "reason", reason));
		commit(l, NULL);
	}
	channel_flush(&c->ch);
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, c->ch.fd, NULL);
	channel_close(&c->ch);
	l->conns[c->index] = l->conns[--l->nconns];
	l->conns[c->index]->index = c->index;
	wire_out_free(&c->acks);
	free(c);
}

/* Tells the peer why and closes; what it sent before is printed and
 * acknowledged first. */
static void
fail_conn(struct listener *l, struct conn *c, const char *code,
    const char *why)
{
	if (commit(l, c) == 0)
		wire_put_error(channel_out(&c->ch), code, why);
	if (c->state != ST_OPEN)
		cli_warn("%s:%d: %s: %s", c->host, c->port, code, why);
	close_conn(l, c, code);
}

/* The line of a message received directly; written, not packed, since
 * it comes once per message. */
static void
print_message(struct listener *l, const char *from, const struct wire_obj *o)
{
	struct jsonw *w = &l->print;
	const char *user = l->cfg.user;
	char ts[TS_LEN];

	if (o->ts == NULL)
		ts_format(now_ms(), ts);
	jw_lit(w, "{\"type\":\"message\",\"uid\":");
	jw_str(w, o->uid, strlen(o->uid));
	jw_lit(w, ",\"from\":");
	jw_str(w, from, strlen(from));
	jw_lit(w, ",\"to\":");
	jw_str(w, user, strlen(user));
	jw_lit(w, ",\"text\":");
	jw_str(w, o->text, o->textlen);
	jw_lit(w, ",\"ts\":");
	jw_str(w, o->ts != NULL ? o->ts : ts, strlen(o->ts != NULL ? o->ts : ts));
	jw_lit(w, ",\"offline\":false}\n");
	if (w->failed)
		cli_die(EX_SOFTWARE, "out of memory");
}

/* A v2 sender's hello: is its key the handshake's, and the one pinned
 * for its name (or the directory's, the first time)? 0, or -1 when c was
 * refused and closed. */
static int
check_sender(struct listener *l, struct conn *c, const struct wire_obj *o)
{
	unsigned char ed[32], dir[32], pk[32];
	const unsigned char *dirkey = NULL;
	char why[512];
	enum trust t;

	if (trust_hello_key(o->json, channel_peer_key(&c->ch), ed) !=
	    TRUST_OK) {
		fail_conn(l, c, "bad_handshake", "the hello's key is not the "
		    "one of the handshake");
		return -1;
	}
	if (pin_get(l->cfg.pins, o->from, pk) == PIN_NONE &&
	    l->cfg.dir_key != NULL && l->cfg.dir_key(l->cfg.arg, o->from, dir))
		dirkey = dir;
	t = trust_check(l->cfg.pins, o->from, ed, dirkey, why, sizeof(why));
	if (t == TRUST_MISMATCH) {
		cli_warn("%s:%d: %s: %s", c->host, c->port, o->from, why);
		fail_conn(l, c, "key_mismatch", why);
		return -1;
	}
	if (t == TRUST_UNPINNED)
		cli_warn("%s", why);
	else if (t != TRUST_OK && t != TRUST_PINNED) {
		cli_warn("%s", why);
		fail_conn(l, c, "unavailable", "cannot check the sender's key");
		return -1;
	}
	return 0;
}

/* One line from c: 0, or -1 when c was closed. */
static int
on_line(struct listener *l, struct conn *c, const char *line, size_t len)
{
	struct wire_obj o;
	enum wire_type t = wire_parse(line, len, &o);
	struct seen *seen = l->cfg.seen;
	char why[128];

	if (c->state == ST_HELLO) {
		if (t == WIRE_BAD && strcmp(o.code, "version") == 0) {
			fail_conn(l, c, o.code, o.error);
		} else if (t != WIRE_HELLO || o.to == NULL) {
			fail_conn(l, c, "bad_handshake", t == WIRE_BAD ? o.error :
			    "expected a hello with from and to");
		} else if (strcasecmp(o.to, l->cfg.user) != 0) {
			snprintf(why, sizeof(why), "not listening for %s", o.to);
			fail_conn(l, c, "wrong_user", why);
		} else if (channel_peer_key(&c->ch) != NULL &&
		    check_sender(l, c, &o) != 0) {
			wire_obj_free(&o);
			return -1;
		} else {
			snprintf(c->from, sizeof(c->from), "%s", o.from);
			c->state = ST_OPEN;
			c->deadline = mono_ms() + l->cfg.idle_ms;
			if (channel_peer_key(&c->ch) != NULL)
				trust_put_hello(channel_out(&c->ch), l->cfg.user,
				    NULL, l->cfg.edpk);
			else
				wire_put_hello(channel_out(&c->ch), l->cfg.user,
				    NULL);
			listener_print(l, json_pack("{s:s, s:s, s:s, s:i, s:i}",
			    "type", "connect", "from", c->from, "addr", c->host,
			    "port", c->port, "wire",
			    channel_peer_key(&c->ch) != NULL ? 2 : 1));
			wire_obj_free(&o);
			return 0;
		}
		wire_obj_free(&o);
		return -1;
	}
	switch (t) {
	case WIRE_MSG:
		c->msgs++;
		if (seen == NULL || seen_add(seen, o.uid))
			print_message(l, c->from, &o);
		else if (!seen_has(seen, o.uid))
			cli_die(EX_SOFTWARE, "out of memory");
		wire_put_ack(&c->acks, o.uid);
		break;
	case WIRE_ACK:
		break;		/* not for a listener; harmless */
	case WIRE_ERROR:
		wire_obj_free(&o);
		close_conn(l, c, "peer_error");
		return -1;
	case WIRE_HELLO:
		wire_obj_free(&o);
		fail_conn(l, c, "bad_handshake", "hello after the handshake");
		return -1;
	default:
		fail_conn(l, c, o.code, o.error);
		wire_obj_free(&o);
		return -1;
	}
	wire_obj_free(&o);
	if (l->print.len >= LISTENER_PRINT_CHUNK && commit(l, c) != 0)
		return -1;
	return 0;
}

static void
on_readable(struct listener *l, struct conn *c)
{
	size_t len;
	char *line;
	long n;
	int rc;

again:
	n = channel_recv(&c->ch, READ_CHUNK);
	if (n < 0 && errno == ENOMEM)
		cli_die(EX_SOFTWARE, "out of memory");
	if (n < 0 && errno == EPROTONOSUPPORT) {
		fail_conn(l, c, "v2_required", "this listener speaks only wire "
		    "protocol v2, encrypted: give the sender a key, or both "
		    "ends --plaintext");
		return;
	}
	if (n < 0 && errno == EPROTO) {
		/* Nothing said to a peer that did not prove who it is. */
		if (c->state != ST_OPEN)
			cli_warn("%s:%d: wire v2: %s", c->host, c->port,
			    frame_strerror(c->ch.err));
		else
			commit(l, c);	/* what came before is acknowledged */
		close_conn(l, c, "bad_frame");
		return;
	}
	if (n == 0 || (n < 0 && errno != ENOBUFS && errno != EAGAIN &&
	    errno != EINTR)) {
		close_conn(l, c, n == 0 ? "closed" : "reset");
		return;
	}
	while ((rc = channel_line(&c->ch, &line, &len)) != 0) {
		if (rc < 0) {
			fail_conn(l, c, "line_too_long",
			    "a line is longer than 256 KiB");
			return;
		}
		if (on_line(l, c, line, len) != 0)
			return;
	}
	if (channel_backlog(&c->ch))
		goto again;
	if (c->state == ST_OPEN && n > 0)
		c->deadline = mono_ms() + l->cfg.idle_ms;
	if (commit(l, c) != 0)
		return;
	channel_shrink(&c->ch);
	if (channel_flush(&c->ch) != 0) {
		close_conn(l, c, "reset");
		return;
	}
	watch(l, c);
}

/* A connected socket becomes a connection whose hello is awaited: 0, or
 * -1 (fd closed) when the listener is full or epoll will not take it. */
static int
adopt(struct listener *l, int fd, const char *host, int port)
{
	static const char busy[] = "{\"type\":\"error\","
	    "\"code\":\"busy\",\"error\":\"too many connections\"}\n";
	struct epoll_event ev;
	struct conn *c;
	int one = 1;

	if (l->nconns >= l->cfg.maxconns) {
		send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL);
		close(fd);
		return -1;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		cli_die(EX_SOFTWARE, "out of memory");
	/* Acks are small and wanted at once. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->kind = K_CONN;
	if (l->cfg.xsk == NULL)
		channel_init(&c->ch, fd);
	else if (channel_accept(&c->ch, fd, l->cfg.xsk,
	    l->cfg.plaintext) != 0)
		cli_die(EX_SOFTWARE, "out of memory");
	c->state = ST_HELLO;
	c->reading = true;
	snprintf(c->host, sizeof(c->host), "%s", host);
	c->port = port;
	c->deadline = mono_ms() + l->cfg.handshake_ms;
	ev.events = EPOLLIN;
	ev.data.ptr = c;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		cli_warn("epoll: %s", strerror(errno));
		channel_close(&c->ch);
		free(c);
		return -1;
	}
	c->index = l->nconns;
	l->conns[l->nconns++] = c;
	return 0;
}

static void
on_accept(struct listener *l)
{
	struct sockaddr_storage ss;
	char host[NETADDR_HOSTLEN];
	socklen_t sl;
	int fd, port;

	for (;;) {
		sl = sizeof(ss);
		fd = accept4(l->cfg.lfd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				cli_warn("accept: %s", strerror(errno));
			return;
		}
		netaddr_format((struct sockaddr *)&ss, host, &port);
		adopt(l, fd, host, port);
	}
}

int
listener_adopt(struct listener *l, int fd, const char *via, int port)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) {
		close(fd);
		return -1;
	}
	return adopt(l, fd, via, port);
}

static void
expire(struct listener *l)
{
	int64_t now = mono_ms();
	size_t i = 0;
	struct conn *c;

	while (i < l->nconns) {
		c = l->conns[i];
		if (c->deadline > now) {
			i++;
			continue;
		}
		if (c->state == ST_HELLO)
			fail_conn(l, c, "bad_handshake", "no hello in time");
		else
			fail_conn(l, c, "idle_timeout", "idle for too long");
	}
}

void
listener_serve(struct listener *l)
{
	struct epoll_event evs[64];
	struct conn *c;
	struct watch *w;
	sigset_t none;
	int i, n;

	sigemptyset(&none);
	while (!*l->cfg.stopping && l->status == 0) {
		n = epoll_pwait(l->epfd, evs, 64, 200, &none);
		if (n < 0 && errno != EINTR)
			cli_die(EX_OSERR, "epoll: %s", strerror(errno));
		for (i = 0; i < n && l->status == 0; i++) {
			if (evs[i].data.ptr == NULL) {
				on_accept(l);
				continue;
			}
			/* A watch unwatched by an earlier event of this round
			 * (a punched hole ends the relay call's wait) is
			 * still a watch, not a connection: it is skipped. */
			w = evs[i].data.ptr;
			if (w >= l->watches && w < l->watches + WATCH_MAX) {
				if (w->kind == K_WATCH && l->cfg.on_event != NULL)
					l->cfg.on_event(l->cfg.arg, w->tag);
				continue;
			}
			/* c may have been closed by an earlier event of this
			 * round: only the listener closes, and it does so
			 * while handling c's own event, so c is alive here. */
			c = evs[i].data.ptr;
			if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP) &&
			    !(evs[i].events & EPOLLIN)) {
				if (channel_flush(&c->ch) != 0)
					close_conn(l, c, "reset");
				else
					watch(l, c);
				continue;
			}
			if (evs[i].events & EPOLLOUT &&
			    channel_flush(&c->ch) != 0) {
				close_conn(l, c, "reset");
				continue;
			}
			on_readable(l, c);
		}
		expire(l);
		if (l->cfg.on_tick != NULL)
			l->cfg.on_tick(l->cfg.arg);
	}
}

int
listener_watch(struct listener *l, int fd, void *tag)
{
	struct epoll_event ev = { .events = EPOLLIN };
	size_t i;

	for (i = 0; i < WATCH_MAX && l->watches[i].kind != 0; i++)
		;
	if (i == WATCH_MAX) {
		errno = ENOSPC;
		return -1;
	}
	ev.data.ptr = &l->watches[i];
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
		return -1;
	l->watches[i] = (struct watch){ .kind = K_WATCH, .fd = fd, .tag = tag };
	return 0;
}

void
listener_unwatch(struct listener *l, int fd)
{
	size_t i;

	for (i = 0; i < WATCH_MAX; i++)
		if (l->watches[i].kind != 0 && l->watches[i].fd == fd) {
			epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
			l->watches[i].kind = 0;
		}
}

struct listener *
listener_new(const struct listener_cfg *cfg)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	struct listener *l;

	if (cfg->xsk != NULL && (cfg->edpk == NULL || cfg->pins == NULL)) {
		errno = EINVAL;
		return NULL;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	l->cfg = *cfg;
	if ((l->conns = calloc(cfg->maxconns, sizeof(*l->conns))) == NULL) {
		free(l);
		return NULL;
	}
	if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    epoll_ctl(l->epfd, EPOLL_CTL_ADD, cfg->lfd, &ev) != 0) {
		if (l->epfd >= 0)
			close(l->epfd);
		free(l->conns);
		free(l);
		return NULL;
	}
	return l;
}

void
listener_free(struct listener *l)
{
	if (l == NULL)
		return;
	while (l->nconns > 0)
		close_conn(l, l->conns[0], "stopping");
	commit(l, NULL);
	wire_out_free(&l->print);
	free(l->conns);
	close(l->epfd);
	free(l);
}
