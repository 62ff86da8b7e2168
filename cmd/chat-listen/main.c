/* chat-listen: accept direct connections from peers (wire protocol v1),
 * print every message received as a JSON line, acknowledge it once
 * printed; register with the directory and catch up with the inbox
 * through chat-register and chat-history, run as children, so that no
 * HTTP client weighs on a listener that runs all day. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <getopt.h>
#include <poll.h>
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
#include <sys/wait.h>
#include <unistd.h>

#include "client/dirclient.h"
#include "core/cli.h"
#include "core/exitcodes.h"
#include "core/spawn.h"
#include "core/util.h"
#include "core/valid.h"
#include "net/netaddr.h"
#include "peer/seen.h"
#include "peer/wire.h"

#define PRINT_CHUNK 65536	/* bytes of output printed with one write */
#define OUT_HIGH (1 << 20)	/* unread acks that stop reading a sender */
#define READ_CHUNK 65536
#define HEARTBEAT_S 30		/* a third of the directory's presence window */
#define HISTORY_LINE_MAX (16 << 20)	/* bytes of a line from chat-history */
#define SAVE_EVERY 1000		/* messages caught up between cursor saves */

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
	struct reg *reg;	/* the heartbeat, or NULL */
};

static void reg_event(struct listener *l);
static void reg_tick(struct listener *l);

static volatile sig_atomic_t stopping;

static void
on_signal(int sig)
{
	(void)sig;
	stopping = 1;
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
	int64_t ms;

	if (v == NULL || *v == '\0')
		return def;
	if (!parse_seconds(v, &ms))
		cli_die(EX_USAGE, "%s: %s: not a number of seconds", name, v);
	return ms;
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
			if (evs[i].data.ptr == l->reg) {
				reg_event(l);
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
		reg_tick(l);
	}
}

/* Waits for fd to be readable, or a stop signal (blocked but while
 * waiting), or timeout_ms (-1: none): 1, 0 on a timeout, -1 stopping. */
static int
wait_readable(int fd, int64_t timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct timespec ts, *tp = NULL;
	sigset_t none;
	int n;

	sigemptyset(&none);
	if (timeout_ms >= 0) {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (timeout_ms % 1000) * 1000000;
		tp = &ts;
	}
	while (!stopping) {
		n = ppoll(&p, 1, tp, &none);
		if (n > 0)
			return 1;
		if (n == 0)
			return 0;
		if (errno != EINTR)
			cli_die(EX_OSERR, "poll: %s", strerror(errno));
	}
	return -1;
}

/* The helper program name, next to this one or in PATH; NULL, said on
 * stderr with what goes missing, when there is none. */
static char *
helper(const char *name, const char *missing)
{
	char *path = spawn_find(name);

	if (path == NULL && errno != ENOENT)
		cli_die(EX_SOFTWARE, "out of memory");
	if (path == NULL)
		cli_warn("%s: not found next to chat-listen or in PATH; %s",
		    name, missing);
	return path;
}

/* Starts path with argv, its stdout a pipe whose end is *out: its pid,
 * or -1 said on stderr. */
static pid_t
start_helper(const char *path, char *const argv[], int errfd, int flags,
    int *out)
{
	char err[512];
	int p[2], fds[3];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) != 0) {
		cli_warn("pipe: %s", strerror(errno));
		return -1;
	}
	fds[0] = SPAWN_NULL;
	fds[1] = p[1];
	fds[2] = errfd;
	pid = spawn_child(path, argv, fds, flags, err, sizeof(err));
	close(p[1]);
	if (pid < 0) {
		cli_warn("%s", err);
		close(p[0]);
		return -1;
	}
	*out = p[0];
	return pid;
}

struct catchup {
	struct listener *l;
	int64_t last;
	int64_t saved;
	int items;		/* since the cursor was saved */
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
	cu->items = 0;
	return 0;
}

