/* Unit tests for lib/sec/envelope: what the sender seals, the sender and
 * the recipient open, nobody else does, and every change to it, forged
 * signature or re-addressing is refused; and it agrees with PyNaCl. */
#include <errno.h>
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

#include "sec/envelope.h"

#define UID "0190a1b2c3d47e5f8a9b0c1d2e3f4a5b"
#define TS "2026-12-03T12:00:00.123Z"
#define B64 sodium_base64_VARIANT_ORIGINAL
#define TEXT "hello bob, this is alice"
#define INTEROP "tests/interop/envelope.py"
/* 51 characters: one more than a name may have. */
#define LONG_NAME "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

struct user {
	const char *name;
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char sk[crypto_sign_SECRETKEYBYTES];
};

static struct user alice = { .name = "alice" }, bob = { .name = "bob" },
    mallory = { .name = "mallory" };

static char *
seal(const struct user *from, const struct user *to)
{
	enum envelope_err err;
	char *env;

	env = envelope_seal(UID, from->name, to->name, TS, TEXT,
	    strlen(TEXT), from->sk, from->pk, to->pk, &err);
	assert_non_null(env);
	assert_int_equal(err, ENVELOPE_OK);
	return env;
}

/* What reader gets opening env as the directory's message from `from`
 * to `to`, signed by signer's key. */
static enum envelope_err
open_as(const char *env, const char *from, const char *to,
    const struct user *reader, const struct user *signer)
{
	struct envelope_msg m;
	enum envelope_err rc;

	rc = envelope_open(env, strlen(env), from, to, reader->sk, reader->pk,
	    signer->pk, &m);
	if (rc == ENVELOPE_OK)
		envelope_msg_free(&m);
	else
		assert_null(m.text);
	return rc;
}

static void
assert_opens(const char *env, const struct user *reader)
{
	struct envelope_msg m;

	assert_int_equal(envelope_open(env, strlen(env), "alice", "bob",
	    reader->sk, reader->pk, alice.pk, &m), ENVELOPE_OK);
	assert_string_equal(m.uid, UID);
	assert_string_equal(m.from, "alice");
	assert_string_equal(m.to, "bob");
	assert_string_equal(m.ts, TS);
	assert_int_equal(m.textlen, strlen(TEXT));
	assert_string_equal(m.text, TEXT);
	envelope_msg_free(&m);
	assert_null(m.text);
}

static void
recipient_opens(void **state)
{
	char *env = seal(&alice, &bob);

	(void)state;
	assert_true(envelope_is(env, strlen(env)));
	assert_null(strstr(env, TEXT));
	assert_opens(env, &bob);
	free(env);
}

static void
sender_opens(void **state)
{
	char *env = seal(&alice, &bob);

	(void)state;
	assert_opens(env, &alice);
	free(env);
}

static void
third_party_cannot(void **state)
{
	char *env = seal(&alice, &bob);

	(void)state;
	assert_int_equal(open_as(env, "alice", "bob", &mallory, &alice),
	    ENVELOPE_NOT_OURS);
	free(env);
}

static void
each_seal_differs(void **state)
{
	char *a = seal(&alice, &bob), *b = seal(&alice, &bob);

	(void)state;
	assert_string_not_equal(a, b);
	free(a);
	free(b);
}

/* env with one member edited by f (jansson keeps the order). */
static char *
edit(const char *env, void (*f)(json_t *, const void *), const void *arg)
{
	json_t *j = json_loads(env, 0, NULL);
	char *out;

	assert_non_null(j);
	f(j, arg);
	out = json_dumps(j, JSON_COMPACT);
	assert_non_null(out);
	json_decref(j);
	return out;
}

static json_t *
member(json_t *j, const char *path)
{
	if (strncmp(path, "k.", 2) == 0)
		return json_object_get(json_object_get(j, "k"), path + 2);
	return json_object_get(j, path);
}

static void
set_member(json_t *j, const char *path, json_t *v)
{
	if (strncmp(path, "k.", 2) == 0)
		j = json_object_get(j, "k"), path += 2;
	assert_int_equal(json_object_set_new(j, path, v), 0);
}

static size_t
unb64(const char *s, unsigned char *bin, size_t max)
{
	size_t len;

	assert_int_equal(sodium_base642bin(bin, max, s, strlen(s), NULL, &len,
	    NULL, B64), 0);
	return len;
}

static json_t *
b64(const unsigned char *bin, size_t len)
{
	size_t n = sodium_base64_ENCODED_LEN(len, B64);
	char *s = malloc(n);
	json_t *j;

	assert_non_null(s);
	sodium_bin2base64(s, n, bin, len, B64);
	j = json_string(s);
	free(s);
	return j;
}

/* Flips the lowest bit of the first byte of a base64 member. */
static void
flip(json_t *j, const void *arg)
{
	static unsigned char bin[ENVELOPE_MAX];
	const char *path = arg;
	size_t len;

	len = unb64(json_string_value(member(j, path)), bin, sizeof(bin));
	assert_true(len > 0);
	bin[0] ^= 1;
	set_member(j, path, b64(bin, len));
}

static void
tampered_bits(void **state)
{
	char *env = seal(&alice, &bob), *bad;

	(void)state;
	bad = edit(env, flip, "c");
	assert_int_equal(open_as(bad, "alice", "bob", &bob, &alice),
	    ENVELOPE_ALTERED);
	assert_int_equal(open_as(bad, "alice", "bob", &alice, &alice),
	    ENVELOPE_ALTERED);
	free(bad);
	bad = edit(env, flip, "n");
	assert_int_equal(open_as(bad, "alice", "bob", &bob, &alice),
	    ENVELOPE_ALTERED);
	free(bad);
	/* Each sealed key: its reader cannot open it, the other reader
	 * finds the body's tag no longer holds. */
	bad = edit(env, flip, "k.to");
	assert_int_equal(open_as(bad, "alice", "bob", &bob, &alice),
	    ENVELOPE_NOT_OURS);
	assert_int_equal(open_as(bad, "alice", "bob", &alice, &alice),
	    ENVELOPE_ALTERED);
	free(bad);
	bad = edit(env, flip, "k.from");
	assert_int_equal(open_as(bad, "alice", "bob", &alice, &alice),
	    ENVELOPE_NOT_OURS);
	assert_int_equal(open_as(bad, "alice", "bob", &bob, &alice),
	    ENVELOPE_ALTERED);
	free(bad);
	free(env);
}

static void
set_string(json_t *j, const void *arg)
{
	const char *const *kv = arg;

	set_member(j, kv[0], json_string(kv[1]));
}

