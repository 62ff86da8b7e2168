/* envelope: seals a message for its sender and its recipient, and opens
 * and checks what the directory gives back (chat-protocol(7), SEALED
 * ENVELOPES). Primitives are libsodium's; JSON is jansson's. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <sodium.h>

#include "core/util.h"
#include "core/valid.h"
#include "sec/envelope.h"

/* Written before the signed fields and the bound metadata, so that
 * neither can be taken for anything else the same key signs. */
#define LABEL "chat envelope v1"
#define LABEL_LEN (sizeof(LABEL) - 1)

#define NONCE_LEN crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define KEY_LEN crypto_aead_xchacha20poly1305_ietf_KEYBYTES
#define TAG_LEN crypto_aead_xchacha20poly1305_ietf_ABYTES
#define SEALED_LEN (crypto_box_SEALBYTES + KEY_LEN)
#define SIG_LEN crypto_sign_BYTES
#define NFIELDS 5
/* The body: five length-prefixed fields and the signature. */
#define BODY_MAX (NFIELDS * 4 + UID_MAX + 2 * USERNAME_MAX + TS_LEN - 1 + \
	ENVELOPE_TEXT_MAX + SIG_LEN)
#define AAD_MAX (LABEL_LEN + 2 * (4 + USERNAME_MAX) + 2 * SEALED_LEN)
#define B64 sodium_base64_VARIANT_ORIGINAL

/* The prefix of every envelope, of any version: writers put "sealed"
 * first. */
#define ENVELOPE_FMT "{\"sealed\":%d,\"from\":\"%s\",\"to\":\"%s\"," \
	"\"n\":\"%s\",\"k\":{\"to\":\"%s\",\"from\":\"%s\"},\"c\":\"%s\"}"
#define PREFIX "{\"sealed\":"
#define PREFIX_LEN (sizeof(PREFIX) - 1)

static unsigned char *
put_field(unsigned char *p, const char *s, size_t n)
{
	p[0] = (unsigned char)(n >> 24);
	p[1] = (unsigned char)(n >> 16);
	p[2] = (unsigned char)(n >> 8);
	p[3] = (unsigned char)n;
	memcpy(p + 4, s, n);
	return p + 4 + n;
}

/* The next field of the body in [*p, end): false when it does not fit. */
static bool
get_field(const unsigned char **p, const unsigned char *end,
    const unsigned char **s, size_t *n)
{
	size_t len;

	if ((size_t)(end - *p) < 4)
		return false;
	len = (size_t)(*p)[0] << 24 | (size_t)(*p)[1] << 16 |
	    (size_t)(*p)[2] << 8 | (*p)[3];
	*p += 4;
	if (len > (size_t)(end - *p))
		return false;
	*s = *p;
	*n = len;
	*p += len;
	return true;
}

/* The metadata the body's tag binds: the names on the outside and both
 * sealed keys. */
static size_t
aad_make(unsigned char aad[AAD_MAX], const char *from, const char *to,
    const unsigned char kto[SEALED_LEN], const unsigned char kfrom[SEALED_LEN])
{
	unsigned char *p = aad;

	memcpy(p, LABEL, LABEL_LEN);
	p = put_field(p + LABEL_LEN, from, strlen(from));
	p = put_field(p, to, strlen(to));
	memcpy(p, kto, SEALED_LEN);
	memcpy(p + SEALED_LEN, kfrom, SEALED_LEN);
	return (size_t)(p - aad) + 2 * SEALED_LEN;
}

static char *
b64(const unsigned char *bin, size_t len)
{
	size_t n = sodium_base64_ENCODED_LEN(len, B64);
	char *s;

	if ((s = malloc(n)) == NULL)
		return NULL;
	sodium_bin2base64(s, n, bin, len, B64);
	return s;
}

/* Strict base64 (padded; with no end pointer given, libsodium refuses
 * anything after it) of at most max bytes, from j. */
static bool
unb64(const json_t *j, unsigned char *bin, size_t max, size_t *len)
{
	const char *s = json_string_value(j);
	size_t n;

	if (s == NULL)
		return false;
	n = json_string_length(j);
	if (n > sodium_base64_ENCODED_LEN(max, B64) - 1)
		return false;
	return sodium_base642bin(bin, max, s, n, NULL, len, NULL, B64) == 0;
}

static bool
unb64_exact(const json_t *j, unsigned char *bin, size_t want)
{
	size_t len;

	return unb64(j, bin, want, &len) && len == want;
}

bool
envelope_is(const char *content, size_t len)
{
	return content != NULL && len >= PREFIX_LEN &&
	    memcmp(content, PREFIX, PREFIX_LEN) == 0;
}

static bool
fields_valid(const char *uid, const char *from, const char *to,
    const char *ts, const char *text, size_t textlen)
{
	int64_t ms;

	return valid_uid(uid) && valid_username(from) && valid_username(to) &&
	    ts_parse(ts, &ms) && text != NULL &&
	    textlen <= ENVELOPE_TEXT_MAX && valid_utf8(text, textlen);
}

int
envelope_self_init(struct envelope_self *k,
    const unsigned char sk[crypto_sign_SECRETKEYBYTES])
{
	memcpy(k->sk, sk, sizeof(k->sk));
	/* The secret key holds its public key after its seed. */
	memcpy(k->pk, sk + crypto_sign_SEEDBYTES, sizeof(k->pk));
	if (crypto_sign_ed25519_sk_to_curve25519(k->xsk, sk) != 0 ||
	    crypto_sign_ed25519_pk_to_curve25519(k->xpk, k->pk) != 0) {
		envelope_self_wipe(k);
		return -1;
	}
	return 0;
}