/* One message of the inbox: printed unless its uid was; -1 to stop. */
static int
on_inbox(struct catchup *cu, json_t *m)
{
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
	} else if (!seen_has(cu->l->seen, uid))
		cli_die(EX_SOFTWARE, "out of memory");
	if (json_integer_value(id) > cu->last)
		cu->last = json_integer_value(id);
	if ((cu->l->print.len >= PRINT_CHUNK || ++cu->items >= SAVE_EVERY) &&
	    save_cursor(cu) != 0)
		return -1;
	return 0;
}

/* The lines b holds, each a message; -1 to stop. */
static int
catch_up_lines(struct catchup *cu, struct wire_buf *b)
{
	size_t len;
	json_error_t jerr;
	json_t *m;
	char *line;
	int rc;

	while ((rc = wire_buf_line(b, &line, &len)) != 0) {
		if (rc < 0) {
			cli_warn("catching up: chat-history: a line over %d"
			    " bytes", HISTORY_LINE_MAX);
			return -1;
		}
		m = json_loadb(line, len, 0, &jerr);
		if (!json_is_object(m)) {
			cli_warn("catching up: chat-history: not a JSON object: "
			    "%s", jerr.text);
			json_decref(m);
			return -1;
		}
		rc = on_inbox(cu, m);
		json_decref(m);
		if (rc != 0)
			return -1;
	}
	return 0;
}

/* Prints the inbox after the saved cursor, as chat-history prints it,
 * saving the cursor as it goes: a listener stopped midway goes on from
 * there. */
static void
catch_up(struct listener *l, const char *server)
{
	struct catchup cu = { .l = l };
	struct wire_buf b = { .max = HISTORY_LINE_MAX };
	char *path, *at, after[24], desc[64];
	char *argv[] = { "chat-history", "-u", (char *)l->user, "--after",
	    after, "-s", (char *)server, NULL };
	bool failed = false;
	int fd, wstatus;
	size_t room;
	ssize_t n;
	pid_t pid;

	if ((path = helper("chat-history", "not catching up")) == NULL)
		return;
	cu.last = cu.saved = seen_cursor(l->seen);
	snprintf(after, sizeof(after), "%" PRId64, cu.last);
	pid = start_helper(path, argv, SPAWN_KEEP, 0, &fd);
	free(path);
	if (pid < 0)
		return;
	while (wait_readable(fd, -1) > 0) {
		if ((at = wire_buf_space(&b, READ_CHUNK, &room)) == NULL)
			cli_die(EX_SOFTWARE, "out of memory");
		while ((n = read(fd, at, room)) < 0 && errno == EINTR)
			;
		if (n > 0)
			wire_buf_fill(&b, (size_t)n);
		if (n <= 0) {
			if (n < 0) {
				cli_warn("catching up: chat-history: %s",
				    strerror(errno));
				failed = true;
			}
			break;
		}
		if (catch_up_lines(&cu, &b) != 0) {
			failed = true;
			break;
		}
	}
	/* Stopped early: the rest comes next time. */
	if (stopping || failed)
		kill(pid, SIGTERM);
	close(fd);
	if (spawn_reap(pid, true, &wstatus) == 1 && !stopping && !failed &&
	    !(WIFEXITED(wstatus) && (WEXITSTATUS(wstatus) == EX_OK ||
	    WEXITSTATUS(wstatus) == EX_NOUSER))) {
		spawn_describe(wstatus, desc, sizeof(desc));
		cli_warn("catching up: chat-history: %s; the rest comes at the "
		    "next start", desc);
	}
	wire_buf_free(&b);
	if (l->status == 0)
		save_cursor(&cu);
}

/* The heartbeat: chat-register, run every every_ms to register once
 * more. Between runs nothing else runs beside the listener, so that an
 * idle listener holds no HTTP client in memory. */
struct reg {
	char *path;		/* of chat-register; NULL: none */
	char *argv[12];
	char port[8], every[32];
	pid_t pid;		/* 0: not running */
	int fd;			/* its stdout, a line when registered; or -1 */
	int64_t lines;		/* of this run */
	bool quiet;		/* the last run failed: say no more */
	int64_t every_ms, next_at;
};

