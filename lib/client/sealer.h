/* sealer: sealed history on the client's side. Seals what a keyed user
 * stores for a keyed peer, and opens what the directory gives back,
 * with the peers' keys pinned on first use (sec/keys.h, sec/envelope.h).
 * dirclient calls it; programs reach it through dc_set_pins and dc_open. */
#ifndef CHAT_SEALER_H
#define CHAT_SEALER_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <sodium.h>

#include "client/dirclient.h"

struct sealer;

/* Sealing and opening as user, whose key pair's secret half is sk, with
 * the pins in the file pins. NULL: no memory, or sk is not usable. */
struct sealer *sealer_new(const char *user,
    const unsigned char sk[crypto_sign_SECRETKEYBYTES], const char *pins);
void sealer_free(struct sealer *s);

/* What to store as the content of m[0..n): content[i] NULL when m[i]
 * goes as plain text (its sender is not the sealer's user, or its
 * recipient has no key), else a malloc'd envelope; runs of messages to
 * one peer are signed together. Every uid must be set. DC_OK, or the
 * failure with err saying why (and nothing to free). */
enum dc_status sealer_seal(struct sealer *s, struct dirclient *dc,
    const struct dc_outgoing *m, size_t n, char **content, char *err,
    size_t errlen);

/* Opens msg (a message in the output form) in place when it is an
 * envelope: "text" becomes the text sealed, "sealed" true. 0: done (or
 * plain text, left as it is); -1: it cannot be trusted, why says why. */
int sealer_open(struct sealer *s, struct dirclient *dc, json_t *msg,
    char *why, size_t whylen);

#endif
