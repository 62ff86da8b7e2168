/* Unit tests for lib/valid, lib/util and lib/netaddr: the checks every
 * program applies to its input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/util.h"
#include "core/valid.h"
#include "net/netaddr.h"

static void
usernames(void **state)
{
	(void)state;
	assert_true(valid_username("alice"));
	assert_true(valid_username("A"));
	assert_true(valid_username("9lives"));
	assert_true(valid_username("bob.smith_2-x"));
	assert_true(valid_username(
	    "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghij"));	/* 50 */
	assert_false(valid_username(
	    "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijk"));	/* 51 */
	assert_false(valid_username(""));
	assert_false(valid_username(NULL));
	assert_false(valid_username(".alice"));
	assert_false(valid_username("-alice"));
	assert_false(valid_username("_alice"));
	assert_false(valid_username("al ice"));
	assert_false(valid_username("al/ice"));
	assert_false(valid_username("alïce"));
}

static void
ips(void **state)
{
	(void)state;
	assert_true(valid_ip("127.0.0.1"));
	assert_true(valid_ip("::1"));
	assert_true(valid_ip("2001:db8::42"));
	assert_false(valid_ip("999.1.1.1"));
	assert_false(valid_ip("1.2.3"));
	assert_false(valid_ip("abc"));
	assert_false(valid_ip("[::1]"));
	assert_false(valid_ip(""));
	assert_false(valid_ip(NULL));
}

static void
uids(void **state)
{
	(void)state;
	assert_true(valid_uid("0123456789abcdef0123456789abcdef"));
	assert_true(valid_uid("a:b.c_d-e"));
	assert_false(valid_uid(""));
	assert_false(valid_uid("has space"));
	assert_false(valid_uid("quote\""));
	assert_false(valid_uid(
	    "0123456789012345678901234567890123456789012345678901234567890123x"));
}

static void
utf8(void **state)
{
	(void)state;
	assert_true(valid_utf8("plain", 5));
	assert_true(valid_utf8("caf\xc3\xa9", 5));
	assert_true(valid_utf8("\xf0\x9f\x98\x80", 4));	/* emoji */
	assert_false(valid_utf8("\xff", 1));
	assert_false(valid_utf8("\xc3", 1));		/* cut short */
	assert_false(valid_utf8("\xc0\xaf", 2));	/* overlong */
	assert_false(valid_utf8("\xe0\x82\x80", 3));	/* U+0080 in 3 bytes */
	assert_false(valid_utf8("\xf0\x8f\xbf\xbf", 4));	/* U+FFFF in 4 */
	assert_true(valid_utf8("\xe0\xa0\x80", 3));	/* U+0800, the least */
	assert_false(valid_utf8("\xed\xa0\x80", 3));	/* surrogate */
	assert_false(valid_utf8("a\0b", 3));
}

static void
numbers(void **state)
{
	int64_t v = -1;

	(void)state;
	assert_true(parse_int("0", 0, 10, &v));
	assert_int_equal(v, 0);
	assert_true(parse_int("65535", 1, 65535, &v));
	assert_int_equal(v, 65535);
	assert_false(parse_int("65536", 1, 65535, &v));
	assert_false(parse_int("-1", -5, 5, &v));
	assert_false(parse_int("+1", 0, 5, &v));
	assert_false(parse_int(" 1", 0, 5, &v));
	assert_false(parse_int("1 ", 0, 5, &v));
	assert_false(parse_int("1e3", 0, 5000, &v));
	assert_false(parse_int("", 0, 5, &v));
	assert_false(parse_int("99999999999999999999", 0, INT64_MAX, &v));
	/* seconds, as milliseconds */
	assert_true(parse_seconds("30", &v));
	assert_int_equal(v, 30000);
	assert_true(parse_seconds("0.2", &v));
	assert_int_equal(v, 200);
	assert_true(parse_seconds("0.0001", &v));
	assert_int_equal(v, 1);	/* at least a millisecond */
	assert_true(parse_seconds("86400", &v));
	assert_int_equal(v, 86400000);
	assert_false(parse_seconds("86401", &v));
	assert_false(parse_seconds("0", &v));
	assert_false(parse_seconds("-1", &v));
	assert_false(parse_seconds(".5", &v));
	assert_false(parse_seconds("1s", &v));
	assert_false(parse_seconds("nan", &v));
	assert_false(parse_seconds("", &v));
	assert_false(parse_seconds(NULL, &v));
}