void
envelope_self_wipe(struct envelope_self *k)
{
	sodium_memzero(k, sizeof(*k));
}

int
envelope_peer_init(struct envelope_peer *p,
    const unsigned char pk[crypto_sign_PUBLICKEYBYTES])
{
	memcpy(p->pk, pk, sizeof(p->pk));
	return crypto_sign_ed25519_pk_to_curve25519(p->xpk, pk);
}

char *
envelope_seal_to(const struct envelope_self *k,
    const struct envelope_peer *rcpt, const char *uid, const char *from,
    const char *to, const char *ts, const char *text, size_t textlen,
    enum envelope_err *err)
{
	unsigned char key[KEY_LEN], nonce[NONCE_LEN];
	unsigned char kto[SEALED_LEN], kfrom[SEALED_LEN], aad[AAD_MAX];
	unsigned char *buf = NULL, *body, *p, *ct = NULL;
	char *n64 = NULL, *kto64 = NULL, *kfrom64 = NULL, *c64 = NULL;
	char *out = NULL;
	unsigned long long ctlen;
	size_t bodylen = 0, aadlen;
	int n;

	*err = ENVELOPE_INVALID;
	if (!fields_valid(uid, from, to, ts, text, textlen))
		return NULL;

	*err = ENVELOPE_NOMEM;
	bodylen = NFIELDS * 4 + strlen(uid) + strlen(from) + strlen(to) +
	    strlen(ts) + textlen + SIG_LEN;
	if ((buf = malloc(LABEL_LEN + bodylen)) == NULL ||
	    (ct = malloc(bodylen + TAG_LEN)) == NULL)
		goto out;
	memcpy(buf, LABEL, LABEL_LEN);
	body = buf + LABEL_LEN;
	p = put_field(body, uid, strlen(uid));
	p = put_field(p, from, strlen(from));
	p = put_field(p, to, strlen(to));
	p = put_field(p, ts, strlen(ts));
	p = put_field(p, text, textlen);
	if (crypto_sign_detached(p, NULL, buf, (size_t)(p - buf), k->sk) != 0)
		goto fail;

	crypto_aead_xchacha20poly1305_ietf_keygen(key);
	randombytes_buf(nonce, sizeof(nonce));
	if (crypto_box_seal(kto, key, KEY_LEN, rcpt->xpk) != 0 ||
	    crypto_box_seal(kfrom, key, KEY_LEN, k->xpk) != 0)
		goto fail;
	aadlen = aad_make(aad, from, to, kto, kfrom);
	if (crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &ctlen, body,
	    bodylen, aad, aadlen, NULL, nonce, key) != 0)
		goto fail;

	if ((n64 = b64(nonce, sizeof(nonce))) == NULL ||
	    (kto64 = b64(kto, sizeof(kto))) == NULL ||
	    (kfrom64 = b64(kfrom, sizeof(kfrom))) == NULL ||
	    (c64 = b64(ct, (size_t)ctlen)) == NULL)
		goto out;
	/* Written out rather than with json_dumps, which a caller's jansson
	 * arena (core/jarena.h) would serve: names and base64 need no
	 * escaping, and "sealed" comes first. */
	n = snprintf(NULL, 0, ENVELOPE_FMT, ENVELOPE_VERSION, from, to, n64,
	    kto64, kfrom64, c64);
	if (n < 0 || (out = malloc((size_t)n + 1)) == NULL)
		goto out;
	snprintf(out, (size_t)n + 1, ENVELOPE_FMT, ENVELOPE_VERSION, from, to,
	    n64, kto64, kfrom64, c64);
	*err = ENVELOPE_OK;
	goto out;
fail:
	*err = ENVELOPE_INVALID;
out:
	sodium_memzero(key, sizeof(key));
	if (buf != NULL) {
		sodium_memzero(buf, LABEL_LEN + bodylen);
		free(buf);
	}
	free(ct);
	free(n64);
	free(kto64);
	free(kfrom64);
	free(c64);
	return out;
}

char *
envelope_seal(const char *uid, const char *from, const char *to,
    const char *ts, const char *text, size_t textlen,
    const unsigned char sk[crypto_sign_SECRETKEYBYTES],
    const unsigned char from_pk[crypto_sign_PUBLICKEYBYTES],
    const unsigned char to_pk[crypto_sign_PUBLICKEYBYTES],
    enum envelope_err *err)
{
	struct envelope_self k;
	struct envelope_peer rcpt;
	char *out;

	*err = ENVELOPE_INVALID;
	if (sodium_memcmp(sk + crypto_sign_SEEDBYTES, from_pk,
	    crypto_sign_PUBLICKEYBYTES) != 0 ||
	    envelope_peer_init(&rcpt, to_pk) != 0 ||
	    envelope_self_init(&k, sk) != 0)
		return NULL;
	out = envelope_seal_to(&k, &rcpt, uid, from, to, ts, text, textlen,
	    err);
	envelope_self_wipe(&k);
	return out;
}

/* The outer object's members, decoded. */
struct outer {
	const char *from, *to;
	unsigned char nonce[NONCE_LEN];
	unsigned char kto[SEALED_LEN], kfrom[SEALED_LEN];
	unsigned char *ct;
	size_t ctlen;
};

