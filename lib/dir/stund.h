/* stund: the STUN server of chat-dird (RFC 8489 Binding, no credentials):
 * a UDP socket and a TCP listener on one port, served by a thread. */
#ifndef CHAT_STUND_H
#define CHAT_STUND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct stund_config {
	const char *host;	/* numeric address or name to bind */
	int port;		/* 0: any free port, the same for UDP and TCP */
	const char *software;	/* the SOFTWARE attribute of answers */
	unsigned max_conns;	/* TCP connections at once; more wait */
	unsigned idle_ms;	/* a TCP connection silent this long closes */
};

struct stund;

/* Binds both sockets and starts the thread; NULL with *err set. */
struct stund *stund_start(const struct stund_config *cfg, char *err,
    size_t errlen);
/* The port both sockets are bound to. */
int stund_port(const struct stund *s);
/* Stops the thread, closes every socket, frees s. */
void stund_stop(struct stund *s);

/* The answer to the n bytes of req from `from`, written into out: a
 * Binding success (XOR-MAPPED-ADDRESS, SOFTWARE, FINGERPRINT), 400 for
 * a malformed request or another method, 420 with UNKNOWN-ATTRIBUTES.
 * Returns its length, or 0 when nothing is to be sent: not STUN, a bad
 * FINGERPRINT, an indication or a response. */
size_t stund_answer(const uint8_t *req, size_t n, const struct sockaddr *from,
    const char *software, uint8_t *out, size_t cap);

#endif
