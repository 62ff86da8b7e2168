/* test-dirclient: the pure parts of the directory client and the client
 * programs' settings: URLs, what answers mean, output objects. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "client/dirclient.h"
#include "core/cli.h"
#include "core/exitcodes.h"

static void
url_is(const char *server, const char *path, const char *const *q,
    const char *want)
{
	char *url = dc_url(server, path, q);

	assert_non_null(url);
	assert_string_equal(url, want);
	free(url);
}

static void
test_url(void **state)
{
	const char *none[] = { NULL };
	const char *one[] = { "username", "alice", NULL };
	const char *two[] = { "peer1", "a.b", "peer2", "c_d-9", NULL };
	const char *skip[] = { "after", NULL, "limit", "1000", NULL };

	(void)state;
	url_is("http://h:1", "/peers", NULL, "http://h:1/peers");
	url_is("http://h:1", "/peers", none, "http://h:1/peers");
	url_is("http://h:1", "/peerinfo", one,
	    "http://h:1/peerinfo?username=alice");
	url_is("http://h:1/chat", "/message/get/", two,
	    "http://h:1/chat/message/get/?peer1=a.b&peer2=c_d-9");
	url_is("http://h", "/peers", skip, "http://h/peers?limit=1000");
}

static void
test_url_escapes(void **state)
{
	const char *q[] = { "username", "a b&c=d/é?#%", "k y", "+", NULL };

	(void)state;
	url_is("http://h", "/peerinfo", q, "http://h/peerinfo?username="
	    "a%20b%26c%3Dd%2F%C3%A9%3F%23%25&k%20y=%2B");
}

static void
test_curl_status(void **state)
{
	(void)state;
	assert_int_equal(dc_curl_status(CURLE_OK), DC_OK);
	assert_int_equal(dc_curl_status(CURLE_COULDNT_CONNECT), DC_UNAVAILABLE);
	assert_int_equal(dc_curl_status(CURLE_COULDNT_RESOLVE_HOST),
	    DC_UNAVAILABLE);
	assert_int_equal(dc_curl_status(CURLE_OPERATION_TIMEDOUT),
	    DC_UNAVAILABLE);
	assert_int_equal(dc_curl_status(CURLE_RECV_ERROR), DC_UNAVAILABLE);
	assert_int_equal(dc_curl_status(CURLE_SEND_ERROR), DC_UNAVAILABLE);
	assert_int_equal(dc_curl_status(CURLE_WEIRD_SERVER_REPLY),
	    DC_PROTOCOL);
	assert_int_equal(dc_curl_status(CURLE_GOT_NOTHING), DC_PROTOCOL);
	assert_int_equal(dc_curl_status(CURLE_PARTIAL_FILE), DC_PROTOCOL);
	assert_int_equal(dc_curl_status(CURLE_SSL_CONNECT_ERROR), DC_PROTOCOL);
	assert_int_equal(dc_curl_status(CURLE_ABORTED_BY_CALLBACK),
	    DC_CANCELLED);
	assert_int_equal(dc_curl_status(CURLE_OUT_OF_MEMORY), DC_INTERNAL);
}

static void
http_is(long http, const char *body, enum dc_status want)
{
	json_t *o = body ? json_loads(body, JSON_DECODE_ANY, NULL) : NULL;

	if (body != NULL)
		assert_non_null(o);
	assert_int_equal(dc_http_status(http, o), want);
	json_decref(o);
}

static void
test_http_status(void **state)
{
	(void)state;
	http_is(200, "{\"peers\":[]}", DC_OK);
	http_is(201, "{}", DC_OK);
	http_is(200, NULL, DC_PROTOCOL);
	http_is(200, "[1]", DC_PROTOCOL);
	http_is(200, "\"ok\"", DC_PROTOCOL);
	http_is(404, "{\"error\":\"Peer not found\",\"code\":\"peer_not_found\"}",
	    DC_NOT_FOUND);
	http_is(404, "{\"error\":\"Peer not found\"}", DC_NOT_FOUND);
	http_is(404, "{\"error\":\"no such path\",\"code\":\"not_found\"}",
	    DC_PROTOCOL);
	http_is(404, NULL, DC_PROTOCOL);
	http_is(404, "{}", DC_PROTOCOL);
	http_is(400, "{\"error\":\"bad\",\"code\":\"invalid_port\"}",
	    DC_REJECTED);
	http_is(400, NULL, DC_REJECTED);
	http_is(413, "{\"error\":\"big\",\"code\":\"body_too_large\"}",
	    DC_REJECTED);
	http_is(405, "{\"error\":\"no\",\"code\":\"method_not_allowed\"}",
	    DC_PROTOCOL);
	http_is(503, "{\"error\":\"full\",\"code\":\"storage_full\"}",
	    DC_TEMPFAIL);
	http_is(500, NULL, DC_UNAVAILABLE);
	http_is(502, NULL, DC_UNAVAILABLE);
	http_is(301, "{}", DC_PROTOCOL);
	http_is(100, NULL, DC_PROTOCOL);
	http_is(0, NULL, DC_PROTOCOL);
}

static void
test_exit_status(void **state)
{
	(void)state;
	assert_int_equal(dc_exit_status(DC_OK), 0);
	assert_int_equal(dc_exit_status(DC_NOT_FOUND), 67);
	assert_int_equal(dc_exit_status(DC_REJECTED), 65);
	assert_int_equal(dc_exit_status(DC_UNAVAILABLE), 69);
	assert_int_equal(dc_exit_status(DC_TEMPFAIL), 75);
	assert_int_equal(dc_exit_status(DC_PROTOCOL), 76);
	assert_int_equal(dc_exit_status(DC_INTERNAL), 70);
	assert_int_equal(dc_exit_status(DC_CANCELLED), 75);
}

static void
out_is(json_t *(*conv)(const json_t *), const char *in, const char *want)
{
	json_t *i = json_loads(in, 0, NULL), *o;
	char *s;

	assert_non_null(i);
	o = conv(i);
	if (want == NULL) {
		assert_null(o);
	} else {
		assert_non_null(o);
		s = json_dumps(o, JSON_COMPACT);
		assert_string_equal(s, want);
		free(s);
	}
	json_decref(o);
	json_decref(i);
}

static void
test_message_out(void **state)
{
	(void)state;
	out_is(dc_message_out, "{\"ts\":\"T\",\"message\":\"hi\",\"to\":\"b\","
	    "\"from\":\"a\",\"uid\":\"u\",\"id\":7,\"extra\":1}",
	    "{\"id\":7,\"uid\":\"u\",\"from\":\"a\",\"to\":\"b\","
	    "\"text\":\"hi\",\"ts\":\"T\"}");
	/* seed servers send only these two */
	out_is(dc_message_out, "{\"message\":\"\",\"from\":\"a\"}",
	    "{\"from\":\"a\",\"text\":\"\"}");
	out_is(dc_message_out, "{\"from\":\"a\"}", NULL);
	out_is(dc_message_out, "{\"message\":1}", NULL);
	out_is(dc_message_out, "{\"message\":\"x\",\"id\":\"7\"}", NULL);
	out_is(dc_message_out, "{\"message\":\"x\",\"from\":null}", NULL);
	out_is(dc_message_out, "[]", NULL);
}

