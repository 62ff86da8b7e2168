/* relay_client: joins a pair at the directory's relay (chat-protocol(7),
 * RELAY): connects, sends the bind with a one-time token, and waits for
 * the relay to say the other side has joined. */
#ifndef CHAT_RELAY_CLIENT_H
#define CHAT_RELAY_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#define RELAY_MAGIC "CRL1"
#define RELAY_TOKEN_LEN 32		/* bytes; 64 hex digits in JSON */
#define RELAY_BIND_LEN (4 + RELAY_TOKEN_LEN)

/* The relay's answer to a bind: one byte. */
enum relay_answer {
	RELAY_JOINED = 0x00,		/* spliced from now on */
	RELAY_UNKNOWN = 0x01,		/* no such token, or used */
	RELAY_EXPIRED = 0x02,		/* the other side never came */
	RELAY_LIMIT = 0x03,		/* over a limit of the relay's */
	RELAY_MALFORMED = 0x04,		/* not a bind */
};

/* 64 hex digits to the token's bytes: 0, or -1 when not that. */
int relay_token_parse(const char *hex, uint8_t token[RELAY_TOKEN_LEN]);
/* The bind bytes for token. */
void relay_bind_bytes(const uint8_t token[RELAY_TOKEN_LEN],
    uint8_t out[RELAY_BIND_LEN]);
/* What an answer byte means, for messages. */
const char *relay_strerror(int answer);

/* Connects to the relay at host:port within connect_ms and sends the
 * bind: the descriptor (non-blocking), whose answer relay_answer reads,
 * or -1 with err said. */
int relay_bind(const char *host, int port, const char *token_hex,
    int64_t connect_ms, char *err, size_t errlen);
/* Reads the relay's answer from fd: 1 joined, 0 none yet, -1 refused or
 * failed, with why in err. */
int relay_answer(int fd, char *err, size_t errlen);

/* Waits up to wait_ms for the answer on fd: 0 joined, -1 refused,
 * failed or too late, with why in err. */
int relay_wait(int fd, int64_t wait_ms, char *err, size_t errlen);
/* relay_bind, then waits up to wait_ms for the answer: the descriptor,
 * spliced to the other side (non-blocking), or -1 with err said. */
int relay_join(const char *host, int port, const char *token_hex,
    int64_t connect_ms, int64_t wait_ms, char *err, size_t errlen);

#endif