static void
swap_keys(json_t *j, const void *arg)
{
	json_t *k = json_object_get(j, "k");
	json_t *to = json_incref(json_object_get(k, "to"));

	(void)arg;
	json_object_set(k, "to", json_object_get(k, "from"));
	json_object_set_new(k, "from", to);
}

static void
tampered_names(void **state)
{
	char *env = seal(&alice, &bob), *bad;
	const char *to_carol[] = { "to", "carol" };
	const char *from_carol[] = { "from", "carol" };

	(void)state;
	/* The outside says carol, and so does the directory: the tag
	 * binds the names. */
	bad = edit(env, set_string, to_carol);
	assert_int_equal(open_as(bad, "alice", "carol", &bob, &alice),
	    ENVELOPE_ALTERED);
	assert_int_equal(open_as(bad, "alice", "carol", &alice, &alice),
	    ENVELOPE_ALTERED);
	/* The directory disagrees with the outside. */
	assert_int_equal(open_as(bad, "alice", "bob", &bob, &alice),
	    ENVELOPE_MISMATCH);
	free(bad);
	bad = edit(env, set_string, from_carol);
	assert_int_equal(open_as(bad, "carol", "bob", &bob, &alice),
	    ENVELOPE_ALTERED);
	free(bad);
	/* The directory reports another sender or recipient. */
	assert_int_equal(open_as(env, "mallory", "bob", &bob, &alice),
	    ENVELOPE_MISMATCH);
	assert_int_equal(open_as(env, "alice", "mallory", &bob, &alice),
	    ENVELOPE_MISMATCH);
	/* Names are compared regardless of ASCII case, as the directory
	 * looks them up. */
	assert_int_equal(open_as(env, "Alice", "BOB", &bob, &alice),
	    ENVELOPE_OK);
	bad = edit(env, swap_keys, NULL);
	assert_int_equal(open_as(bad, "alice", "bob", &bob, &alice),
	    ENVELOPE_NOT_OURS);
	free(bad);
	free(env);
}

static void
re_addressed(void **state)
{
	char *env = seal(&alice, &bob), *bad;
	const char *from_bob[] = { "from", "bob" }, *to_alice[] = { "to",
		"alice" };

	(void)state;
	/* Shown to alice as a message bob sent her. */
	assert_int_equal(open_as(env, "bob", "alice", &alice, &bob),
	    ENVELOPE_MISMATCH);
	bad = edit(env, set_string, from_bob);
	free(env);
	env = edit(bad, set_string, to_alice);
	free(bad);
	assert_int_not_equal(open_as(env, "bob", "alice", &alice, &bob),
	    ENVELOPE_OK);
	assert_int_not_equal(open_as(env, "bob", "alice", &bob, &bob),
	    ENVELOPE_OK);
	free(env);
}

/* Opens env as reader could, hands the body to f, and seals it again
 * with the same key, under the names the outside then has: what only
 * someone who can read the envelope can do. */
static void
rewrite_body(json_t *j, const void *arg)
{
	void (*const *f)(unsigned char *, size_t *, json_t *) = arg;
	unsigned char kto[80], kfrom[80], nonce[24], key[32];
	unsigned char xpk[32], xsk[32], aad[512], *ct, *body, *p;
	unsigned long long n;
	size_t ctlen, bodylen, aadlen;
	const char *from, *to;

	assert_int_equal(unb64(json_string_value(member(j, "k.to")), kto,
	    sizeof(kto)), 80);
	assert_int_equal(unb64(json_string_value(member(j, "k.from")), kfrom,
	    sizeof(kfrom)), 80);
	assert_int_equal(unb64(json_string_value(member(j, "n")), nonce,
	    sizeof(nonce)), 24);
	assert_non_null(ct = malloc(ENVELOPE_MAX));
	assert_non_null(body = malloc(ENVELOPE_MAX));
	ctlen = unb64(json_string_value(member(j, "c")), ct, ENVELOPE_MAX);
	assert_int_equal(crypto_sign_ed25519_pk_to_curve25519(xpk, bob.pk), 0);
	assert_int_equal(crypto_sign_ed25519_sk_to_curve25519(xsk, bob.sk), 0);
	assert_int_equal(crypto_box_seal_open(key, kto, 80, xpk, xsk), 0);

	/* The bytes chat-protocol(7) names as the associated data. */
	from = json_string_value(member(j, "from"));
	to = json_string_value(member(j, "to"));
	p = aad;
	memcpy(p, "chat envelope v1", 16);
	p += 16;
	*p++ = 0, *p++ = 0, *p++ = 0, *p++ = (unsigned char)strlen(from);
	memcpy(p, from, strlen(from));
	p += strlen(from);
	*p++ = 0, *p++ = 0, *p++ = 0, *p++ = (unsigned char)strlen(to);
	memcpy(p, to, strlen(to));
	p += strlen(to);
	memcpy(p, kto, 80);
	memcpy(p + 80, kfrom, 80);
	aadlen = (size_t)(p - aad) + 160;

	assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(body, &n,
	    NULL, ct, ctlen, aad, aadlen, nonce, key), 0);
	bodylen = (size_t)n;
	(*f)(body, &bodylen, j);

	/* The names on the outside may have changed. */
	from = json_string_value(member(j, "from"));
	to = json_string_value(member(j, "to"));
	p = aad + 16;
	*p++ = 0, *p++ = 0, *p++ = 0, *p++ = (unsigned char)strlen(from);
	memcpy(p, from, strlen(from));
	p += strlen(from);
	*p++ = 0, *p++ = 0, *p++ = 0, *p++ = (unsigned char)strlen(to);
	memcpy(p, to, strlen(to));
	p += strlen(to);
	memcpy(p, kto, 80);
	memcpy(p + 80, kfrom, 80);
	aadlen = (size_t)(p - aad) + 160;
	assert_int_equal(crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &n,
	    body, bodylen, aad, aadlen, NULL, nonce, key), 0);
	set_member(j, "c", b64(ct, (size_t)n));
	free(ct);
	free(body);
}

static void
same_body(unsigned char *body, size_t *len, json_t *j)
{
	(void)body, (void)len, (void)j;
}

/* The body starts with the uid's length (4 bytes) and the uid. */
static void
change_uid(unsigned char *body, size_t *len, json_t *j)
{
	(void)len, (void)j;
	body[4] ^= 1;
}

static void
change_text(unsigned char *body, size_t *len, json_t *j)
{
	(void)j;
	body[*len - 64 - 1] ^= 1;	/* the text's last byte */
}

