/* noise: Noise revision 34 (IK, XX, NK; 25519, ChaChaPoly, SHA256 or
 * BLAKE2b) as a small state machine over libsodium's primitives. */
#include <string.h>

#include <sodium.h>

#include "sec/noise.h"

enum token { T_END, T_E, T_S, T_EE, T_ES, T_SE, T_SS };

#define MSGS_MAX 3
#define TOKENS_MAX 5

struct pattern {
	const char *name;
	bool resp_static_known;		/* the pre-message "<- s" */
	unsigned nmsg;
	enum token msgs[MSGS_MAX][TOKENS_MAX];
};

/* Message i goes from the initiator when i is even. */
static const struct pattern patterns[] = {
	[NOISE_IK] = { "IK", true, 2, {
		{ T_E, T_ES, T_S, T_SS, T_END },
		{ T_E, T_EE, T_SE, T_END } } },
	[NOISE_XX] = { "XX", false, 3, {
		{ T_E, T_END },
		{ T_E, T_EE, T_S, T_ES, T_END },
		{ T_S, T_SE, T_END } } },
	[NOISE_NK] = { "NK", true, 2, {
		{ T_E, T_ES, T_END },
		{ T_E, T_EE, T_END } } },
};

static const char *const names[3][2] = {
	[NOISE_IK] = { "Noise_IK_25519_ChaChaPoly_SHA256",
	    "Noise_IK_25519_ChaChaPoly_BLAKE2b" },
	[NOISE_XX] = { "Noise_XX_25519_ChaChaPoly_SHA256",
	    "Noise_XX_25519_ChaChaPoly_BLAKE2b" },
	[NOISE_NK] = { "Noise_NK_25519_ChaChaPoly_SHA256",
	    "Noise_NK_25519_ChaChaPoly_BLAKE2b" },
};

const char *
noise_protocol_name(enum noise_pattern p, enum noise_hash hash)
{
	if ((unsigned)p > NOISE_NK || (unsigned)hash > NOISE_BLAKE2B)
		return NULL;
	return names[p][hash];
}

const char *
noise_strerror(int err)
{
	switch (err) {
	case NOISE_OK: return "success";
	case NOISE_ESTATE: return "not expected now";
	case NOISE_EKEY: return "a static key is missing";
	case NOISE_ESPACE: return "no room for the output";
	case NOISE_ESHORT: return "message too short";
	case NOISE_EAUTH: return "authentication failed";
	case NOISE_EDH: return "bad public key";
	case NOISE_ENONCE: return "nonces exhausted";
	}
	return "unknown error";
}

/* The hash functions: HASH over up to two parts, and HMAC-HASH. */

union hash_state {
	crypto_hash_sha256_state sha;
	crypto_generichash_blake2b_state b2;
};

static void
hash_init(enum noise_hash hash, union hash_state *st)
{
	if (hash == NOISE_SHA256)
		crypto_hash_sha256_init(&st->sha);
	else
		crypto_generichash_blake2b_init(&st->b2, NULL, 0, 64);
}

static void
hash_update(enum noise_hash hash, union hash_state *st, const uint8_t *p,
    size_t n)
{
	if (hash == NOISE_SHA256)
		crypto_hash_sha256_update(&st->sha, p, n);
	else
		crypto_generichash_blake2b_update(&st->b2, p, n);
}

static void
hash_final(enum noise_hash hash, union hash_state *st, uint8_t *out)
{
	if (hash == NOISE_SHA256)
		crypto_hash_sha256_final(&st->sha, out);
	else
		crypto_generichash_blake2b_final(&st->b2, out, 64);
	sodium_memzero(st, sizeof(*st));
}

/* HMAC-HASH: libsodium's for SHA256; for BLAKE2b, RFC 2104 over the
 * unkeyed hash with its 128-byte block, as the spec defines it. The keys
 * Noise gives it are at most HASHLEN bytes, shorter than a block. */
