/* valid: the checks every program applies to names, addresses and ids. */
#ifndef CHAT_VALID_H
#define CHAT_VALID_H

#include <stdbool.h>
#include <stddef.h>

#define USERNAME_MAX 50
#define UID_MAX 64

/* 1 to 50 of [A-Za-z0-9._-], the first a letter or digit. */
bool valid_username(const char *s);
/* An IPv4 or IPv6 literal (no brackets, no zone). */
bool valid_ip(const char *s);
/* 1 to 64 of [A-Za-z0-9._:-]. */
bool valid_uid(const char *s);
/* Well-formed UTF-8 of exactly len bytes, no NUL. */
bool valid_utf8(const char *s, size_t len);

#endif