static void
change_sig(unsigned char *body, size_t *len, json_t *j)
{
	(void)j;
	body[*len - 1] ^= 1;
}

static void
cut_sig(unsigned char *body, size_t *len, json_t *j)
{
	(void)body, (void)j;
	*len -= 64;
}

/* Bytes between the fields and the signature, signed (by alice's key,
 * which the test holds): the body must be exactly its fields. */
static void
append_signed(unsigned char *body, size_t *len, json_t *j)
{
	unsigned char *buf;
	size_t n = *len - 64;

	(void)j;
	assert_non_null(buf = malloc(16 + n + 1));
	memcpy(buf, "chat envelope v1", 16);
	memcpy(buf + 16, body, n);
	buf[16 + n] = 'x';
	body[n] = 'x';
	assert_int_equal(crypto_sign_detached(body + n + 1, NULL, buf,
	    16 + n + 1, alice.sk), 0);
	*len = n + 1 + 64;
	free(buf);
}

/* A body of the given fields, signed by alice. */
static void
new_body(unsigned char *body, size_t *len, const char *const f[5])
{
	unsigned char *p = body + 16, *q;
	size_t n;

	memcpy(body, "chat envelope v1", 16);
	for (int i = 0; i < 5; i++) {
		n = strlen(f[i]);
		*p++ = (unsigned char)(n >> 24);
		*p++ = (unsigned char)(n >> 16);
		*p++ = (unsigned char)(n >> 8);
		*p++ = (unsigned char)n;
		memcpy(p, f[i], n);
		p += n;
	}
	assert_int_equal(crypto_sign_detached(p, NULL, body, (size_t)(p - body),
	    alice.sk), 0);
	q = p + 64;
	*len = (size_t)(q - body) - 16;
	memmove(body, body + 16, *len);
}

static void
long_uid(unsigned char *body, size_t *len, json_t *j)
{
	const char *f[5] = { LONG_NAME "aaaaaaaaaaaaaa", "alice", "bob", TS,
		"x" };

	(void)j;
	new_body(body, len, f);
}

static void
long_to(unsigned char *body, size_t *len, json_t *j)
{
	const char *f[5] = { UID, "alice", LONG_NAME, TS, "x" };

	(void)j;
	new_body(body, len, f);
}

static void
bad_ts(unsigned char *body, size_t *len, json_t *j)
{
	const char *f[5] = { UID, "alice", "bob", "2026-12-03T12:00:00Z", "x" };

	(void)j;
	new_body(body, len, f);
}

static void
good_body(unsigned char *body, size_t *len, json_t *j)
{
	const char *f[5] = { UID, "alice", "bob", TS, "x" };

	(void)j;
	new_body(body, len, f);
}

/* The outside and the directory say bob; inside, alice signed "carol". */
static void
readdress_outside(unsigned char *body, size_t *len, json_t *j)
{
	(void)body, (void)len;
	set_member(j, "to", json_string("bob"));
}

static void
inner_fields(void **state)
{
	void (*fs[])(unsigned char *, size_t *, json_t *) = {
		change_uid, change_text, change_sig,
	};
	void (*f)(unsigned char *, size_t *, json_t *);
	char *env = seal(&alice, &bob), *bad;
	struct user carol = { .name = "carol" };

	(void)state;
	/* Rewritten without change, it opens: the rewriting is right. */
	f = same_body;
	bad = edit(env, rewrite_body, &f);
	assert_int_equal(open_as(bad, "alice", "bob", &bob, &alice),
	    ENVELOPE_OK);
	free(bad);
	for (size_t i = 0; i < sizeof(fs) / sizeof(fs[0]); i++) {
		bad = edit(env, rewrite_body, &fs[i]);
		assert_int_equal(open_as(bad, "alice", "bob", &bob, &alice),
		    ENVELOPE_BAD_SIG);
		free(bad);
	}
	f = cut_sig;
	bad = edit(env, rewrite_body, &f);
	assert_int_equal(open_as(bad, "alice", "bob", &bob, &alice),
	    ENVELOPE_MALFORMED);
	free(bad);
	/* Bodies made and signed by the test: the fields are checked. */
	f = good_body;
	bad = edit(env, rewrite_body, &f);
	assert_int_equal(open_as(bad, "alice", "bob", &bob, &alice),
	    ENVELOPE_OK);
	free(bad);
	f = long_uid;
	bad = edit(env, rewrite_body, &f);
	assert_int_equal(open_as(bad, "alice", "bob", &bob, &alice),
	    ENVELOPE_MALFORMED);
	free(bad);
	f = long_to;
	bad = edit(env, rewrite_body, &f);
	assert_int_equal(open_as(bad, "alice", "bob", &bob, &alice),
	    ENVELOPE_MALFORMED);
	free(bad);
	f = bad_ts;
	bad = edit(env, rewrite_body, &f);
	assert_int_equal(open_as(bad, "alice", "bob", &bob, &alice),
	    ENVELOPE_MALFORMED);
	free(bad);
	f = append_signed;
	bad = edit(env, rewrite_body, &f);
	assert_int_equal(open_as(bad, "alice", "bob", &bob, &alice),
	    ENVELOPE_MALFORMED);
	free(bad);
	free(env);

	/* Alice's message to carol, its key sealed to bob's key by
	 * mistake or malice, and its outside changed to say bob. */
	memcpy(carol.pk, bob.pk, sizeof(carol.pk));
	env = seal(&alice, &carol);
	f = readdress_outside;
	bad = edit(env, rewrite_body, &f);
	assert_int_equal(open_as(bad, "alice", "bob", &bob, &alice),
	    ENVELOPE_MISMATCH);
	free(bad);
	free(env);
}

static void
forged_signature(void **state)
{
	enum envelope_err err;
	char *env;

	(void)state;
	/* Mallory writes "from alice", and signs with her own key. */
	env = envelope_seal(UID, "alice", "bob", TS, TEXT, strlen(TEXT),
	    mallory.sk, mallory.pk, bob.pk, &err);
	assert_non_null(env);
	assert_int_equal(open_as(env, "alice", "bob", &bob, &alice),
	    ENVELOPE_BAD_SIG);
	/* With mallory's key pinned for the sender, it would open. */
	assert_int_equal(open_as(env, "alice", "bob", &bob, &mallory),
	    ENVELOPE_OK);
	free(env);
	/* The secret key must go with the sender's public key. */
	assert_null(envelope_seal(UID, "alice", "bob", TS, TEXT, strlen(TEXT),
	    mallory.sk, alice.pk, bob.pk, &err));
	assert_int_equal(err, ENVELOPE_INVALID);
}