static void
hmac(enum noise_hash hash, const uint8_t *key, size_t keylen,
    const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
    uint8_t *out)
{
	uint8_t pad[128], inner[64];
	union hash_state st;
	crypto_auth_hmacsha256_state hs;
	size_t i;

	if (hash == NOISE_SHA256) {
		crypto_auth_hmacsha256_init(&hs, key, keylen);
		crypto_auth_hmacsha256_update(&hs, a, alen);
		if (blen > 0)
			crypto_auth_hmacsha256_update(&hs, b, blen);
		crypto_auth_hmacsha256_final(&hs, out);
		sodium_memzero(&hs, sizeof(hs));
		return;
	}
	memset(pad, 0, sizeof(pad));
	memcpy(pad, key, keylen);
	for (i = 0; i < sizeof(pad); i++)
		pad[i] ^= 0x36;
	hash_init(hash, &st);
	hash_update(hash, &st, pad, sizeof(pad));
	hash_update(hash, &st, a, alen);
	if (blen > 0)
		hash_update(hash, &st, b, blen);
	hash_final(hash, &st, inner);
	for (i = 0; i < sizeof(pad); i++)
		pad[i] ^= 0x36 ^ 0x5c;
	hash_init(hash, &st);
	hash_update(hash, &st, pad, sizeof(pad));
	hash_update(hash, &st, inner, sizeof(inner));
	hash_final(hash, &st, out);
	sodium_memzero(pad, sizeof(pad));
	sodium_memzero(inner, sizeof(inner));
}

/* HKDF(ck, ikm) with two outputs, as the spec defines it. */
static void
hkdf2(enum noise_hash hash, size_t hashlen, const uint8_t *ck,
    const uint8_t *ikm, size_t ikmlen, uint8_t *o1, uint8_t *o2)
{
	uint8_t temp[NOISE_HASHMAX];
	const uint8_t one = 1, two = 2;

	hmac(hash, ck, hashlen, ikm, ikmlen, NULL, 0, temp);
	hmac(hash, temp, hashlen, &one, 1, NULL, 0, o1);
	hmac(hash, temp, hashlen, o1, hashlen, &two, 1, o2);
	sodium_memzero(temp, sizeof(temp));
}

/* CipherState. */

static void
nonce_bytes(uint64_t n, uint8_t out[crypto_aead_chacha20poly1305_ietf_NPUBBYTES])
{
	unsigned i;

	memset(out, 0, 4);
	for (i = 0; i < 8; i++)
		out[4 + i] = (uint8_t)(n >> (8 * i));
}

static void
cipher_init(struct noise_cipher *c, const uint8_t *k)
{
	memcpy(c->k, k, NOISE_KEYLEN);
	c->n = 0;
	c->haskey = true;
}

/* 2^64-1 is reserved: a key serves at most 2^64-1 messages. */
int
noise_encrypt(struct noise_cipher *c, const uint8_t *ad, size_t adlen,
    const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];

	if (!c->haskey)
		return NOISE_ESTATE;
	if (c->n == UINT64_MAX)
		return NOISE_ENONCE;
	nonce_bytes(c->n, nonce);
	crypto_aead_chacha20poly1305_ietf_encrypt_detached(out, out + len, NULL,
	    in, len, ad, adlen, NULL, nonce, c->k);
	c->n++;
	return NOISE_OK;
}

int
noise_decrypt(struct noise_cipher *c, const uint8_t *ad, size_t adlen,
    const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];

	if (!c->haskey)
		return NOISE_ESTATE;
	if (len < NOISE_TAGLEN)
		return NOISE_ESHORT;
	if (c->n == UINT64_MAX)
		return NOISE_ENONCE;
	nonce_bytes(c->n, nonce);
	if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(out, NULL, in,
	    len - NOISE_TAGLEN, in + len - NOISE_TAGLEN, ad, adlen, nonce,
	    c->k) != 0)
		return NOISE_EAUTH;
	c->n++;
	return NOISE_OK;
}

void
noise_cipher_wipe(struct noise_cipher *c)
{
	sodium_memzero(c, sizeof(*c));
}

/* SymmetricState. */

static void
mix_hash(struct noise_hs *hs, const uint8_t *p, size_t n)
{
	union hash_state st;

	hash_init(hs->hash, &st);
	hash_update(hs->hash, &st, hs->h, hs->hashlen);
	hash_update(hs->hash, &st, p, n);
	hash_final(hs->hash, &st, hs->h);
}

