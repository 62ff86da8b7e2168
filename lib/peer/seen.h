/* seen: what a listener has printed, kept under CHAT_HOME so that it
 * prints no message twice, also across restarts: the file "seen" (the uids
 * printed, one a line, appended with one write per batch) and the file
 * "cursor" (the id of the newest inbox message caught up with). */
#ifndef CHAT_SEEN_H
#define CHAT_SEEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The uids remembered, at most; past it the file is rewritten with the
 * newest SEEN_KEEP. */
#define SEEN_MAX 131072
#define SEEN_KEEP (SEEN_MAX / 2)

struct seen;

/* Opens (creating it and its parents, mode 0700) the folder dir and loads
 * what it holds. NULL with err set when it cannot. */
struct seen *seen_open(const char *dir, char *err, size_t errlen);
void seen_close(struct seen *s);
bool seen_has(const struct seen *s, const char *uid);
/* Remembers uid and stages it for the next seen_commit; false when it was
 * remembered already (nothing staged) or memory ran out. */
bool seen_add(struct seen *s, const char *uid);
/* Appends the staged uids to the file with one write. -1 with err set on
 * an I/O error. */
int seen_commit(struct seen *s, char *err, size_t errlen);
/* How many uids are remembered. */
size_t seen_count(const struct seen *s);
int64_t seen_cursor(const struct seen *s);
/* Saves the cursor (write to a temporary file, then rename). */
int seen_set_cursor(struct seen *s, int64_t id, char *err, size_t errlen);

#endif
