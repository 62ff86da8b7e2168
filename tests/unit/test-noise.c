/* Unit tests for lib/sec/noise: the published Noise test vectors for IK,
 * XX and NK with SHA256 and BLAKE2b, and every way a message may be bad. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "sec/noise.h"

#define VECTORS "tests/vectors/noise-vectors.json"
#define BUF 2048

/* hex field name of v into out; its length, or 0 when absent. */
static size_t
hexfield(json_t *v, const char *name, uint8_t *out, size_t cap)
{
	const char *hex = json_string_value(json_object_get(v, name));
	size_t len;

	if (hex == NULL)
		return 0;
	assert_int_equal(sodium_hex2bin(out, cap, hex, strlen(hex), NULL, &len,
	    NULL), 0);
	return len;
}

struct protocol {
	const char *name;
	enum noise_pattern p;
	enum noise_hash h;
};

static const struct protocol protocols[] = {
	{ "Noise_IK_25519_ChaChaPoly_SHA256", NOISE_IK, NOISE_SHA256 },
	{ "Noise_IK_25519_ChaChaPoly_BLAKE2b", NOISE_IK, NOISE_BLAKE2B },
	{ "Noise_XX_25519_ChaChaPoly_SHA256", NOISE_XX, NOISE_SHA256 },
	{ "Noise_XX_25519_ChaChaPoly_BLAKE2b", NOISE_XX, NOISE_BLAKE2B },
	{ "Noise_NK_25519_ChaChaPoly_SHA256", NOISE_NK, NOISE_SHA256 },
	{ "Noise_NK_25519_ChaChaPoly_BLAKE2b", NOISE_NK, NOISE_BLAKE2B },
};

static void
run_vector(json_t *v, const struct protocol *pr)
{
	uint8_t iprol[256], rprol[256], is[32], ie[32], irs[32], rs[32], re[32];
	uint8_t hh[64], payload[BUF], ct[BUF], out[BUF], got[BUF];
	size_t iprollen, rprollen, hhlen, plen, ctlen, outlen, gotlen, hlen;
	struct noise_hs ini, res;
	struct noise_cipher itx, irx, rtx, rrx;
	json_t *msgs = json_object_get(v, "messages"), *m;
	size_t i;

	iprollen = hexfield(v, "init_prologue", iprol, sizeof(iprol));
	rprollen = hexfield(v, "resp_prologue", rprol, sizeof(rprol));
	bool has_is = hexfield(v, "init_static", is, sizeof(is)) == 32;
	bool has_irs = hexfield(v, "init_remote_static", irs, sizeof(irs)) == 32;
	assert_int_equal(hexfield(v, "init_ephemeral", ie, sizeof(ie)), 32);
	assert_int_equal(hexfield(v, "resp_static", rs, sizeof(rs)), 32);
	assert_int_equal(hexfield(v, "resp_ephemeral", re, sizeof(re)), 32);
	hhlen = hexfield(v, "handshake_hash", hh, sizeof(hh));

	assert_int_equal(noise_hs_init(&ini, pr->p, pr->h, NOISE_INITIATOR,
	    iprol, iprollen, has_is ? is : NULL, has_irs ? irs : NULL), 0);
	assert_int_equal(noise_hs_init(&res, pr->p, pr->h, NOISE_RESPONDER,
	    rprol, rprollen, rs, NULL), 0);
	noise_hs_fixed_ephemeral(&ini, ie);
	noise_hs_fixed_ephemeral(&res, re);

	assert_true(json_array_size(msgs) > 0);
	json_array_foreach(msgs, i, m) {
		bool from_ini = i % 2 == 0;
		struct noise_hs *w = from_ini ? &ini : &res;
		struct noise_hs *r = from_ini ? &res : &ini;

		plen = hexfield(m, "payload", payload, sizeof(payload));
		ctlen = hexfield(m, "ciphertext", ct, sizeof(ct));
		if (!noise_hs_done(&ini)) {
			assert_true(noise_hs_writing(w));
			assert_int_equal(noise_hs_write(w, payload, plen, out,
			    sizeof(out), &outlen), 0);
			assert_int_equal(outlen, ctlen);
			assert_memory_equal(out, ct, ctlen);
			assert_int_equal(noise_hs_read(r, out, outlen, got,
			    sizeof(got), &gotlen), 0);
			assert_int_equal(gotlen, plen);
			assert_memory_equal(got, payload, plen);
			if (noise_hs_done(&ini)) {
				assert_true(noise_hs_done(&res));
				const uint8_t *h = noise_hs_hash(&ini, &hlen);
				assert_int_equal(hlen, hhlen);
				assert_memory_equal(h, hh, hhlen);
				h = noise_hs_hash(&res, &hlen);
				assert_memory_equal(h, hh, hhlen);
				assert_memory_equal(noise_hs_remote_static(&ini),
				    res.spub, 32);
				if (pr->p != NOISE_NK)
					assert_memory_equal(
					    noise_hs_remote_static(&res),
					    ini.spub, 32);
				assert_int_equal(noise_hs_split(&ini, &itx,
				    &irx), 0);
				assert_int_equal(noise_hs_split(&res, &rtx,
				    &rrx), 0);
			}
			continue;
		}
		assert_int_equal(noise_encrypt(from_ini ? &itx : &rtx, NULL, 0,
		    payload, plen, out), 0);
		assert_int_equal(plen + NOISE_TAGLEN, ctlen);
		assert_memory_equal(out, ct, ctlen);
		assert_int_equal(noise_decrypt(from_ini ? &rrx : &irx, NULL, 0,
		    out, ctlen, got), 0);
		assert_memory_equal(got, payload, plen);
	}
	assert_true(noise_hs_done(&ini));
	noise_cipher_wipe(&itx);
	noise_cipher_wipe(&irx);
	noise_cipher_wipe(&rtx);
	noise_cipher_wipe(&rrx);
}