/* A zero DH output means a low-order public key: refused. */
static int
mix_dh(struct noise_hs *hs, const uint8_t *sk, const uint8_t *pk)
{
	uint8_t dh[NOISE_KEYLEN], ck[NOISE_HASHMAX], k[NOISE_HASHMAX];

	if (crypto_scalarmult(dh, sk, pk) != 0) {
		sodium_memzero(dh, sizeof(dh));
		return NOISE_EDH;
	}
	hkdf2(hs->hash, hs->hashlen, hs->ck, dh, sizeof(dh), ck, k);
	memcpy(hs->ck, ck, hs->hashlen);
	cipher_init(&hs->cs, k);
	sodium_memzero(dh, sizeof(dh));
	sodium_memzero(ck, sizeof(ck));
	sodium_memzero(k, sizeof(k));
	return NOISE_OK;
}

static int
encrypt_and_hash(struct noise_hs *hs, const uint8_t *in, size_t len,
    uint8_t *out)
{
	int rc;

	if (!hs->cs.haskey) {
		if (len > 0)
			memmove(out, in, len);
		mix_hash(hs, out, len);
		return NOISE_OK;
	}
	if ((rc = noise_encrypt(&hs->cs, hs->h, hs->hashlen, in, len, out)) != 0)
		return rc;
	mix_hash(hs, out, len + NOISE_TAGLEN);
	return NOISE_OK;
}

/* out gets len - (tag if keyed) bytes. */
static int
decrypt_and_hash(struct noise_hs *hs, const uint8_t *in, size_t len,
    uint8_t *out)
{
	int rc;

	if (!hs->cs.haskey) {
		if (len > 0)
			memmove(out, in, len);
		mix_hash(hs, in, len);
		return NOISE_OK;
	}
	if ((rc = noise_decrypt(&hs->cs, hs->h, hs->hashlen, in, len, out)) != 0)
		return rc;
	mix_hash(hs, in, len);
	return NOISE_OK;
}

/* HandshakeState. */

int
noise_hs_init(struct noise_hs *hs, enum noise_pattern p, enum noise_hash hash,
    enum noise_role role, const uint8_t *prologue, size_t prologuelen,
    const uint8_t *s, const uint8_t *rs)
{
	const char *name = noise_protocol_name(p, hash);
	bool initiator = role == NOISE_INITIATOR;
	size_t namelen;
	int rc;

	memset(hs, 0, sizeof(*hs));
	hs->state = NOISE_HS_FAILED;
	if (name == NULL || (role != NOISE_INITIATOR && role != NOISE_RESPONDER))
		return NOISE_ESTATE;
	if ((p != NOISE_NK || !initiator) && s == NULL)
		return NOISE_EKEY;
	if (patterns[p].resp_static_known && initiator && rs == NULL)
		return NOISE_EKEY;
	hs->pattern = p;
	hs->hash = hash;
	hs->initiator = initiator;
	hs->hashlen = hash == NOISE_SHA256 ? 32 : 64;
	if (s != NULL) {
		memcpy(hs->s, s, NOISE_KEYLEN);
		if ((rc = noise_pubkey(hs->spub, hs->s)) != 0) {
			noise_hs_wipe(hs);
			return rc;
		}
		hs->has_s = true;
	}
	if (rs != NULL && patterns[p].resp_static_known && initiator) {
		memcpy(hs->rs, rs, NOISE_KEYLEN);
		hs->has_rs = true;
	}
	namelen = strlen(name);
	if (namelen <= hs->hashlen) {
		memcpy(hs->h, name, namelen);
	} else {
		union hash_state st;

		hash_init(hash, &st);
		hash_update(hash, &st, (const uint8_t *)name, namelen);
		hash_final(hash, &st, hs->h);
	}
	memcpy(hs->ck, hs->h, hs->hashlen);
	mix_hash(hs, prologue, prologuelen);
	if (patterns[p].resp_static_known)
		mix_hash(hs, initiator ? hs->rs : hs->spub, NOISE_KEYLEN);
	hs->state = initiator ? NOISE_HS_WRITE : NOISE_HS_READ;
	return NOISE_OK;
}

