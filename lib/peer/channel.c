/* channel: a peer connection's lines in and out over a non-blocking
 * socket (channel.h). */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "peer/channel.h"

void
channel_init(struct channel *ch, int fd)
{
	*ch = (struct channel){ .fd = fd };
}

long
channel_recv(struct channel *ch, size_t want)
{
	size_t room;
	ssize_t n;
	char *p;

	if ((p = wire_buf_space(&ch->in, want, &room)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	if (room == 0) {
		errno = ENOBUFS;
		return -1;
	}
	n = recv(ch->fd, p, room, 0);
	if (n > 0)
		wire_buf_fill(&ch->in, (size_t)n);
	return (long)n;
}

int
channel_line(struct channel *ch, char **line, size_t *len)
{
	return wire_buf_line(&ch->in, line, len);
}

struct jsonw *
channel_out(struct channel *ch)
{
	return &ch->out;
}

int
channel_flush(struct channel *ch)
{
	ssize_t w;

	while (ch->out.len > 0) {
		w = send(ch->fd, ch->out.data, ch->out.len, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return 0;
		if (w <= 0)
			return -1;
		wire_out_consume(&ch->out, (size_t)w);
	}
	return 0;
}

size_t
channel_unsent(const struct channel *ch)
{
	return ch->out.len;
}

void
channel_shrink(struct channel *ch)
{
	wire_buf_shrink(&ch->in);
}

void
channel_close(struct channel *ch)
{
	if (ch->fd >= 0)
		close(ch->fd);
	wire_buf_free(&ch->in);
	wire_out_free(&ch->out);
	*ch = (struct channel){ .fd = -1 };
}