static void
vectors(void **state)
{
	json_error_t err;
	json_t *root = json_load_file(VECTORS, 0, &err), *v;
	unsigned seen[6] = { 0 };
	size_t i, k;

	(void)state;
	if (root == NULL)
		fail_msg("%s: %s", VECTORS, err.text);
	json_array_foreach(json_object_get(root, "vectors"), i, v) {
		const char *name = json_string_value(json_object_get(v,
		    "protocol_name"));

		assert_non_null(name);
		for (k = 0; k < 6; k++)
			if (strcmp(name, protocols[k].name) == 0)
				break;
		if (k == 6)
			continue;
		run_vector(v, &protocols[k]);
		seen[k]++;
	}
	for (k = 0; k < 6; k++)
		if (seen[k] == 0)
			fail_msg("no vector for %s", protocols[k].name);
	json_decref(root);
}

/* Two sides with fresh keys, ready for message 0. */
struct pair {
	uint8_t is[32], rs[32], rpub[32];
	struct noise_hs ini, res;
};

static void
pair_init(struct pair *pp, enum noise_pattern p, enum noise_hash h,
    const uint8_t *wrong_rs)
{
	randombytes_buf(pp->is, 32);
	randombytes_buf(pp->rs, 32);
	assert_int_equal(noise_pubkey(pp->rpub, pp->rs), 0);
	assert_int_equal(noise_hs_init(&pp->ini, p, h, NOISE_INITIATOR,
	    (const uint8_t *)"pro", 3, pp->is,
	    wrong_rs != NULL ? wrong_rs : pp->rpub), 0);
	assert_int_equal(noise_hs_init(&pp->res, p, h, NOISE_RESPONDER,
	    (const uint8_t *)"pro", 3, pp->rs, NULL), 0);
}

/* Runs the handshake, flipping bit `bit` of message `which` (or none
 * with which < 0): 0 when both sides finish, else the first error. */
static int
handshake(struct pair *pp, int which, size_t bit)
{
	uint8_t msg[BUF], got[BUF];
	size_t len, gotlen;
	int i, rc;

	for (i = 0; !noise_hs_done(&pp->ini) || !noise_hs_done(&pp->res); i++) {
		struct noise_hs *w = i % 2 == 0 ? &pp->ini : &pp->res;
		struct noise_hs *r = i % 2 == 0 ? &pp->res : &pp->ini;

		if ((rc = noise_hs_write(w, (const uint8_t *)"hi", 2, msg,
		    sizeof(msg), &len)) != 0)
			return rc;
		if (i == which) {
			if (bit / 8 >= len)
				return 1;
			msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		}
		if ((rc = noise_hs_read(r, msg, len, got, sizeof(got),
		    &gotlen)) != 0)
			return rc;
		if (i != which && (gotlen != 2 || memcmp(got, "hi", 2) != 0))
			return 2;
	}
	return 0;
}

static const enum noise_pattern both[] = { NOISE_IK, NOISE_XX };
static const enum noise_hash hashes[] = { NOISE_SHA256, NOISE_BLAKE2B };

