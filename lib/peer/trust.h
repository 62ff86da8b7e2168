/* trust: whether a peer's key, as a v2 hello brings it, is the peer's:
 * the key pinned for that name, else the directory's, else the first one
 * seen (then pinned). The hello's Ed25519 key must also be the one whose
 * X25519 form the Noise handshake proved. */
#ifndef CHAT_TRUST_H
#define CHAT_TRUST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/jsonw.h"
#include "sec/noise.h"

enum trust {
	TRUST_OK,		/* the pinned key */
	TRUST_PINNED,		/* none was pinned: pinned now */
	TRUST_UNPINNED,		/* none was pinned; taken, but the pin could
				 * not be written (why says so) */
	TRUST_MISMATCH,		/* not the pinned (or directory's) key */
	TRUST_BAD,		/* no key in the hello, or not the handshake's */
	TRUST_IO,		/* the pins cannot be read or written */
};

/* The Ed25519 key a v2 hello carries ("key") into ed, checked against
 * the peer's static key of the handshake: TRUST_OK or TRUST_BAD. */
enum trust trust_hello_key(const json_t *hello, const uint8_t rs[NOISE_KEYLEN],
    unsigned char ed[32]);
/* Checks ed against the pins file for peer; with no pin, against
 * dirkey (the directory's key for peer, or NULL when it has none or
 * cannot say), then pins it. why says, on a refusal, what and both
 * fingerprints, as ssh does. */
enum trust trust_check(const char *pins, const char *peer,
    const unsigned char ed[32], const unsigned char *dirkey, char *why,
    size_t whylen);
/* A v2 hello: hello as wire_put_hello writes it, with this side's key. */
int trust_put_hello(struct jsonw *o, const char *from, const char *to,
    const unsigned char ed[32]);

#endif