static enum envelope_err
outer_parse(const json_t *j, struct outer *o)
{
	const json_t *v, *k, *c;
	size_t max;

	v = json_object_get(j, "sealed");
	if (!json_is_integer(v) || json_integer_value(v) != ENVELOPE_VERSION)
		return ENVELOPE_MALFORMED;
	o->from = json_string_value(json_object_get(j, "from"));
	o->to = json_string_value(json_object_get(j, "to"));
	if (!valid_username(o->from) || !valid_username(o->to))
		return ENVELOPE_MALFORMED;
	k = json_object_get(j, "k");
	if (!json_is_object(k) ||
	    !unb64_exact(json_object_get(j, "n"), o->nonce, NONCE_LEN) ||
	    !unb64_exact(json_object_get(k, "to"), o->kto, SEALED_LEN) ||
	    !unb64_exact(json_object_get(k, "from"), o->kfrom, SEALED_LEN))
		return ENVELOPE_MALFORMED;
	c = json_object_get(j, "c");
	if (!json_is_string(c))
		return ENVELOPE_MALFORMED;
	/* No more than the longest body sealed, which base64 bounds. */
	max = json_string_length(c) / 4 * 3;
	if (max > BODY_MAX + TAG_LEN)
		max = BODY_MAX + TAG_LEN;
	if ((o->ct = malloc(max + 1)) == NULL)
		return ENVELOPE_NOMEM;
	if (!unb64(c, o->ct, max, &o->ctlen) || o->ctlen < TAG_LEN)
		return ENVELOPE_MALFORMED;
	return ENVELOPE_OK;
}

/* The body's fields into m; the signature is checked by the caller. */
static enum envelope_err
body_parse(const unsigned char *body, size_t len, struct envelope_msg *m)
{
	const unsigned char *p = body, *end, *f[NFIELDS];
	size_t n[NFIELDS];
	const size_t max[NFIELDS] = { UID_MAX, USERNAME_MAX, USERNAME_MAX,
		TS_LEN - 1, ENVELOPE_TEXT_MAX };
	char *dst[NFIELDS - 1] = { m->uid, m->from, m->to, m->ts };

	if (len < SIG_LEN)
		return ENVELOPE_MALFORMED;
	end = body + len - SIG_LEN;
	for (int i = 0; i < NFIELDS; i++)
		if (!get_field(&p, end, &f[i], &n[i]) || n[i] > max[i])
			return ENVELOPE_MALFORMED;
	if (p != end)
		return ENVELOPE_MALFORMED;
	for (int i = 0; i < NFIELDS - 1; i++) {
		memcpy(dst[i], f[i], n[i]);
		dst[i][n[i]] = '\0';
	}
	if ((m->text = malloc(n[4] + 1)) == NULL)
		return ENVELOPE_NOMEM;
	memcpy(m->text, f[4], n[4]);
	m->text[n[4]] = '\0';
	m->textlen = n[4];
	/* Bytes with a NUL in them fail here as well. */
	if (strlen(m->uid) != n[0] || strlen(m->from) != n[1] ||
	    strlen(m->to) != n[2] || strlen(m->ts) != n[3] ||
	    !fields_valid(m->uid, m->from, m->to, m->ts, m->text, m->textlen))
		return ENVELOPE_MALFORMED;
	return ENVELOPE_OK;
}

enum envelope_err
envelope_open_from(const struct envelope_self *k,
    const struct envelope_peer *sender, const char *content, size_t len,
    const char *from, const char *to, struct envelope_msg *m)
{
	struct outer o = { 0 };
	unsigned char key[KEY_LEN], aad[AAD_MAX];
	unsigned char *buf = NULL, *body;
	unsigned long long bodylen = 0;
	size_t aadlen;
	enum envelope_err rc;
	json_t *j = NULL;

	memset(m, 0, sizeof(*m));
	if (!envelope_is(content, len))
		return ENVELOPE_NOT;
	if (len > ENVELOPE_MAX)
		return ENVELOPE_MALFORMED;
	if ((j = json_loadb(content, len, JSON_REJECT_DUPLICATES, NULL)) ==
	    NULL || !json_is_object(j)) {
		rc = ENVELOPE_MALFORMED;
		goto out;
	}
	if ((rc = outer_parse(j, &o)) != ENVELOPE_OK)
		goto out;
	rc = ENVELOPE_MISMATCH;
	if (from == NULL || to == NULL || strcasecmp(o.from, from) != 0 ||
	    strcasecmp(o.to, to) != 0)
		goto out;

	/* The sender reads the copy sealed to it, anyone else the other. */
	rc = ENVELOPE_NOT_OURS;
	if (crypto_box_seal_open(key, sodium_memcmp(k->pk, sender->pk,
	    crypto_sign_PUBLICKEYBYTES) == 0 ? o.kfrom : o.kto, SEALED_LEN,
	    k->xpk, k->xsk) != 0)
		goto out;

	rc = ENVELOPE_NOMEM;
	if ((buf = malloc(LABEL_LEN + o.ctlen)) == NULL)
		goto out;
	memcpy(buf, LABEL, LABEL_LEN);
	body = buf + LABEL_LEN;
	aadlen = aad_make(aad, o.from, o.to, o.kto, o.kfrom);
	rc = ENVELOPE_ALTERED;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(body, &bodylen, NULL,
	    o.ct, o.ctlen, aad, aadlen, o.nonce, key) != 0)
		goto out;
	if ((rc = body_parse(body, (size_t)bodylen, m)) != ENVELOPE_OK)
		goto out;
	rc = ENVELOPE_BAD_SIG;
	if (crypto_sign_verify_detached(body + bodylen - SIG_LEN, buf,
	    LABEL_LEN + (size_t)bodylen - SIG_LEN, sender->pk) != 0)
		goto out;
	rc = ENVELOPE_MISMATCH;
	if (strcmp(m->from, o.from) != 0 || strcmp(m->to, o.to) != 0)
		goto out;
	rc = ENVELOPE_OK;
