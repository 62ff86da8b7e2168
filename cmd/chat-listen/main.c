/* chat-listen: accept direct connections from peers (wire protocol v1),
 * print every message received as a JSON line, acknowledge it once
 * printed; register with the directory and catch up with the inbox. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "dirclient.h"
#include "exitcodes.h"
#include "netaddr.h"
#include "seen.h"
#include "util.h"
#include "valid.h"
#include "wire.h"

#define PRINT_CHUNK 65536	/* bytes of output printed with one write */
#define OUT_HIGH (1 << 20)	/* unread acks that stop reading a sender */
#define READ_CHUNK 65536
#define HEARTBEAT_S 30		/* a third of the directory's presence window */

enum { ST_HELLO, ST_OPEN };

struct conn {
	int fd;
	int state;
	bool reading, writing;
	char host[NETADDR_HOSTLEN];
	int port;
	char from[USERNAME_MAX + 1];
	struct wire_buf in;
	struct jsonw out;	/* to write to the peer */
	struct jsonw acks;	/* to move to out once printed */
	int64_t deadline;	/* mono_ms */
	int64_t msgs;
	size_t index;		/* in the listener's array */
};

struct listener {
	const char *user;
	int epfd, lfd;
	struct conn **conns;
	size_t nconns, maxconns;
	struct seen *seen;
	struct jsonw print;	/* lines for stdout, not yet written */
	int64_t handshake_ms, idle_ms;
	int status;		/* set: stop with it */
};

static volatile sig_atomic_t stopping;

static void
on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static int
cancelled(void *arg)
{
	(void)arg;
	return stopping;
}

enum { OPT_VERSION = 256, OPT_NO_REGISTER, OPT_NO_CATCH_UP };

static noreturn void
usage(FILE *f, int status)
{
	fprintf(f, "usage: chat-listen -u name [-p port] [-a address] "
	    "[--no-register] [--no-catch-up] [-s url]\n");
	fprintf(f, "       %s -h | --help | --version\n", "chat-listen");
	exit(status);
}

/* A time limit in milliseconds from the environment (seconds, maybe with
 * a fraction), else def. */
static int64_t
env_ms(const char *name, int64_t def)
{
	const char *v = getenv(name);
	char *end;
	double d;

	if (v == NULL || *v == '\0')
		return def;
	errno = 0;
	d = strtod(v, &end);
	if (*v < '0' || *v > '9' || *end != '\0' || errno != 0 ||
	    !isfinite(d) || d <= 0 || d > 86400)
		cli_die(EX_USAGE, "%s: %s: not a number of seconds", name, v);
	return d * 1000 < 1 ? 1 : (int64_t)(d * 1000);
}

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

static void
print_json(struct listener *l, json_t *j)
{
	if (wire_out_json(&l->print, j) != 0)
		cli_die(EX_SOFTWARE, "out of memory");
	json_decref(j);
}

/* Prints what is waiting, then records its uids as seen: the one window
 * for a duplicate is between these two writes. Then c's acks may go. */
static int
commit(struct listener *l, struct conn *c)
{
	char err[512];

	if (l->print.len > 0) {
		if (write_all(STDOUT_FILENO, l->print.data, l->print.len) != 0) {
			cli_warn("stdout: %s", strerror(errno));
			l->status = EX_IOERR;
			return -1;
		}
		wire_out_consume(&l->print, l->print.len);
	}
	if (l->seen != NULL && seen_commit(l->seen, err, sizeof(err)) != 0) {
		cli_warn("%s", err);
		l->status = EX_IOERR;
		return -1;
	}
	if (c != NULL && c->acks.len > 0) {
		if (wire_out_append(&c->out, c->acks.data, c->acks.len) != 0)
			cli_die(EX_SOFTWARE, "out of memory");
		wire_out_consume(&c->acks, c->acks.len);
	}
	return 0;
}

static void
watch(struct listener *l, struct conn *c)
{
	bool r = c->out.len < OUT_HIGH, w = c->out.len > 0;
	struct epoll_event ev = { .data.ptr = c };

	if (r == c->reading && w == c->writing)
		return;
	ev.events = (r ? EPOLLIN : 0) | (w ? EPOLLOUT : 0);
	epoll_ctl(l->epfd, EPOLL_CTL_MOD, c->fd, &ev);
	c->reading = r;
	c->writing = w;
}

