/* libFuzzer target: envelope_open and envelope_open_any. The first byte
 * of the input picks what the rest is: content as the directory might
 * hand it over; edits to a real envelope, of version 1 or 3; or the body
 * of an envelope (version 1 or 3) that is then sealed (and for version
 * 1 signed) properly, so that the fields inside are reached. Whatever
 * opens must say what was sealed, and be sealed again to the same. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "core/valid.h"
#include "sec/envelope.h"

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "fuzz-envelope: %s:%d: " \
	"check failed: %s\n", __FILE__, __LINE__, #c); abort(); } } while (0)

#define UID "0190a1b2c3d47e5f8a9b0c1d2e3f4a5b"
#define TS "2026-12-03T12:00:00.123Z"
#define B64 sodium_base64_VARIANT_ORIGINAL
#define TEXT "hello bob"

static unsigned char apk[32], ask[64], bpk[32], bsk[64];
static char *sealed;		/* alice's TEXT to bob */
static char *sealed2[3];	/* and three in version 3, one tree */
static struct envelope_self self_b;
static struct envelope_peer peer_a;
static struct envelope_pair pair_ba, pair_ab;
static struct envelope_roots roots;

static void
setup(void)
{
	unsigned char seed[32] = { 1 };
	enum envelope_err err;

	CHECK(sodium_init() >= 0);
	CHECK(crypto_sign_seed_keypair(apk, ask, seed) == 0);
	seed[0] = 2;
	CHECK(crypto_sign_seed_keypair(bpk, bsk, seed) == 0);
	sealed = envelope_seal(UID, "alice", "bob", TS, TEXT, strlen(TEXT), ask,
	    apk, bpk, &err);
	CHECK(sealed != NULL && err == ENVELOPE_OK);
	{
		struct envelope_self self_a;
		struct envelope_peer peer_b;
		struct envelope_msg m[3] = { { .uid = UID, .from = "alice",
		    .to = "bob", .ts = TS, .text = TEXT,
		    .textlen = sizeof(TEXT) - 1 } };

		m[1] = m[2] = m[0];
		CHECK(envelope_self_init(&self_a, ask) == 0 &&
		    envelope_self_init(&self_b, bsk) == 0 &&
		    envelope_peer_init(&peer_a, apk) == 0 &&
		    envelope_peer_init(&peer_b, bpk) == 0 &&
		    envelope_pair_init(&pair_ab, &self_a, &peer_b) == 0 &&
		    envelope_pair_init(&pair_ba, &self_b, &peer_a) == 0);
		CHECK(envelope_seal_batch(&self_a, &pair_ab, m, 3, sealed2,
		    &err) == 0);
	}
}

/* Content opened by bob as versions 2 and 3 allow, as the directory's
 * message UID: whatever opens is what alice sealed, or at least a
 * message of valid fields. */
static void
try_open2(const char *s, size_t n, bool must_be_original)
{
	struct envelope_msg m;
	enum envelope_err rc;

	int64_t ms;

	rc = envelope_open_any(&self_b, &peer_a, &pair_ba, &roots, s, n,
	    "alice", "bob", UID, &m);
	CHECK(rc >= ENVELOPE_OK && rc <= ENVELOPE_NOMEM);
	if (rc != ENVELOPE_OK) {
		CHECK(m.text == NULL);
		return;
	}
	CHECK(strcmp(m.from, "alice") == 0 && strcmp(m.to, "bob") == 0 &&
	    ts_parse(m.ts, &ms) && m.textlen <= ENVELOPE_TEXT_MAX &&
	    valid_utf8(m.text, m.textlen) && valid_uid(m.uid));
	CHECK(!must_be_original || (strcmp(m.uid, UID) == 0 &&
	    m.textlen == strlen(TEXT) && memcmp(m.text, TEXT, m.textlen) == 0));
	envelope_msg_free(&m);
}

