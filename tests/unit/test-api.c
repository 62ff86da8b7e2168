/* Unit tests for lib/api, called in process: routing, errors, paging,
 * and unpaged lists read back piecewise across the stream's buffers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "core/jarena.h"
#include "core/util.h"
#include "dir/api.h"
#include "sec/keys.h"
#include "sec/sig.h"

struct fixture {
	char dir[64];
	char path[96];
	struct store *s;
	struct api *api;
};

/* Query arguments as "k=v&k=v", no escapes needed in these tests. Each
 * answer has its own buffer, as each has its own string in the server. */
static const char *
arg(void *ctx, const char *key)
{
	static char vals[8][256];
	static int turn;
	char *val = vals[turn++ % 8];
	const char *q = ctx;
	size_t klen = strlen(key);

	while (q != NULL && *q != '\0') {
		const char *end = strchr(q, '&');
		size_t len = end != NULL ? (size_t)(end - q) : strlen(q);
		if (len > klen && strncmp(q, key, klen) == 0 && q[klen] == '=') {
			snprintf(val, sizeof(vals[0]), "%.*s", (int)(len - klen - 1),
			    q + klen + 1);
			return val;
		}
		q = end != NULL ? end + 1 : NULL;
	}
	return NULL;
}

/* One request, with a Chat-Signature header when sig is not NULL;
 * returns the whole body parsed, and the status. */
static json_t *
call_sig(struct fixture *f, const char *method, const char *path,
    const char *query, const char *body, const char *sig, int *status)
{
	char target[1024];
	struct api_request rq = { method, path, arg, (void *)query, body,
	    body != NULL ? strlen(body) : 0, "127.0.0.1", target, sig, NULL,
	    "127.0.0.1" };
	struct api_response rs;
	json_t *o;

	snprintf(target, sizeof(target), "%s%s%s", path, query != NULL ? "?" :
	    "", query != NULL ? query : "");
	api_handle(f->api, &rq, &rs);
	*status = rs.status;
	if (rs.stream != NULL) {
		char chunk[7];	/* small on purpose: split tokens */
		size_t len = 0, cap = 1 << 16;
		char *all = malloc(cap);
		ssize_t n;

		assert_non_null(all);
		while ((n = api_stream_read(rs.stream, chunk, sizeof(chunk))) > 0) {
			if (len + (size_t)n > cap)
				all = realloc(all, cap *= 2);
			assert_non_null(all);
			memcpy(all + len, chunk, (size_t)n);
			len += (size_t)n;
		}
		assert_int_equal(n, 0);
		api_stream_free(rs.stream);
		o = json_loadb(all, len, 0, NULL);
		free(all);
	} else {
		o = json_loadb(rs.body, rs.body_len, 0, NULL);
		free(rs.body);
	}
	assert_non_null(o);
	return o;
}

