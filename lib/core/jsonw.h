/* jsonw: JSON written straight into a growing buffer, for the lines that
 * are written once per message. Keys and numbers are copied; a string
 * that JSON writes as itself is copied between quotes; any other string
 * is escaped by jansson. No parsing here: jansson reads all JSON. */
#ifndef CHAT_JSONW_H
#define CHAT_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct jsonw {
	char *data;
	size_t len;
	size_t cap;
	bool failed;	/* out of memory, or a string jansson refused */
};

/* Room for n more bytes; false (and failed set) when there is none. */
bool jw_reserve(struct jsonw *w, size_t n);
/* Bytes that are JSON already: punctuation, keys, a whole object. */
void jw_raw(struct jsonw *w, const char *s, size_t n);
/* s must be a string literal (the "" makes anything else an error). */
#define jw_lit(w, s) jw_raw((w), "" s, sizeof("" s) - 1)
/* A string value; s must be UTF-8 (else failed is set). */
void jw_str(struct jsonw *w, const char *s, size_t n);
void jw_int(struct jsonw *w, int64_t v);
void jw_bool(struct jsonw *w, bool v);
/* A jansson value, compact; its text is made here, in w's buffer, not
 * in memory jansson allocates (see jarena.h). */
struct json_t;
void jw_json(struct jsonw *w, const struct json_t *o);
void jw_free(struct jsonw *w);

#endif
