/* Unit tests for sec/sig and dir/auth: the signature header, what it
 * covers, and the directory's window and replay checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "dir/auth.h"
#include "sec/sig.h"

#define NOW 1764763000000LL

static unsigned char pk[crypto_sign_PUBLICKEYBYTES];
static unsigned char sk[crypto_sign_SECRETKEYBYTES];
static unsigned char pk2[crypto_sign_PUBLICKEYBYTES];
static unsigned char sk2[crypto_sign_SECRETKEYBYTES];

static int
keys(void **state)
{
	unsigned char seed[crypto_sign_SEEDBYTES] = { 1 };

	(void)state;
	if (sodium_init() < 0)
		return -1;
	crypto_sign_seed_keypair(pk, sk, seed);
	seed[0] = 2;
	crypto_sign_seed_keypair(pk2, sk2, seed);
	return 0;
}

static void
signed_as(const unsigned char *key, const char *method, const char *target,
    const char *user, int64_t ts, const char *body, struct sig_parts *p)
{
	char v[SIG_HEADER_MAX + 1];

	assert_true(sig_header(key, method, target, user, ts, body,
	    strlen(body), v, sizeof(v)));
	assert_true(sig_parse(v, p));
}

static void
header_round_trip(void **state)
{
	char v[SIG_HEADER_MAX + 1];
	struct sig_parts p;

	(void)state;
	assert_true(sig_header(sk, "POST", "/message/create/", "alice", NOW,
	    "{}", 2, v, sizeof(v)));
	assert_int_equal(strncmp(v, "v1 alice 1764763000000 ", 23), 0);
	assert_int_equal(strlen(v), 23 + SIG_B64_LEN);
	assert_true(sig_parse(v, &p));
	assert_string_equal(p.user, "alice");
	assert_int_equal(p.ts, NOW);
	assert_true(sig_verify(&p, pk, "POST", "/message/create/", "{}", 2));
	/* the header does not fit a buffer too small for it */
	assert_false(sig_header(sk, "POST", "/", "alice", NOW, "", 0, v, 40));
}

/* Each part the signature covers, changed, fails it. */
static void
covers_method_target_user_time_body(void **state)
{
	struct sig_parts p;
	const char *body = "{\"sender\":\"alice\",\"content\":\"hi\"}";
	size_t n = strlen(body);

	(void)state;
	signed_as(sk, "GET", "/message/get/?peer1=alice&peer2=bob", "alice",
	    NOW, body, &p);
	assert_true(sig_verify(&p, pk, "GET",
	    "/message/get/?peer1=alice&peer2=bob", body, n));
	assert_false(sig_verify(&p, pk, "POST",
	    "/message/get/?peer1=alice&peer2=bob", body, n));
	assert_false(sig_verify(&p, pk, "GET",
	    "/message/get/?peer1=alice&peer2=carol", body, n));
	assert_false(sig_verify(&p, pk, "GET",
	    "/message/inbox/?peer1=alice&peer2=bob", body, n));
	assert_false(sig_verify(&p, pk, "GET",
	    "/message/get/?peer1=alice&peer2=bob", "{}", 2));
	assert_false(sig_verify(&p, pk, "GET",
	    "/message/get/?peer1=alice&peer2=bob", body, n - 1));
	assert_false(sig_verify(&p, pk2, "GET",
	    "/message/get/?peer1=alice&peer2=bob", body, n));
	p.ts++;
	assert_false(sig_verify(&p, pk, "GET",
	    "/message/get/?peer1=alice&peer2=bob", body, n));
	p.ts--;
	strcpy(p.user, "alicf");
	assert_false(sig_verify(&p, pk, "GET",
	    "/message/get/?peer1=alice&peer2=bob", body, n));
	strcpy(p.user, "alice");
	p.sig[10] ^= 1;
	assert_false(sig_verify(&p, pk, "GET",
	    "/message/get/?peer1=alice&peer2=bob", body, n));
}

