/* sig: request signatures. A keyed user signs each request to the
 * directory with their Ed25519 key; the header carries who signed, when,
 * and the signature over the method, the request target, the time and a
 * hash of the body (chat-protocol(7), REQUEST SIGNATURES). */
#ifndef CHAT_SIG_H
#define CHAT_SIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "core/valid.h"

#define SIG_HEADER "Chat-Signature"
#define SIG_HEADER_MAX 200	/* bytes of its value, at most */
#define SIG_B64_LEN 88		/* an Ed25519 signature in base64 */

struct sig_parts {
	char user[USERNAME_MAX + 1];
	int64_t ts;		/* ms since the epoch, the signer's clock */
	unsigned char sig[crypto_sign_BYTES];
};

/* What is signed: SHA-256 of "chat-signature-v1\n" METHOD "\n" TARGET
 * "\n" USER "\n" TS "\n" SHA-256(BODY). target is the request target as
 * sent: the path with its query, not decoded. */
void sig_digest(const char *method, const char *target, const char *user,
    int64_t ts, const void *body, size_t body_len,
    unsigned char out[crypto_hash_sha256_BYTES]);

/* The header's value, "v1 USER TS SIGNATURE", for a request signed with
 * sk at ts; false when it does not fit in out (SIG_HEADER_MAX + 1). */
bool sig_header(const unsigned char sk[crypto_sign_SECRETKEYBYTES],
    const char *method, const char *target, const char *user, int64_t ts,
    const void *body, size_t body_len, char *out, size_t outlen);

/* Parses a header's value strictly: false for anything else than four
 * fields of one space each, "v1", a username, a decimal time and a
 * base64 signature of 64 bytes. */
bool sig_parse(const char *value, struct sig_parts *out);

/* Whether p's signature over the request is pk's. */
bool sig_verify(const struct sig_parts *p,
    const unsigned char pk[crypto_sign_PUBLICKEYBYTES], const char *method,
    const char *target, const void *body, size_t body_len);

#endif
