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
#define SIG_SID_LEN 22		/* a session id: 16 bytes, base64url */
#define SIG_MAC_B64_LEN 44	/* an HMAC-SHA256 in base64 */
#define SIG_KEYLEN 32		/* a session's MAC key */
#define SIG_HASHLEN 32		/* a digest, and a body's hash in it */

/* "v1": an Ed25519 signature by the user's key. "s1": an HMAC-SHA256,
 * under the key of a session that a v1 request opened, of the same
 * digest: as strong an answer to who is asking, for a fraction of the
 * cost of verifying a signature. "s2": the same MAC of the digest made
 * with BLAKE2b-256 in place of SHA-256, which hashes a body of thousands
 * of messages four times faster. */
struct sig_parts {
	bool session;		/* s1 or s2 */
	bool blake2b;		/* s2 */
	char user[USERNAME_MAX + 1];
	int64_t ts;		/* ms since the epoch, the signer's clock */
	unsigned char sig[crypto_sign_BYTES];	/* v1 */
	char sid[SIG_SID_LEN + 1];		/* s1, s2 */
	unsigned char mac[crypto_auth_hmacsha256_BYTES];	/* s1, s2 */
};

/* What is signed: SHA-256 of "chat-signature-v1\n" METHOD "\n" TARGET
 * "\n" USER "\n" TS "\n" SHA-256(BODY). target is the request target as
 * sent: the path with its query, not decoded. With blake2b (s2), the
 * label is "chat-signature-s2\n" and both hashes are BLAKE2b-256. */
void sig_digest(bool blake2b, const char *method, const char *target,
    const char *user, int64_t ts, const void *body, size_t body_len,
    unsigned char out[SIG_HASHLEN]);
/* The same in two steps: the body's hash, then the digest over it, so
 * that a body made ready ahead of its request is hashed ahead too. */
void sig_body_hash(bool blake2b, const void *body, size_t body_len,
    unsigned char out[SIG_HASHLEN]);
void sig_digest_hashed(bool blake2b, const char *method, const char *target,
    const char *user, int64_t ts, const unsigned char body_hash[SIG_HASHLEN],
    unsigned char out[SIG_HASHLEN]);
/* The header's value, "v1 USER TS SIGNATURE", for a request signed with
 * sk at ts; false when it does not fit in out (SIG_HEADER_MAX + 1). */
bool sig_header(const unsigned char sk[crypto_sign_SECRETKEYBYTES],
    const char *method, const char *target, const char *user, int64_t ts,
    const void *body, size_t body_len, char *out, size_t outlen);

/* The value "sV USER TS SID MAC" of a request MAC'd with key, V the
 * version: 1 (SHA-256) or 2 (BLAKE2b); false for another, or when it
 * does not fit. _hashed takes the body's hash (sig_body_hash, of the
 * version's kind) in place of the body. */
bool sig_session_header(const unsigned char key[SIG_KEYLEN], const char *sid,
    int version, const char *method, const char *target, const char *user,
    int64_t ts, const void *body, size_t body_len, char *out, size_t outlen);
bool sig_session_header_hashed(const unsigned char key[SIG_KEYLEN],
    const char *sid, int version, const char *method, const char *target,
    const char *user, int64_t ts, const unsigned char body_hash[SIG_HASHLEN],
    char *out, size_t outlen);
/* Parses a header's value strictly: false for anything else than "v1", a
 * username, a decimal time and a base64 signature of 64 bytes, or "s1",
 * a username, a time, a session id and a base64 MAC of 32 bytes, or
 * the same with "s2"; fields
 * one space apart. */
bool sig_parse(const char *value, struct sig_parts *out);

/* Whether p's MAC over the request is key's (s1 or s2, as p says). */
bool sig_session_verify(const struct sig_parts *p,
    const unsigned char key[SIG_KEYLEN], const char *method,
    const char *target, const void *body, size_t body_len);

/* A session's MAC key, the same on both sides: BLAKE2b-256 of
 * "chat-session-v1", X25519(my_sk, their_pk), the client's and the
 * server's public keys. False for a public key of low order. */
bool sig_session_key(const unsigned char my_sk[crypto_scalarmult_BYTES],
    const unsigned char their_pk[crypto_scalarmult_BYTES],
    const unsigned char client_pk[crypto_scalarmult_BYTES],
    const unsigned char server_pk[crypto_scalarmult_BYTES],
    unsigned char key[SIG_KEYLEN]);

/* Whether p's signature over the request is pk's. */
bool sig_verify(const struct sig_parts *p,
    const unsigned char pk[crypto_sign_PUBLICKEYBYTES], const char *method,
    const char *target, const void *body, size_t body_len);

#endif