static json_t *
call(struct fixture *f, const char *method, const char *path,
    const char *query, const char *body, int *status)
{
	return call_sig(f, method, path, query, body, NULL, status);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct store_opts o = { 0 };
	struct api_config cfg = { .max_body = 1 << 20, .max_content = 64,
	    .presence_ms = 90000 };
	char err[256];

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-api.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/dir.db", f->dir);
	o.path = f->path;
	if (store_open(&o, &f->s, err, sizeof(err)) != STORE_OK ||
	    (f->api = api_new(f->s, &cfg)) == NULL)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char p[128];

	api_free(f->api);
	store_close(f->s);
	unlink(f->path);
	snprintf(p, sizeof(p), "%s-wal", f->path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", f->path);
	unlink(p);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void
reg(struct fixture *f, const char *name)
{
	char body[128];
	int status;

	snprintf(body, sizeof(body), "{\"username\":\"%s\",\"port\":5000}",
	    name);
	json_decref(call(f, "POST", "/register", NULL, body, &status));
	assert_true(status == 201 || status == 200);
}

static void
routes_and_methods(void **state)
{
	struct fixture *f = *state;
	struct api_request rq = { .method = "DELETE", .path = "/peers/",
	    .arg = arg, .remote = "127.0.0.1" };
	struct api_response rs;
	json_t *o;
	int status;

	api_handle(f->api, &rq, &rs);
	assert_int_equal(rs.status, 405);
	assert_string_equal(rs.allow, "GET, HEAD");
	free(rs.body);
	o = call(f, "GET", "/nowhere", NULL, NULL, &status);
	assert_int_equal(status, 404);
	assert_string_equal(json_string_value(json_object_get(o, "code")),
	    "not_found");
	json_decref(o);
	o = call(f, "GET", "/healthz/", NULL, NULL, &status);
	assert_int_equal(status, 200);
	json_decref(o);
	o = call(f, "GET", "/peerinfo", NULL, NULL, &status);
	assert_int_equal(status, 400);
	json_decref(o);
	o = call(f, "GET", "/peerinfo", "username=ghost", NULL, &status);
	assert_int_equal(status, 404);
	assert_string_equal(json_string_value(json_object_get(o, "error")),
	    "Peer not found");
	json_decref(o);
}

static void
register_fills_observed_ip(void **state)
{
	struct fixture *f = *state;
	json_t *o;
	int status;

	o = call(f, "POST", "/register", NULL,
	    "{\"username\":\"alice\",\"port\":\"5000\"}", &status);
	assert_int_equal(status, 201);
	assert_string_equal(json_string_value(json_object_get(o, "ip")),
	    "127.0.0.1");
	assert_int_equal(json_integer_value(json_object_get(o, "port")), 5000);
	json_decref(o);
	o = call(f, "POST", "/register", NULL,
	    "{\"username\":\"alice\",\"port\":true}", &status);
	assert_int_equal(status, 400);
	assert_string_equal(json_string_value(json_object_get(o, "code")),
	    "invalid_port");
	json_decref(o);
	o = call(f, "POST", "/register", NULL,
	    "{\"username\":\"alice\",\"port\":1,\"ip\":\"1.2.3\"}", &status);
	assert_int_equal(status, 400);
	json_decref(o);
	o = call(f, "POST", "/register", NULL, "[1,2]", &status);
	assert_int_equal(status, 400);
	json_decref(o);
}

/* 700 peers with long names, unpaged: several store reads, read back
 * seven bytes at a time; then the same list page by page. */
static void
peers_stream_and_page(void **state)
{
	struct fixture *f = *state;
	char name[64], query[96];
	json_t *o, *list;
	int status, seen = 0, pages = 0;

	for (int i = 0; i < 700; i++) {
		snprintf(name, sizeof(name), "peer%04d-%s", i,
		    "padding-padding-padding-padding");
		reg(f, name);
	}
	o = call(f, "GET", "/peers", NULL, NULL, &status);
	assert_int_equal(status, 200);
	list = json_object_get(o, "peers");
	assert_int_equal(json_array_size(list), 700);
	assert_null(json_object_get(o, "next"));
	assert_string_equal(json_string_value(json_object_get(
	    json_array_get(list, 699), "username")),
	    "peer0699-padding-padding-padding-padding");
	json_decref(o);

	snprintf(query, sizeof(query), "limit=300");
	for (;;) {
		json_t *next;

		o = call(f, "GET", "/peers", query, NULL, &status);
		assert_int_equal(status, 200);
		seen += (int)json_array_size(json_object_get(o, "peers"));
		pages++;
		next = json_object_get(o, "next");
		if (next == NULL) {
			json_decref(o);
			break;
		}
		snprintf(query, sizeof(query), "limit=300&after=%s",
		    json_string_value(next));
		json_decref(o);
	}
	assert_int_equal(seen, 700);
	assert_int_equal(pages, 3);
	o = call(f, "GET", "/peers", "limit=0", NULL, &status);
	assert_int_equal(status, 400);
	json_decref(o);
	o = call(f, "GET", "/peers", "limit=1001", NULL, &status);
	assert_int_equal(status, 400);
	json_decref(o);
}

static void
messages_paging_last_and_limits(void **state)
{
	struct fixture *f = *state;
	char body[64 * 1024];
	json_t *o, *list;
	int status;
	size_t len;

	reg(f, "alice");
	reg(f, "bob");
	/* One batch of 600: the unpaged read crosses FETCH_ROWS twice. */
	len = (size_t)snprintf(body, sizeof(body), "{\"messages\":[");
	for (int i = 0; i < 600; i++)
		len += (size_t)snprintf(body + len, sizeof(body) - len,
		    "%s{\"sender\":\"alice\",\"receiver\":\"bob\","
		    "\"content\":\"m%d\"}", i ? "," : "", i);
	snprintf(body + len, sizeof(body) - len, "]}");
	o = call(f, "POST", "/message/create/", NULL, body, &status);
	assert_int_equal(status, 201);
	assert_int_equal(json_array_size(json_object_get(o, "message_ids")),
	    600);
	json_decref(o);

	o = call(f, "GET", "/message/get/", "peer1=bob&peer2=alice", NULL,
	    &status);
	list = json_object_get(o, "messages");
	assert_int_equal(json_array_size(list), 600);
	assert_string_equal(json_string_value(json_object_get(
	    json_array_get(list, 0), "message")), "m0");
	assert_string_equal(json_string_value(json_object_get(
	    json_array_get(list, 0), "from")), "alice");
	json_decref(o);

	o = call(f, "GET", "/message/get/", "peer1=alice&peer2=bob&last=3",
	    NULL, &status);
	list = json_object_get(o, "messages");
	assert_int_equal(json_array_size(list), 3);
	assert_string_equal(json_string_value(json_object_get(
	    json_array_get(list, 2), "message")), "m599");
	json_decref(o);

	o = call(f, "GET", "/message/inbox/", "username=bob&after=10&limit=5",
	    NULL, &status);
	list = json_object_get(o, "messages");
	assert_int_equal(json_array_size(list), 5);
	assert_int_equal(json_integer_value(json_object_get(o, "next")), 15);
	json_decref(o);

	/* limit exactly the rest: no next */
	o = call(f, "GET", "/message/inbox/", "username=bob&after=595&limit=5",
	    NULL, &status);
	assert_int_equal(json_array_size(json_object_get(o, "messages")), 5);
	assert_null(json_object_get(o, "next"));
	json_decref(o);

	/* content over max_content (64 in this fixture) */
	snprintf(body, sizeof(body), "{\"sender\":\"alice\",\"receiver\":"
	    "\"bob\",\"content\":\"%0100d\"}", 7);
	o = call(f, "POST", "/message/create/", NULL, body, &status);
	assert_int_equal(status, 413);
	json_decref(o);
	o = call(f, "GET", "/message/get/", "peer1=alice&peer2=ghost", NULL,
	    &status);
	assert_int_equal(status, 404);
	json_decref(o);
	o = call(f, "GET", "/message/get/", "peer1=alice&peer2=bob&after=-1",
	    NULL, &status);
	assert_int_equal(status, 400);
	json_decref(o);
}

/* A request signed v1 with sk as user, or in the session sid/key with
 * the MAC of session_mac's version (s2 unless a test says). */
static int session_mac = 2;

static json_t *
call_as(struct fixture *f, const char *method, const char *path,
    const char *query, const char *body, const char *user,
    const unsigned char *sk, const char *sid, const unsigned char *key,
    int64_t ts, int *status)
{
	char target[1024], v[SIG_HEADER_MAX + 1];

	snprintf(target, sizeof(target), "%s%s%s", path, query != NULL ? "?" :
	    "", query != NULL ? query : "");
	if (sid != NULL)
		assert_true(sig_session_header(key, sid, session_mac, method,
		    target, user, ts,
		    body != NULL ? body : "", body != NULL ? strlen(body) : 0, v,
		    sizeof(v)));
	else
		assert_true(sig_header(sk, method, target, user, ts, body != NULL ?
		    body : "", body != NULL ? strlen(body) : 0, v, sizeof(v)));
	return call_sig(f, method, path, query, body, v, status);
}

/* status is read through a pointer: the call that sets it is an argument
 * too, and C does not order the evaluation of arguments. */
static void
expect_code(json_t *o, const int *status, int want_status, const char *want)
{
	assert_int_equal(*status, want_status);
	assert_string_equal(json_string_value(json_object_get(o, "code")), want);
	json_decref(o);
}

/* Sessions: opened by a signed request, then MACs stand in for
 * signatures, and each way to misuse one is refused. */
static void
sessions(void **state)
{
	struct fixture *f = *state;
	unsigned char pk[32], sk[64], pk2[32], sk2[64], pk3[32], sk3[64];
	unsigned char cpk[32], csk[32];
	unsigned char spk[32], key[SIG_KEYLEN], bad[SIG_KEYLEN];
	char b64[KEY_B64_LEN + 1], body[256], sid[SIG_SID_LEN + 1];
	const char *create = "{\"sender\":\"alice\",\"receiver\":\"bob\","
	    "\"content\":\"in a session\"}";
	int64_t now = now_ms();
	size_t got;
	json_t *o;
	int st;

	crypto_sign_keypair(pk, sk);
	crypto_sign_keypair(pk2, sk2);
	key_b64(pk, b64);
	snprintf(body, sizeof(body), "{\"username\":\"alice\",\"port\":5000,"
	    "\"key\":\"%s\"}", b64);
	json_decref(call_as(f, "POST", "/register", NULL, body, "alice", sk,
	    NULL, NULL, now, &st));
	assert_int_equal(st, 201);
	/* bob has a key of his own */
	crypto_sign_keypair(pk3, sk3);
	key_b64(pk3, b64);
	snprintf(body, sizeof(body), "{\"username\":\"bob\",\"port\":5001,"
	    "\"key\":\"%s\"}", b64);
	json_decref(call_as(f, "POST", "/register", NULL, body, "bob", sk3,
	    NULL, NULL, now, &st));
	assert_int_equal(st, 201);

	crypto_box_keypair(cpk, csk);
	key_b64(cpk, b64);
	snprintf(body, sizeof(body), "{\"username\":\"alice\",\"key\":\"%s\"}",
	    b64);
	/* unsigned, or signed by another key: no session */
	expect_code(call(f, "POST", "/session", NULL, body, &st), &st, 401,
	    "signature_required");
	expect_code(call_as(f, "POST", "/session", NULL, body, "alice", sk2,
	    NULL, NULL, now, &st), &st, 401, "bad_signature");
	o = call_as(f, "POST", "/session", NULL, body, "alice", sk, NULL, NULL,
	    now, &st);
	assert_int_equal(st, 201);
	snprintf(sid, sizeof(sid), "%s", json_string_value(json_object_get(o,
	    "session")));
	assert_int_equal(strlen(sid), SIG_SID_LEN);
	assert_int_equal(sodium_base642bin(spk, sizeof(spk),
	    json_string_value(json_object_get(o, "key")), KEY_B64_LEN, NULL,
	    &got, NULL, sodium_base64_VARIANT_ORIGINAL), 0);
	assert_true(sig_session_key(csk, spk, cpk, spk, key));

	/* the answer lists the MACs taken */
	assert_string_equal(json_string_value(json_array_get(json_object_get(o,
	    "macs"), 0)), "s1");
	assert_string_equal(json_string_value(json_array_get(json_object_get(o,
	    "macs"), 1)), "s2");
	json_decref(o);
	/* a MAC in the session acts for alice, once */
	o = call_as(f, "POST", "/message/create/", NULL, create, "alice", NULL,
	    sid, key, now, &st);
	assert_int_equal(st, 201);
	json_decref(o);
	o = call_as(f, "POST", "/message/create/", NULL, create, "alice", NULL,
	    sid, key, now, &st);
	expect_code(o, &st, 401, "replayed_signature");
	/* s1, the MAC of clients from before s2, is taken too */
	session_mac = 1;
	o = call_as(f, "POST", "/message/create/", NULL, create, "alice", NULL,
	    sid, key, now, &st);
	assert_int_equal(st, 201);
	json_decref(o);
	session_mac = 2;
	o = call_as(f, "GET", "/message/inbox/", "username=alice", NULL,
	    "alice", NULL, sid, key, now, &st);
	assert_int_equal(st, 200);
	json_decref(o);
	/* a wrong key, a wrong id, another user's name, an old time */
	memcpy(bad, key, sizeof(bad));
	bad[0] ^= 1;
	expect_code(call_as(f, "POST", "/message/create/", NULL, create,
	    "alice", NULL, sid, bad, now + 1, &st), &st, 401, "bad_signature");
	expect_code(call_as(f, "POST", "/message/create/", NULL, create,
	    "alice", NULL, "AAAAAAAAAAAAAAAAAAAAAA", key, now + 2, &st), &st, 401,
	    "unknown_session");
	expect_code(call_as(f, "GET", "/message/inbox/", "username=bob", NULL,
	    "bob", NULL, sid, key, now + 3, &st), &st, 401, "unknown_session");
	expect_code(call_as(f, "POST", "/message/create/", NULL, create,
	    "alice", NULL, sid, key, now - 400000, &st), &st, 401,
	    "stale_signature");
	/* a session does not open another */
	expect_code(call_as(f, "POST", "/session", NULL, body, "alice", NULL,
	    sid, key, now + 4, &st), &st, 401, "signature_required");
	reg(f, "carol");
	/* a second name bound to alice's key: her session is not its */
	key_b64(pk, b64);
	snprintf(body, sizeof(body), "{\"username\":\"alias\",\"port\":5002,"
	    "\"key\":\"%s\"}", b64);
	json_decref(call_as(f, "POST", "/register", NULL, body, "alias", sk,
	    NULL, NULL, now + 4, &st));
	assert_int_equal(st, 201);
	expect_code(call_as(f, "GET", "/message/inbox/", "username=alias", NULL,
	    "alias", NULL, sid, key, now + 4, &st), &st, 401, "unknown_session");
	/* a rotated key ends its sessions */
	{
		char msg[256], sigb64[SIG_B64_LEN + 1], nb64[KEY_B64_LEN + 1];
		unsigned char sig[64];
		char old[KEY_B64_LEN + 1];

		key_b64(pk, old);
		key_b64(pk2, nb64);
		snprintf(msg, sizeof(msg), "chat-rotate-v1\nalice\n%s\n%s", old,
		    nb64);
		crypto_sign_detached(sig, NULL, (unsigned char *)msg, strlen(msg),
		    sk2);
		sodium_bin2base64(sigb64, sizeof(sigb64), sig, sizeof(sig),
		    sodium_base64_VARIANT_ORIGINAL);
		snprintf(body, sizeof(body), "{\"username\":\"alice\",\"key\":"
		    "\"%s\",\"proof\":\"%s\"}", nb64, sigb64);
		o = call_as(f, "POST", "/key/rotate", NULL, body, "alice", NULL,
		    sid, key, now + 5, &st);
		assert_int_equal(st, 200);
		json_decref(o);
	}
	expect_code(call_as(f, "POST", "/message/create/", NULL, create,
	    "alice", NULL, sid, key, now + 6, &st), &st, 401, "unknown_session");
	/* an unkeyed name has no sessions */
	snprintf(body, sizeof(body), "{\"username\":\"carol\",\"key\":\"%s\"}",
	    b64);
	expect_code(call(f, "POST", "/session", NULL, body, &st), &st, 409,
	    "no_key");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(sessions, setup, teardown),
		cmocka_unit_test_setup_teardown(routes_and_methods, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(register_fills_observed_ip,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(peers_stream_and_page, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(messages_paging_last_and_limits,
		    setup, teardown),
	};

	if (sodium_init() < 0)
		return 1;
	jarena_init();	/* as chat-dird runs: requests parse into an arena */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