/* Writes what c has to write, as far as the socket takes it; -1 when the
 * peer is gone. */
static int
flush_conn(struct conn *c)
{
	ssize_t w;

	while (c->out.len > 0) {
		w = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return 0;
		if (w <= 0)
			return -1;
		wire_out_consume(&c->out, (size_t)w);
	}
	return 0;
}

static void
close_conn(struct listener *l, struct conn *c, const char *reason)
{
	if (c->state == ST_OPEN) {
		print_json(l, json_pack("{s:s, s:s, s:s, s:i, s:I, s:s}",
		    "type", "disconnect", "from", c->from, "addr", c->host,
		    "port", c->port, "messages", (json_int_t)c->msgs,
		    "reason", reason));
		commit(l, NULL);
	}
	flush_conn(c);
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	l->conns[c->index] = l->conns[--l->nconns];
	l->conns[c->index]->index = c->index;
	wire_buf_free(&c->in);
	wire_out_free(&c->out);
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
		wire_put_error(&c->out, code, why);
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
	char ts[TS_LEN];

	if (o->ts == NULL)
		ts_format(now_ms(), ts);
	jw_lit(w, "{\"type\":\"message\",\"uid\":");
	jw_str(w, o->uid, strlen(o->uid));
	jw_lit(w, ",\"from\":");
	jw_str(w, from, strlen(from));
	jw_lit(w, ",\"to\":");
	jw_str(w, l->user, strlen(l->user));
	jw_lit(w, ",\"text\":");
	jw_str(w, o->text, o->textlen);
	jw_lit(w, ",\"ts\":");
	jw_str(w, o->ts != NULL ? o->ts : ts, strlen(o->ts != NULL ? o->ts : ts));
	jw_lit(w, ",\"offline\":false}\n");
	if (w->failed)
		cli_die(EX_SOFTWARE, "out of memory");
}

/* One line from c: 0, or -1 when c was closed. */
static int
on_line(struct listener *l, struct conn *c, const char *line, size_t len)
{
	struct wire_obj o;
	enum wire_type t = wire_parse(line, len, &o);
	char why[128];

	if (c->state == ST_HELLO) {
		if (t == WIRE_BAD && strcmp(o.code, "version") == 0) {
			fail_conn(l, c, o.code, o.error);
		} else if (t != WIRE_HELLO || o.to == NULL) {
			fail_conn(l, c, "bad_handshake", t == WIRE_BAD ? o.error :
			    "expected a hello with from and to");
		} else if (strcasecmp(o.to, l->user) != 0) {
			snprintf(why, sizeof(why), "not listening for %s", o.to);
			fail_conn(l, c, "wrong_user", why);
		} else {
			snprintf(c->from, sizeof(c->from), "%s", o.from);
			c->state = ST_OPEN;
			c->deadline = mono_ms() + l->idle_ms;
			wire_put_hello(&c->out, l->user, NULL);
			print_json(l, json_pack("{s:s, s:s, s:s, s:i}", "type",
			    "connect", "from", c->from, "addr", c->host, "port",
			    c->port));
			wire_obj_free(&o);
			return 0;
		}
		wire_obj_free(&o);
		return -1;
	}
	switch (t) {
	case WIRE_MSG:
		c->msgs++;
		if (l->seen == NULL || seen_add(l->seen, o.uid))
			print_message(l, c->from, &o);
		else if (!seen_has(l->seen, o.uid))
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
	if (l->print.len >= PRINT_CHUNK && commit(l, c) != 0)
		return -1;
	return 0;
}

static void
on_readable(struct listener *l, struct conn *c)
{
	size_t room, len;
	char *p, *line;
	ssize_t n;
	int rc;

	if ((p = wire_buf_space(&c->in, READ_CHUNK, &room)) == NULL)
		cli_die(EX_SOFTWARE, "out of memory");
	n = room > 0 ? recv(c->fd, p, room, 0) : 0;
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0 && room > 0) {
		close_conn(l, c, n == 0 ? "closed" : "reset");
		return;
	}
	wire_buf_fill(&c->in, (size_t)n);
	while ((rc = wire_buf_line(&c->in, &line, &len)) != 0) {
		if (rc < 0) {
			fail_conn(l, c, "line_too_long",
			    "a line is longer than 256 KiB");
			return;
		}
		if (on_line(l, c, line, len) != 0)
			return;
	}
	if (c->state == ST_OPEN)
		c->deadline = mono_ms() + l->idle_ms;
	if (commit(l, c) != 0)
		return;
	wire_buf_shrink(&c->in);
	if (flush_conn(c) != 0) {
		close_conn(l, c, "reset");
		return;
	}
	watch(l, c);
}

