/* sig: request signatures over the method, target, time and body hash. */
#include <stdio.h>
#include <string.h>

#include "sec/sig.h"
#include "core/util.h"

#define SIG_LABEL "chat-signature-v1\n"
#define SIG_LABEL2 "chat-signature-s2\n"

void
sig_body_hash(bool blake2b, const void *body, size_t body_len,
    unsigned char out[SIG_HASHLEN])
{
	const unsigned char *b = body_len > 0 ? body : (const void *)"";

	if (blake2b)
		crypto_generichash(out, SIG_HASHLEN, b, body_len, NULL, 0);
	else
		crypto_hash_sha256(out, b, body_len);
}

/* The digest of the fields, each but the last followed by a newline, in
 * one hash or the other. */
static void
digest_of(bool blake2b, const char *const *f, const size_t *len, size_t n,
    unsigned char out[SIG_HASHLEN])
{
	crypto_hash_sha256_state sh;
	crypto_generichash_state bh;

	if (blake2b)
		crypto_generichash_init(&bh, NULL, 0, SIG_HASHLEN);
	else
		crypto_hash_sha256_init(&sh);
	for (size_t i = 0; i < n; i++) {
		const unsigned char *p = (const unsigned char *)f[i];
		const unsigned char *nl = (const unsigned char *)"\n";

		if (blake2b) {
			crypto_generichash_update(&bh, p, len[i]);
			if (i + 1 < n)
				crypto_generichash_update(&bh, nl, 1);
		} else {
			crypto_hash_sha256_update(&sh, p, len[i]);
			if (i + 1 < n)
				crypto_hash_sha256_update(&sh, nl, 1);
		}
	}
	if (blake2b)
		crypto_generichash_final(&bh, out, SIG_HASHLEN);
	else
		crypto_hash_sha256_final(&sh, out);
}

void
sig_digest_hashed(bool blake2b, const char *method, const char *target,
    const char *user, int64_t ts, const unsigned char body_hash[SIG_HASHLEN],
    unsigned char out[SIG_HASHLEN])
{
	char tsbuf[24];
	int n = snprintf(tsbuf, sizeof(tsbuf), "%lld", (long long)ts);
	/* The label ends in its own newline, so it is the first field
	 * without it. */
	const char *label = blake2b ? SIG_LABEL2 : SIG_LABEL;
	const char *f[] = { label, method, target, user, tsbuf,
	    (const char *)body_hash };
	size_t len[] = { strlen(label) - 1, strlen(method), strlen(target),
	    strlen(user), (size_t)n, SIG_HASHLEN };

	digest_of(blake2b, f, len, sizeof(f) / sizeof(f[0]), out);
}

void
sig_digest(bool blake2b, const char *method, const char *target,
    const char *user, int64_t ts, const void *body, size_t body_len,
    unsigned char out[SIG_HASHLEN])
{
	unsigned char bh[SIG_HASHLEN];

	sig_body_hash(blake2b, body, body_len, bh);
	sig_digest_hashed(blake2b, method, target, user, ts, bh, out);
}

bool
sig_header(const unsigned char sk[crypto_sign_SECRETKEYBYTES],
    const char *method, const char *target, const char *user, int64_t ts,
    const void *body, size_t body_len, char *out, size_t outlen)
{
	unsigned char d[SIG_HASHLEN], sig[crypto_sign_BYTES];
	char b64[SIG_B64_LEN + 1];
	int n;

	sig_digest(false, method, target, user, ts, body, body_len, d);
	if (crypto_sign_detached(sig, NULL, d, sizeof(d), sk) != 0)
		return false;
	sodium_bin2base64(b64, sizeof(b64), sig, sizeof(sig),
	    sodium_base64_VARIANT_ORIGINAL);
	n = snprintf(out, outlen, "v1 %s %lld %s", user, (long long)ts, b64);
	return n > 0 && (size_t)n < outlen;
}

/* The next field of s up to a single space (or the end, when last). */
static const char *
field(const char *s, bool last, size_t *len)
{
	const char *e = last ? s + strlen(s) : strchr(s, ' ');

	if (e == NULL || e == s)
		return NULL;
	*len = (size_t)(e - s);
	return s;
}

/* Decodes exactly len bytes of base64 from the field f, written as the
 * encoder writes them: libsodium's decoder takes some other spellings
 * (bytes that are no base64 digits, where it stops early), and a second
 * spelling of one signature would be a second header for one request. */
static bool
b64_field(const char *f, size_t flen, unsigned char *out, size_t len,
    int variant)
{
	char again[SIG_B64_LEN + 1];
	size_t got;

	if (flen > SIG_B64_LEN || sodium_base642bin(out, len, f, flen, NULL,
	    &got, NULL, variant) != 0 || got != len)
		return false;
	sodium_bin2base64(again, sizeof(again), out, len, variant);
	return strlen(again) == flen && memcmp(again, f, flen) == 0;
}