/* Every bit of every handshake message matters: a flip fails the
 * handshake, at the message or at a later one (XX's first message has
 * nothing to verify yet; its hash does it later). */
static void
flipped_bits_refused(void **state)
{
	struct pair pp;
	size_t bit, nmsg;
	int which, rc;

	(void)state;
	for (size_t p = 0; p < 2; p++) for (size_t h = 0; h < 2; h++) {
		nmsg = both[p] == NOISE_IK ? 2 : 3;
		for (which = 0; which < (int)nmsg; which++) {
			for (bit = 0;; bit++) {
				pair_init(&pp, both[p], hashes[h], NULL);
				rc = handshake(&pp, which, bit);
				if (rc == 1)
					break;
				assert_true(rc < 0);
				assert_false(noise_hs_done(&pp.ini) &&
				    noise_hs_done(&pp.res));
			}
			assert_true(bit >= 8 * 34);
		}
		pair_init(&pp, both[p], hashes[h], NULL);
		assert_int_equal(handshake(&pp, -1, 0), 0);
	}
}

/* A truncated handshake message fails; a short one says so. */
static void
truncated_refused(void **state)
{
	struct pair pp;
	uint8_t msg[BUF], got[BUF];
	size_t len, gotlen, cut;

	(void)state;
	for (size_t p = 0; p < 2; p++) for (size_t h = 0; h < 2; h++) {
		for (cut = 1; cut < 100; cut += 7) {
			pair_init(&pp, both[p], hashes[h], NULL);
			assert_int_equal(noise_hs_write(&pp.ini, NULL, 0, msg,
			    sizeof(msg), &len), 0);
			if (cut > len)
				break;
			assert_true(noise_hs_read(&pp.res, msg, len - cut, got,
			    sizeof(got), &gotlen) < 0);
			/* A failed handshake stays failed. */
			assert_int_equal(noise_hs_read(&pp.res, msg, len, got,
			    sizeof(got), &gotlen), NOISE_ESTATE);
		}
		pair_init(&pp, both[p], hashes[h], NULL);
		assert_int_equal(noise_hs_write(&pp.ini, NULL, 0, msg,
		    sizeof(msg), &len), 0);
		assert_int_equal(noise_hs_read(&pp.res, msg, 31, got,
		    sizeof(got), &gotlen), NOISE_ESHORT);
	}
}

/* An IK initiator with the wrong key for the responder is refused by
 * the responder's first read, and the responder says no more. */
static void
ik_wrong_responder_key(void **state)
{
	struct pair pp;
	uint8_t other[32], otherpub[32];

	(void)state;
	for (size_t h = 0; h < 2; h++) {
		randombytes_buf(other, 32);
		assert_int_equal(noise_pubkey(otherpub, other), 0);
		pair_init(&pp, NOISE_IK, hashes[h], otherpub);
		assert_int_equal(handshake(&pp, -1, 0), NOISE_EAUTH);
		assert_false(noise_hs_writing(&pp.res));
	}
}

/* An all-zero (low-order) ephemeral key gives a zero secret: refused. */
static void
low_order_key_refused(void **state)
{
	struct pair pp;
	uint8_t msg[BUF], got[BUF];
	size_t len, gotlen;

	(void)state;
	pair_init(&pp, NOISE_IK, NOISE_SHA256, NULL);
	assert_int_equal(noise_hs_write(&pp.ini, NULL, 0, msg, sizeof(msg),
	    &len), 0);
	memset(msg, 0, 32);
	assert_int_equal(noise_hs_read(&pp.res, msg, len, got, sizeof(got),
	    &gotlen), NOISE_EDH);
}

static void
out_of_turn(void **state)
{
	struct pair pp;
	struct noise_cipher tx, rx;
	uint8_t msg[BUF], got[BUF];
	size_t len, gotlen;

	(void)state;
	pair_init(&pp, NOISE_XX, NOISE_SHA256, NULL);
	assert_int_equal(noise_hs_write(&pp.res, NULL, 0, msg, sizeof(msg),
	    &len), NOISE_ESTATE);
	assert_int_equal(noise_hs_read(&pp.ini, msg, 32, got, sizeof(got),
	    &gotlen), NOISE_ESTATE);
	assert_int_equal(noise_hs_split(&pp.ini, &tx, &rx), NOISE_ESTATE);
	assert_int_equal(noise_hs_write(&pp.ini, NULL, 0, msg, 31, &len),
	    NOISE_ESPACE);
	/* XX needs a static key on both sides. */
	assert_int_equal(noise_hs_init(&pp.ini, NOISE_XX, NOISE_SHA256,
	    NOISE_INITIATOR, NULL, 0, NULL, NULL), NOISE_EKEY);
	assert_int_equal(noise_hs_init(&pp.ini, NOISE_IK, NOISE_SHA256,
	    NOISE_INITIATOR, NULL, 0, pp.is, NULL), NOISE_EKEY);
}

