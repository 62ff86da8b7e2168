/* relay: chat-dird's TCP relay (chat-protocol(7), RELAY). The API offers
 * a one-time token for a pair of users; each side connects and binds with
 * it ("CRL1" and the token's 32 bytes), and once both have the relay
 * answers 0x00 to each and copies bytes both ways until both have closed.
 * It never reads what it carries: the channel inside is end to end. One
 * thread serves every connection. */
#ifndef CHAT_RELAY_H
#define CHAT_RELAY_H

#include <stddef.h>
#include <stdint.h>

#define RELAY_PORT 3479
#define RELAY_TTL_MS 10000		/* a token waits this long for both */
#define RELAY_RATE 30			/* offers a user may ask a minute */
#define RELAY_MAX_CONNS 8		/* pairs and offers of one user */
#define RELAY_MAX_TOTAL 256		/* pairs and offers at once */
#define RELAY_MAX_BYTES (64LL << 20)	/* carried by one pair, both ways */
#define RELAY_MAX_MS (3600LL * 1000)	/* one pair's life */
#define RELAY_BUF (64 << 10)		/* bytes held each way of a pair */

struct relay_config {
	const char *host;	/* numeric address or name to bind */
	int port;		/* 0: any free port */
	int64_t ttl_ms;		/* 0: the defaults above, for each */
	unsigned rate;
	unsigned max_conns;
	unsigned max_total;
	int64_t max_bytes;
	int64_t max_ms;
};

enum relay_offer {
	RELAY_OFFER_OK,
	RELAY_OFFER_RATE,	/* the asker asked too often: 429 */
	RELAY_OFFER_USER_FULL,	/* a user of the pair has max_conns: 429 */
	RELAY_OFFER_FULL,	/* max_total reached: 503 */
};

struct relay;

/* Binds the listener and starts the thread; NULL with err said. */
struct relay *relay_start(const struct relay_config *cfg, char *err,
    size_t errlen);
/* The port it listens on. */
int relay_port(const struct relay *r);
/* The numeric address it listens on. */
const char *relay_host(const struct relay *r);
/* Whether it listens on a wildcard address (0.0.0.0, ::): then it is
 * advertised at the address each client reached the directory by. */
int relay_wildcard(const struct relay *r);
/* A new token for asker and peer (usernames, compared without case), as
 * 64 hex digits, and how long it stays good, in ms. Any thread. */
enum relay_offer relay_offer(struct relay *r, const char *asker,
    const char *peer, char token_hex[65], int64_t *expires_ms);
/* Pairs spliced and offers waiting now; for tests. */
void relay_counts(struct relay *r, unsigned *pairs, unsigned *offers);
/* Stops the thread, closes every connection, frees r. */
void relay_stop(struct relay *r);

#endif
