/* libnss_linkname.so.2: host names of the local link from linkname's table.
 *
 * The daemon (`linkname announce`) keeps /run/linkname/hosts up to date,
 * replacing it atomically (docs/PROTOCOL.md, section 9.8). Each lookup reads
 * the whole file into a private buffer, so a concurrent rename is harmless;
 * no locks, no sockets, no network, no global mutable state.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <nss.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lnk_table.h"
#include "nss_linkname.h"

#ifndef LINKNAME_HOSTS_FILE
#define LINKNAME_HOSTS_FILE "/run/linkname/hosts"
#endif

struct file {
  char *data;
  size_t len;
};

static const char *hosts_path(void) {
#ifdef LNK_TESTING /* test builds only: never in the installed module */
  const char *path = getenv("LINKNAME_TEST_HOSTS_FILE");
  if (path != NULL && *path != '\0')
    return path;
#endif
  return LINKNAME_HOSTS_FILE;
}

/* Read the whole table file; 0, or -1 when absent, not a regular file, too
 * large, shorter than fstat said or out of memory. (The writer replaces the
 * file, never changes it in place: the size stays what fstat saw.) */
static int read_file(struct file *f) {
  struct stat st;
  size_t want, got = 0;
  char *buf;
  int fd = open(hosts_path(),
                O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  if (fd < 0)
    return -1;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
      st.st_size > (off_t)LNK_MAX_FILE) {
    close(fd);
    return -1;
  }
  want = (size_t)st.st_size;
  buf = malloc(want);
  if (buf == NULL) {
    close(fd);
    return -1;
  }
  while (got < want) {
    ssize_t n = read(fd, buf + got, want - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    got += (size_t)n;
  }
  close(fd);
  if (got != want) {
    free(buf);
    return -1;
  }
  f->data = buf;
  f->len = got;
  return 0;
}

static enum nss_status status(enum nss_status s, int err, int herr,
                              int *errnop, int *h_errnop) {
  *errnop = err;
  *h_errnop = herr;
  return s;
}

#define NOTFOUND(e, h) status(NSS_STATUS_NOTFOUND, ENOENT, HOST_NOT_FOUND, e, h)
#define UNAVAIL(e, h) status(NSS_STATUS_UNAVAIL, ENOENT, NO_RECOVERY, e, h)
/* glibc retries with a larger buffer on exactly this (and only this) */
#define TOO_SMALL(e, h) status(NSS_STATUS_TRYAGAIN, ERANGE, NETDB_INTERNAL, e, h)

/* Indices of host's addresses of family af (AF_UNSPEC: all) in answer
 * order: global and unique-local IPv6, IPv4, link-local IPv6. */
static size_t order(const struct lnk_host *h, int af, size_t out[]) {
  size_t n = 0;
  for (int cls = LNK_CLASS_GLOBAL; cls <= LNK_CLASS_LINK_LOCAL; cls++)
    for (size_t i = 0; i < h->naddr; i++)
      if ((int)h->addr[i].cls == cls &&
          (af == AF_UNSPEC || h->addr[i].family == af))
        out[n++] = i;
  return n;
}

static int32_t ttl_of(const struct lnk_host *h, time_t now) {
  int64_t left = h->expiry - (int64_t)now;
  return left > INT32_MAX ? INT32_MAX : (int32_t)(left < 0 ? 0 : left);
}

/* Bytes to add to offset off of buffer to reach the next multiple of align
 * (a power of two); integer arithmetic, no pointer past the buffer. */
static size_t pad(const char *buffer, size_t off, size_t align) {
  return (size_t)(-((uintptr_t)buffer + off) & (align - 1));
}

/* A hostent with one name, no aliases and n addresses of family af. */
static enum nss_status fill_hostent(const char *name, size_t name_len, int af,
                                    const uint8_t *const addrs[], size_t n,
                                    struct hostent *result, char *buffer,
                                    size_t buflen, int *errnop, int *h_errnop,
                                    char **canonp) {
  size_t alen = af == AF_INET6 ? 16 : 4;
  size_t off = name_len + 1, need;
  char **aliases, **list;
  char *data;
  off += pad(buffer, off, sizeof(char *));
  need = off + (n + 2) * sizeof(char *) + n * alen;
  if (buflen < need)
    return TOO_SMALL(errnop, h_errnop);
  memcpy(buffer, name, name_len);
  buffer[name_len] = '\0';
  aliases = (char **)(void *)(buffer + off);
  list = aliases + 1;
  data = (char *)(list + n + 1);
  aliases[0] = NULL;
  for (size_t i = 0; i < n; i++) {
    memcpy(data + i * alen, addrs[i], alen);
    list[i] = data + i * alen;
  }
  list[n] = NULL;
  result->h_name = buffer;
  result->h_aliases = aliases;
  result->h_addrtype = af;
  result->h_length = (int)alen;
  result->h_addr_list = list;
  if (canonp != NULL)
    *canonp = buffer;
  *errnop = 0;
  *h_errnop = 0;
  return NSS_STATUS_SUCCESS;
}

/* Look name up in the table file: LNK_FOUND (then the caller frees
 * f->data), LNK_NOTFOUND or LNK_INVALID (no usable file). */
static int find_name(const char *name, struct file *f, struct lnk_host *h,
                     time_t now) {
  char key[LNK_MAX_KEY];
  int keylen = lnk_query_key(name, key), r;
  if (keylen < 0)
    return LNK_NOTFOUND;
  if (read_file(f) != 0)
    return LNK_INVALID;
  r = lnk_find_name(f->data, f->len, (int64_t)now, key, (size_t)keylen, h);
  if (r != LNK_FOUND)
    free(f->data);
  return r;
}

static int find_addr(int af, const void *addr, uint32_t scope, struct file *f,
                     struct lnk_host *h, time_t now) {
  int r;
  if (read_file(f) != 0)
    return LNK_INVALID;
  r = lnk_find_addr(f->data, f->len, (int64_t)now, af, addr, scope, h);
  if (r != LNK_FOUND)
    free(f->data);
  return r;
}

enum nss_status _nss_linkname_gethostbyname4_r(
    const char *name, struct gaih_addrtuple **pat, char *buffer,
    size_t buflen, int *errnop, int *h_errnop, int32_t *ttlp) {
  struct file f;
  struct lnk_host h;
  struct gaih_addrtuple *t;
  size_t idx[LNK_MAX_ADDRS], n, off, need;
  time_t now = time(NULL);
  int r = find_name(name, &f, &h, now);
  if (r == LNK_NOTFOUND)
    return NOTFOUND(errnop, h_errnop);
  if (r != LNK_FOUND)
    return UNAVAIL(errnop, h_errnop);
  n = order(&h, AF_UNSPEC, idx);
  off = h.name_len + 1;
  off += pad(buffer, off, _Alignof(struct gaih_addrtuple));
  need = off + n * sizeof(struct gaih_addrtuple);
  if (n == 0 || buflen < need) {
    free(f.data);
    return n == 0 ? NOTFOUND(errnop, h_errnop) : TOO_SMALL(errnop, h_errnop);
  }
  memcpy(buffer, h.name, h.name_len);
  buffer[h.name_len] = '\0';
  t = (struct gaih_addrtuple *)(void *)(buffer + off);
  for (size_t i = 0; i < n; i++) {
    const struct lnk_addr *a = &h.addr[idx[i]];
    memset(&t[i], 0, sizeof t[i]);
    t[i].next = i + 1 < n ? &t[i + 1] : NULL;
    t[i].name = buffer;
    t[i].family = a->family;
    memcpy(t[i].addr, a->addr, a->family == AF_INET6 ? 16 : 4);
    t[i].scopeid = a->scope;
  }
  if (ttlp != NULL)
    *ttlp = ttl_of(&h, now);
  free(f.data);
  if (*pat != NULL) /* nscd passes a first tuple of its own */
    **pat = t[0];
  else
    *pat = t;
  *errnop = 0;
  *h_errnop = 0;
  return NSS_STATUS_SUCCESS;
}

/* "fe80::1%eth0" or "fe80::1%2": the name of that link-local address. */
static enum nss_status by_scoped_literal(const char *name,
                                         struct hostent *result, char *buffer,
                                         size_t buflen, int *errnop,
                                         int *h_errnop, int32_t *ttlp,
                                         char **canonp) {
  char text[INET6_ADDRSTRLEN];
  uint8_t addr[16];
  const char *zone = strchr(name, '%') + 1;
  size_t alen = (size_t)(zone - 1 - name), zlen = strlen(zone);
  unsigned long scope = 0;
  struct file f;
  struct lnk_host h;
  const uint8_t *list[1] = {addr};
  enum nss_status s;
  time_t now = time(NULL);
  int r;
  if (alen >= sizeof text || zlen == 0 || zlen >= IF_NAMESIZE)
    return NOTFOUND(errnop, h_errnop);
  memcpy(text, name, alen);
  text[alen] = '\0';
  if (inet_pton(AF_INET6, text, addr) != 1 ||
      !(addr[0] == 0xfe && (addr[1] & 0xc0) == 0x80))
    return NOTFOUND(errnop, h_errnop);
  if (strspn(zone, "0123456789") == zlen) {
    char *end;
    scope = strtoul(zone, &end, 10);
    if (zlen > 10 || scope > UINT32_MAX)
      scope = 0;
  } else {
    scope = if_nametoindex(zone); /* an ioctl, no traffic */
  }
  if (scope == 0)
    return NOTFOUND(errnop, h_errnop);
  r = find_addr(AF_INET6, addr, (uint32_t)scope, &f, &h, now);
  if (r == LNK_NOTFOUND)
    return NOTFOUND(errnop, h_errnop);
  if (r != LNK_FOUND)
    return UNAVAIL(errnop, h_errnop);
  s = fill_hostent(h.name, h.name_len, AF_INET6, list, 1, result, buffer,
                   buflen, errnop, h_errnop, canonp);
  if (s == NSS_STATUS_SUCCESS && ttlp != NULL)
    *ttlp = ttl_of(&h, now);
  free(f.data);
  return s;
}

enum nss_status _nss_linkname_gethostbyname3_r(
    const char *name, int af, struct hostent *result, char *buffer,
    size_t buflen, int *errnop, int *h_errnop, int32_t *ttlp, char **canonp) {
  struct file f;
  struct lnk_host h;
  const uint8_t *addrs[LNK_MAX_ADDRS];
  size_t idx[LNK_MAX_ADDRS], n;
  enum nss_status s;
  time_t now;
  int r;
  if (af != AF_INET && af != AF_INET6)
    return status(NSS_STATUS_UNAVAIL, EAFNOSUPPORT, NO_RECOVERY, errnop,
                  h_errnop);
  if (af == AF_INET6 && strchr(name, '%') != NULL)
    return by_scoped_literal(name, result, buffer, buflen, errnop, h_errnop,
                             ttlp, canonp);
  now = time(NULL);
  r = find_name(name, &f, &h, now);
  if (r == LNK_NOTFOUND)
    return NOTFOUND(errnop, h_errnop);
  if (r != LNK_FOUND)
    return UNAVAIL(errnop, h_errnop);
  n = order(&h, af, idx);
  for (size_t i = 0; i < n; i++)
    addrs[i] = h.addr[idx[i]].addr;
  if (n == 0)
    s = status(NSS_STATUS_NOTFOUND, ENOENT, NO_DATA, errnop, h_errnop);
  else
    s = fill_hostent(h.name, h.name_len, af, addrs, n, result, buffer, buflen,
                     errnop, h_errnop, canonp);
  if (s == NSS_STATUS_SUCCESS && ttlp != NULL)
    *ttlp = ttl_of(&h, now);
  free(f.data);
  return s;
}

enum nss_status _nss_linkname_gethostbyname2_r(
    const char *name, int af, struct hostent *result, char *buffer,
    size_t buflen, int *errnop, int *h_errnop) {
  return _nss_linkname_gethostbyname3_r(name, af, result, buffer, buflen,
                                        errnop, h_errnop, NULL, NULL);
}

enum nss_status _nss_linkname_gethostbyname_r(const char *name,
                                                     struct hostent *result,
                                                     char *buffer,
                                                     size_t buflen,
                                                     int *errnop,
                                                     int *h_errnop) {
  return _nss_linkname_gethostbyname3_r(name, AF_INET, result, buffer, buflen,
                                        errnop, h_errnop, NULL, NULL);
}

enum nss_status _nss_linkname_gethostbyaddr2_r(
    const void *addr, socklen_t len, int af, struct hostent *result,
    char *buffer, size_t buflen, int *errnop, int *h_errnop, int32_t *ttlp) {
  struct file f;
  struct lnk_host h;
  const uint8_t *list[1] = {addr};
  enum nss_status s;
  time_t now = time(NULL);
  int r;
  if (!((af == AF_INET && len == 4) || (af == AF_INET6 && len == 16)))
    return status(NSS_STATUS_UNAVAIL, EINVAL, NO_RECOVERY, errnop, h_errnop);
  r = find_addr(af, addr, 0, &f, &h, now);
  if (r == LNK_NOTFOUND)
    return NOTFOUND(errnop, h_errnop);
  if (r != LNK_FOUND)
    return UNAVAIL(errnop, h_errnop);
  s = fill_hostent(h.name, h.name_len, af, list, 1, result, buffer, buflen,
                   errnop, h_errnop, NULL);
  if (s == NSS_STATUS_SUCCESS && ttlp != NULL)
    *ttlp = ttl_of(&h, now);
  free(f.data);
  return s;
}

enum nss_status _nss_linkname_gethostbyaddr_r(
    const void *addr, socklen_t len, int af, struct hostent *result,
    char *buffer, size_t buflen, int *errnop, int *h_errnop) {
  return _nss_linkname_gethostbyaddr2_r(addr, len, af, result, buffer, buflen,
                                        errnop, h_errnop, NULL);
}
