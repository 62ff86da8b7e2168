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