static void
malformed_headers_refused(void **state)
{
	char good[SIG_HEADER_MAX + 1], bad[SIG_HEADER_MAX + 64];
	const char *sig;
	struct sig_parts p;
	static const char *const never[] = {
		"", "v1", "v1 alice", "v1 alice 1", "v2 alice 1 x",
		"v1 -alice 1764763000000 AAAA",
		"v1  alice 1764763000000 AAAA",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
		assert_false(sig_parse(never[i], &p));
	assert_false(sig_parse(NULL, &p));
	assert_true(sig_header(sk, "GET", "/", "alice", NOW, "", 0, good,
	    sizeof(good)));
	sig = strrchr(good, ' ') + 1;
	/* time: not digits, a sign, a leading zero, too large */
	snprintf(bad, sizeof(bad), "v1 alice x1764763000000 %s", sig);
	assert_false(sig_parse(bad, &p));
	snprintf(bad, sizeof(bad), "v1 alice +1764763000000 %s", sig);
	assert_false(sig_parse(bad, &p));
	snprintf(bad, sizeof(bad), "v1 alice 01764763000000 %s", sig);
	assert_false(sig_parse(bad, &p));
	snprintf(bad, sizeof(bad), "v1 alice 99999999999999999999 %s", sig);
	assert_false(sig_parse(bad, &p));
	/* user: over 50 characters */
	snprintf(bad, sizeof(bad), "v1 %051d 1 %s", 0, sig);
	assert_false(sig_parse(bad, &p));
	/* signature: short, long, not base64, a trailing space */
	snprintf(bad, sizeof(bad), "v1 alice 1 %.87s", sig);
	assert_false(sig_parse(bad, &p));
	snprintf(bad, sizeof(bad), "v1 alice 1 %sA", sig);
	assert_false(sig_parse(bad, &p));
	snprintf(bad, sizeof(bad), "v1 alice 1 %s ", sig);
	assert_false(sig_parse(bad, &p));
	snprintf(bad, sizeof(bad), "v1 alice 1 !%s", sig + 1);
	assert_false(sig_parse(bad, &p));
	/* a non-canonical last digit: the last byte's digit holds 2 bits
	 * and 4 unused ones; setting one of those names the same bytes */
	snprintf(bad, sizeof(bad), "v1 alice 1 %s", sig);
	assert_true(sig_parse(bad, &p));
	bad[strlen(bad) - 3]++;	/* A Q g w: B R h x */
	assert_false(sig_parse(bad, &p));
	/* bytes that are no base64 digits, where the decoder stops short
	 * (found by fuzz-sig) */
	snprintf(bad, sizeof(bad), "v1 alice 1 %s", sig);
	bad[strlen(bad) - 8] = '\xc4';
	bad[strlen(bad) - 7] = '\xb8';
	assert_false(sig_parse(bad, &p));
}

static void
window_and_replay(void **state)
{
	struct auth_config cfg = { 300000, 64 };
	struct auth *a = auth_new(&cfg);
	struct sig_parts p;

	(void)state;
	assert_non_null(a);
	signed_as(sk, "POST", "/logout", "alice", NOW, "{}", &p);
	assert_int_equal(auth_check(a, &p, pk2, "POST", "/logout", "{}", 2,
	    NOW), AUTH_BAD);
	/* a refused request is not remembered: the right key still passes */
	assert_int_equal(auth_check(a, &p, pk, "POST", "/logout", "{}", 2,
	    NOW), AUTH_OK);
	assert_int_equal(auth_check(a, &p, pk, "POST", "/logout", "{}", 2,
	    NOW + 1000), AUTH_REPLAY);
	/* the edges of the window */
	signed_as(sk, "POST", "/logout", "alice", NOW - 300000, "{}", &p);
	assert_int_equal(auth_check(a, &p, pk, "POST", "/logout", "{}", 2,
	    NOW), AUTH_OK);
	signed_as(sk, "POST", "/logout", "alice", NOW - 300001, "{}", &p);
	assert_int_equal(auth_check(a, &p, pk, "POST", "/logout", "{}", 2,
	    NOW), AUTH_STALE);
	signed_as(sk, "POST", "/logout", "alice", NOW + 300000, "{}", &p);
	assert_int_equal(auth_check(a, &p, pk, "POST", "/logout", "{}", 2,
	    NOW), AUTH_OK);
	signed_as(sk, "POST", "/logout", "alice", NOW + 300001, "{}", &p);
	assert_int_equal(auth_check(a, &p, pk, "POST", "/logout", "{}", 2,
	    NOW), AUTH_STALE);
	/* once the window has passed, the signature is stale, not replayed */
	signed_as(sk, "POST", "/logout", "alice", NOW, "{}", &p);
	assert_int_equal(auth_check(a, &p, pk, "POST", "/logout", "{}", 2,
	    NOW + 300001), AUTH_STALE);
	auth_free(a);
}

/* A cache with no room refuses (to be retried) rather than forgets a
 * signature still inside the window; expired slots are used again. */
static void
full_cache_refuses(void **state)
{
	struct auth_config cfg = { 300000, 64 };
	struct auth *a = auth_new(&cfg);
	struct sig_parts p;
	char target[32];
	int ok = 0, full = 0;

	(void)state;
	assert_non_null(a);
	for (int i = 0; i < 200; i++) {
		snprintf(target, sizeof(target), "/peers?after=%d", i);
		signed_as(sk, "GET", target, "alice", NOW, "", &p);
		switch (auth_check(a, &p, pk, "GET", target, "", 0, NOW)) {
		case AUTH_OK:
			ok++;
			break;
		case AUTH_FULL:
			full++;
			break;
		default:
			fail();
		}
	}
	assert_int_equal(ok, 64);
	assert_int_equal(full, 136);
	signed_as(sk, "GET", "/peers", "alice", NOW + 300001, "", &p);
	assert_int_equal(auth_check(a, &p, pk, "GET", "/peers", "", 0,
	    NOW + 300002), AUTH_OK);
	auth_free(a);
}

/* s1 and s2: the session header, its MAC and the key both sides
 * derive. */
static void
session_header_and_key(void **state)
{
	unsigned char cpk[32], csk[32], spk[32], ssk[32], k1[SIG_KEYLEN];
	unsigned char k2[SIG_KEYLEN], zero[32] = { 0 };
	char v[SIG_HEADER_MAX + 1], other[SIG_HEADER_MAX + 1];
	const char *sid = "AAECAwQFBgcICQoLDA0ODw";
	struct sig_parts p;

	(void)state;
	crypto_box_keypair(cpk, csk);
	crypto_box_keypair(spk, ssk);
	assert_true(sig_session_key(csk, spk, cpk, spk, k1));
	assert_true(sig_session_key(ssk, cpk, cpk, spk, k2));
	assert_memory_equal(k1, k2, sizeof(k1));
	/* a public key of low order makes no key */
	assert_false(sig_session_key(ssk, zero, zero, spk, k2));

	for (int version = 1; version <= 2; version++) {
		memcpy(k2, k1, sizeof(k2));
		assert_true(sig_session_header(k1, sid, version, "POST",
		    "/logout", "alice", NOW, "{}", 2, v, sizeof(v)));
		assert_int_equal(v[1], '0' + version);
		assert_true(sig_parse(v, &p));
		assert_true(p.session);
		assert_int_equal(p.blake2b, version == 2);
		assert_string_equal(p.sid, sid);
		assert_true(sig_session_verify(&p, k1, "POST", "/logout", "{}",
		    2));
		assert_false(sig_session_verify(&p, k1, "POST", "/logout",
		    "{ }", 3));
		assert_false(sig_session_verify(&p, k1, "POST", "/logout/",
		    "{}", 2));
		k2[0] ^= 1;
		assert_false(sig_session_verify(&p, k2, "POST", "/logout", "{}",
		    2));
		/* a session header is no v1 signature, whatever its bytes */
		assert_false(sig_verify(&p, k1, "POST", "/logout", "{}", 2));
		/* the same MAC under the other version's name is refused:
		 * each version's digest is its own */
		snprintf(other, sizeof(other), "%s", v);
		other[1] = version == 1 ? '2' : '1';
		assert_true(sig_parse(other, &p));
		assert_false(sig_session_verify(&p, k1, "POST", "/logout", "{}",
		    2));
	}
	assert_false(sig_session_header(k1, sid, 3, "POST", "/logout", "alice",
	    NOW, "{}", 2, v, sizeof(v)));
	assert_false(sig_parse("s3 alice 1 AAECAwQFBgcICQoLDA0ODw "
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", &p));
	assert_false(sig_parse("v2 alice 1 AAECAwQFBgcICQoLDA0ODw "
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", &p));
	/* a malformed id or MAC */
	assert_false(sig_parse("s1 alice 1 AAECAwQFBgcICQoLDA0OD "
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", &p));
	assert_false(sig_parse("s1 alice 1 AAECAwQFBgcICQoLDA0ODw "
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", &p));
	assert_false(sig_parse("s1 alice 1 AAECAwQFBgcICQoLDA0ODw", &p));
	assert_true(sig_parse("s1 alice 1 AAECAwQFBgcICQoLDA0ODw "
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", &p));
}

/* s2's digest, byte by byte as chat-protocol(7) gives it: BLAKE2b-256 of
 * the label, the fields and BLAKE2b-256 of the body; the MAC is
 * HMAC-SHA256 of it. A body hashed ahead gives the same header. */
static void
session_s2_digest(void **state)
{
	unsigned char key[SIG_KEYLEN], bh[32], d[32], mac[32], got[32];
	unsigned char in[256];
	const char *body = "{\"username\":\"alice\"}";
	char v[SIG_HEADER_MAX + 1], w[SIG_HEADER_MAX + 1], b64[64];
	struct sig_parts p;
	int n;

	(void)state;
	memset(key, 7, sizeof(key));
	crypto_generichash(bh, sizeof(bh), (const unsigned char *)body,
	    strlen(body), NULL, 0);
	n = snprintf((char *)in, sizeof(in), "chat-signature-s2\nPOST\n"
	    "/logout?n=00\nalice\n%lld\n", (long long)NOW);
	memcpy(in + n, bh, sizeof(bh));
	crypto_generichash(d, sizeof(d), in, (size_t)n + sizeof(bh), NULL, 0);
	crypto_auth_hmacsha256(mac, d, sizeof(d), key);
	sodium_bin2base64(b64, sizeof(b64), mac, sizeof(mac),
	    sodium_base64_VARIANT_ORIGINAL);

	assert_true(sig_session_header(key, "AAECAwQFBgcICQoLDA0ODw", 2, "POST",
	    "/logout?n=00", "alice", NOW, body, strlen(body), v, sizeof(v)));
	assert_true(sig_parse(v, &p));
	memcpy(got, p.mac, sizeof(got));
	assert_memory_equal(got, mac, sizeof(mac));
	assert_string_equal(strrchr(v, ' ') + 1, b64);
	sig_body_hash(true, body, strlen(body), bh);
	assert_true(sig_session_header_hashed(key, "AAECAwQFBgcICQoLDA0ODw", 2,
	    "POST", "/logout?n=00", "alice", NOW, bh, w, sizeof(w)));
	assert_string_equal(v, w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(header_round_trip),
		cmocka_unit_test(covers_method_target_user_time_body),
		cmocka_unit_test(malformed_headers_refused),
		cmocka_unit_test(window_and_replay),
		cmocka_unit_test(full_cache_refuses),
		cmocka_unit_test(session_header_and_key),
		cmocka_unit_test(session_s2_digest),
	};

	return cmocka_run_group_tests(tests, keys, NULL);
}
