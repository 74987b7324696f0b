/* The linkname table file (docs/PROTOCOL.md, section 9.8): a sans-I/O parser.
 *
 * Every function works on a caller's buffer and allocates nothing; the
 * results point into that buffer. No global state: safe in any thread.
 */
#ifndef LNK_TABLE_H
#define LNK_TABLE_H

#include <stddef.h>
#include <stdint.h>

#define LNK_MAX_FILE (1u << 20) /* bytes */
#define LNK_MAX_KEY 255         /* bytes */
#define LNK_MAX_NAME 63         /* bytes */
#define LNK_MAX_ADDRS 16

enum lnk_status {
  LNK_FOUND = 0,
  LNK_NOTFOUND = 1,
  LNK_INVALID = -1 /* the whole file is refused */
};

enum lnk_class { /* address order for AF_UNSPEC answers */
  LNK_CLASS_GLOBAL = 0, /* IPv6 global and unique-local */
  LNK_CLASS_IPV4 = 1,
  LNK_CLASS_LINK_LOCAL = 2 /* IPv6 fe80::/10, always with a scope */
};

struct lnk_addr {
  int family; /* AF_INET6 or AF_INET */
  uint8_t addr[16];
  uint32_t scope; /* interface index for link-local, else 0 */
  enum lnk_class cls;
};

struct lnk_host {
  const char *name; /* the announced name: not NUL-terminated */
  size_t name_len;
  int64_t expiry; /* Unix seconds */
  size_t naddr;
  struct lnk_addr addr[LNK_MAX_ADDRS];
};

/* The lookup key of a query: ASCII letters in lower case, other bytes kept.
 * Returns its length, or -1 when the query can never match (empty, longer
 * than LNK_MAX_KEY, a "." or a control byte). key needs LNK_MAX_KEY bytes. */
int lnk_query_key(const char *name, char *key);

/* Parse one record line (without its newline); LNK_FOUND or LNK_INVALID. */
int lnk_parse_record(const char *line, size_t len, struct lnk_host *out);

/* The first unexpired record (expiry > now) whose key equals key[0..keylen).
 * Checks the whole file's framing (size, header, NUL bytes, trailer,
 * count) and fully parses the records whose key matches. */
int lnk_find_name(const char *buf, size_t len, int64_t now, const char *key,
                  size_t keylen, struct lnk_host *out);

/* The first unexpired record holding the address (family AF_INET or
 * AF_INET6, 4 or 16 bytes); scope 0 matches any scope. Parses every record,
 * so it also validates the whole file. */
int lnk_find_addr(const char *buf, size_t len, int64_t now, int family,
                  const void *addr, uint32_t scope, struct lnk_host *out);

/* Validate every record of the file; the number of records or -1. */
long lnk_validate(const char *buf, size_t len);

#endif