static void
is_envelope(void **state)
{
	(void)state;
	assert_false(envelope_is("hello", 5));
	assert_false(envelope_is("", 0));
	assert_false(envelope_is(NULL, 0));
	assert_false(envelope_is("{\"sealed\"", 9));
	assert_false(envelope_is(" {\"sealed\":1,", 13));
	assert_true(envelope_is("{\"sealed\":1,", 12));
	/* Another version is an envelope this one cannot open, not text. */
	assert_true(envelope_is("{\"sealed\":2,", 12));
	assert_int_equal(open_as("hello", "alice", "bob", &bob, &alice),
	    ENVELOPE_NOT);
	assert_int_equal(open_as("{\"text\":\"hi\"}", "alice", "bob", &bob,
	    &alice), ENVELOPE_NOT);
}

static void
set_json(json_t *j, const void *arg)
{
	const char *const *kv = arg;
	json_t *v = json_loads(kv[1], JSON_DECODE_ANY, NULL);

	assert_non_null(v);
	set_member(j, kv[0], v);
}

static void
bad_shapes(void **state)
{
	static const char *const cases[][2] = {
		{ "sealed", "2" }, { "sealed", "\"1\"" }, { "sealed", "1.0" },
		{ "from", "null" }, { "from", "\"\"" }, { "from", "\"a b\"" },
		{ "from", "\"" LONG_NAME "\"" },
		{ "to", "5" }, { "n", "5" }, { "n", "\"\"" },
		/* 23 bytes, 27 bytes */
		{ "n", "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"" },
		{ "n", "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"" },
		{ "n", "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA*\"" },
		{ "n", "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA \"" },
		{ "k", "[]" }, { "k", "{}" }, { "k.to", "true" },
		{ "k.from", "\"AAAA\"" }, { "c", "{}" }, { "c", "\"\"" },
		{ "c", "\"AAAA\"" }, { "c", "\"AAAAAAAAAAAAAAAAAAAAAAA\"" },
		{ "c", "\"!!!!\"" },
	};
	char *env = seal(&alice, &bob), *bad;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bad = edit(env, set_json, cases[i]);
		if (open_as(bad, "alice", "bob", &bob, &alice) !=
		    ENVELOPE_MALFORMED)
			fail_msg("%s: %s: not refused as malformed",
			    cases[i][0], cases[i][1]);
		free(bad);
	}
	free(env);
}

static void
bad_json(void **state)
{
	static const char *const cases[] = {
		"{\"sealed\":1,", "{\"sealed\":1,}", "{\"sealed\":1,\"x\":1",
		"{\"sealed\":1,\"sealed\":1}",
		"{\"sealed\":1,\"from\":\"\xff\"}",
		"{\"sealed\":1,\"from\":\"alice\",\"from\":\"bob\"}",
	};
	char *big, *env = seal(&alice, &bob);
	size_t n = strlen(env);

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(open_as(cases[i], "alice", "bob", &bob,
		    &alice), ENVELOPE_MALFORMED);
	/* Garbage after the object, and an envelope of any size beyond the
	 * bound, are refused before anything is decoded. */
	assert_non_null(big = malloc(ENVELOPE_MAX + 2));
	memcpy(big, env, n);
	memset(big + n, ' ', ENVELOPE_MAX + 1 - n);
	big[ENVELOPE_MAX + 1] = '\0';
	assert_int_equal(open_as(big, "alice", "bob", &bob, &alice),
	    ENVELOPE_MALFORMED);
	big[n] = 'x', big[n + 1] = '\0';
	assert_int_equal(open_as(big, "alice", "bob", &bob, &alice),
	    ENVELOPE_MALFORMED);
	/* A member twice, even with the same value: parsers differ on
	 * which one counts. */
	memcpy(big, env, n - 1);
	strcpy(big + n - 1, ",\"to\":\"bob\"}");
	assert_int_equal(open_as(big, "alice", "bob", &bob, &alice),
	    ENVELOPE_MALFORMED);
	/* Base64 with something after it. */
	memcpy(big, env, n - 2);
	strcpy(big + n - 2, "*\"}");
	assert_int_equal(open_as(big, "alice", "bob", &bob, &alice),
	    ENVELOPE_MALFORMED);
	free(big);
	free(env);
}

static void
seal_refuses(void **state)
{
	unsigned char zero[crypto_sign_PUBLICKEYBYTES] = { 0 };
	enum envelope_err err;
	char *text;

	(void)state;
#define REFUSED(uid, from, to, ts, text, len, to_pk) do { \
	err = ENVELOPE_OK; \
	assert_null(envelope_seal(uid, from, to, ts, text, len, alice.sk, \
	    alice.pk, to_pk, &err)); \
	assert_int_equal(err, ENVELOPE_INVALID); \
} while (0)
	REFUSED("", "alice", "bob", TS, "x", 1, bob.pk);
	REFUSED("a b", "alice", "bob", TS, "x", 1, bob.pk);
	REFUSED(UID, "-alice", "bob", TS, "x", 1, bob.pk);
	REFUSED(UID, "alice", "", TS, "x", 1, bob.pk);
	REFUSED(UID, "alice", "bob", "yesterday", "x", 1, bob.pk);
	REFUSED(UID, "alice", "bob", TS, "a\0b", 3, bob.pk);
	REFUSED(UID, "alice", "bob", TS, "\xc3", 1, bob.pk);
	REFUSED(UID, "alice", "bob", TS, NULL, 0, bob.pk);
	REFUSED(UID, "alice", "bob", TS, "x", 1, zero);

	/* The longest text seals, opens, and fits the bound; one more
	 * byte does not seal. */
	assert_non_null(text = malloc(ENVELOPE_TEXT_MAX + 2));
	memset(text, 'a', ENVELOPE_TEXT_MAX + 1);
	text[ENVELOPE_TEXT_MAX + 1] = '\0';
	REFUSED(UID, "alice", "bob", TS, text, ENVELOPE_TEXT_MAX + 1, bob.pk);
	{
		char *env = envelope_seal(UID, "alice", "bob", TS, text,
		    ENVELOPE_TEXT_MAX, alice.sk, alice.pk, bob.pk, &err);
		struct envelope_msg m;

		assert_non_null(env);
		assert_true(strlen(env) <= ENVELOPE_MAX);
		assert_int_equal(envelope_open(env, strlen(env), "alice", "bob",
		    bob.sk, bob.pk, alice.pk, &m), ENVELOPE_OK);
		assert_int_equal(m.textlen, ENVELOPE_TEXT_MAX);
		assert_memory_equal(m.text, text, ENVELOPE_TEXT_MAX);
		envelope_msg_free(&m);
		free(env);
	}
	free(text);
#undef REFUSED
}

