/* log: JSON-lines diagnostics on stderr, one object per event. */
#ifndef CHAT_LOG_H
#define CHAT_LOG_H

#include <jansson.h>

/* Writes {"ts","level","event",...fields} as one line with one write(2),
 * so lines from many threads never interleave. Takes fields (may be NULL). */
void log_event(const char *level, const char *event, json_t *fields);

#endif