static void
reg_init(struct reg *r, const char *user, const char *server,
    const char *ip, int port, int64_t every_ms)
{
	int i = 0;

	r->pid = 0;
	r->fd = -1;
	r->every_ms = every_ms;
	r->path = helper("chat-register", "not registering: only senders "
	    "given the address find this listener");
	snprintf(r->port, sizeof(r->port), "%d", port);
	/* "30", "0.2": as people write it, in messages */
	snprintf(r->every, sizeof(r->every), "%g", (double)every_ms / 1000);
	r->argv[i++] = "chat-register";
	r->argv[i++] = "-u";
	r->argv[i++] = (char *)user;
	r->argv[i++] = "-p";
	r->argv[i++] = r->port;
	r->argv[i++] = "-s";
	r->argv[i++] = (char *)server;
	if (ip != NULL) {
		r->argv[i++] = "-a";
		r->argv[i++] = (char *)ip;
	}
	r->argv[i] = NULL;
}

/* One run; after a failed one, with its stderr to /dev/null, so that an
 * outage is said once, not every heartbeat. */
static void
reg_start(struct reg *r)
{
	if (r->path == NULL)
		return;
	r->lines = 0;
	r->next_at = mono_ms() + r->every_ms;
	r->pid = start_helper(r->path, r->argv, r->quiet ? SPAWN_NULL :
	    SPAWN_KEEP, 0, &r->fd);
	if (r->pid < 0)
		r->pid = 0;
}

/* Reads what the run printed; at its end, reaps it, and says why when it
 * failed, once an outage. */
static void
reg_readable(struct reg *r, int epfd)
{
	char buf[4096], desc[64];
	ssize_t n;
	int wstatus;

	while ((n = read(r->fd, buf, sizeof(buf))) < 0 && errno == EINTR)
		;
	if (n > 0) {
		if (memchr(buf, '\n', (size_t)n) != NULL)
			r->lines++;
		return;
	}
	if (n < 0 && errno == EAGAIN)
		return;
	if (epfd >= 0)
		epoll_ctl(epfd, EPOLL_CTL_DEL, r->fd, NULL);
	close(r->fd);
	r->fd = -1;
	if (spawn_reap(r->pid, true, &wstatus) != 1)
		wstatus = EX_SOFTWARE << 8;
	r->pid = 0;
	if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == EX_OK &&
	    r->lines > 0) {
		r->quiet = false;
		return;
	}
	if (!r->quiet && !stopping) {
		spawn_describe(wstatus, desc, sizeof(desc));
		cli_warn("registering: chat-register failed (%s); trying again"
		    " every %s s", desc, r->every);
	}
	r->quiet = true;
}

/* At the start: waits for the first registration, so that the listener
 * can be found once it says it listens and no message stored meanwhile
 * is missed by the catch-up; bounded by a request's time. */
static void
reg_first(struct reg *r, int64_t timeout_ms)
{
	int64_t until = mono_ms() + timeout_ms + 2000, left;

	reg_start(r);
	while (r->pid > 0 && !stopping && (left = until - mono_ms()) > 0) {
		if (wait_readable(r->fd, left) > 0)
			reg_readable(r, -1);
	}
}