/* Keys made ready once serve any number of messages, both ways, and a
 * message to oneself. */
static void
prepared_keys(void **state)
{
	unsigned char zero[crypto_sign_PUBLICKEYBYTES] = { 0 };
	struct envelope_self a, b;
	struct envelope_peer pa, pb;
	struct envelope_msg m;
	enum envelope_err err;
	char *env;

	(void)state;
	assert_int_equal(envelope_self_init(&a, alice.sk), 0);
	assert_memory_equal(a.pk, alice.pk, sizeof(a.pk));
	assert_int_equal(envelope_self_init(&b, bob.sk), 0);
	assert_int_equal(envelope_peer_init(&pa, alice.pk), 0);
	assert_int_equal(envelope_peer_init(&pb, bob.pk), 0);
	assert_int_equal(envelope_peer_init(&pb, zero), -1);
	assert_int_equal(envelope_peer_init(&pb, bob.pk), 0);
	for (int i = 0; i < 3; i++) {
		env = envelope_seal_to(&b, &pa, UID, "bob", "alice", TS, "re",
		    2, &err);
		assert_non_null(env);
		assert_int_equal(envelope_open_from(&a, &pb, env, strlen(env),
		    "bob", "alice", &m), ENVELOPE_OK);
		assert_string_equal(m.text, "re");
		envelope_msg_free(&m);
		assert_int_equal(envelope_open_from(&b, &pb, env, strlen(env),
		    "bob", "alice", &m), ENVELOPE_OK);
		envelope_msg_free(&m);
		assert_int_equal(envelope_open_from(&a, &pa, env, strlen(env),
		    "bob", "alice", &m), ENVELOPE_NOT_OURS);
		free(env);
	}
	env = envelope_seal_to(&a, &pa, UID, "alice", "alice", TS, "note", 4,
	    &err);
	assert_non_null(env);
	assert_int_equal(envelope_open_from(&a, &pa, env, strlen(env), "alice",
	    "alice", &m), ENVELOPE_OK);
	envelope_msg_free(&m);
	/* The raw form checks that the reader's halves belong together. */
	assert_int_equal(envelope_open(env, strlen(env), "alice", "alice",
	    alice.sk, bob.pk, alice.pk, &m), ENVELOPE_INVALID);
	free(env);
	envelope_self_wipe(&a);
	envelope_self_wipe(&b);
	assert_true(sodium_is_zero(a.sk, sizeof(a.sk)));
}

static void
messages_are_named(void **state)
{
	(void)state;
	for (int e = ENVELOPE_OK; e <= ENVELOPE_NOMEM; e++)
		assert_string_not_equal(envelope_strerror(e), "unknown error");
}

/* Interop: PyNaCl (a binding of libsodium not ours, with a format of
 * its own reading of chat-protocol(7)) opens what we seal and seals what
 * we open. The script reads one JSON request on stdin. */
static char *
hex(const unsigned char *b, size_t n)
{
	char *s = malloc(2 * n + 1);

	assert_non_null(s);
	sodium_bin2hex(s, 2 * n + 1, b, n);
	return s;
}

static json_t *
keys_json(const struct user *u)
{
	char *sk = hex(u->sk, sizeof(u->sk)), *pk = hex(u->pk, sizeof(u->pk));
	json_t *j = json_pack("{s:s, s:s}", "sk", sk, "pk", pk);

	free(sk);
	free(pk);
	return j;
}

/* Runs the script with req on its stdin: its stdout parsed, or NULL when
 * it exits non-zero. */
static json_t *
python(const char *cmd, json_t *req)
{
	static char out[ENVELOPE_MAX];
	char path[] = "/tmp/test-envelope.XXXXXX", line[4096];
	size_t len = 0;
	FILE *f;
	json_t *j;
	int fd, st;

	assert_return_code(access(INTEROP, X_OK), errno);
	assert_return_code(fd = mkstemp(path), errno);
	assert_int_equal(json_dumpfd(req, fd, JSON_COMPACT), 0);
	assert_return_code(close(fd), errno);
	snprintf(line, sizeof(line), "%s %s <%s", INTEROP, cmd, path);
	assert_non_null(f = popen(line, "r"));
	len = fread(out, 1, sizeof(out) - 1, f);
	out[len] = '\0';
	st = pclose(f);
	assert_return_code(unlink(path), errno);
	json_decref(req);
	if (st != 0)
		return NULL;
	assert_non_null(j = json_loads(out, 0, NULL));
	return j;
}

static void
python_opens_ours(void **state)
{
	char *env = seal(&alice, &bob);
	json_t *r;

	(void)state;
	r = python("open", json_pack("{s:s, s:s, s:s, s:o, s:o}", "envelope",
	    env, "from", "alice", "to", "bob", "reader", keys_json(&bob),
	    "sender", keys_json(&alice)));
	assert_non_null(r);
	assert_string_equal(json_string_value(json_object_get(r, "uid")), UID);
	assert_string_equal(json_string_value(json_object_get(r, "from")),
	    "alice");
	assert_string_equal(json_string_value(json_object_get(r, "to")), "bob");
	assert_string_equal(json_string_value(json_object_get(r, "ts")), TS);
	assert_string_equal(json_string_value(json_object_get(r, "text")),
	    TEXT);
	json_decref(r);
	/* As the sender, too; and with another sender's key pinned, the
	 * script refuses it as well. */
	r = python("open", json_pack("{s:s, s:s, s:s, s:o, s:o}", "envelope",
	    env, "from", "alice", "to", "bob", "reader", keys_json(&alice),
	    "sender", keys_json(&alice)));
	assert_non_null(r);
	json_decref(r);
	assert_null(python("open", json_pack("{s:s, s:s, s:s, s:o, s:o}",
	    "envelope", env, "from", "alice", "to", "bob", "reader",
	    keys_json(&bob), "sender", keys_json(&mallory))));
	free(env);
}