out:
	sodium_memzero(key, sizeof(key));
	if (buf != NULL) {
		sodium_memzero(buf, LABEL_LEN + o.ctlen);
		free(buf);
	}
	free(o.ct);
	json_decref(j);
	if (rc != ENVELOPE_OK)
		envelope_msg_free(m);
	return rc;
}

enum envelope_err
envelope_open(const char *content, size_t len, const char *from,
    const char *to, const unsigned char sk[crypto_sign_SECRETKEYBYTES],
    const unsigned char pk[crypto_sign_PUBLICKEYBYTES],
    const unsigned char from_pk[crypto_sign_PUBLICKEYBYTES],
    struct envelope_msg *m)
{
	struct envelope_self k;
	struct envelope_peer sender;
	enum envelope_err rc;

	memset(m, 0, sizeof(*m));
	if (!envelope_is(content, len))
		return ENVELOPE_NOT;
	if (sodium_memcmp(sk + crypto_sign_SEEDBYTES, pk,
	    crypto_sign_PUBLICKEYBYTES) != 0 ||
	    envelope_peer_init(&sender, from_pk) != 0 ||
	    envelope_self_init(&k, sk) != 0)
		return ENVELOPE_INVALID;
	rc = envelope_open_from(&k, &sender, content, len, from, to, m);
	envelope_self_wipe(&k);
	return rc;
}

void
envelope_msg_free(struct envelope_msg *m)
{
	if (m->text != NULL) {
		sodium_memzero(m->text, m->textlen);
		free(m->text);
	}
	memset(m, 0, sizeof(*m));
}

const char *
envelope_strerror(enum envelope_err err)
{
	switch (err) {
	case ENVELOPE_OK:
		return "ok";
	case ENVELOPE_NOT:
		return "not a sealed envelope";
	case ENVELOPE_MALFORMED:
		return "malformed envelope";
	case ENVELOPE_NOT_OURS:
		return "not sealed to this key";
	case ENVELOPE_ALTERED:
		return "envelope altered";
	case ENVELOPE_BAD_SIG:
		return "bad signature";
	case ENVELOPE_MISMATCH:
		return "sender or recipient do not match";
	case ENVELOPE_INVALID:
		return "invalid field or key";
	case ENVELOPE_NOMEM:
		return "out of memory";
	}
	return "unknown error";
}

/* Version 2 (chat-protocol(7), SEALED ENVELOPES, Version 2). */

#define LABEL2 "chat envelope v2"
#define KEY2 "chat envelope v2 key"
#define HASH_LEN crypto_generichash_BYTES
#define DEPTH_MAX 4		/* levels of a tree of ENVELOPE_CHUNK leaves */

static int
pair_key(unsigned char key[KEY_LEN], const unsigned char dh[32],
    const unsigned char from[32], const unsigned char to[32])
{
	unsigned char in[sizeof(KEY2) - 1 + 64];

	memcpy(in, KEY2, sizeof(KEY2) - 1);
	memcpy(in + sizeof(KEY2) - 1, from, 32);
	memcpy(in + sizeof(KEY2) - 1 + 32, to, 32);
	return crypto_generichash(key, KEY_LEN, in, sizeof(in), dh, 32);
}

int
envelope_pair_init(struct envelope_pair *pair,
    const struct envelope_self *k, const struct envelope_peer *peer)
{
	unsigned char dh[crypto_scalarmult_BYTES];
	int rc = -1;

	if (crypto_scalarmult(dh, k->xsk, peer->xpk) == 0 &&
	    pair_key(pair->out, dh, k->xpk, peer->xpk) == 0 &&
	    pair_key(pair->in, dh, peer->xpk, k->xpk) == 0)
		rc = 0;
	sodium_memzero(dh, sizeof(dh));
	if (rc != 0)
		envelope_pair_wipe(pair);
	return rc;
}

void
envelope_pair_wipe(struct envelope_pair *pair)
{
	sodium_memzero(pair, sizeof(*pair));
}

/* A leaf: the hash of 0x00, the label and the fields. */
static void
leaf_hash(unsigned char h[HASH_LEN], const unsigned char *fields, size_t n)
{
	crypto_generichash_state st;
	const unsigned char zero = 0;

	crypto_generichash_init(&st, NULL, 0, HASH_LEN);
	crypto_generichash_update(&st, &zero, 1);
	crypto_generichash_update(&st, (const unsigned char *)LABEL2,
	    sizeof(LABEL2) - 1);
	crypto_generichash_update(&st, fields, n);
	crypto_generichash_final(&st, h, HASH_LEN);
}

/* An inner node: the hash of 0x01, the left child and the right one. */
static void
node_hash(unsigned char h[HASH_LEN], const unsigned char *l,
    const unsigned char *r)
{
	unsigned char in[1 + 2 * HASH_LEN];

	in[0] = 1;
	memcpy(in + 1, l, HASH_LEN);
	memcpy(in + 1 + HASH_LEN, r, HASH_LEN);
	crypto_generichash(h, HASH_LEN, in, sizeof(in), NULL, 0);
}

