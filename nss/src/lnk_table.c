/* The linkname table file parser (docs/PROTOCOL.md, section 9.8).
 *
 *   linkname-hosts 1\n
 *   KEY \t EXPIRY \t NAME \t ADDRESS[ ADDRESS...] \n     (0 or more)
 *   end COUNT\n
 *
 * Strict: anything else makes the whole file invalid.
 */
#define _GNU_SOURCE
#include "lnk_table.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

static const char HEADER[] = "linkname-hosts 1\n";
#define HEADER_LEN (sizeof HEADER - 1)
#define TRAILER "end "
#define TRAILER_LEN 4
#define ADDR_TEXT_MAX (INET6_ADDRSTRLEN + 11) /* "%" and 10 digits */

int lnk_query_key(const char *name, char *key) {
  size_t i;
  for (i = 0; name[i] != '\0'; i++) {
    unsigned char c = (unsigned char)name[i];
    if (i >= LNK_MAX_KEY || c < 0x20 || c == 0x7f || c == '.')
      return -1;
    key[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
  }
  return i == 0 ? -1 : (int)i;
}

/* A decimal number without sign or leading zero, 1 to 19 digits, at most
 * max. Returns 0 and sets *value, or -1. */
static int parse_decimal(const char *s, size_t len, uint64_t max,
                         uint64_t *value) {
  uint64_t v = 0;
  size_t i;
  if (len == 0 || len > 19 || (s[0] == '0' && len > 1))
    return -1;
  for (i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (uint64_t)(s[i] - '0'); /* 19 digits never overflow */
  }
  if (v > max)
    return -1;
  *value = v;
  return 0;
}

/* Valid UTF-8 (no overlongs, surrogates or code points above U+10FFFF)
 * without control characters (C0, DEL). */
static int text_ok(const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s, *end = p + len;
  while (p < end) {
    unsigned char c = *p;
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f)
        return 0;
      p++;
      continue;
    }
    if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      cp = c & 0x07;
    } else {
      return 0;
    }
    if ((size_t)(end - p) <= n)
      return 0;
    for (size_t i = 1; i <= n; i++) {
      if ((p[i] & 0xc0) != 0x80)
        return 0;
      cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
      return 0;
    p += n + 1;
  }
  return 1;
}

static int key_ok(const char *s, size_t len) {
  if (len == 0 || len > LNK_MAX_KEY || !text_ok(s, len))
    return 0;
  for (size_t i = 0; i < len; i++)
    if (s[i] == '.' || (s[i] >= 'A' && s[i] <= 'Z'))
      return 0;
  return 1;
}

static int parse_address(const char *s, size_t len, struct lnk_addr *out) {
  char text[ADDR_TEXT_MAX + 1], back[INET6_ADDRSTRLEN];
  const char *pct;
  size_t alen;
  if (len == 0 || len > ADDR_TEXT_MAX)
    return -1;
  memcpy(text, s, len);
  text[len] = '\0';
  pct = memchr(text, '%', len);
  alen = pct ? (size_t)(pct - text) : len;
  text[alen] = '\0';
  memset(out, 0, sizeof *out);
  if (inet_pton(AF_INET6, text, out->addr) == 1) {
    int ll = out->addr[0] == 0xfe && (out->addr[1] & 0xc0) == 0x80;
    out->family = AF_INET6;
    if (ll != (pct != NULL))
      return -1; /* link-local needs its scope, nothing else has one */
    if (ll) {
      uint64_t scope;
      if (parse_decimal(pct + 1, len - alen - 1, UINT32_MAX, &scope) != 0 ||
          scope == 0)
        return -1;
      out->scope = (uint32_t)scope;
      out->cls = LNK_CLASS_LINK_LOCAL;
    } else {
      out->cls = LNK_CLASS_GLOBAL;
    }
  } else if (pct == NULL && inet_pton(AF_INET, text, out->addr) == 1) {
    out->family = AF_INET;
    out->cls = LNK_CLASS_IPV4;
  } else {
    return -1;
  }
  /* canonical form only: one spelling per address */
  if (inet_ntop(out->family, out->addr, back, sizeof back) == NULL ||
      strcmp(back, text) != 0)
    return -1;
  return 0;
}

int lnk_parse_record(const char *line, size_t len, struct lnk_host *out) {
  const char *end = line + len, *f[4], *t;
  size_t flen[4];
  uint64_t expiry;
  int i;
  f[0] = line;
  for (i = 0; i < 3; i++) {
    t = memchr(f[i], '\t', (size_t)(end - f[i]));
    if (t == NULL)
      return LNK_INVALID;
    flen[i] = (size_t)(t - f[i]);
    f[i + 1] = t + 1;
  }
  flen[3] = (size_t)(end - f[3]);
  if (memchr(f[3], '\t', flen[3]) != NULL)
    return LNK_INVALID;
  if (!key_ok(f[0], flen[0]) ||
      parse_decimal(f[1], flen[1], INT64_MAX, &expiry) != 0 || expiry == 0 ||
      flen[2] == 0 || flen[2] > LNK_MAX_NAME || !text_ok(f[2], flen[2]))
    return LNK_INVALID;
  out->name = f[2];
  out->name_len = flen[2];
  out->expiry = (int64_t)expiry;
  out->naddr = 0;
  for (const char *a = f[3];;) {
    const char *sp = memchr(a, ' ', (size_t)(end - a));
    const char *aend = sp ? sp : end;
    if (out->naddr == LNK_MAX_ADDRS ||
        parse_address(a, (size_t)(aend - a), &out->addr[out->naddr]) != 0)
      return LNK_INVALID;
    out->naddr++;
    if (sp == NULL)
      break;
    a = sp + 1;
  }
  return LNK_FOUND;
}