void
noise_hs_fixed_ephemeral(struct noise_hs *hs, const uint8_t e[NOISE_KEYLEN])
{
	memcpy(hs->e, e, NOISE_KEYLEN);
	hs->fixed_e = true;
}

/* The DH a token names, from this side's point of view. */
static int
token_dh(struct noise_hs *hs, enum token t)
{
	bool local_e, remote_e;

	switch (t) {
	case T_EE: local_e = true; remote_e = true; break;
	case T_SS: local_e = false; remote_e = false; break;
	case T_ES: local_e = hs->initiator; remote_e = !hs->initiator; break;
	case T_SE: local_e = !hs->initiator; remote_e = hs->initiator; break;
	default: return NOISE_ESTATE;
	}
	if ((local_e ? !hs->has_e : !hs->has_s) ||
	    (remote_e ? !hs->has_re : !hs->has_rs))
		return NOISE_EKEY;
	return mix_dh(hs, local_e ? hs->e : hs->s, remote_e ? hs->re : hs->rs);
}

/* After message hs->msg has gone either way. */
static void
advance(struct noise_hs *hs)
{
	hs->msg++;
	if (hs->msg == patterns[hs->pattern].nmsg)
		hs->state = NOISE_HS_DONE;
	else
		hs->state = hs->state == NOISE_HS_WRITE ? NOISE_HS_READ :
		    NOISE_HS_WRITE;
}

static int
fail(struct noise_hs *hs, int rc)
{
	noise_hs_wipe(hs);
	hs->state = NOISE_HS_FAILED;
	return rc;
}

int
noise_hs_write(struct noise_hs *hs, const uint8_t *payload, size_t len,
    uint8_t *out, size_t cap, size_t *outlen)
{
	const enum token *t;
	size_t off = 0, need;
	int rc;

	*outlen = 0;
	if (hs->state != NOISE_HS_WRITE)
		return NOISE_ESTATE;
	if (cap > NOISE_MSGMAX)
		cap = NOISE_MSGMAX;
	for (t = patterns[hs->pattern].msgs[hs->msg]; *t != T_END; t++) {
		switch (*t) {
		case T_E:
			if (off + NOISE_KEYLEN > cap)
				return fail(hs, NOISE_ESPACE);
			if (!hs->fixed_e)
				randombytes_buf(hs->e, sizeof(hs->e));
			if ((rc = noise_pubkey(hs->epub, hs->e)) != 0)
				return fail(hs, rc);
			hs->has_e = true;
			memcpy(out + off, hs->epub, NOISE_KEYLEN);
			mix_hash(hs, hs->epub, NOISE_KEYLEN);
			off += NOISE_KEYLEN;
			break;
		case T_S:
			need = NOISE_KEYLEN + (hs->cs.haskey ? NOISE_TAGLEN : 0);
			if (off + need > cap)
				return fail(hs, NOISE_ESPACE);
			if (!hs->has_s)
				return fail(hs, NOISE_EKEY);
			if ((rc = encrypt_and_hash(hs, hs->spub, NOISE_KEYLEN,
			    out + off)) != 0)
				return fail(hs, rc);
			off += need;
			break;
		default:
			if ((rc = token_dh(hs, *t)) != 0)
				return fail(hs, rc);
		}
	}
	need = len + (hs->cs.haskey ? NOISE_TAGLEN : 0);
	if (need > cap - off)
		return fail(hs, NOISE_ESPACE);
	if ((rc = encrypt_and_hash(hs, payload, len, out + off)) != 0)
		return fail(hs, rc);
	*outlen = off + need;
	advance(hs);
	return NOISE_OK;
}

