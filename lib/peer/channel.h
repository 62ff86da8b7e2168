/* channel: one peer connection's read/write face on a non-blocking
 * socket: the lines of wire protocol v1, either as they are or inside
 * the Noise transport frames of v2 (peer/frame.h). The engines (listener,
 * sender) speak lines through it and never touch the socket's bytes. */
#ifndef CHAT_CHANNEL_H
#define CHAT_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/jsonw.h"
#include "peer/frame.h"
#include "peer/wire.h"

enum channel_mode {
	CH_V1,			/* plain lines */
	CH_DETECT,		/* listener: the first byte tells */
	CH_HS,			/* v2: the handshake under way */
	CH_V2,			/* v2: transport frames */
	CH_REFUSED,		/* listener: a v1 peer where v2 is required */
	CH_FAILED,		/* v2: a bad frame; close without a word */
};

struct channel {
	int fd;			/* -1: closed */
	enum channel_mode mode;
	bool allow_v1;		/* listener: v1 peers too */
	struct wire_buf in;	/* plaintext read, to take as lines */
	struct jsonw out;	/* lines to write (wire_put_* into it) */
	struct frame_hs *hs;
	struct frame_enc enc;
	struct frame_dec *dec;
	uint8_t rs[NOISE_KEYLEN];	/* the peer's static key, v2 */
	bool has_rs;
	const uint8_t *plain;	/* decrypted, not yet in in */
	size_t plainlen;
	uint8_t *raw;		/* received, not yet decrypted */
	size_t rawoff, rawlen;
	int err;		/* enum frame_err of a v2 failure */
};

/* A v1 channel over fd, a connected socket; it owns fd from now on. */
void channel_init(struct channel *ch, int fd);
/* A listener's channel: v2 (IK or XX, either hash) with static secret
 * s, or v1 too when allow_v1. -1 when out of memory (fd is closed). */
int channel_accept(struct channel *ch, int fd, const uint8_t s[NOISE_KEYLEN],
    bool allow_v1);
/* A sender's v2 channel: the preamble and first handshake message wait
 * to be flushed. rs: the listener's static key (IK), or NULL (XX). */
int channel_connect(struct channel *ch, int fd, enum noise_hash hash,
    const uint8_t s[NOISE_KEYLEN], const uint8_t *rs);
/* True once lines may be written: v1, or v2 after the handshake. */
bool channel_ready(const struct channel *ch);
/* The peer's static key once a v2 handshake is done, else NULL. */
const uint8_t *channel_peer_key(const struct channel *ch);

/* Reads what the socket has, up to want bytes, and takes what it can as
 * plaintext: > 0 bytes of plaintext, 0 the peer closed, -1 an error in
 * errno: EAGAIN and EINTR nothing now; ENOBUFS the lines buffered must be
 * taken first; EPROTO a v2 handshake or frame refused (close without a
 * word); EPROTONOSUPPORT a v1 peer where v2 is required (an error line
 * may still be written, in v1). */
long channel_recv(struct channel *ch, size_t want);
/* True when plaintext or frames (or a failure) wait that channel_recv
 * gives without reading the socket: call it again once the lines are
 * taken. */
bool channel_backlog(const struct channel *ch);
/* The next line read, as wire_buf_line: 1, 0 none yet, -1 too long. */
int channel_line(struct channel *ch, char **line, size_t *len);
/* Where lines to send go. */
struct jsonw *channel_out(struct channel *ch);
/* Writes what waits (sealing lines into frames in v2), as far as the
 * socket takes it: 0, or -1 when the peer is gone. */
int channel_flush(struct channel *ch);
/* Bytes waiting to be written. */
size_t channel_unsent(const struct channel *ch);
/* Gives buffer memory back when nothing waits. */
void channel_shrink(struct channel *ch);
/* Closes fd, wipes the keys and frees the buffers. */
void channel_close(struct channel *ch);

#endif