/* Ends a run under way, then logs out with chat-register --logout. */
static void
reg_stop(struct reg *r, const char *user, const char *server)
{
	char *argv[] = { "chat-register", "-u", (char *)user, "--logout",
	    "-s", (char *)server, NULL };
	char desc[64];
	int wstatus = 0, fd;
	pid_t pid;

	if (r->pid > 0) {
		kill(r->pid, SIGTERM);
		close(r->fd);
		spawn_reap(r->pid, true, &wstatus);
	}
	if (r->path != NULL) {
		/* A closing terminal's hangup, which may come again as
		 * its shell exits, does not cut the logout short. */
		pid = start_helper(r->path, argv, SPAWN_KEEP, SPAWN_NOHUP, &fd);
		if (pid > 0) {
			close(fd);
			if (spawn_reap(pid, true, &wstatus) != 1)
				wstatus = EX_SOFTWARE << 8;
		}
		if (pid <= 0 || !WIFEXITED(wstatus) ||
		    WEXITSTATUS(wstatus) != EX_OK) {
			if (pid > 0) {
				spawn_describe(wstatus, desc, sizeof(desc));
				cli_warn("logging out: chat-register failed"
				    " (%s)", desc);
			} else
				cli_warn("logging out: chat-register did not"
				    " start");
		}
	}
	r->pid = 0;
	r->fd = -1;
	free(r->path);
	r->path = NULL;
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

static void
reg_event(struct listener *l)
{
	reg_readable(l->reg, l->epfd);
}

/* The next heartbeat, once its time has come. */
static void
reg_tick(struct listener *l)
{
	struct reg *r = l->reg;
	struct epoll_event ev = { .events = EPOLLIN };

	if (r == NULL || r->path == NULL || r->pid > 0 ||
	    mono_ms() < r->next_at)
		return;
	reg_start(r);
	ev.data.ptr = r;
	if (r->pid > 0 && epoll_ctl(l->epfd, EPOLL_CTL_ADD, r->fd, &ev) != 0)
		cli_die(EX_OSERR, "epoll: %s", strerror(errno));
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
	struct reg r = { .fd = -1 };
	struct sockaddr_storage ss;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	struct sigaction sa;
	sigset_t block;
	socklen_t sl = sizeof(ss);
	char local[NETADDR_HOSTLEN], bound[NETADDR_HOSTLEN], err[512], *dir;
	char dirhost[256];
	const char *regip;
	int c, port = 0, bport, dirport;
	int64_t max, every_ms, timeout_ms;

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
	server = cli_setting(server, CLI_ENV_SERVER, DC_SERVER_DEFAULT);
	if (netaddr_url(server, dirhost, sizeof(dirhost), &dirport) != 0)
		cli_die(EX_USAGE, "%s: not an http or https URL", server);
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
	every_ms = env_ms("CHAT_HEARTBEAT", HEARTBEAT_S * 1000);
	/* The helpers read it too; a bad one is said here, once. */
	timeout_ms = env_ms(CLI_ENV_TIMEOUT, 10000);

	/* By default it listens where the directory is reached from: the
	 * address it registers. */
	if (addr == NULL)
		addr = net_local_ip(dirhost, dirport, local, sizeof(local)) ==
		    0 ? local : "127.0.0.1";
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

	/* The stop signals are taken only while waiting (ppoll, epoll_pwait),
	 * so none comes between a look at stopping and a wait. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	/* A closed terminal: log out as for SIGTERM, rather than vanish
	 * while the directory still says online. */
	sigaddset(&block, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &block, NULL) != 0 ||
	    sigaction(SIGTERM, &sa, NULL) != 0 ||
	    sigaction(SIGINT, &sa, NULL) != 0 ||
	    sigaction(SIGHUP, &sa, NULL) != 0)
		cli_die(EX_OSERR, "signals: %s", strerror(errno));

	regip = strcmp(bound, "0.0.0.0") == 0 || strcmp(bound, "::") == 0 ?
	    (net_local_ip(dirhost, dirport, local, sizeof(local)) == 0 ?
	    local : NULL) : bound;
	if (reg) {
		reg_init(&r, user, server, regip, bport, every_ms);
		reg_first(&r, timeout_ms);
		l.reg = &r;
		ev.data.ptr = &r;
		if (r.pid > 0 && epoll_ctl(l.epfd, EPOLL_CTL_ADD, r.fd, &ev) != 0)
			cli_die(EX_OSERR, "epoll: %s", strerror(errno));
	}

	print_json(&l, json_pack("{s:s, s:s, s:i, s:s}", "type", "listening",
	    "addr", bound, "port", bport, "user", user));
	if (commit(&l, NULL) == 0) {
		if (catchup && !stopping)
			catch_up(&l, server);
		if (l.status == 0)
			serve(&l);
	}
	while (l.nconns > 0)
		close_conn(&l, l.conns[0], "stopping");
	commit(&l, NULL);
	if (reg)
		reg_stop(&r, user, server);
	seen_close(l.seen);
	wire_out_free(&l.print);
	free(l.conns);
	close(l.lfd);
	close(l.epfd);
	return l.status;
}
