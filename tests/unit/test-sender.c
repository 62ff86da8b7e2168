/* Unit tests for lib/peer/sender: the engine of chat-send driven in
 * process, its input a pipe, its peer a thread of this test on loopback
 * TCP that acknowledges, refuses, hangs up or stops answering. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
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
#include <jansson.h>

#include "core/exitcodes.h"
#include "net/netaddr.h"
#include "peer/sender.h"

enum mode { ACK, REFUSE, SILENT, HANG_UP_ONCE };

struct peer {
	int lfd, port;
	enum mode mode;
	int got;		/* messages received */
	pthread_t thread;
};

/* One line from fd into buf; false at the end or after 3 s. */
static bool
line_of(int fd, char *buf, size_t cap)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t n = 0;

	while (n + 1 < cap) {
		if (poll(&p, 1, 3000) != 1 || read(fd, buf + n, 1) != 1)
			return false;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	return true;
}

static void
put(int fd, const char *s)
{
	(void)send(fd, s, strlen(s), MSG_NOSIGNAL);
}

static void *
peer_run(void *arg)
{
	struct peer *p = arg;
	struct pollfd pf = { .fd = p->lfd, .events = POLLIN };
	char line[1024], ack[256];
	json_t *j;
	int fd, conns = 0;

	while (poll(&pf, 1, 5000) == 1 &&
	    (fd = accept(p->lfd, NULL, NULL)) >= 0) {
		conns++;
		if (!line_of(fd, line, sizeof(line))) {
			close(fd);
			break;
		}
		if (p->mode == REFUSE) {
			put(fd, "{\"type\":\"error\",\"code\":\"wrong_user\","
			    "\"error\":\"not listening for bob\"}\n");
			close(fd);
			break;
		}
		put(fd, "{\"type\":\"hello\",\"v\":1,\"from\":\"bob\"}\n");
		while (line_of(fd, line, sizeof(line))) {
			if (p->mode == HANG_UP_ONCE && conns == 1)
				break;	/* the message is not acknowledged */
			p->got++;
			if (p->mode == SILENT)
				continue;
			j = json_loads(line, 0, NULL);
			snprintf(ack, sizeof(ack), "{\"type\":\"ack\",\"uid\":"
			    "\"%s\"}\n", json_string_value(json_object_get(j,
			    "uid")));
			json_decref(j);
			put(fd, ack);
		}
		close(fd);
		if (!(p->mode == HANG_UP_ONCE && conns == 1))
			break;
	}
	return NULL;
}

static void
peer_start(struct peer *p, enum mode mode)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char err[256], host[NETADDR_HOSTLEN];

	memset(p, 0, sizeof(*p));
	p->mode = mode;
	p->lfd = net_listen("127.0.0.1", 0, 4, err, sizeof(err));
	assert_true(p->lfd >= 0);
	assert_int_equal(getsockname(p->lfd, (struct sockaddr *)&ss, &sl), 0);
	netaddr_format((struct sockaddr *)&ss, host, &p->port);
	assert_int_equal(pthread_create(&p->thread, NULL, peer_run, p), 0);
}

static void
peer_stop(struct peer *p)
{
	assert_int_equal(pthread_join(p->thread, NULL), 0);
	close(p->lfd);
}

/* Sends input to the peer: the exit status, the report in out. */
static int
send_all(const struct peer *p, const char *input, int64_t timeout_ms,
    bool *opened, char *out, size_t cap)
{
	struct sender_cfg cfg = { .user = "alice", .peer = "bob",
	    .host = "127.0.0.1", .port = p->port, .timeout_ms = timeout_ms,
	    .reconnects = 1, .plaintext = true };
	struct sender *s;
	int in[2], status;
	size_t n;
	FILE *f = tmpfile();

	assert_non_null(f);
	assert_int_equal(pipe(in), 0);
	assert_int_equal(write(in[1], input, strlen(input)),
	    (ssize_t)strlen(input));
	close(in[1]);
	cfg.infd = in[0];
	cfg.out = f;
	s = sender_new(&cfg);
	assert_non_null(s);
	*opened = sender_open(s);
	status = sender_run(s);
	sender_free(s);
	close(in[0]);
	rewind(f);
	n = fread(out, 1, cap - 1, f);
	out[n] = '\0';
	fclose(f);
	return status;
}

static int
count(const char *s, const char *what)
{
	int n = 0;

	while ((s = strstr(s, what)) != NULL) {
		n++;
		s++;
	}
	return n;
}

static void
every_message_acked(void **state)
{
	struct peer p;
	char out[4096];
	bool opened;

	(void)state;
	peer_start(&p, ACK);
	assert_int_equal(send_all(&p, "one\ntwo\n\nthree", 3000, &opened, out,
	    sizeof(out)), EX_OK);
	peer_stop(&p);
	assert_true(opened);
	assert_int_equal(p.got, 3);
	assert_int_equal(count(out, "\"to\":\"bob\",\"delivered\":true,"
	    "\"stored\":false,\"path\":\"direct\"}"), 3);
}

static void
refused_is_not_delivered(void **state)
{
	struct peer p;
	char out[4096];
	bool opened;

	(void)state;
	peer_start(&p, REFUSE);
	assert_int_equal(send_all(&p, "one\n", 3000, &opened, out,
	    sizeof(out)), EX_UNAVAILABLE);
	peer_stop(&p);
	assert_false(opened);
	assert_int_equal(count(out, "\"delivered\":false,\"stored\":false,"
	    "\"path\":null}"), 1);
}

static void
no_ack_in_time(void **state)
{
	struct peer p;
	char out[4096];
	bool opened;

	(void)state;
	peer_start(&p, SILENT);
	assert_int_equal(send_all(&p, "one\ntwo\n", 300, &opened, out,
	    sizeof(out)), EX_UNAVAILABLE);
	peer_stop(&p);
	assert_true(opened);
	assert_int_equal(count(out, "\"delivered\":false"), 2);
}

static void
resent_after_reconnect(void **state)
{
	struct peer p;
	char out[4096];
	bool opened;

	(void)state;
	peer_start(&p, HANG_UP_ONCE);
	assert_int_equal(send_all(&p, "one\ntwo\n", 3000, &opened, out,
	    sizeof(out)), EX_OK);
	peer_stop(&p);
	assert_int_equal(count(out, "\"delivered\":true"), 2);
	assert_int_equal(p.got, 2);
}

static void
bad_input_said(void **state)
{
	struct peer p;
	char out[4096];
	bool opened;

	(void)state;
	peer_start(&p, ACK);
	assert_int_equal(send_all(&p, "ok\n\xff\xfe\n", 3000, &opened, out,
	    sizeof(out)), EX_DATAERR);
	peer_stop(&p);
	assert_int_equal(p.got, 1);
	assert_int_equal(count(out, "\"delivered\":true"), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_message_acked),
		cmocka_unit_test(refused_is_not_delivered),
		cmocka_unit_test(no_ack_in_time),
		cmocka_unit_test(resent_after_reconnect),
		cmocka_unit_test(bad_input_said),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
