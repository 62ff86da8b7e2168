/* Unit tests for lib/net/punch over loopback: the first target that
 * answers wins, from the port asked for, even one a listener shares; a
 * target that refuses is tried again until the time is up; what is not
 * a numeric address is refused. The simultaneous open itself needs two
 * NATs that drop what they did not ask for: tests/740-nat-paths.bats. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/util.h"
#include "net/netaddr.h"
#include "net/punch.h"

static int
port_of(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[NETADDR_HOSTLEN];
	int port = -1;

	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &sl), 0);
	netaddr_format((struct sockaddr *)&ss, host, &port);
	return port;
}

/* A free local port, held by a shared socket the caller closes. */
static int
held_port(int *holder)
{
	char err[256];

	*holder = punch_socket(AF_INET, 0, err, sizeof(err));
	assert_true(*holder >= 0);
	return port_of(*holder);
}

static void
first_answer_wins(void **state)
{
	struct punch_target t[2] = { { "127.0.0.1", 1 }, { "127.0.0.1", 0 } };
	char err[256];
	size_t which = 99;
	int lfd, holder, x, fd, afd;
	struct pollfd p;

	(void)state;
	lfd = net_listen("127.0.0.1", 0, 8, err, sizeof(err));
	assert_true(lfd >= 0);
	t[1].port = port_of(lfd);
	x = held_port(&holder);
	fd = punch_connect(t, 2, x, 2000, &which, err, sizeof(err));
	assert_true(fd >= 0);
	assert_int_equal(which, 1);
	assert_int_equal(port_of(fd), x);
	p = (struct pollfd){ lfd, POLLIN, 0 };
	assert_int_equal(poll(&p, 1, 2000), 1);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	assert_int_equal(write(fd, "x", 1), 1);
	close(afd);
	close(fd);
	close(holder);
	close(lfd);
}

/* The listener's own port: chat-listen punches from where it listens. */
static void
from_a_listening_port(void **state)
{
	struct punch_target t = { "127.0.0.1", 0 };
	char err[256];
	size_t which;
	int mine, peer, fd;

	(void)state;
	mine = net_listen_shared("127.0.0.1", 0, 8, err, sizeof(err));
	peer = net_listen("127.0.0.1", 0, 8, err, sizeof(err));
	assert_true(mine >= 0 && peer >= 0);
	t.port = port_of(peer);
	fd = punch_connect(&t, 1, port_of(mine), 2000, &which, err,
	    sizeof(err));
	assert_true(fd >= 0);
	assert_int_equal(port_of(fd), port_of(mine));
	close(fd);
	close(mine);
	close(peer);
}

static void
refused_until_the_time_is_up(void **state)
{
	struct punch_target t = { "127.0.0.1", 1 }, bad = { "localhost", 80 };
	char err[256];
	size_t which;
	int holder, x;
	int64_t t0;

	(void)state;
	x = held_port(&holder);
	t0 = mono_ms();
	assert_int_equal(punch_connect(&t, 1, x, 400, &which, err,
	    sizeof(err)), -1);
	assert_true(mono_ms() - t0 >= 350);
	assert_non_null(strstr(err, "400 ms"));
	assert_int_equal(punch_connect(&bad, 1, x, 100, &which, err,
	    sizeof(err)), -1);
	assert_int_equal(punch_connect(&t, 0, x, 100, &which, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "no address"));
	close(holder);
}

static void *
listen_later(void *arg)
{
	usleep(150000);
	assert_int_equal(listen(*(int *)arg, 8), 0);
	return NULL;
}

/* Refused while nobody listens; tried again, it gets through once the
 * other side is there. */
static void
tried_again(void **state)
{
	struct punch_target t = { "127.0.0.1", 0 };
	char err[256];
	size_t which;
	int later, holder, x, fd;
	pthread_t th;

	(void)state;
	t.port = held_port(&later);
	x = held_port(&holder);
	assert_int_equal(pthread_create(&th, NULL, listen_later, &later), 0);
	fd = punch_connect(&t, 1, x, 2000, &which, err, sizeof(err));
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_true(fd >= 0);
	close(fd);
	close(holder);
	close(later);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(first_answer_wins),
		cmocka_unit_test(from_a_listening_port),
		cmocka_unit_test(refused_until_the_time_is_up),
		cmocka_unit_test(tried_again),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