static void
test_peer_out(void **state)
{
	(void)state;
	out_is(dc_peer_out, "{\"last_seen\":\"T\",\"online\":false,"
	    "\"port\":5,\"ip\":\"::1\",\"username\":\"a\",\"x\":0}",
	    "{\"username\":\"a\",\"ip\":\"::1\",\"port\":5,\"online\":false,"
	    "\"last_seen\":\"T\"}");
	out_is(dc_peer_out, "{\"username\":\"a\"}", "{\"username\":\"a\"}");
	out_is(dc_peer_out, "{\"username\":\"a\",\"port\":\"5000\"}",
	    "{\"username\":\"a\",\"port\":5000}");
	out_is(dc_peer_out, "{\"username\":\"a\",\"port\":\"50x\"}", NULL);
	out_is(dc_peer_out, "{\"username\":\"a\",\"port\":\"\"}", NULL);
	out_is(dc_peer_out, "{\"username\":\"a\",\"online\":1}", NULL);
	out_is(dc_peer_out, "{\"ip\":\"::1\"}", NULL);
	out_is(dc_peer_out, "{\"username\":7}", NULL);
}

static void
test_new(void **state)
{
	const char *bad[] = { "", "127.0.0.1:8000", "ftp://h/", "http://",
	    "http://h/?q=1", "http://h/#f", "file:///etc" };
	struct dirclient *dc;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		err[0] = '\0';
		assert_null(dc_new(bad[i], 0, err, sizeof(err)));
		assert_int_equal(errno, EINVAL);
		assert_non_null(strstr(err, bad[i]));
	}
	dc = dc_new("HTTP://127.0.0.1:1//", 1, err, sizeof(err));
	assert_non_null(dc);
	dc_free(dc);
	dc = dc_new("https://[::1]:8000/chat/", 0, err, sizeof(err));
	assert_non_null(dc);
	dc_free(dc);
}