static void
on_accept(struct listener *l)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	struct conn *c;
	struct epoll_event ev;
	int fd, one = 1;

	for (;;) {
		sl = sizeof(ss);
		fd = accept4(l->lfd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				cli_warn("accept: %s", strerror(errno));
			return;
		}
		if (l->nconns >= l->maxconns) {
			static const char busy[] = "{\"type\":\"error\","
			    "\"code\":\"busy\",\"error\":\"too many connections\"}\n";
			send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL);
			close(fd);
			continue;
		}
		if ((c = calloc(1, sizeof(*c))) == NULL)
			cli_die(EX_SOFTWARE, "out of memory");
		/* Acks are small and wanted at once. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->fd = fd;
		c->state = ST_HELLO;
		c->reading = true;
		netaddr_format((struct sockaddr *)&ss, c->host, &c->port);
		c->deadline = mono_ms() + l->handshake_ms;
		c->index = l->nconns;
		l->conns[l->nconns++] = c;
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev);
	}
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

static void
serve(struct listener *l)
{
	struct epoll_event evs[64];
	struct conn *c;
	sigset_t none;
	int i, n;

	sigemptyset(&none);
	while (!stopping && l->status == 0) {
		n = epoll_pwait(l->epfd, evs, 64, 200, &none);
		if (n < 0 && errno != EINTR)
			cli_die(EX_OSERR, "epoll: %s", strerror(errno));
		for (i = 0; i < n && l->status == 0; i++) {
			if ((c = evs[i].data.ptr) == NULL) {
				on_accept(l);
				continue;
			}
			/* c may have been closed by an earlier event of this
			 * round: only the listener closes, and it does so
			 * while handling c's own event, so c is alive here. */
			if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP) &&
			    !(evs[i].events & EPOLLIN)) {
				if (flush_conn(c) != 0)
					close_conn(l, c, "reset");
				else
					watch(l, c);
				continue;
			}
			if (evs[i].events & EPOLLOUT && flush_conn(c) != 0) {
				close_conn(l, c, "reset");
				continue;
			}
			on_readable(l, c);
		}
		expire(l);
	}
}

struct catchup {
	struct listener *l;
	int64_t last;
	int64_t saved;
	int items;		/* of this page */
};

static int
save_cursor(struct catchup *cu)
{
	char err[512];

	if (commit(cu->l, NULL) != 0)
		return -1;
	if (cu->last > cu->saved &&
	    seen_set_cursor(cu->l->seen, cu->last, err, sizeof(err)) != 0) {
		cli_warn("%s", err);
		cu->l->status = EX_IOERR;
		return -1;
	}
	cu->saved = cu->last;
	return 0;
}

static int
on_inbox(void *arg, json_t *m)
{
	struct catchup *cu = arg;
	const char *uid = json_string_value(json_object_get(m, "uid"));
	json_t *id = json_object_get(m, "id"), *o;

	if (uid == NULL || !json_is_integer(id))
		return 0;
	if (seen_add(cu->l->seen, uid)) {
		o = json_pack("{s:s, s:O, s:s, s:O, s:O, s:O, s:O, s:b}",
		    "type", "message", "id", id, "uid", uid,
		    "from", json_object_get(m, "from"),
		    "to", json_object_get(m, "to"),
		    "text", json_object_get(m, "text"),
		    "ts", json_object_get(m, "ts"), "offline", 1);
		if (o != NULL)
			print_json(cu->l, o);
	}
	if (json_integer_value(id) > cu->last)
		cu->last = json_integer_value(id);
	if (cu->l->print.len >= PRINT_CHUNK && save_cursor(cu) != 0)
		return 1;
	return stopping || ++cu->items >= DC_PAGE;
}