static void
we_open_python_s(void **state)
{
	const char *text = "caf\xc3\xa9 \xf0\x9f\x98\x80 \"quoted\"\n";
	struct envelope_msg m;
	const char *env;
	json_t *r;

	(void)state;
	r = python("seal", json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o}",
	    "uid", UID, "from", "alice", "to", "bob", "ts", TS, "text", text,
	    "sender", keys_json(&alice), "recipient", keys_json(&bob)));
	assert_non_null(r);
	env = json_string_value(json_object_get(r, "envelope"));
	assert_non_null(env);
	assert_true(envelope_is(env, strlen(env)));
	assert_int_equal(envelope_open(env, strlen(env), "alice", "bob",
	    bob.sk, bob.pk, alice.pk, &m), ENVELOPE_OK);
	assert_string_equal(m.uid, UID);
	assert_string_equal(m.ts, TS);
	assert_string_equal(m.text, text);
	envelope_msg_free(&m);
	assert_int_equal(envelope_open(env, strlen(env), "alice", "bob",
	    alice.sk, alice.pk, alice.pk, &m), ENVELOPE_OK);
	envelope_msg_free(&m);
	assert_int_equal(open_as(env, "alice", "bob", &bob, &mallory),
	    ENVELOPE_BAD_SIG);
	json_decref(r);
}

/* Version 3: n messages from alice to bob sealed in one batch. */
static char **
seal_batch(size_t n, const struct user *signer)
{
	struct envelope_self k;
	struct envelope_peer peer;
	struct envelope_pair pair;
	struct envelope_msg *m = calloc(n, sizeof(*m));
	char **out = calloc(n, sizeof(*out));
	enum envelope_err err;

	assert_non_null(m);
	assert_non_null(out);
	assert_int_equal(envelope_self_init(&k, signer->sk), 0);
	assert_int_equal(envelope_peer_init(&peer, bob.pk), 0);
	assert_int_equal(envelope_pair_init(&pair, &k, &peer), 0);
	for (size_t i = 0; i < n; i++) {
		snprintf(m[i].uid, sizeof(m[i].uid), "uid-%zu", i);
		strcpy(m[i].from, "alice");
		strcpy(m[i].to, "bob");
		strcpy(m[i].ts, TS);
		m[i].text = (char *)TEXT;
		m[i].textlen = strlen(TEXT);
	}
	assert_int_equal(envelope_seal_batch(&k, &pair, m, n, out, &err), 0);
	assert_int_equal(err, ENVELOPE_OK);
	envelope_self_wipe(&k);
	free(m);
	return out;
}

/* Opens a version 2 or 3 envelope as reader, the sender's key signer's,
 * as the directory's message uid from `from` to `to`. */
static enum envelope_err
open2_as(const char *env, const char *from, const char *to, const char *uid,
    const struct user *reader, const struct user *other,
    const struct user *signer, struct envelope_roots *roots,
    struct envelope_msg *m)
{
	struct envelope_self k;
	struct envelope_peer sender, op;
	struct envelope_pair pair;
	enum envelope_err rc;

	assert_int_equal(envelope_self_init(&k, reader->sk), 0);
	assert_int_equal(envelope_peer_init(&sender, signer->pk), 0);
	assert_int_equal(envelope_peer_init(&op, other->pk), 0);
	assert_int_equal(envelope_pair_init(&pair, &k, &op), 0);
	rc = envelope_open_any(&k, &sender, &pair, roots, env, strlen(env),
	    from, to, uid, m);
	envelope_self_wipe(&k);
	return rc;
}

static void
batch_opens_each(void **state)
{
	struct envelope_roots roots = { 0 };
	struct envelope_msg m;
	char uid[16];

	(void)state;
	/* Every size of chunk, and one over: every shape of tree. */
	for (size_t n = 1; n <= ENVELOPE_CHUNK + 3; n++) {
		char **env = seal_batch(n, &alice);

		for (size_t i = 0; i < n; i++) {
			snprintf(uid, sizeof(uid), "uid-%zu", i);
			assert_true(strncmp(env[i], "{\"sealed\":3,\"c\":\"",
			    17) == 0);
			assert_string_equal(env[i] + strlen(env[i]) - 2, "\"}");
			assert_int_equal(open2_as(env[i], "alice", "bob", uid,
			    &bob, &alice, &alice, i % 2 ? &roots : NULL, &m),
			    ENVELOPE_OK);
			assert_string_equal(m.uid, uid);
			assert_string_equal(m.from, "alice");
			assert_string_equal(m.to, "bob");
			assert_string_equal(m.ts, TS);
			assert_int_equal(m.textlen, strlen(TEXT));
			assert_string_equal(m.text, TEXT);
			envelope_msg_free(&m);
			/* The sender reads its own copy. */
			assert_int_equal(open2_as(env[i], "alice", "bob", uid,
			    &alice, &bob, &alice, NULL, &m), ENVELOPE_OK);
			envelope_msg_free(&m);
			/* Names in the case the directory reports them. */
			assert_int_equal(open2_as(env[i], "Alice", "BOB", uid,
			    &bob, &alice, &alice, NULL, &m), ENVELOPE_OK);
			assert_string_equal(m.from, "Alice");
			envelope_msg_free(&m);
			/* Nobody else does. */
			assert_int_equal(open2_as(env[i], "alice", "bob", uid,
			    &mallory, &alice, &alice, NULL, &m),
			    ENVELOPE_ALTERED);
			free(env[i]);
		}
		free(env);
	}
}

