/* sig: request signatures over the method, target, time and body hash. */
#include <stdio.h>
#include <string.h>

#include "sec/sig.h"
#include "core/util.h"

#define SIG_LABEL "chat-signature-v1\n"

void
sig_digest(const char *method, const char *target, const char *user,
    int64_t ts, const void *body, size_t body_len,
    unsigned char out[crypto_hash_sha256_BYTES])
{
	crypto_hash_sha256_state h;
	unsigned char bh[crypto_hash_sha256_BYTES];
	char tsbuf[24];
	int n;

	crypto_hash_sha256(bh, body_len > 0 ? body : (const void *)"",
	    body_len);
	n = snprintf(tsbuf, sizeof(tsbuf), "%lld", (long long)ts);
	crypto_hash_sha256_init(&h);
	crypto_hash_sha256_update(&h, (const unsigned char *)SIG_LABEL,
	    strlen(SIG_LABEL));
	crypto_hash_sha256_update(&h, (const unsigned char *)method,
	    strlen(method));
	crypto_hash_sha256_update(&h, (const unsigned char *)"\n", 1);
	crypto_hash_sha256_update(&h, (const unsigned char *)target,
	    strlen(target));
	crypto_hash_sha256_update(&h, (const unsigned char *)"\n", 1);
	crypto_hash_sha256_update(&h, (const unsigned char *)user,
	    strlen(user));
	crypto_hash_sha256_update(&h, (const unsigned char *)"\n", 1);
	crypto_hash_sha256_update(&h, (const unsigned char *)tsbuf,
	    (size_t)n);
	crypto_hash_sha256_update(&h, (const unsigned char *)"\n", 1);
	crypto_hash_sha256_update(&h, bh, sizeof(bh));
	crypto_hash_sha256_final(&h, out);
}

bool
sig_header(const unsigned char sk[crypto_sign_SECRETKEYBYTES],
    const char *method, const char *target, const char *user, int64_t ts,
    const void *body, size_t body_len, char *out, size_t outlen)
{
	unsigned char d[crypto_hash_sha256_BYTES], sig[crypto_sign_BYTES];
	char b64[SIG_B64_LEN + 1];
	int n;

	sig_digest(method, target, user, ts, body, body_len, d);
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

bool
sig_parse(const char *value, struct sig_parts *out)
{
	const char *f, *p = value;
	char num[24], b64[SIG_B64_LEN + 1];
	size_t len, got;
	int64_t ts;

	if (value == NULL || strlen(value) > SIG_HEADER_MAX)
		return false;
	if ((f = field(p, false, &len)) == NULL || len != 2 ||
	    memcmp(f, "v1", 2) != 0)
		return false;
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
	if ((f = field(p, true, &len)) == NULL || len != SIG_B64_LEN ||
	    strchr(f, ' ') != NULL)
		return false;
	if (sodium_base642bin(out->sig, sizeof(out->sig), f, len, NULL, &got,
	    NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    got != sizeof(out->sig))
		return false;
	/* Canonical base64 only: the unused bits of the last digit are 0. */
	sodium_bin2base64(b64, sizeof(b64), out->sig, sizeof(out->sig),
	    sodium_base64_VARIANT_ORIGINAL);
	return memcmp(b64, f, SIG_B64_LEN) == 0;
}

bool
sig_verify(const struct sig_parts *p,
    const unsigned char pk[crypto_sign_PUBLICKEYBYTES], const char *method,
    const char *target, const void *body, size_t body_len)
{
	unsigned char d[crypto_hash_sha256_BYTES];

	sig_digest(method, target, p->user, p->ts, body, body_len, d);
	return crypto_sign_verify_detached(p->sig, d, sizeof(d), pk) == 0;
}