/* What opened is what a seal of the same fields opens to, for both. */
static void
reseal(const struct envelope_msg *m)
{
	struct envelope_msg a, b;
	enum envelope_err err;
	char *env;

	CHECK(valid_uid(m->uid) && valid_username(m->from) &&
	    valid_username(m->to) && m->text != NULL &&
	    m->textlen <= ENVELOPE_TEXT_MAX &&
	    valid_utf8(m->text, m->textlen));
	env = envelope_seal(m->uid, m->from, m->to, m->ts, m->text, m->textlen,
	    ask, apk, bpk, &err);
	CHECK(env != NULL && err == ENVELOPE_OK);
	CHECK(strlen(env) <= ENVELOPE_MAX);
	CHECK(envelope_open(env, strlen(env), m->from, m->to, bsk, bpk, apk,
	    &a) == ENVELOPE_OK);
	CHECK(envelope_open(env, strlen(env), m->from, m->to, ask, apk, apk,
	    &b) == ENVELOPE_OK);
	CHECK(strcmp(a.uid, m->uid) == 0 && strcmp(b.uid, m->uid) == 0);
	CHECK(strcmp(a.ts, m->ts) == 0 && a.textlen == m->textlen);
	CHECK(memcmp(a.text, m->text, m->textlen) == 0);
	CHECK(memcmp(b.text, m->text, m->textlen) == 0);
	envelope_msg_free(&a);
	envelope_msg_free(&b);
	free(env);
}

static void
try_open(const char *s, size_t n, bool must_be_original)
{
	struct envelope_msg m;
	enum envelope_err rc;

	rc = envelope_open(s, n, "alice", "bob", bsk, bpk, apk, &m);
	CHECK(rc >= ENVELOPE_OK && rc <= ENVELOPE_NOMEM);
	CHECK(envelope_strerror(rc) != NULL);
	if (rc != ENVELOPE_OK) {
		CHECK(m.text == NULL);
		if (!envelope_is(s, n))
			CHECK(rc == ENVELOPE_NOT);
		return;
	}
	CHECK(envelope_is(s, n));
	if (must_be_original) {
		CHECK(strcmp(m.uid, UID) == 0 && strcmp(m.ts, TS) == 0);
		CHECK(m.textlen == strlen(TEXT));
		CHECK(memcmp(m.text, TEXT, m.textlen) == 0);
	}
	reseal(&m);
	envelope_msg_free(&m);
}

/* Pairs of (offset, byte) from the input written over the envelope. */
static void
edits(const uint8_t *p, size_t n)
{
	size_t len = strlen(sealed), at;
	char *s;

	CHECK((s = malloc(len + 1)) != NULL);
	memcpy(s, sealed, len + 1);
	for (size_t i = 0; i + 2 < n; i += 3) {
		at = ((size_t)p[i] << 8 | p[i + 1]) % len;
		s[at] = (char)p[i + 2];
	}
	try_open(s, len, true);
	free(s);
}

static void
edits2(const uint8_t *p, size_t n)
{
	const char *env;
	size_t len, at;
	char *s;

	if (n < 1)
		return;
	env = sealed2[p[0] % 3];
	len = strlen(env);
	CHECK((s = malloc(len + 1)) != NULL);
	memcpy(s, env, len + 1);
	for (size_t i = 1; i + 2 < n; i += 3) {
		at = ((size_t)p[i] << 8 | p[i + 1]) % len;
		s[at] = (char)p[i + 2];
	}
	try_open2(s, len, true);
	free(s);
}

static char *
b64(const unsigned char *bin, size_t len)
{
	size_t n = sodium_base64_ENCODED_LEN(len, B64);
	char *s;

	CHECK((s = malloc(n)) != NULL);
	sodium_bin2base64(s, n, bin, len, B64);
	return s;
}

/* The input as the body's fields: signed by alice, sealed to bob and to
 * her with the format's associated data. */