static void
catch_up(struct listener *l, struct dirclient *dc)
{
	struct catchup cu = { .l = l };
	struct dc_query q = { .user = l->user };
	enum dc_status st;

	/* A page a call, each after the last id seen: the cursor is saved
	 * as it goes, and a listener stopped midway goes on from there. */
	cu.last = cu.saved = seen_cursor(l->seen);
	do {
		q.after = cu.last;
		cu.items = 0;
		st = dc_messages(dc, &q, on_inbox, &cu);
		if (st != DC_OK && st != DC_NOT_FOUND && st != DC_CANCELLED)
			cli_warn("catching up: %s", dc_error(dc));
		if (l->status == 0)
			save_cursor(&cu);
	} while (st == DC_OK && cu.items >= DC_PAGE && l->status == 0 &&
	    !stopping);
}

struct heartbeat {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	struct dirclient *dc;
	const char *user, *ip;
	int port;
	int64_t every_ms;
};

static void *
heartbeat(void *arg)
{
	struct heartbeat *hb = arg;
	struct timespec until;
	enum dc_status st;
	json_t *peer;
	bool warned = false;

	pthread_mutex_lock(&hb->lock);
	while (!hb->stop) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += hb->every_ms / 1000;
		until.tv_nsec += (hb->every_ms % 1000) * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		while (!hb->stop && pthread_cond_timedwait(&hb->cond, &hb->lock,
		    &until) != ETIMEDOUT)
			;
		if (hb->stop)
			break;
		pthread_mutex_unlock(&hb->lock);
		st = dc_register(hb->dc, hb->user, hb->ip, hb->port, &peer);
		if (st == DC_OK) {
			json_decref(peer);
			warned = false;
		} else if (!warned) {
			cli_warn("registering: %s", dc_error(hb->dc));
			warned = true;
		}
		pthread_mutex_lock(&hb->lock);
	}
	pthread_mutex_unlock(&hb->lock);
	return NULL;
}

