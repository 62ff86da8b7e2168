/* relay_client: the client's side of the relay's bind (relay_client.h). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "core/util.h"
#include "net/netaddr.h"
#include "net/relay_client.h"

int
relay_token_parse(const char *hex, uint8_t token[RELAY_TOKEN_LEN])
{
	size_t bin_len;

	if (hex == NULL || strlen(hex) != 2 * RELAY_TOKEN_LEN ||
	    sodium_hex2bin(token, RELAY_TOKEN_LEN, hex, 2 * RELAY_TOKEN_LEN,
	    NULL, &bin_len, NULL) != 0 || bin_len != RELAY_TOKEN_LEN)
		return -1;
	return 0;
}

void
relay_bind_bytes(const uint8_t token[RELAY_TOKEN_LEN],
    uint8_t out[RELAY_BIND_LEN])
{
	memcpy(out, RELAY_MAGIC, 4);
	memcpy(out + 4, token, RELAY_TOKEN_LEN);
}

const char *
relay_strerror(int answer)
{
	switch (answer) {
	case RELAY_JOINED:
		return "joined";
	case RELAY_UNKNOWN:
		return "the relay knows no such token (or it was used)";
	case RELAY_EXPIRED:
		return "the other side did not come to the relay in time";
	case RELAY_LIMIT:
		return "over a limit of the relay's";
	case RELAY_MALFORMED:
		return "the relay did not take the bind";
	default:
		return "the relay answered what this version does not know";
	}
}

int
relay_bind(const char *host, int port, const char *token_hex,
    int64_t connect_ms, char *err, size_t errlen)
{
	uint8_t token[RELAY_TOKEN_LEN], bind[RELAY_BIND_LEN];
	ssize_t n;
	int fd;

	if (relay_token_parse(token_hex, token) != 0) {
		snprintf(err, errlen, "relay: not a token: want 64 hex digits");
		return -1;
	}
	relay_bind_bytes(token, bind);
	sodium_memzero(token, sizeof(token));
	if ((fd = net_connect(host, port, connect_ms, err, errlen)) < 0) {
		sodium_memzero(bind, sizeof(bind));
		return -1;
	}
	/* 36 bytes on a fresh connection: the socket buffer takes them. */
	do
		n = write(fd, bind, sizeof(bind));
	while (n < 0 && errno == EINTR);
	sodium_memzero(bind, sizeof(bind));
	if (n != (ssize_t)sizeof(bind)) {
		snprintf(err, errlen, "relay %s:%d: cannot send the bind: %s",
		    host, port, n < 0 ? strerror(errno) : "short write");
		close(fd);
		return -1;
	}
	return fd;
}

int
relay_answer(int fd, char *err, size_t errlen)
{
	uint8_t answer;
	ssize_t n;

	do
		n = read(fd, &answer, 1);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return 0;
	if (n == 1 && answer == RELAY_JOINED)
		return 1;
	snprintf(err, errlen, "%s", n == 1 ? relay_strerror(answer) : n == 0 ?
	    "closed before it answered" : strerror(errno));
	return -1;
}

int
relay_wait(int fd, int64_t wait_ms, char *err, size_t errlen)
{
	int64_t deadline = mono_ms() + wait_ms;
	struct pollfd p;
	int rc;

	for (;;) {
		p = (struct pollfd){ .fd = fd, .events = POLLIN };
		if (mono_ms() >= deadline ||
		    poll(&p, 1, (int)(deadline - mono_ms())) == 0) {
			snprintf(err, errlen, "the other side did not join in "
			    "time");
			return -1;
		}
		if ((rc = relay_answer(fd, err, errlen)) != 0)
			return rc > 0 ? 0 : -1;
	}
}

int
relay_join(const char *host, int port, const char *token_hex,
    int64_t connect_ms, int64_t wait_ms, char *err, size_t errlen)
{
	char why[256];
	int fd;

	if ((fd = relay_bind(host, port, token_hex, connect_ms, err,
	    errlen)) < 0)
		return -1;
	if (relay_wait(fd, wait_ms, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "relay %s:%d: %s", host, port, why);
		close(fd);
		return -1;
	}
	return fd;
}