static void
batch_refuses_changes(void **state)
{
	struct envelope_roots roots = { 0 };
	struct envelope_msg m;
	char **env = seal_batch(5, &alice), **forged = seal_batch(5, &mallory);
	char *c;

	(void)state;
	/* A checked root, then a message signed by another key. */
	assert_int_equal(open2_as(env[0], "alice", "bob", "uid-0", &bob, &alice,
	    &alice, &roots, &m), ENVELOPE_OK);
	envelope_msg_free(&m);
	/* mallory's pair with bob differs: it does not even decrypt. */
	assert_int_equal(open2_as(forged[1], "alice", "bob", "uid-1", &bob,
	    &alice, &alice, &roots, &m), ENVELOPE_ALTERED);
	/* Opened with mallory's pair it decrypts, but is not alice's. (With
	 * the roots alice signed it would pass: its fields are the very
	 * ones alice signed, sealed again.) */
	assert_int_equal(open2_as(forged[1], "alice", "bob", "uid-1", &bob,
	    &mallory, &alice, NULL, &m), ENVELOPE_BAD_SIG);
	/* Re-addressed, or copied onto another message: what the record
	 * says is bound, so it does not open. */
	assert_int_equal(open2_as(env[1], "alice", "carol", "uid-1", &bob,
	    &alice, &alice, &roots, &m), ENVELOPE_ALTERED);
	assert_int_equal(open2_as(env[1], "carol", "bob", "uid-1", &bob,
	    &alice, &alice, &roots, &m), ENVELOPE_ALTERED);
	assert_int_equal(open2_as(env[1], "alice", "bob", "uid-2", &bob,
	    &alice, &alice, &roots, &m), ENVELOPE_ALTERED);
	/* Without the record's uid, or with names that are none, there is
	 * nothing to check it against. */
	assert_int_equal(open2_as(env[1], "alice", "bob", NULL, &bob, &alice,
	    &alice, &roots, &m), ENVELOPE_MISMATCH);
	assert_int_equal(open2_as(env[1], "al ice", "bob", "uid-1", &bob,
	    &alice, &alice, &roots, &m), ENVELOPE_MISMATCH);
	/* Each byte of the nonce, ciphertext and tag. */
	c = strstr(env[2], "\"c\":\"") + 5;
	for (; *c != '"'; c++) {
		char was = *c;

		*c = was == 'A' ? 'B' : 'A';
		assert_int_not_equal(open2_as(env[2], "alice", "bob", "uid-2",
		    &bob, &alice, &alice, &roots, &m), ENVELOPE_OK);
		*c = was;
	}
	assert_int_equal(open2_as(env[2], "alice", "bob", "uid-2", &bob,
	    &alice, &alice, &roots, &m), ENVELOPE_OK);
	envelope_msg_free(&m);
	/* Cut short, or not base64. */
	c = strstr(env[3], "\"c\":\"") + 5;
	memmove(c + 4, c + 8, strlen(c + 8) + 1);
	assert_int_not_equal(open2_as(env[3], "alice", "bob", "uid-3", &bob,
	    &alice, &alice, &roots, &m), ENVELOPE_OK);
	c[0] = '*';
	assert_int_equal(open2_as(env[3], "alice", "bob", "uid-3", &bob,
	    &alice, &alice, &roots, &m), ENVELOPE_MALFORMED);
	/* Version 1 still opens through the same call. */
	c = seal(&alice, &bob);
	assert_int_equal(open2_as(c, "alice", "bob", UID, &bob, &alice, &alice,
	    &roots, &m), ENVELOPE_OK);
	envelope_msg_free(&m);
	free(c);
	for (int i = 0; i < 5; i++) {
		free(env[i]);
		free(forged[i]);
	}
	free(env);
	free(forged);
}

/* Version 3's bound bytes for a message from alice to bob, as
 * chat-protocol(7) gives them: the label, then each name and the uid
 * after its 4-byte length. Their length. */
static size_t
bound3(unsigned char *out, const char *uid)
{
	const char *f[] = { "alice", "bob", uid };
	unsigned char *q = out;

	memcpy(q, "chat envelope v3", 16);
	q += 16;
	for (int i = 0; i < 3; i++) {
		size_t n = strlen(f[i]);

		q[0] = q[1] = q[2] = 0;
		q[3] = (unsigned char)n;
		memcpy(q + 4, f[i], n);
		q += 4 + n;
	}
	return (size_t)(q - out);
}

/* A version 3 envelope of a body made here, under the real key of alice
 * to bob: the AEAD passes, so what is checked is the body's shape. */
static char *
envelope3_of(const unsigned char *body, size_t len, const char *uid)
{
	struct envelope_self k;
	struct envelope_peer peer;
	struct envelope_pair pair;
	unsigned char nc[24 + 512], aad[128];
	unsigned long long ctlen;
	char b64[1024], *out;

	assert_true(len + 24 + 16 <= sizeof(nc));
	assert_int_equal(envelope_self_init(&k, alice.sk), 0);
	assert_int_equal(envelope_peer_init(&peer, bob.pk), 0);
	assert_int_equal(envelope_pair_init(&pair, &k, &peer), 0);
	randombytes_buf(nc, 24);
	assert_int_equal(crypto_aead_xchacha20poly1305_ietf_encrypt(nc + 24,
	    &ctlen, body, len, aad, bound3(aad, uid), NULL, nc, pair.out), 0);
	sodium_bin2base64(b64, sizeof(b64), nc, 24 + (size_t)ctlen, B64);
	assert_true(asprintf(&out, "{\"sealed\":3,\"c\":\"%s\"}", b64) > 0);
	envelope_self_wipe(&k);
	envelope_pair_wipe(&pair);
	return out;
}

static enum envelope_err
open3_body(const unsigned char *body, size_t len)
{
	struct envelope_msg m;
	char *env = envelope3_of(body, len, "u1");
	enum envelope_err rc;

	rc = open2_as(env, "alice", "bob", "u1", &bob, &alice, &alice, NULL,
	    &m);
	if (rc == ENVELOPE_OK)
		envelope_msg_free(&m);
	else
		assert_null(m.text);
	free(env);
	return rc;
}

static void
v3_bodies_checked(void **state)
{
	/* time, count 1, leaf 0, no path, a signature, a text */
	unsigned char b[8 + 2 + 32 + 64 + 8] = { 0 };
	unsigned char h[32], in[16 + 32], aad[64];
	crypto_generichash_state st;

	(void)state;
	b[7] = 1;
	b[8] = 1;
	memcpy(b + 10 + 64, "hi there", 8);
	/* Shapes: short, no leaves, a leaf past the end, a tree too big,
	 * a path cut short; a text with a NUL or not UTF-8. */
	assert_int_equal(open3_body(b, 9), ENVELOPE_MALFORMED);
	b[8] = 0;
	assert_int_equal(open3_body(b, 10 + 64 + 8), ENVELOPE_MALFORMED);
	b[8] = 2;
	b[9] = 2;
	assert_int_equal(open3_body(b, 10 + 64 + 8), ENVELOPE_MALFORMED);
	b[9] = 0;
	{
		/* 17 leaves, and room for the path they would have */
		unsigned char big[10 + 5 * 32 + 64 + 8] = { 0 };

		big[7] = 1;
		big[8] = 17;
		memcpy(big + sizeof(big) - 8, "hi there", 8);
		assert_int_equal(open3_body(big, sizeof(big)),
		    ENVELOPE_MALFORMED);
		/* 16 leaves: four levels, well formed, signed by nobody */
		big[8] = 16;
		memcpy(big + 10 + 4 * 32 + 64, "hi there", 8);
		assert_int_equal(open3_body(big, sizeof(big) - 32),
		    ENVELOPE_BAD_SIG);
	}
	b[8] = 2;
	assert_int_equal(open3_body(b, 10 + 32 + 63), ENVELOPE_MALFORMED);
	b[8] = 1;
	b[10 + 64 + 2] = '\0';
	assert_int_equal(open3_body(b, 10 + 64 + 8), ENVELOPE_MALFORMED);
	b[10 + 64 + 2] = 0xff;
	assert_int_equal(open3_body(b, 10 + 64 + 8), ENVELOPE_MALFORMED);
	b[10 + 64 + 2] = 't';
	/* A time past the year 9999, or before 1970. */
	b[0] = 0x01;
	assert_int_equal(open3_body(b, 10 + 64 + 8), ENVELOPE_MALFORMED);
	b[0] = 0x80;
	assert_int_equal(open3_body(b, 10 + 64 + 8), ENVELOPE_MALFORMED);
	b[0] = 0;
	/* Well formed, but the signature is nobody's. */
	assert_int_equal(open3_body(b, 10 + 64 + 8), ENVELOPE_BAD_SIG);
	/* Signed by alice over the leaf chat-protocol(7) gives: opens. */
	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st, (const unsigned char *)"", 1);
	crypto_generichash_update(&st, aad, bound3(aad, "u1"));
	crypto_generichash_update(&st, b, 8);
	crypto_generichash_update(&st, b + 10 + 64, 8);
	crypto_generichash_final(&st, h, 32);
	memcpy(in, "chat envelope v3", 16);
	memcpy(in + 16, h, 32);
	crypto_sign_detached(b + 10, NULL, in, sizeof(in), alice.sk);
	assert_int_equal(open3_body(b, 10 + 64 + 8), ENVELOPE_OK);
	/* The time is the signed one. */
	b[7] = 2;
	assert_int_equal(open3_body(b, 10 + 64 + 8), ENVELOPE_BAD_SIG);
}

