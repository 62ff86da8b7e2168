/* channel: one peer connection's read/write face, the v1 lines read and
 * written on a non-blocking socket. The engines (listener, sender) speak
 * lines through it and never touch the socket's bytes themselves. */
#ifndef CHAT_CHANNEL_H
#define CHAT_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/jsonw.h"
#include "peer/wire.h"

struct channel {
	int fd;			/* -1: closed */
	struct wire_buf in;	/* bytes read, to take as lines */
	struct jsonw out;	/* lines to write (wire_put_* into it) */
};

/* A channel over fd, a connected socket; it owns fd from now on. */
void channel_init(struct channel *ch, int fd);
/* Reads what the socket has, up to want bytes: > 0 bytes read, 0 the
 * peer closed, -1 an error (errno; EAGAIN and EINTR: nothing now;
 * ENOBUFS: the lines buffered must be taken first). */
long channel_recv(struct channel *ch, size_t want);
/* The next line read, as wire_buf_line: 1, 0 none yet, -1 too long. */
int channel_line(struct channel *ch, char **line, size_t *len);
/* Where lines to send go. */
struct jsonw *channel_out(struct channel *ch);
/* Writes what waits, as far as the socket takes it: 0, or -1 when the
 * peer is gone. */
int channel_flush(struct channel *ch);
/* Bytes waiting to be written. */
size_t channel_unsent(const struct channel *ch);
/* Gives buffer memory back when nothing waits. */
void channel_shrink(struct channel *ch);
/* Closes fd and frees the buffers; the channel may be set up again. */
void channel_close(struct channel *ch);

#endif