/* The levels at which leaf i of a tree of n has a sibling. */
static int
path_len(unsigned i, unsigned n)
{
	int d = 0;

	for (; n > 1; i >>= 1, n = (n + 1) >> 1)
		if ((i ^ 1) < n)
			d++;
	return d;
}

/* What a tree's signature signs: a version's label (of LABEL2's
 * length, as LABEL3's is), then the root. */
static void
sig_input(unsigned char in[sizeof(LABEL2) - 1 + HASH_LEN],
    const char *label, const unsigned char root[HASH_LEN])
{
	memcpy(in, label, sizeof(LABEL2) - 1);
	memcpy(in + sizeof(LABEL2) - 1, root, HASH_LEN);
}

/* Version 3 (chat-protocol(7), SEALED ENVELOPES, Version 3): version
 * 2's keys and trees, with the uid, the names and the time outside the
 * body, where the directory's record has them. */

#define LABEL3 "chat envelope v3"
#define ENVELOPE3_HEAD "{\"sealed\":3,\"c\":\""
#define ENVELOPE3_TAIL "\"}"
#define TS3_LEN 8		/* the sender's time, ms since the epoch */
#define HEAD3_LEN (TS3_LEN + 2)	/* and the tree's size and leaf */
#define TS3_END INT64_C(253402300800000)	/* the year 10000 */

/* A name as version 3 binds it: in ASCII lower case, since the directory
 * reports a name in the case it was registered with, whatever case the
 * sender wrote. */
static size_t
name3(char out[USERNAME_MAX + 1], const char *name)
{
	size_t n = 0;

	for (; name[n] != '\0' && n < USERNAME_MAX; n++)
		out[n] = name[n] >= 'A' && name[n] <= 'Z' ? name[n] - 'A' + 'a' :
		    name[n];
	out[n] = '\0';
	return n;
}

/* The associated data: the label, the names and the uid, each with its
 * length. */
static size_t
aad3(unsigned char *aad, const char *uid, const char *from, const char *to)
{
	char f[USERNAME_MAX + 1], t[USERNAME_MAX + 1];
	unsigned char *q = aad;
	size_t fn = name3(f, from), tn = name3(t, to);

	memcpy(q, LABEL3, sizeof(LABEL3) - 1);
	q = put_field(q + sizeof(LABEL3) - 1, f, fn);
	q = put_field(q, t, tn);
	q = put_field(q, uid, strlen(uid));
	return (size_t)(q - aad);
}
#define AAD3_MAX (sizeof(LABEL3) - 1 + 3 * 4 + 2 * USERNAME_MAX + UID_MAX)

/* A leaf: the hash of 0x00 and the associated data (label, names, uid),
 * then the 8 bytes of the time and the text. */
static void
leaf3_hash(unsigned char h[HASH_LEN], const char *uid, const char *from,
    const char *to, const unsigned char ts[TS3_LEN], const char *text,
    size_t textlen)
{
	crypto_generichash_state st;
	unsigned char aad[AAD3_MAX];
	const unsigned char zero = 0;

	crypto_generichash_init(&st, NULL, 0, HASH_LEN);
	crypto_generichash_update(&st, &zero, 1);
	crypto_generichash_update(&st, aad, aad3(aad, uid, from, to));
	crypto_generichash_update(&st, ts, TS3_LEN);
	crypto_generichash_update(&st, (const unsigned char *)text, textlen);
	crypto_generichash_final(&st, h, HASH_LEN);
}

static void
ts3_put(unsigned char out[TS3_LEN], int64_t ms)
{
	for (int i = 0; i < TS3_LEN; i++)
		out[i] = (unsigned char)((uint64_t)ms >> (8 * (TS3_LEN - 1 - i)));
}

static int64_t
ts3_get(const unsigned char in[TS3_LEN])
{
	uint64_t v = 0;

	for (int i = 0; i < TS3_LEN; i++)
		v = v << 8 | in[i];
	return (int64_t)v;
}

/* The envelope of one body: nonce, ciphertext and tag in base64, in the
 * JSON object, written straight into one allocation. */
static char *
envelope3(const unsigned char *nc, size_t len)
{
	size_t b = sodium_base64_ENCODED_LEN(len, B64);
	size_t head = sizeof(ENVELOPE3_HEAD) - 1;
	char *out;

	if ((out = malloc(head + b - 1 + sizeof(ENVELOPE3_TAIL))) == NULL)
		return NULL;
	memcpy(out, ENVELOPE3_HEAD, head);
	sodium_bin2base64(out + head, b, nc, len, B64);
	memcpy(out + head + b - 1, ENVELOPE3_TAIL, sizeof(ENVELOPE3_TAIL));
	return out;
}

/* Seals m[0..n), n <= ENVELOPE_CHUNK, under one signature. */
static int
seal_chunk(const struct envelope_self *k, const struct envelope_pair *pair,
    const struct envelope_msg *m, unsigned n, char **out,
    enum envelope_err *err)
{
	unsigned char tree[2 * ENVELOPE_CHUNK][HASH_LEN];
	unsigned char ts[ENVELOPE_CHUNK][TS3_LEN];
	unsigned char nonces[ENVELOPE_CHUNK][NONCE_LEN];
	unsigned char root_in[sizeof(LABEL3) - 1 + HASH_LEN], sig[SIG_LEN];
	unsigned char aad[AAD3_MAX], *body = NULL, *nc = NULL;
	unsigned level[DEPTH_MAX + 2], c, i, j, p, at;
	size_t blen, cap = 0;
	unsigned long long ctlen;
	int64_t ms;