/* Framing: size, header, no NUL, final newline, trailer "end COUNT". Sets
 * [*body, *body_end) to the record lines and *count. */
static int frame(const char *buf, size_t len, const char **body,
                 const char **body_end, uint64_t *count) {
  const char *last;
  if (len < HEADER_LEN + TRAILER_LEN + 2 || len > LNK_MAX_FILE ||
      memcmp(buf, HEADER, HEADER_LEN) != 0 || buf[len - 1] != '\n' ||
      memchr(buf, '\0', len) != NULL)
    return LNK_INVALID;
  /* the trailer starts after the last newline but one */
  last = memrchr(buf + HEADER_LEN - 1, '\n', len - HEADER_LEN);
  if (last == NULL)
    return LNK_INVALID;
  last++;
  if ((size_t)(buf + len - last) < TRAILER_LEN + 2 ||
      memcmp(last, TRAILER, TRAILER_LEN) != 0 ||
      parse_decimal(last + TRAILER_LEN,
                    (size_t)(buf + len - 1 - last - TRAILER_LEN), UINT32_MAX,
                    count) != 0)
    return LNK_INVALID;
  *body = buf + HEADER_LEN;
  *body_end = last;
  return LNK_FOUND;
}

enum scan_mode { BY_NAME, BY_ADDR, ALL };

struct query {
  enum scan_mode mode;
  int64_t now;
  const char *key;
  size_t keylen;
  int family;
  const uint8_t *addr;
  uint32_t scope;
};

static int has_addr(const struct lnk_host *h, const struct query *q) {
  size_t n = q->family == AF_INET6 ? 16 : 4;
  for (size_t i = 0; i < h->naddr; i++)
    if (h->addr[i].family == q->family && memcmp(h->addr[i].addr, q->addr, n) == 0 &&
        (q->scope == 0 || h->addr[i].scope == q->scope))
      return 1;
  return 0;
}

/* One pass over the records. Returns LNK_FOUND (result in *out),
 * LNK_NOTFOUND or LNK_INVALID; *records counts the lines (mode ALL). */
static int scan(const char *buf, size_t len, const struct query *q,
                struct lnk_host *out, uint64_t *records) {
  const char *p, *end;
  uint64_t count, seen = 0;
  int found = 0;
  struct lnk_host tmp;
  if (frame(buf, len, &p, &end, &count) != LNK_FOUND)
    return LNK_INVALID;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n;
    if (nl == NULL) /* cannot happen: end follows a newline */
      return LNK_INVALID;
    n = (size_t)(nl - p);
    if (n == 0 || ++seen > count)
      return LNK_INVALID;
    if (q->mode == BY_NAME) {
      if (!found && n > q->keylen && p[q->keylen] == '\t' &&
          memcmp(p, q->key, q->keylen) == 0) {
        if (lnk_parse_record(p, n, &tmp) != LNK_FOUND)
          return LNK_INVALID;
        if (tmp.expiry > q->now) {
          *out = tmp;
          found = 1;
        }
      }
    } else {
      if (lnk_parse_record(p, n, &tmp) != LNK_FOUND)
        return LNK_INVALID;
      if (q->mode == BY_ADDR && !found && tmp.expiry > q->now &&
          has_addr(&tmp, q)) {
        *out = tmp;
        found = 1;
      }
    }
    p = nl + 1;
  }
  if (seen != count)
    return LNK_INVALID;
  if (records != NULL)
    *records = seen;
  return found ? LNK_FOUND : LNK_NOTFOUND;
}

int lnk_find_name(const char *buf, size_t len, int64_t now, const char *key,
                  size_t keylen, struct lnk_host *out) {
  struct query q = {.mode = BY_NAME, .now = now, .key = key, .keylen = keylen};
  if (keylen == 0 || keylen > LNK_MAX_KEY)
    return LNK_NOTFOUND;
  return scan(buf, len, &q, out, NULL);
}

int lnk_find_addr(const char *buf, size_t len, int64_t now, int family,
                  const void *addr, uint32_t scope, struct lnk_host *out) {
  struct query q = {.mode = BY_ADDR, .now = now, .family = family,
                    .addr = addr, .scope = scope};
  if (family != AF_INET && family != AF_INET6)
    return LNK_NOTFOUND;
  return scan(buf, len, &q, out, NULL);
}

long lnk_validate(const char *buf, size_t len) {
  struct query q = {.mode = ALL};
  struct lnk_host tmp;
  uint64_t records = 0;
  if (scan(buf, len, &q, &tmp, &records) == LNK_INVALID)
    return -1;
  return (long)records;
}