static void
timestamps(void **state)
{
	char ts[TS_LEN];
	int64_t ms = 0;

	(void)state;
	ts_format(1764014718123LL, ts);
	assert_string_equal(ts, "2025-11-24T20:05:18.123Z");
	assert_true(ts_parse(ts, &ms));
	assert_int_equal(ms, 1764014718123LL);
	ts_format(0, ts);
	assert_string_equal(ts, "1970-01-01T00:00:00.000Z");
	assert_false(ts_parse("2025-11-24T20:05:18Z", &ms));
	assert_false(ts_parse("yesterday", &ms));
}

static void
fresh_uids(void **state)
{
	char a[UID_HEX_LEN], b[UID_HEX_LEN], c[UID_HEX_LEN], head[13];
	struct timespec pause = { 0, 2000000 };
	int64_t before, after, stamp;

	(void)state;
	before = now_ms();
	uid_new(a);
	uid_new(b);
	after = now_ms();
	assert_int_equal(strlen(a), 32);
	assert_true(valid_uid(a));
	assert_int_equal(strspn(a, "0123456789abcdef"), 32);
	assert_string_not_equal(a, b);
	/* A UUIDv7: version 7, variant 10, the time in its first 48 bits. */
	assert_int_equal(a[12], '7');
	assert_non_null(strchr("89ab", a[16]));
	memcpy(head, a, 12);
	head[12] = '\0';
	stamp = strtoll(head, NULL, 16);
	assert_in_range(stamp, before, after);
	/* made a millisecond or more later, it sorts after */
	nanosleep(&pause, NULL);
	uid_new(c);
	assert_true(strcmp(b, c) < 0);
	/* the other 74 bits are random: not two alike in many */
	for (int i = 0; i < 1000; i++) {
		uid_new(c);
		assert_string_not_equal(c + 13, b + 13);
	}
}

static void
addresses(void **state)
{
	char host[NETADDR_HOSTLEN];
	int port = -1;

	(void)state;
	assert_int_equal(netaddr_split("127.0.0.1:8000", host, &port), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 8000);
	assert_int_equal(netaddr_split("[::1]:0", host, &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 0);
	assert_int_equal(netaddr_split("localhost:80", host, &port), 0);
	assert_int_equal(netaddr_split("::1:80", host, &port), -1);
	assert_int_equal(netaddr_split("127.0.0.1", host, &port), -1);
	assert_int_equal(netaddr_split("127.0.0.1:", host, &port), -1);
	assert_int_equal(netaddr_split(":80", host, &port), -1);
	assert_int_equal(netaddr_split("1.2.3.4:65536", host, &port), -1);
	assert_int_equal(netaddr_split("[::1]80", host, &port), -1);
}

/* net_listen and net_connect meet on loopback; a closed port is an
 * error with a reason, not a hang. */
static void
connect_and_listen(void **state)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[NETADDR_HOSTLEN], err[256];
	int lfd, fd, port;

	(void)state;
	lfd = net_listen("127.0.0.1", 0, 4, err, sizeof(err));
	assert_true(lfd >= 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&ss, &sl), 0);
	netaddr_format((struct sockaddr *)&ss, host, &port);
	assert_string_equal(host, "127.0.0.1");
	assert_true(port > 0);
	fd = net_connect("127.0.0.1", port, 2000, err, sizeof(err));
	assert_true(fd >= 0);
	close(fd);
	close(lfd);	/* now nobody listens there */
	err[0] = '\0';
	assert_int_equal(net_connect("127.0.0.1", port, 2000, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "refused"));
	assert_int_equal(net_connect("no such host.invalid", 1, 2000, err,
	    sizeof(err)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(usernames),
		cmocka_unit_test(ips),
		cmocka_unit_test(uids),
		cmocka_unit_test(utf8),
		cmocka_unit_test(numbers),
		cmocka_unit_test(timestamps),
		cmocka_unit_test(fresh_uids),
		cmocka_unit_test(addresses),
		cmocka_unit_test(connect_and_listen),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