	*err = ENVELOPE_NOMEM;
	for (i = 0; i < n; i++) {
		size_t need = HEAD3_LEN + DEPTH_MAX * HASH_LEN + SIG_LEN +
		    m[i].textlen;

		if (need > cap)
			cap = need;
		if (!ts_parse(m[i].ts, &ms)) {
			*err = ENVELOPE_INVALID;
			return -1;
		}
		ts3_put(ts[i], ms);
		leaf3_hash(tree[i], m[i].uid, m[i].from, m[i].to, ts[i],
		    m[i].text, m[i].textlen);
	}
	if ((body = malloc(cap)) == NULL ||
	    (nc = malloc(NONCE_LEN + cap + TAG_LEN)) == NULL)
		goto fail;
	/* The tree, level by level in one array: level[l] is where level l
	 * starts; a last node without a sibling goes up as it is. */
	level[0] = 0;
	at = n;
	for (c = n, j = 0; c > 1; c = (c + 1) >> 1, j++) {
		level[j + 1] = at;
		for (p = 0; p < c; p += 2, at++)
			if (p + 1 < c)
				node_hash(tree[at], tree[level[j] + p],
				    tree[level[j] + p + 1]);
			else
				memcpy(tree[at], tree[level[j] + p], HASH_LEN);
	}
	sig_input(root_in, LABEL3, tree[at - 1]);
	if (crypto_sign_detached(sig, NULL, root_in, sizeof(root_in),
	    k->sk) != 0) {
		*err = ENVELOPE_INVALID;
		goto fail;
	}
	/* One call to the kernel's generator for the chunk's nonces. */
	randombytes_buf(nonces, n * NONCE_LEN);
	for (i = 0; i < n; i++) {
		memcpy(body, ts[i], TS3_LEN);
		body[TS3_LEN] = (unsigned char)n;
		body[TS3_LEN + 1] = (unsigned char)i;
		blen = HEAD3_LEN;
		for (c = n, p = i, j = 0; c > 1; c = (c + 1) >> 1, p >>= 1, j++)
			if ((p ^ 1) < c) {
				memcpy(body + blen, tree[level[j] + (p ^ 1)],
				    HASH_LEN);
				blen += HASH_LEN;
			}
		memcpy(body + blen, sig, SIG_LEN);
		blen += SIG_LEN;
		memcpy(body + blen, m[i].text, m[i].textlen);
		blen += m[i].textlen;
		memcpy(nc, nonces[i], NONCE_LEN);
		if (crypto_aead_xchacha20poly1305_ietf_encrypt(nc + NONCE_LEN,
		    &ctlen, body, blen, aad, aad3(aad, m[i].uid, m[i].from,
		    m[i].to), NULL, nonces[i], pair->out) != 0) {
			*err = ENVELOPE_INVALID;
			goto fail;
		}
		if ((out[i] = envelope3(nc, NONCE_LEN + (size_t)ctlen)) == NULL)
			goto fail;
	}
	sodium_memzero(body, cap);
	free(body);
	free(nc);
	*err = ENVELOPE_OK;
	return 0;
fail:
	if (body != NULL)
		sodium_memzero(body, cap);
	free(body);
	free(nc);
	return -1;
}

int
envelope_seal_batch(const struct envelope_self *k,
    const struct envelope_pair *pair, const struct envelope_msg *m,
    size_t n, char **out, enum envelope_err *err)
{
	size_t i, done, c;

	*err = ENVELOPE_INVALID;
	for (i = 0; i < n; i++) {
		out[i] = NULL;
		if (!fields_valid(m[i].uid, m[i].from, m[i].to, m[i].ts,
		    m[i].text, m[i].textlen) ||
		    strcmp(m[i].from, m[0].from) != 0 ||
		    strcmp(m[i].to, m[0].to) != 0)
			return -1;
	}
	if (n == 0)
		return -1;
	for (done = 0; done < n; done += c) {
		c = n - done < ENVELOPE_CHUNK ? n - done : ENVELOPE_CHUNK;
		if (seal_chunk(k, pair, m + done, (unsigned)c, out + done,
		    err) != 0) {
			for (i = 0; i < n; i++) {
				free(out[i]);
				out[i] = NULL;
			}
			return -1;
		}
	}
	return 0;
}

static bool
root_known(const struct envelope_roots *r, const unsigned char root[HASH_LEN],
    const unsigned char pk[crypto_sign_PUBLICKEYBYTES])
{
	for (unsigned i = 0; r != NULL && i < r->n; i++)
		if (memcmp(r->root[i], root, HASH_LEN) == 0 &&
		    memcmp(r->pk[i], pk, crypto_sign_PUBLICKEYBYTES) == 0)
			return true;
	return false;
}

static void
root_add(struct envelope_roots *r, const unsigned char root[HASH_LEN],
    const unsigned char pk[crypto_sign_PUBLICKEYBYTES])
{
	if (r == NULL)
		return;
	memcpy(r->root[r->next], root, HASH_LEN);
	memcpy(r->pk[r->next], pk, crypto_sign_PUBLICKEYBYTES);
	r->next = (r->next + 1) % ENVELOPE_ROOTS;
	if (r->n < ENVELOPE_ROOTS)
		r->n++;
}

/* Up a tree of count leaves from leaf index, whose hash is h, along the
 * path at p, to the root, which the signature after the path must sign
 * under label by sender's key, unless roots has it checked already. */
static enum envelope_err
root_check(unsigned char h[HASH_LEN], const unsigned char *p, unsigned count,
    unsigned index, const char *label, const struct envelope_peer *sender,
    struct envelope_roots *roots)
{
	unsigned char root_in[sizeof(LABEL2) - 1 + HASH_LEN];