/* After the split: a flipped bit, a replay, a reordering, a truncation,
 * each refused; the nonce does not move on a refusal. */
static void
transport_refusals(void **state)
{
	struct pair pp;
	struct noise_cipher itx, irx, rtx, rrx;
	uint8_t m1[64], m2[64], got[64];
	size_t bit;

	(void)state;
	pair_init(&pp, NOISE_IK, NOISE_BLAKE2B, NULL);
	assert_int_equal(handshake(&pp, -1, 0), 0);
	assert_int_equal(noise_hs_split(&pp.ini, &itx, &irx), 0);
	assert_int_equal(noise_hs_split(&pp.res, &rtx, &rrx), 0);
	assert_int_equal(noise_encrypt(&itx, NULL, 0, (const uint8_t *)
	    "first message", 13, m1), 0);
	assert_int_equal(noise_encrypt(&itx, NULL, 0, (const uint8_t *)
	    "second one!!!", 13, m2), 0);
	for (bit = 0; bit < 8 * 29; bit++) {
		m1[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(noise_decrypt(&rrx, NULL, 0, m1, 29, got),
		    NOISE_EAUTH);
		m1[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	assert_int_equal(noise_decrypt(&rrx, NULL, 0, m1, 28, got),
	    NOISE_EAUTH);
	assert_int_equal(noise_decrypt(&rrx, NULL, 0, m1, 15, got),
	    NOISE_ESHORT);
	assert_int_equal(noise_decrypt(&rrx, NULL, 0, m2, 29, got),
	    NOISE_EAUTH);
	assert_int_equal(noise_decrypt(&rrx, NULL, 0, m1, 29, got), 0);
	assert_memory_equal(got, "first message", 13);
	assert_int_equal(noise_decrypt(&rrx, NULL, 0, m1, 29, got),
	    NOISE_EAUTH);
	assert_int_equal(noise_decrypt(&rrx, NULL, 0, m2, 29, got), 0);
	assert_memory_equal(got, "second one!!!", 13);
	/* The other way, in place. */
	memcpy(m1, "back", 4);
	assert_int_equal(noise_encrypt(&rtx, NULL, 0, m1, 4, m1), 0);
	assert_int_equal(noise_decrypt(&irx, NULL, 0, m1, 20, m1), 0);
	assert_memory_equal(m1, "back", 4);
	/* A key with its nonces used up. */
	itx.n = UINT64_MAX - 1;
	assert_int_equal(noise_encrypt(&itx, NULL, 0, m1, 4, m1), 0);
	assert_int_equal(noise_encrypt(&itx, NULL, 0, m1, 4, m1), NOISE_ENONCE);
	rrx.n = UINT64_MAX;
	assert_int_equal(noise_decrypt(&rrx, NULL, 0, m1, 20, got),
	    NOISE_ENONCE);
	noise_cipher_wipe(&itx);
	assert_int_equal(noise_encrypt(&itx, NULL, 0, m1, 4, m1), NOISE_ESTATE);
}

/* X25519 keys from an Ed25519 pair agree with each other. */
static void
ed25519_keys(void **state)
{
	uint8_t edpk[32], edsk[64], xsk[32], xpk[32], pk[32];
	uint8_t bad[32];

	(void)state;
	assert_int_equal(crypto_sign_keypair(edpk, edsk), 0);
	assert_int_equal(noise_key_from_ed25519(xsk, edsk), 0);
	assert_int_equal(noise_pub_from_ed25519(xpk, edpk), 0);
	assert_int_equal(noise_pubkey(pk, xsk), 0);
	assert_memory_equal(pk, xpk, 32);
	memset(bad, 0, sizeof(bad));
	assert_int_equal(noise_pub_from_ed25519(xpk, bad), NOISE_EKEY);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(vectors),
		cmocka_unit_test(flipped_bits_refused),
		cmocka_unit_test(truncated_refused),
		cmocka_unit_test(ik_wrong_responder_key),
		cmocka_unit_test(low_order_key_refused),
		cmocka_unit_test(out_of_turn),
		cmocka_unit_test(transport_refusals),
		cmocka_unit_test(ed25519_keys),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