static void
python_opens_v3(void **state)
{
	char **env = seal_batch(7, &alice);
	char uid[16];
	json_t *r;

	(void)state;
	for (int i = 0; i < 7; i++) {
		snprintf(uid, sizeof(uid), "uid-%d", i);
		r = python("open", json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o}",
		    "envelope", env[i], "from", "alice", "to", "bob", "uid", uid,
		    "reader", keys_json(&bob), "sender", keys_json(&alice),
		    "other", keys_json(&alice)));
		assert_non_null(r);
		assert_string_equal(json_string_value(json_object_get(r,
		    "text")), TEXT);
		assert_string_equal(json_string_value(json_object_get(r,
		    "ts")), TS);
		json_decref(r);
	}
	/* The sender's own copy; a wrong sender's key and another uid
	 * refused. */
	r = python("open", json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o}",
	    "envelope", env[3], "from", "alice", "to", "bob", "uid", "uid-3",
	    "reader", keys_json(&alice), "sender", keys_json(&alice), "other",
	    keys_json(&bob)));
	assert_non_null(r);
	json_decref(r);
	assert_null(python("open", json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o}",
	    "envelope", env[3], "from", "alice", "to", "bob", "uid", "uid-3",
	    "reader", keys_json(&bob), "sender", keys_json(&mallory), "other",
	    keys_json(&alice))));
	assert_null(python("open", json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o}",
	    "envelope", env[3], "from", "alice", "to", "bob", "uid", "uid-4",
	    "reader", keys_json(&bob), "sender", keys_json(&alice), "other",
	    keys_json(&alice))));
	for (int i = 0; i < 7; i++)
		free(env[i]);
	free(env);
}

/* Envelopes Python sealed (version 2 or 3, as how says): each opens to
 * what it sealed, for both sides, and not under another sender's key. */
static void
we_open_python(void **state, const char *how)
{
	struct envelope_roots roots = { 0 };
	struct envelope_msg m;
	json_t *msgs = json_array(), *r, *envs;
	char uid[16];

	(void)state;
	for (int i = 0; i < 19; i++) {
		snprintf(uid, sizeof(uid), "py-%d", i);
		json_array_append_new(msgs, json_pack("{s:s, s:s, s:s, s:s, s:s}",
		    "uid", uid, "from", "alice", "to", "bob", "ts", TS, "text",
		    TEXT));
	}
	r = python(how, json_pack("{s:o, s:o, s:o}", "messages", msgs,
	    "sender", keys_json(&alice), "recipient", keys_json(&bob)));
	assert_non_null(r);
	envs = json_object_get(r, "envelopes");
	assert_int_equal(json_array_size(envs), 19);
	for (int i = 0; i < 19; i++) {
		const char *env = json_string_value(json_array_get(envs, i));

		snprintf(uid, sizeof(uid), "py-%d", i);
		assert_int_equal(open2_as(env, "alice", "bob", uid, &bob,
		    &alice, &alice, &roots, &m), ENVELOPE_OK);
		assert_string_equal(m.uid, uid);
		assert_string_equal(m.ts, TS);
		assert_string_equal(m.text, TEXT);
		envelope_msg_free(&m);
		assert_int_equal(open2_as(env, "alice", "bob", uid, &alice,
		    &bob, &alice, NULL, &m), ENVELOPE_OK);
		envelope_msg_free(&m);
		assert_int_equal(open2_as(env, "alice", "bob", uid, &bob,
		    &alice, &mallory, NULL, &m), ENVELOPE_BAD_SIG);
	}
	json_decref(r);
}

static void
we_open_python_v2(void **state)
{
	we_open_python(state, "seal2");
}

static void
we_open_python_v3(void **state)
{
	we_open_python(state, "seal3");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(recipient_opens),
		cmocka_unit_test(sender_opens),
		cmocka_unit_test(third_party_cannot),
		cmocka_unit_test(each_seal_differs),
		cmocka_unit_test(tampered_bits),
		cmocka_unit_test(tampered_names),
		cmocka_unit_test(re_addressed),
		cmocka_unit_test(inner_fields),
		cmocka_unit_test(forged_signature),
		cmocka_unit_test(is_envelope),
		cmocka_unit_test(bad_shapes),
		cmocka_unit_test(bad_json),
		cmocka_unit_test(seal_refuses),
		cmocka_unit_test(prepared_keys),
		cmocka_unit_test(messages_are_named),
		cmocka_unit_test(python_opens_ours),
		cmocka_unit_test(we_open_python_s),
		cmocka_unit_test(batch_opens_each),
		cmocka_unit_test(batch_refuses_changes),
		cmocka_unit_test(v3_bodies_checked),
		cmocka_unit_test(python_opens_v3),
		cmocka_unit_test(we_open_python_v2),
		cmocka_unit_test(we_open_python_v3),
	};

	if (sodium_init() < 0)
		return 1;
	crypto_sign_keypair(alice.pk, alice.sk);
	crypto_sign_keypair(bob.pk, bob.sk);
	crypto_sign_keypair(mallory.pk, mallory.sk);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