	for (unsigned c = count, i = index; c > 1; c = (c + 1) >> 1, i >>= 1)
		if ((i ^ 1) < c) {
			if (i & 1)
				node_hash(h, p, h);
			else
				node_hash(h, h, p);
			p += HASH_LEN;
		}
	if (root_known(roots, h, sender->pk))
		return ENVELOPE_OK;
	sig_input(root_in, label, h);
	if (crypto_sign_verify_detached(p, root_in, sizeof(root_in),
	    sender->pk) != 0)
		return ENVELOPE_BAD_SIG;
	root_add(roots, h, sender->pk);
	return ENVELOPE_OK;
}

/* The body of a version 2 envelope: its fields into m, and the signature
 * checked (or the root found among those checked). */
static enum envelope_err
body2_check(const unsigned char *body, size_t len,
    const struct envelope_peer *sender, struct envelope_roots *roots,
    struct envelope_msg *m)
{
	const unsigned char *p = body, *end = body + len, *f;
	unsigned char h[HASH_LEN];
	size_t n, flen;
	unsigned count, index;
	enum envelope_err rc;

	for (int k = 0; k < NFIELDS; k++)
		if (!get_field(&p, end, &f, &n))
			return ENVELOPE_MALFORMED;
	flen = (size_t)(p - body);
	if ((size_t)(end - p) < 2)
		return ENVELOPE_MALFORMED;
	count = p[0];
	index = p[1];
	p += 2;
	if (count < 1 || count > ENVELOPE_CHUNK || index >= count ||
	    (size_t)(end - p) != (size_t)path_len(index, count) * HASH_LEN +
	    SIG_LEN)
		return ENVELOPE_MALFORMED;
	/* The fields parse as version 1's, followed by a signature. */
	{
		unsigned char *tmp = malloc(flen + SIG_LEN);

		if (tmp == NULL)
			return ENVELOPE_NOMEM;
		memcpy(tmp, body, flen);
		memset(tmp + flen, 0, SIG_LEN);
		rc = body_parse(tmp, flen + SIG_LEN, m);
		sodium_memzero(tmp, flen + SIG_LEN);
		free(tmp);
		if (rc != ENVELOPE_OK)
			return rc;
	}
	leaf_hash(h, body, flen);
	return root_check(h, p, count, index, LABEL2, sender, roots);
}

static enum envelope_err
open2(const struct envelope_self *k, const struct envelope_peer *sender,
    const struct envelope_pair *pair, struct envelope_roots *roots,
    const json_t *j, const char *from, const char *to,
    struct envelope_msg *m)
{
	unsigned char nonce[NONCE_LEN], aad[AAD_MAX], *ct = NULL, *body = NULL;
	const char *ofrom, *oto;
	const json_t *c;
	unsigned long long blen = 0;
	size_t max, ctlen, aadlen;
	unsigned char *q;
	enum envelope_err rc = ENVELOPE_MALFORMED;

	ofrom = json_string_value(json_object_get(j, "from"));
	oto = json_string_value(json_object_get(j, "to"));
	c = json_object_get(j, "c");
	if (!valid_username(ofrom) || !valid_username(oto) ||
	    !unb64_exact(json_object_get(j, "n"), nonce, NONCE_LEN) ||
	    !json_is_string(c))
		return ENVELOPE_MALFORMED;
	if (from == NULL || to == NULL || strcasecmp(ofrom, from) != 0 ||
	    strcasecmp(oto, to) != 0)
		return ENVELOPE_MISMATCH;
	max = json_string_length(c) / 4 * 3;
	if (max > BODY_MAX + 2 + DEPTH_MAX * HASH_LEN + TAG_LEN)
		max = BODY_MAX + 2 + DEPTH_MAX * HASH_LEN + TAG_LEN;
	if ((ct = malloc(max + 1)) == NULL || (body = malloc(max + 1)) == NULL) {
		rc = ENVELOPE_NOMEM;
		goto out;
	}
	if (!unb64(c, ct, max, &ctlen) || ctlen < TAG_LEN)
		goto out;
	q = aad;
	memcpy(q, LABEL2, sizeof(LABEL2) - 1);
	q = put_field(q + sizeof(LABEL2) - 1, ofrom, strlen(ofrom));
	q = put_field(q, oto, strlen(oto));
	aadlen = (size_t)(q - aad);
	/* The sender's own copy is under the key of its way out. */
	rc = ENVELOPE_ALTERED;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(body, &blen, NULL, ct,
	    ctlen, aad, aadlen, nonce, sodium_memcmp(k->pk, sender->pk,
	    crypto_sign_PUBLICKEYBYTES) == 0 ? pair->out : pair->in) != 0)
		goto out;
	if ((rc = body2_check(body, (size_t)blen, sender, roots, m)) !=
	    ENVELOPE_OK)
		goto out;
	rc = ENVELOPE_MISMATCH;
	if (strcmp(m->from, ofrom) != 0 || strcmp(m->to, oto) != 0)
		goto out;
	rc = ENVELOPE_OK;
out:
	if (body != NULL) {
		sodium_memzero(body, max + 1);
		free(body);
	}
	free(ct);
	if (rc != ENVELOPE_OK)
		envelope_msg_free(m);
	return rc;
}

/* The body of a version 3 envelope, decrypted: its time, tree and text
 * into m (whose uid and names are set), the signature checked (or the
 * root found among those checked). */
