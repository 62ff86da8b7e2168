/* wire: the direct protocol between peers (v1): lines of at most
 * WIRE_LINE_MAX bytes framed from a bounded buffer, and the hello, msg,
 * ack and error objects, built and checked with jansson. No I/O here. */
#ifndef CHAT_WIRE_H
#define CHAT_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/jsonw.h"
#include "core/util.h"
#include "core/valid.h"

#define WIRE_VERSION 1
#define WIRE_LINE_MAX (256 * 1024)	/* bytes of a line, newline excluded */
#define WIRE_TEXT_MAX 65536		/* bytes of a message's text */

/* Bytes read and not yet taken as lines. It grows as a line needs, up to
 * the longest line and its newline, never more. */
struct wire_buf {
	size_t max;		/* the longest line; 0: WIRE_LINE_MAX */
	char *data;
	size_t off;		/* start of the unread bytes */
	size_t len;		/* end of the unread bytes */
	size_t scan;		/* no newline in [off, scan) */
	size_t cap;
	bool dropping;		/* the rest of an over-long line comes */
};

/* Where to read up to *room more bytes into, growing the buffer when it
 * must (want: how many would be nice). NULL when out of memory. */
char *wire_buf_space(struct wire_buf *b, size_t want, size_t *room);
/* n bytes were read into the space given. */
void wire_buf_fill(struct wire_buf *b, size_t n);
/* The next whole line, its newline (and a \r before it) replaced by NUL:
 * 1 and *line, *len; 0 when no whole line is buffered; -1 when the line
 * is longer than the buffer's max (it is dropped, up to its newline). */
int wire_buf_line(struct wire_buf *b, char **line, size_t *len);
/* Bytes buffered that are not yet a whole line. */
size_t wire_buf_pending(const struct wire_buf *b);
/* Gives memory back when nothing is buffered. */
void wire_buf_shrink(struct wire_buf *b);
void wire_buf_free(struct wire_buf *b);

/* Bytes to write (struct jsonw): lines built here, appended. */
int wire_out_append(struct jsonw *o, const char *s, size_t n);
/* o as one compact JSON line. */
int wire_out_json(struct jsonw *o, const json_t *j);
/* Drops the first n bytes (written). */
void wire_out_consume(struct jsonw *o, size_t n);
void wire_out_free(struct jsonw *o);

/* to NULL: the listener's answer. */
int wire_put_hello(struct jsonw *o, const char *from, const char *to);
int wire_put_msg(struct jsonw *o, const char *uid, const char *text,
    size_t textlen, const char *ts);
int wire_put_ack(struct jsonw *o, const char *uid);
int wire_put_error(struct jsonw *o, const char *code, const char *error);

enum wire_type {
	WIRE_BAD = 0,		/* code and error say why */
	WIRE_HELLO,
	WIRE_MSG,
	WIRE_ACK,
	WIRE_ERROR,
};

/* One object of the protocol as parsed. The strings are borrowed from
 * json (or uidbuf), valid until wire_obj_free. */
struct wire_obj {
	enum wire_type type;
	json_t *json;
	int64_t v;			/* hello */
	const char *from, *to;		/* hello; to is NULL in an answer */
	const char *uid;		/* msg, ack */
	const char *text;		/* msg */
	size_t textlen;
	const char *ts;			/* msg: NULL when absent or malformed */
	const char *code, *error;	/* error, and WIRE_BAD */
	char uidbuf[UID_MAX + 1];
	char tsbuf[TS_LEN];		/* msg, read without jansson */
};

/* Parses one line (without its newline). WIRE_BAD sets code to one of
 * the error codes of chat-protocol(7): bad_json, bad_handshake (a hello
 * without a valid from), version. Fields it does not know are ignored. */
enum wire_type wire_parse(const char *line, size_t len, struct wire_obj *o);
void wire_obj_free(struct wire_obj *o);

/* One line of chat-send --json: an object with a string "text" (at most
 * WIRE_TEXT_MAX bytes, no NUL) and maybe a valid "uid". 0 and *json (the
 * caller drops it; text and uid, NULL when absent, borrow from it), or
 * -1 and *why. */
int wire_input_json(const char *line, size_t len, json_t **json,
    const char **text, size_t *textlen, const char **uid, const char **why);

#endif