/* CHAT_HOME/listen/NAME, the name in lower case. */
static char *
state_dir(const char *user)
{
	char *home = cli_home(NULL), *dir, *p;

	if (home == NULL)
		cli_die(EX_USAGE, "no CHAT_HOME and no HOME to put state in");
	if (asprintf(&dir, "%s/listen/%s", home, user) < 0)
		cli_die(EX_SOFTWARE, "out of memory");
	for (p = dir + strlen(home); *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	free(home);
	return dir;
}

static void
raise_nofile(size_t want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want + 64) {
		rl.rlim_cur = want + 64 < rl.rlim_max ? want + 64 : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "address", required_argument, NULL, 'a' },
		{ "port", required_argument, NULL, 'p' },
		{ "server", required_argument, NULL, 's' },
		{ "user", required_argument, NULL, 'u' },
		{ "no-register", no_argument, NULL, OPT_NO_REGISTER },
		{ "no-catch-up", no_argument, NULL, OPT_NO_CATCH_UP },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	const char *addr = NULL, *port_s = NULL, *server = NULL, *user = NULL;
	bool reg = true, catchup = true;
	struct listener l = { .epfd = -1 };
	struct heartbeat hb = { .lock = PTHREAD_MUTEX_INITIALIZER,
	    .cond = PTHREAD_COND_INITIALIZER };
	struct dirclient *dc;
	struct sockaddr_storage ss;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	struct sigaction sa;
	sigset_t block;
	socklen_t sl = sizeof(ss);
	pthread_t thread;
	char local[NETADDR_HOSTLEN], bound[NETADDR_HOSTLEN], err[512], *dir;
	const char *regip;
	enum dc_status st;
	json_t *peer;
	int c, port = 0, bport;
	int64_t max;

	cli_init();
	while ((c = getopt_long(argc, argv, "a:hp:s:u:", longopts,
	    NULL)) != -1) {
		switch (c) {
		case 'a':
			addr = optarg;
			break;
		case 'p':
			port_s = optarg;
			break;
		case 's':
			server = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		case OPT_NO_REGISTER:
			reg = false;
			break;
		case OPT_NO_CATCH_UP:
			catchup = false;
			break;
		case 'h':
			usage(stdout, EX_OK);
		case OPT_VERSION:
			cli_version();
		default:
			usage(stderr, EX_USAGE);
		}
	}
	if (optind != argc)
		usage(stderr, EX_USAGE);
	if ((user = cli_setting(user, CLI_ENV_USER, NULL)) == NULL) {
		cli_warn("no user: give -u or set CHAT_USER");
		usage(stderr, EX_USAGE);
	}
	if (!valid_username(user))
		cli_die(EX_USAGE, "%s: not a username", user);
	port_s = cli_setting(port_s, CLI_ENV_PORT, NULL);
	if (port_s != NULL && !cli_port(port_s, &port))
		cli_die(EX_USAGE, "%s: not a port (1 to 65535)", port_s);
	if (addr != NULL && !valid_ip(addr))
		cli_die(EX_USAGE, "%s: not an IPv4 or IPv6 address", addr);
	l.user = user;
	l.handshake_ms = env_ms("CHAT_HANDSHAKE_TIMEOUT", 10000);
	l.idle_ms = env_ms("CHAT_IDLE_TIMEOUT", 600000);
	if (getenv("CHAT_MAX_CONNS") != NULL && *getenv("CHAT_MAX_CONNS")) {
		if (!parse_int(getenv("CHAT_MAX_CONNS"), 1, 100000, &max))
			cli_die(EX_USAGE, "CHAT_MAX_CONNS: %s: not 1 to 100000",
			    getenv("CHAT_MAX_CONNS"));
		l.maxconns = (size_t)max;
	} else
		l.maxconns = 1000;
	hb.every_ms = env_ms("CHAT_HEARTBEAT", HEARTBEAT_S * 1000);

	dc = cli_dirclient(server);
	/* By default it listens where the directory is reached from: the
	 * address it registers. */
	if (addr == NULL)
		addr = dc_local_ip(dc, local, sizeof(local)) == 0 ? local :
		    "127.0.0.1";
	dir = state_dir(user);
	if ((l.seen = seen_open(dir, err, sizeof(err))) == NULL)
		cli_die(EX_IOERR, "%s", err);
	free(dir);
	raise_nofile(l.maxconns);
	if ((l.conns = calloc(l.maxconns, sizeof(*l.conns))) == NULL)
		cli_die(EX_SOFTWARE, "out of memory");
	if ((l.lfd = net_listen(addr, port, 128, err, sizeof(err))) < 0)
		cli_die(EX_UNAVAILABLE, "listen: %s", err);
	if (getsockname(l.lfd, (struct sockaddr *)&ss, &sl) != 0)
		cli_die(EX_OSERR, "getsockname: %s", strerror(errno));
	netaddr_format((struct sockaddr *)&ss, bound, &bport);
	if ((l.epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    epoll_ctl(l.epfd, EPOLL_CTL_ADD, l.lfd, &ev) != 0)
		cli_die(EX_OSERR, "epoll: %s", strerror(errno));

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* A closed terminal: log out as for SIGTERM, rather than vanish
	 * while the directory still says online. */
	sigaction(SIGHUP, &sa, NULL);
	dc_set_cancel(dc, cancelled, NULL);

	print_json(&l, json_pack("{s:s, s:s, s:i, s:s}", "type", "listening",
	    "addr", bound, "port", bport, "user", user));
	if (commit(&l, NULL) != 0)
		return l.status;

	regip = strcmp(bound, "0.0.0.0") == 0 || strcmp(bound, "::") == 0 ?
	    (dc_local_ip(dc, local, sizeof(local)) == 0 ? local : NULL) : bound;
	if (reg) {
		if ((st = dc_register(dc, user, regip, bport, &peer)) == DC_OK)
			json_decref(peer);
		else if (st != DC_CANCELLED)
			cli_warn("registering: %s", dc_error(dc));
	}
	if (catchup && !stopping)
		catch_up(&l, dc);

	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &block, NULL);
	if (reg) {
		hb.user = user;
		hb.ip = regip;
		hb.port = bport;
		hb.dc = cli_dirclient(server);
		if (pthread_create(&thread, NULL, heartbeat, &hb) != 0)
			cli_die(EX_OSERR, "cannot start the heartbeat");
	}
	if (l.status == 0)
		serve(&l);
	while (l.nconns > 0)
		close_conn(&l, l.conns[0], "stopping");
	commit(&l, NULL);
	if (reg) {
		pthread_mutex_lock(&hb.lock);
		hb.stop = true;
		pthread_cond_signal(&hb.cond);
		pthread_mutex_unlock(&hb.lock);
		pthread_join(thread, NULL);
		dc_free(hb.dc);
		dc_set_cancel(dc, NULL, NULL);
		if (dc_logout(dc, user) != DC_OK)
			cli_warn("logging out: %s", dc_error(dc));
	}
	dc_free(dc);
	seen_close(l.seen);
	wire_out_free(&l.print);
	free(l.conns);
	close(l.lfd);
	close(l.epfd);
	return l.status;
}