static enum envelope_err
body3_check(const unsigned char *body, size_t len,
    const struct envelope_peer *sender, struct envelope_roots *roots,
    struct envelope_msg *m)
{
	const unsigned char *p = body + HEAD3_LEN, *end = body + len, *text;
	unsigned char h[HASH_LEN];
	unsigned count, index;
	enum envelope_err rc;
	size_t textlen;
	int64_t ms;

	if (len < HEAD3_LEN)
		return ENVELOPE_MALFORMED;
	count = body[TS3_LEN];
	index = body[TS3_LEN + 1];
	if (count < 1 || count > ENVELOPE_CHUNK || index >= count ||
	    (size_t)(end - p) < (size_t)path_len(index, count) * HASH_LEN +
	    SIG_LEN)
		return ENVELOPE_MALFORMED;
	text = p + (size_t)path_len(index, count) * HASH_LEN + SIG_LEN;
	textlen = (size_t)(end - text);
	/* A time the sender's form (ts_parse) can give: years 0 to 9999. */
	ms = ts3_get(body);
	if (textlen > ENVELOPE_TEXT_MAX || ms < 0 || ms >= TS3_END ||
	    !valid_utf8((const char *)text, textlen))
		return ENVELOPE_MALFORMED;
	ts_format(ms, m->ts);
	leaf3_hash(h, m->uid, m->from, m->to, body, (const char *)text,
	    textlen);
	if ((rc = root_check(h, p, count, index, LABEL3, sender, roots)) !=
	    ENVELOPE_OK)
		return rc;
	if ((m->text = malloc(textlen + 1)) == NULL)
		return ENVELOPE_NOMEM;
	memcpy(m->text, text, textlen);
	m->text[textlen] = '\0';
	m->textlen = textlen;
	return ENVELOPE_OK;
}

static enum envelope_err
open3(const struct envelope_self *k, const struct envelope_peer *sender,
    const struct envelope_pair *pair, struct envelope_roots *roots,
    const json_t *j, const char *from, const char *to, const char *uid,
    struct envelope_msg *m)
{
	unsigned char aad[AAD3_MAX], *nc = NULL, *body = NULL;
	const json_t *c = json_object_get(j, "c");
	unsigned long long blen = 0;
	size_t max, nclen = 0;
	enum envelope_err rc = ENVELOPE_MALFORMED;

	if (!json_is_string(c))
		return ENVELOPE_MALFORMED;
	/* What the directory's record says is bound: without a uid or
	 * valid names there is nothing to check the envelope against. */
	if (uid == NULL || !valid_uid(uid) || from == NULL || to == NULL ||
	    !valid_username(from) || !valid_username(to))
		return ENVELOPE_MISMATCH;
	max = NONCE_LEN + HEAD3_LEN + DEPTH_MAX * HASH_LEN + SIG_LEN +
	    ENVELOPE_TEXT_MAX + TAG_LEN;
	if (json_string_length(c) / 4 * 3 < max)
		max = json_string_length(c) / 4 * 3;
	if ((nc = malloc(max + 1)) == NULL || (body = malloc(max + 1)) == NULL) {
		rc = ENVELOPE_NOMEM;
		goto out;
	}
	if (!unb64(c, nc, max, &nclen) || nclen < NONCE_LEN + TAG_LEN)
		goto out;
	snprintf(m->uid, sizeof(m->uid), "%s", uid);
	snprintf(m->from, sizeof(m->from), "%s", from);
	snprintf(m->to, sizeof(m->to), "%s", to);
	/* The sender's own copy is under the key of its way out. */
	rc = ENVELOPE_ALTERED;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(body, &blen, NULL,
	    nc + NONCE_LEN, nclen - NONCE_LEN, aad, aad3(aad, uid, from, to),
	    nc, sodium_memcmp(k->pk, sender->pk, crypto_sign_PUBLICKEYBYTES) ==
	    0 ? pair->out : pair->in) != 0)
		goto out;
	rc = body3_check(body, (size_t)blen, sender, roots, m);
out:
	if (body != NULL) {
		sodium_memzero(body, max + 1);
		free(body);
	}
	free(nc);
	if (rc != ENVELOPE_OK)
		envelope_msg_free(m);
	return rc;
}

enum envelope_err
envelope_open_any(const struct envelope_self *k,
    const struct envelope_peer *sender, const struct envelope_pair *pair,
    struct envelope_roots *roots, const char *content, size_t len,
    const char *from, const char *to, const char *uid,
    struct envelope_msg *m)
{
	const json_t *v;
	enum envelope_err rc;
	json_t *j;

	memset(m, 0, sizeof(*m));
	if (!envelope_is(content, len))
		return ENVELOPE_NOT;
	if (len > ENVELOPE_MAX)
		return ENVELOPE_MALFORMED;
	if ((j = json_loadb(content, len, JSON_REJECT_DUPLICATES, NULL)) ==
	    NULL || !json_is_object(j)) {
		json_decref(j);
		return ENVELOPE_MALFORMED;
	}
	v = json_object_get(j, "sealed");
	if (json_is_integer(v) && (json_integer_value(v) == 2 ||
	    json_integer_value(v) == ENVELOPE_VERSION_BATCH)) {
		rc = json_integer_value(v) == 2 ? open2(k, sender, pair, roots,
		    j, from, to, m) : open3(k, sender, pair, roots, j, from, to,
		    uid, m);
		json_decref(j);
		return rc;
	}
	json_decref(j);
	return envelope_open_from(k, sender, content, len, from, to, m);
}