static void
body(const uint8_t *p, size_t n)
{
	static const unsigned char aad_names[] = "\0\0\0\5alice\0\0\0\3bob";
	unsigned char key[32], nonce[24], kto[80], kfrom[80], xto[32];
	unsigned char xfrom[32], aad[16 + sizeof(aad_names) - 1 + 160];
	unsigned char *signed_, *ct;
	unsigned long long ctlen;
	char *n64, *kt64, *kf64, *c64, *env;
	json_t *j;

	if (n > ENVELOPE_TEXT_MAX + 1024)
		return;
	CHECK((signed_ = malloc(16 + n + 64)) != NULL);
	CHECK((ct = malloc(n + 64 + 16)) != NULL);
	memcpy(signed_, "chat envelope v1", 16);
	memcpy(signed_ + 16, p, n);
	CHECK(crypto_sign_detached(signed_ + 16 + n, NULL, signed_, 16 + n,
	    ask) == 0);
	memset(key, 7, sizeof(key));
	memset(nonce, 9, sizeof(nonce));
	CHECK(crypto_sign_ed25519_pk_to_curve25519(xto, bpk) == 0);
	CHECK(crypto_sign_ed25519_pk_to_curve25519(xfrom, apk) == 0);
	CHECK(crypto_box_seal(kto, key, 32, xto) == 0);
	CHECK(crypto_box_seal(kfrom, key, 32, xfrom) == 0);
	memcpy(aad, "chat envelope v1", 16);
	memcpy(aad + 16, aad_names, sizeof(aad_names) - 1);
	memcpy(aad + 16 + sizeof(aad_names) - 1, kto, 80);
	memcpy(aad + 16 + sizeof(aad_names) - 1 + 80, kfrom, 80);
	CHECK(crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &ctlen,
	    signed_ + 16, n + 64, aad, sizeof(aad), NULL, nonce, key) == 0);
	n64 = b64(nonce, sizeof(nonce));
	kt64 = b64(kto, sizeof(kto));
	kf64 = b64(kfrom, sizeof(kfrom));
	c64 = b64(ct, (size_t)ctlen);
	j = json_pack("{s:i, s:s, s:s, s:s, s:{s:s, s:s}, s:s}", "sealed", 1,
	    "from", "alice", "to", "bob", "n", n64, "k", "to", kt64, "from",
	    kf64, "c", c64);
	CHECK(j != NULL && (env = json_dumps(j, JSON_COMPACT)) != NULL);
	try_open(env, strlen(env), false);
	free(env);
	json_decref(j);
	free(n64);
	free(kt64);
	free(kf64);
	free(c64);
	free(ct);
	free(signed_);
}

/* The input as a version 3 body under the key of alice to bob, with
 * the associated data of the message UID: the AEAD passes, and the
 * body's shape, tree and signature are what is checked. */
static void
body3(const uint8_t *p, size_t n)
{
	static const unsigned char aad[] = "chat envelope v3\0\0\0\5alice"
	    "\0\0\0\3bob\0\0\0\040" UID;
	unsigned char *nc;
	unsigned long long ctlen;
	char *c64, *env;

	if (n > ENVELOPE_TEXT_MAX + 1024)
		return;
	CHECK((nc = malloc(24 + n + 16)) != NULL);
	memset(nc, 9, 24);
	CHECK(crypto_aead_xchacha20poly1305_ietf_encrypt(nc + 24, &ctlen, p, n,
	    aad, sizeof(aad) - 1, NULL, nc, pair_ab.out) == 0);
	c64 = b64(nc, 24 + (size_t)ctlen);
	CHECK(asprintf(&env, "{\"sealed\":3,\"c\":\"%s\"}", c64) > 0);
	try_open2(env, strlen(env), false);
	free(env);
	free(c64);
	free(nc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (sealed == NULL)
		setup();
	if (size < 1)
		return 0;
	switch (data[0] % 5) {
	case 0:
		try_open((const char *)data + 1, size - 1, false);
		try_open2((const char *)data + 1, size - 1, false);
		break;
	case 1:
		edits(data + 1, size - 1);
		break;
	case 3:
		edits2(data + 1, size - 1);
		break;
	case 4:
		body3(data + 1, size - 1);
		break;
	default:
		body(data + 1, size - 1);
		break;
	}
	return 0;
}