/* dc_post takes only messages that dc_seal made ready; a directory that
 * is not there fails the post, not the sealing, and no id is set. */
static void
test_ready_range(void **state)
{
	struct dc_outgoing m[2] = {
		{ .from = "alice", .to = "bob", .text = "one", .id = 7 },
		{ .from = "alice", .to = "bob", .text = "two", .id = 7 },
	};
	struct dirclient *dc;
	struct dc_ready *r;
	char err[256];

	(void)state;
	dc = dc_new("http://127.0.0.1:1", 1000, err, sizeof(err));
	assert_non_null(dc);
	assert_int_equal(dc_seal(dc, m, 2, &r), DC_OK);
	assert_non_null(r);
	assert_int_equal(dc_post(dc, r, 0, 0), DC_INTERNAL);
	assert_int_equal(dc_post(dc, r, 2, 1), DC_INTERNAL);
	assert_int_equal(dc_post(dc, r, 1, 2), DC_INTERNAL);
	assert_non_null(strstr(dc_error(dc), "no such messages"));
	assert_int_equal(dc_post(dc, r, 1, 1), DC_UNAVAILABLE);
	assert_int_equal(dc_post(dc, r, 0, 2), DC_UNAVAILABLE);
	assert_int_equal(m[0].id, 7);
	assert_int_equal(m[1].id, 7);
	dc_ready_free(r);
	dc_ready_free(NULL);
	dc_free(dc);
}

static void
test_local_ip(void **state)
{
	struct dirclient *dc;
	char err[256], ip[64];

	(void)state;
	dc = dc_new("http://127.0.0.1:9", 0, err, sizeof(err));
	assert_non_null(dc);
	assert_int_equal(dc_local_ip(dc, ip, sizeof(ip)), 0);
	assert_string_equal(ip, "127.0.0.1");
	assert_int_equal(dc_local_ip(dc, ip, 4), -1);
	dc_free(dc);
}

static void
test_settings(void **state)
{
	char *home;
	int port;

	(void)state;
	setenv("CHAT_T", "env", 1);
	assert_string_equal(cli_setting("flag", "CHAT_T", "def"), "flag");
	assert_string_equal(cli_setting(NULL, "CHAT_T", "def"), "env");
	setenv("CHAT_T", "", 1);
	assert_string_equal(cli_setting(NULL, "CHAT_T", "def"), "def");
	unsetenv("CHAT_T");
	assert_string_equal(cli_setting(NULL, "CHAT_T", "def"), "def");
	assert_null(cli_setting(NULL, "CHAT_T", NULL));

	unsetenv("CHAT_HOME");
	unsetenv("XDG_STATE_HOME");
	setenv("HOME", "/home/u", 1);
	home = cli_home(NULL);
	assert_string_equal(home, "/home/u/.local/state/chat");
	free(home);
	setenv("XDG_STATE_HOME", "/st", 1);
	home = cli_home(NULL);
	assert_string_equal(home, "/st/chat");
	free(home);
	setenv("CHAT_HOME", "/ch", 1);
	home = cli_home(NULL);
	assert_string_equal(home, "/ch");
	free(home);
	home = cli_home("/flag");
	assert_string_equal(home, "/flag");
	free(home);

	assert_true(cli_port("1", &port) && port == 1);
	assert_true(cli_port("65535", &port) && port == 65535);
	assert_false(cli_port("0", &port));
	assert_false(cli_port("65536", &port));
	assert_false(cli_port("-1", &port));
	assert_false(cli_port(" 80", &port));
	assert_false(cli_port("80x", &port));
	assert_false(cli_port("", &port));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url),
		cmocka_unit_test(test_url_escapes),
		cmocka_unit_test(test_curl_status),
		cmocka_unit_test(test_http_status),
		cmocka_unit_test(test_exit_status),
		cmocka_unit_test(test_message_out),
		cmocka_unit_test(test_peer_out),
		cmocka_unit_test(test_new),
		cmocka_unit_test(test_ready_range),
		cmocka_unit_test(test_local_ip),
		cmocka_unit_test(test_settings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
