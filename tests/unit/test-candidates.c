/* Unit tests for lib/client/candidates.c against a real STUN server
 * (lib/dir/stund.c) on loopback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/candidates.h"
#include "dir/stund.h"

/* A free TCP port on loopback, as the kernel hands one out. */
static int
free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static void
host_and_srflx(void **state)
{
	struct stund_config cfg = { "127.0.0.1", 0, "test", 8, 2000 };
	char err[256];
	struct stund *d = stund_start(&cfg, err, sizeof(err));
	struct stun_query q = { "127.0.0.1", 0, 0, true, 2000 };
	json_t *a, *c;

	(void)state;
	assert_non_null(d);
	q.port = stund_port(d);
	q.local_port = free_port();
	a = candidates_gather("192.0.2.1", q.local_port, &q);
	assert_non_null(a);
	assert_int_equal(json_array_size(a), 2);
	c = json_array_get(a, 0);
	assert_string_equal(json_string_value(json_object_get(c, "type")), "host");
	assert_string_equal(json_string_value(json_object_get(c, "ip")),
	    "192.0.2.1");
	c = json_array_get(a, 1);
	assert_string_equal(json_string_value(json_object_get(c, "type")),
	    "srflx");
	assert_string_equal(json_string_value(json_object_get(c, "ip")),
	    "127.0.0.1");
	/* the mapping of the port registered, not of any port */
	assert_int_equal(json_integer_value(json_object_get(c, "port")),
	    q.local_port);
	json_decref(a);
	stund_stop(d);
}

/* No server: no srflx, and no more than the time box. */
static void
no_server_no_srflx(void **state)
{
	struct stun_query q = { "127.0.0.1", 0, 0, true, 500 };
	json_t *a;

	(void)state;
	q.port = free_port();
	a = candidates_gather("192.0.2.1", 5000, &q);
	assert_non_null(a);
	assert_int_equal(json_array_size(a), 1);
	json_decref(a);
	a = candidates_gather(NULL, 5000, NULL);
	assert_non_null(a);
	assert_int_equal(json_array_size(a), 0);
	json_decref(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(host_and_srflx),
		cmocka_unit_test(no_server_no_srflx),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