int
noise_hs_read(struct noise_hs *hs, const uint8_t *msg, size_t len,
    uint8_t *payload, size_t cap, size_t *payloadlen)
{
	const enum token *t;
	size_t off = 0, need;
	int rc;

	*payloadlen = 0;
	if (hs->state != NOISE_HS_READ)
		return NOISE_ESTATE;
	if (len > NOISE_MSGMAX)
		return fail(hs, NOISE_ESPACE);
	for (t = patterns[hs->pattern].msgs[hs->msg]; *t != T_END; t++) {
		switch (*t) {
		case T_E:
			if (len - off < NOISE_KEYLEN)
				return fail(hs, NOISE_ESHORT);
			memcpy(hs->re, msg + off, NOISE_KEYLEN);
			hs->has_re = true;
			mix_hash(hs, hs->re, NOISE_KEYLEN);
			off += NOISE_KEYLEN;
			break;
		case T_S:
			need = NOISE_KEYLEN + (hs->cs.haskey ? NOISE_TAGLEN : 0);
			if (len - off < need)
				return fail(hs, NOISE_ESHORT);
			if ((rc = decrypt_and_hash(hs, msg + off, need,
			    hs->rs)) != 0)
				return fail(hs, rc);
			hs->has_rs = true;
			off += need;
			break;
		default:
			if ((rc = token_dh(hs, *t)) != 0)
				return fail(hs, rc);
		}
	}
	need = hs->cs.haskey ? NOISE_TAGLEN : 0;
	if (len - off < need)
		return fail(hs, NOISE_ESHORT);
	if (len - off - need > cap)
		return fail(hs, NOISE_ESPACE);
	if ((rc = decrypt_and_hash(hs, msg + off, len - off, payload)) != 0)
		return fail(hs, rc);
	*payloadlen = len - off - need;
	advance(hs);
	return NOISE_OK;
}

bool
noise_hs_writing(const struct noise_hs *hs)
{
	return hs->state == NOISE_HS_WRITE;
}

bool
noise_hs_done(const struct noise_hs *hs)
{
	return hs->state == NOISE_HS_DONE;
}

const uint8_t *
noise_hs_remote_static(const struct noise_hs *hs)
{
	return hs->has_rs ? hs->rs : NULL;
}

const uint8_t *
noise_hs_hash(const struct noise_hs *hs, size_t *hashlen)
{
	*hashlen = hs->hashlen;
	return hs->h;
}

int
noise_hs_split(struct noise_hs *hs, struct noise_cipher *tx,
    struct noise_cipher *rx)
{
	uint8_t k1[NOISE_HASHMAX], k2[NOISE_HASHMAX];

	if (hs->state != NOISE_HS_DONE)
		return NOISE_ESTATE;
	hkdf2(hs->hash, hs->hashlen, hs->ck, NULL, 0, k1, k2);
	cipher_init(hs->initiator ? tx : rx, k1);
	cipher_init(hs->initiator ? rx : tx, k2);
	sodium_memzero(k1, sizeof(k1));
	sodium_memzero(k2, sizeof(k2));
	sodium_memzero(hs->ck, sizeof(hs->ck));
	sodium_memzero(&hs->cs, sizeof(hs->cs));
	sodium_memzero(hs->s, sizeof(hs->s));
	sodium_memzero(hs->e, sizeof(hs->e));
	hs->has_e = false;
	hs->has_s = false;
	return NOISE_OK;
}

void
noise_hs_wipe(struct noise_hs *hs)
{
	sodium_memzero(hs->ck, sizeof(hs->ck));
	sodium_memzero(&hs->cs, sizeof(hs->cs));
	sodium_memzero(hs->s, sizeof(hs->s));
	sodium_memzero(hs->e, sizeof(hs->e));
	hs->has_s = false;
	hs->has_e = false;
	hs->fixed_e = false;
}

int
noise_key_from_ed25519(uint8_t x_sk[NOISE_KEYLEN], const uint8_t ed_sk[64])
{
	return crypto_sign_ed25519_sk_to_curve25519(x_sk, ed_sk) == 0 ?
	    NOISE_OK : NOISE_EKEY;
}

int
noise_pub_from_ed25519(uint8_t x_pk[NOISE_KEYLEN], const uint8_t ed_pk[32])
{
	return crypto_sign_ed25519_pk_to_curve25519(x_pk, ed_pk) == 0 ?
	    NOISE_OK : NOISE_EKEY;
}

int
noise_pubkey(uint8_t pk[NOISE_KEYLEN], const uint8_t sk[NOISE_KEYLEN])
{
	return crypto_scalarmult_base(pk, sk) == 0 ? NOISE_OK : NOISE_EKEY;
}
