/* Unit tests for the URL half of lib/netaddr: the host and port of a
 * directory's URL, and the local address that reaches it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "net/netaddr.h"

static void
url_is(const char *url, const char *host, int port)
{
	char h[256];
	int p = -1;

	assert_int_equal(netaddr_url(url, h, sizeof(h), &p), 0);
	assert_string_equal(h, host);
	assert_int_equal(p, port);
}

static void
url_bad(const char *url)
{
	char h[256];
	int p;

	assert_int_equal(netaddr_url(url, h, sizeof(h), &p), -1);
}

static void
urls(void **state)
{
	(void)state;
	url_is("http://127.0.0.1:8000", "127.0.0.1", 8000);
	url_is("http://127.0.0.1:8000/", "127.0.0.1", 8000);
	url_is("http://dir.example.org", "dir.example.org", 80);
	url_is("https://dir.example.org", "dir.example.org", 443);
	url_is("HTTPS://Dir.Example.org:8443/chat/api", "Dir.Example.org", 8443);
	url_is("http://[::1]:8000/", "::1", 8000);
	url_is("http://[2001:db8::1]", "2001:db8::1", 80);
	url_is("https://[fe80::1%25eth0]:9/", "fe80::1%eth0", 9);
	url_is("http://user:pw@host:81/x", "host", 81);
	url_is("http://a@b@host", "host", 80);
	url_is("http://host:", "host", 80);
	url_is("http://host?x=1", "host", 80);
	url_is("http://host#frag", "host", 80);
	url_is("http://host/a@b", "host", 80);
	url_bad("ftp://host");
	url_bad("host:80");
	url_bad("http://");
	url_bad("http:///path");
	url_bad("http://:80");
	url_bad("http://user@");
	url_bad("http://host:0");
	url_bad("http://host:65536");
	url_bad("http://host:8x");
	url_bad("http://host:-1");
	url_bad("http://::1:80");
	url_bad("http://[::1");
	url_bad("http://[::1]x");
	url_bad("http://[]:80");
}

static void
host_too_long(void **state)
{
	char h[8];
	int p;

	(void)state;
	assert_int_equal(netaddr_url("http://1234567/", h, sizeof(h), &p), 0);
	assert_string_equal(h, "1234567");
	assert_int_equal(netaddr_url("http://12345678/", h, sizeof(h), &p), -1);
}

static void
local_ip(void **state)
{
	char out[NETADDR_HOSTLEN], tiny[4];

	(void)state;
	assert_int_equal(net_local_ip("127.0.0.1", 8000, out, sizeof(out)), 0);
	assert_string_equal(out, "127.0.0.1");
	assert_int_equal(net_local_ip("127.0.0.1", 8000, tiny, sizeof(tiny)),
	    -1);
	assert_int_equal(net_local_ip("no such host.invalid", 80, out,
	    sizeof(out)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(urls),
		cmocka_unit_test(host_too_long),
		cmocka_unit_test(local_ip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