bool
sig_parse(const char *value, struct sig_parts *out)
{
	const char *f, *p = value;
	char num[24];
	size_t len;
	int64_t ts;

	if (value == NULL || strlen(value) > SIG_HEADER_MAX)
		return false;
	if ((f = field(p, false, &len)) == NULL || len != 2 ||
	    (memcmp(f, "v1", 2) != 0 && memcmp(f, "s1", 2) != 0 &&
	    memcmp(f, "s2", 2) != 0))
		return false;
	out->session = f[0] == 's';
	out->blake2b = f[1] == '2';
	p = f + len + 1;
	if ((f = field(p, false, &len)) == NULL || len > USERNAME_MAX)
		return false;
	memcpy(out->user, f, len);
	out->user[len] = '\0';
	if (!valid_username(out->user))
		return false;
	p = f + len + 1;
	if ((f = field(p, false, &len)) == NULL || len >= sizeof(num))
		return false;
	memcpy(num, f, len);
	num[len] = '\0';
	/* Digits only, no leading zero: one spelling for each time. */
	if (num[0] < '0' || num[0] > '9' || (num[0] == '0' && len > 1) ||
	    !parse_int(num, 0, INT64_MAX, &ts))
		return false;
	out->ts = ts;
	p = f + len + 1;
	if (out->session) {
		unsigned char id[16];

		if ((f = field(p, false, &len)) == NULL || len != SIG_SID_LEN ||
		    !b64_field(f, len, id, sizeof(id),
		    sodium_base64_VARIANT_URLSAFE_NO_PADDING))
			return false;
		memcpy(out->sid, f, len);
		out->sid[len] = '\0';
		p = f + len + 1;
		return (f = field(p, true, &len)) != NULL &&
		    len == SIG_MAC_B64_LEN && b64_field(f, len, out->mac,
		    sizeof(out->mac), sodium_base64_VARIANT_ORIGINAL);
	}
	return (f = field(p, true, &len)) != NULL && len == SIG_B64_LEN &&
	    b64_field(f, len, out->sig, sizeof(out->sig),
	    sodium_base64_VARIANT_ORIGINAL);
}

bool
sig_session_header_hashed(const unsigned char key[SIG_KEYLEN], const char *sid,
    int version, const char *method, const char *target, const char *user,
    int64_t ts, const unsigned char body_hash[SIG_HASHLEN], char *out,
    size_t outlen)
{
	unsigned char d[SIG_HASHLEN];
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	char b64[SIG_MAC_B64_LEN + 1];
	int n;

	if (version != 1 && version != 2)
		return false;
	sig_digest_hashed(version == 2, method, target, user, ts, body_hash, d);
	crypto_auth_hmacsha256(mac, d, sizeof(d), key);
	sodium_bin2base64(b64, sizeof(b64), mac, sizeof(mac),
	    sodium_base64_VARIANT_ORIGINAL);
	n = snprintf(out, outlen, "s%d %s %lld %s %s", version, user,
	    (long long)ts, sid, b64);
	return n > 0 && (size_t)n < outlen;
}

bool
sig_session_header(const unsigned char key[SIG_KEYLEN], const char *sid,
    int version, const char *method, const char *target, const char *user,
    int64_t ts, const void *body, size_t body_len, char *out, size_t outlen)
{
	unsigned char bh[SIG_HASHLEN];

	sig_body_hash(version == 2, body, body_len, bh);
	return sig_session_header_hashed(key, sid, version, method, target,
	    user, ts, bh, out, outlen);
}

bool
sig_session_verify(const struct sig_parts *p,
    const unsigned char key[SIG_KEYLEN], const char *method,
    const char *target, const void *body, size_t body_len)
{
	unsigned char d[SIG_HASHLEN];

	sig_digest(p->blake2b, method, target, p->user, p->ts, body, body_len,
	    d);
	return p->session &&
	    crypto_auth_hmacsha256_verify(p->mac, d, sizeof(d), key) == 0;
}

bool
sig_verify(const struct sig_parts *p,
    const unsigned char pk[crypto_sign_PUBLICKEYBYTES], const char *method,
    const char *target, const void *body, size_t body_len)
{
	unsigned char d[SIG_HASHLEN];

	sig_digest(false, method, target, p->user, p->ts, body, body_len, d);
	return !p->session && !p->blake2b &&
	    crypto_sign_verify_detached(p->sig, d, sizeof(d), pk) == 0;
}

bool
sig_session_key(const unsigned char my_sk[crypto_scalarmult_BYTES],
    const unsigned char their_pk[crypto_scalarmult_BYTES],
    const unsigned char client_pk[crypto_scalarmult_BYTES],
    const unsigned char server_pk[crypto_scalarmult_BYTES],
    unsigned char key[SIG_KEYLEN])
{
	static const char label[] = "chat-session-v1";
	unsigned char q[crypto_scalarmult_BYTES];
	crypto_generichash_state h;

	if (crypto_scalarmult(q, my_sk, their_pk) != 0)
		return false;
	crypto_generichash_init(&h, NULL, 0, SIG_KEYLEN);
	crypto_generichash_update(&h, (const unsigned char *)label,
	    sizeof(label) - 1);
	crypto_generichash_update(&h, q, sizeof(q));
	crypto_generichash_update(&h, client_pk, crypto_scalarmult_BYTES);
	crypto_generichash_update(&h, server_pk, crypto_scalarmult_BYTES);
	crypto_generichash_final(&h, key, SIG_KEYLEN);
	sodium_memzero(q, sizeof(q));
	sodium_memzero(&h, sizeof(h));
	return true;
}
