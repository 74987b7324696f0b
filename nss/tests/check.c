/* Tests of libnss_linkname (built into this program with LNK_TESTING, so the
 * table file comes from $LINKNAME_TEST_HOSTS_FILE). Usage: check TMPDIR
 *
 * Crafted files: valid, expired, truncated at every length, oversized, with
 * NUL bytes, without a final newline, hostile records, a FIFO, a symlink, a
 * directory; every buffer size for the ERANGE contract (results never past
 * buflen); lookups while another thread renames files over the path.
 * Exit status 0 when every check passed. Run under ASan/UBSan by `make asan`.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <nss.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lnk_table.h"
#include "nss_linkname.h"

static int failures, checks;
static int32_t last_ttl;
static char path[4096], tmpdir[3000];

#define CHECK(cond, ...)                                                       \
  do {                                                                         \
    checks++;                                                                  \
    if (!(cond)) {                                                             \
      failures++;                                                              \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);          \
      fprintf(stderr, __VA_ARGS__);                                            \
      fputc('\n', stderr);                                                     \
    }                                                                          \
  } while (0)

static void put_file(const char *at, const char *data, size_t len) {
  char tmp[4200];
  FILE *f;
  snprintf(tmp, sizeof tmp, "%s.tmp%lu", at, (unsigned long)pthread_self());
  f = fopen(tmp, "wb");
  if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
    perror(tmp);
    exit(2);
  }
  if (rename(tmp, at) != 0) {
    perror("rename");
    exit(2);
  }
}

static void put(const char *data) { put_file(path, data, strlen(data)); }

/* A table file with the given records (KEY\tEXPIRY\tNAME\tADDRS, no \n). */
static char *table(int n, ...) {
  va_list ap;
  size_t cap = 64, len;
  char *out, *p;
  va_start(ap, n);
  for (int i = 0; i < n; i++)
    cap += strlen(va_arg(ap, const char *)) + 1;
  va_end(ap);
  out = malloc(cap);
  if (out == NULL)
    exit(2);
  p = out + sprintf(out, "linkname-hosts 1\n");
  va_start(ap, n);
  for (int i = 0; i < n; i++)
    p += sprintf(p, "%s\n", va_arg(ap, const char *));
  va_end(ap);
  sprintf(p, "end %d\n", n);
  len = strlen(out);
  (void)len;
  return out;
}

static long future(void) { return (long)time(NULL) + 3600; }

/* gethostbyname4_r into a heap buffer of exactly buflen bytes. Returns the
 * status; *text gets "addr%scope addr ..." in answer order. */
static enum nss_status by4(const char *name, size_t buflen, char *text,
                           size_t textlen, int *err, int *herr) {
  char *buf = malloc(buflen ? buflen : 1);
  struct gaih_addrtuple *pat = NULL;
  int32_t ttl = -1;
  enum nss_status s;
  *err = 0;
  *herr = 0;
  s = _nss_linkname_gethostbyname4_r(name, &pat, buf, buflen, err, herr, &ttl);
  text[0] = '\0';
  if (s == NSS_STATUS_SUCCESS) {
    size_t used = 0;
    for (struct gaih_addrtuple *t = pat; t != NULL; t = t->next) {
      char a[INET6_ADDRSTRLEN];
      inet_ntop(t->family, t->addr, a, sizeof a);
      used += (size_t)snprintf(text + used, textlen - used, "%s%s", used ? " " : "", a);
      if (t->scopeid)
        used += (size_t)snprintf(text + used, textlen - used, "%%%u", t->scopeid);
      CHECK((char *)t >= buf && (char *)(t + 1) <= buf + buflen, "tuple outside buffer");
      CHECK(t->name == buf && strcmp(t->name, pat->name) == 0, "name %s", t->name);
    }
    CHECK(ttl > 0, "ttl %d", ttl);
    last_ttl = ttl;
  }
  free(buf);
  return s;
}

static void expect4(const char *name, const char *want) {
  char text[2048];
  int err, herr;
  enum nss_status s = by4(name, 4096, text, sizeof text, &err, &herr);
  CHECK(s == NSS_STATUS_SUCCESS && strcmp(text, want) == 0,
        "%s: status %d, got '%s', want '%s'", name, s, text, want);
  CHECK(last_ttl > 3500 && last_ttl <= 3600, "ttl %d", last_ttl);
}

static void expect4_status(const char *name, enum nss_status want) {
  char text[2048];
  int err, herr;
  enum nss_status s = by4(name, 4096, text, sizeof text, &err, &herr);
  CHECK(s == want, "%s: status %d, want %d (errno %d)", name, s, want, err);
  if (want == NSS_STATUS_NOTFOUND)
    CHECK(herr == HOST_NOT_FOUND, "%s: h_errno %d", name, herr);
}

static void hostent_text(const struct hostent *h, char *text, size_t len) {
  size_t used = (size_t)snprintf(text, len, "%s", h->h_name);
  for (char **a = h->h_addr_list; *a != NULL; a++) {
    char t[INET6_ADDRSTRLEN];
    inet_ntop(h->h_addrtype, *a, t, sizeof t);
    used += (size_t)snprintf(text + used, len - used, " %s", t);
  }
  CHECK(h->h_aliases != NULL && h->h_aliases[0] == NULL, "aliases");
}

static void expect3(const char *name, int af, const char *want) {
  char buf[4096], text[2048] = "";
  struct hostent h;
  char *canon = NULL;
  int32_t ttl;
  int err, herr;
  enum nss_status s = _nss_linkname_gethostbyname3_r(
      name, af, &h, buf, sizeof buf, &err, &herr, &ttl, &canon);
  if (s == NSS_STATUS_SUCCESS) {
    hostent_text(&h, text, sizeof text);
    CHECK(canon == h.h_name, "canonp");
    CHECK(h.h_length == (af == AF_INET6 ? 16 : 4), "h_length");
  }
  if (want == NULL)
    CHECK(s == NSS_STATUS_NOTFOUND, "%s/%d: status %d '%s'", name, af, s, text);
  else
    CHECK(s == NSS_STATUS_SUCCESS && strcmp(text, want) == 0,
          "%s/%d: status %d, got '%s', want '%s'", name, af, s, text, want);
}

static void expect_addr(int af, const char *addr_text, const char *want) {
  uint8_t addr[16];
  char buf[1024], text[512] = "";
  struct hostent h;
  int err, herr;
  enum nss_status s;
  inet_pton(af, addr_text, addr);
  s = _nss_linkname_gethostbyaddr_r(addr, af == AF_INET6 ? 16 : 4, af, &h, buf,
                                    sizeof buf, &err, &herr);
  if (s == NSS_STATUS_SUCCESS)
    hostent_text(&h, text, sizeof text);
  if (want == NULL)
    CHECK(s == NSS_STATUS_NOTFOUND, "%s: status %d '%s'", addr_text, s, text);
  else
    CHECK(s == NSS_STATUS_SUCCESS && strcmp(text, want) == 0,
          "%s: status %d, got '%s', want '%s'", addr_text, s, text, want);
}

static void test_lookups(void) {
  char r1[256], r2[256], r3[256], r4[256], *t;
  long exp = future();
  snprintf(r1, sizeof r1,
           "kitchen-pi\t%ld\tKitchen-Pi\tfe80::1%%3 2001:db8::1 192.0.2.7 fd00::7",
           exp);
  snprintf(r2, sizeof r2, "old\t%ld\told\tfe80::2%%3", (long)time(NULL) - 1);
  snprintf(r3, sizeof r3, "k\xc3\xbc" "che\t%ld\tK\xc3\xbc" "che\tfe80::3%%4", exp);
  snprintf(r4, sizeof r4, "living room\t%ld\tLiving Room\t198.51.100.1", exp);
  t = table(4, r1, r2, r3, r4);
  put(t);
  free(t);
  /* global and ULA first, then IPv4, link-local last (with its scope) */
  expect4("kitchen-pi", "2001:db8::1 fd00::7 192.0.2.7 fe80::1%3");
  expect4("KITCHEN-pi", "2001:db8::1 fd00::7 192.0.2.7 fe80::1%3");
  expect4("K\xc3\xbc" "CHE", "fe80::3%4");          /* ASCII folded, rest exact */
  expect4_status("K\xc3\x9c" "CHE", NSS_STATUS_NOTFOUND); /* no Unicode folding */
  expect4("living room", "198.51.100.1");
  expect4_status("kitchen-pi.local", NSS_STATUS_NOTFOUND);
  expect4_status("kitchen-pi.", NSS_STATUS_NOTFOUND);
  expect4_status("kitchen", NSS_STATUS_NOTFOUND);
  expect4_status("kitchen-pi2", NSS_STATUS_NOTFOUND);
  expect4_status("", NSS_STATUS_NOTFOUND);
  expect4_status("old", NSS_STATUS_NOTFOUND); /* expired */
  expect4_status("kitchen-pi\t1", NSS_STATUS_NOTFOUND);
  expect3("kitchen-pi", AF_INET6, "Kitchen-Pi 2001:db8::1 fd00::7 fe80::1");
  expect3("kitchen-pi", AF_INET, "Kitchen-Pi 192.0.2.7");
  expect3("k\xc3\xbc" "che", AF_INET, NULL); /* no IPv4: NOTFOUND (NO_DATA) */
  expect3("a.b", AF_INET6, NULL);
  expect3("fe80::1%3", AF_INET6, "Kitchen-Pi fe80::1"); /* scoped literal */
  expect3("fe80::1%4", AF_INET6, NULL);                 /* other link */
  expect3("fe80::2%3", AF_INET6, NULL);                 /* expired */
  expect3("fe80::1%", AF_INET6, NULL);
  expect3("fe80::1%99999999999", AF_INET6, NULL);
  expect3("2001:db8::1%3", AF_INET6, NULL); /* not link-local */
  expect3("fe80::1%lo", AF_INET6, NULL);    /* lo is index 1 */
  expect_addr(AF_INET6, "fe80::1", "Kitchen-Pi fe80::1");
  expect_addr(AF_INET6, "2001:db8::1", "Kitchen-Pi 2001:db8::1");
  expect_addr(AF_INET, "192.0.2.7", "Kitchen-Pi 192.0.2.7");
  expect_addr(AF_INET6, "fe80::2", NULL); /* expired */
  expect_addr(AF_INET6, "fe80::9", NULL);
  {
    struct hostent h;
    char buf[512];
    int err, herr;
    CHECK(_nss_linkname_gethostbyname_r("kitchen-pi", &h, buf, sizeof buf, &err,
                                        &herr) == NSS_STATUS_SUCCESS &&
              h.h_addrtype == AF_INET,
          "gethostbyname_r is AF_INET");
    CHECK(_nss_linkname_gethostbyname2_r("kitchen-pi", AF_UNIX, &h, buf,
                                         sizeof buf, &err, &herr) ==
              NSS_STATUS_UNAVAIL,
          "bad family");
    CHECK(_nss_linkname_gethostbyaddr2_r("abc", 3, AF_INET6, &h, buf,
                                         sizeof buf, &err, &herr, NULL) ==
              NSS_STATUS_UNAVAIL,
          "bad address length");
  }
  {
    /* nscd passes its own first tuple */
    struct gaih_addrtuple first, *pat = &first;
    char buf[1024];
    int err, herr;
    memset(&first, 0, sizeof first);
    CHECK(_nss_linkname_gethostbyname4_r("kitchen-pi", &pat, buf, sizeof buf,
                                         &err, &herr, NULL) ==
                  NSS_STATUS_SUCCESS &&
              pat == &first && first.family == AF_INET6 && first.next != NULL,
          "caller's first tuple filled");
  }
}

/* Every buffer size below what is needed: TRYAGAIN + ERANGE + NETDB_INTERNAL
 * and nothing written past buflen (ASan sees any overflow of the exact-size
 * heap buffer; the guard bytes catch it without ASan). */
static void test_erange(void) {
  char r1[256], *t;
  size_t need4 = 0, need3 = 0;
  snprintf(r1, sizeof r1,
           "a-rather-long-host-name-for-the-buffer\t%ld\tA-Rather-Long-Host-"
           "Name-For-The-Buffer\tfe80::1%%3 2001:db8::1 192.0.2.7",
           future());
  t = table(1, r1);
  put(t);
  free(t);
  for (size_t len = 0; len < 1024; len++) {
    char text[512];
    int err, herr;
    enum nss_status s =
        by4("a-rather-long-host-name-for-the-buffer", len, text, sizeof text, &err, &herr);
    if (s == NSS_STATUS_SUCCESS) {
      need4 = len;
      CHECK(strcmp(text, "2001:db8::1 192.0.2.7 fe80::1%3") == 0, "%s", text);
      break;
    }
    CHECK(s == NSS_STATUS_TRYAGAIN && err == ERANGE && herr == NETDB_INTERNAL,
          "len %zu: status %d errno %d h_errno %d", len, s, err, herr);
  }
  CHECK(need4 > 0, "gethostbyname4_r never succeeded");
  for (size_t len = 0; len < 1024; len++) {
    char *buf = malloc(len + 64);
    struct hostent h;
    int err, herr;
    enum nss_status s;
    memset(buf, 0xa5, len + 64);
    s = _nss_linkname_gethostbyname2_r("a-rather-long-host-name-for-the-buffer",
                                       AF_INET6, &h, buf, len, &err, &herr);
    for (size_t i = len; i < len + 64; i++)
      if ((unsigned char)buf[i] != 0xa5) {
        CHECK(0, "len %zu: byte %zu written past buflen", len, i);
        break;
      }
    free(buf);
    if (s == NSS_STATUS_SUCCESS) {
      need3 = len;
      break;
    }
    CHECK(s == NSS_STATUS_TRYAGAIN && err == ERANGE && herr == NETDB_INTERNAL,
          "len %zu: status %d errno %d h_errno %d", len, s, err, herr);
  }
  CHECK(need3 > 0, "gethostbyname2_r never succeeded");
  /* callers' buffers need not be aligned: results are, and stay inside */
  for (size_t off = 0; off < 16; off++) {
    char *raw = malloc(need4 + 64), *buf = raw + off;
    struct gaih_addrtuple *pat = NULL;
    struct hostent h;
    int err, herr;
    size_t len = need4 + 16 - off; /* shrinks with the offset */
    enum nss_status s = _nss_linkname_gethostbyname4_r(
        "a-rather-long-host-name-for-the-buffer", &pat, buf, len, &err, &herr, NULL);
    CHECK(s == NSS_STATUS_SUCCESS || (s == NSS_STATUS_TRYAGAIN && err == ERANGE),
          "offset %zu: %d", off, s);
    if (s == NSS_STATUS_SUCCESS)
      for (struct gaih_addrtuple *tu = pat; tu != NULL; tu = tu->next)
        CHECK((uintptr_t)tu % _Alignof(struct gaih_addrtuple) == 0 &&
                  (char *)(tu + 1) <= buf + len,
              "offset %zu: tuple misaligned or outside", off);
    s = _nss_linkname_gethostbyname2_r("a-rather-long-host-name-for-the-buffer",
                                       AF_INET6, &h, buf, len, &err, &herr);
    CHECK(s == NSS_STATUS_SUCCESS, "offset %zu: hostent %d", off, s);
    if (s == NSS_STATUS_SUCCESS)
      CHECK((uintptr_t)h.h_aliases % _Alignof(char *) == 0 &&
                (uintptr_t)h.h_addr_list % _Alignof(char *) == 0,
            "offset %zu: hostent arrays misaligned", off);
    free(raw);
  }
  for (size_t len = 0; len < 256; len++) {
    uint8_t addr[16];
    char *buf = malloc(len ? len : 1);
    struct hostent h;
    int err, herr;
    enum nss_status s;
    inet_pton(AF_INET6, "fe80::1", addr);
    s = _nss_linkname_gethostbyaddr_r(addr, 16, AF_INET6, &h, buf, len, &err, &herr);
    free(buf);
    if (s == NSS_STATUS_SUCCESS)
      break;
    CHECK(s == NSS_STATUS_TRYAGAIN && err == ERANGE, "addr len %zu: %d", len, s);
  }
}

/* Files that must be refused as a whole: every lookup says UNAVAIL. */
static void refused(const char *what, const char *data, size_t len) {
  char text[512];
  int err, herr;
  enum nss_status s;
  put_file(path, data, len);
  s = by4("kitchen-pi", 4096, text, sizeof text, &err, &herr);
  /* A record whose key is not the query's is not parsed by a name lookup
   * (section 9.8: readers validate the records they use), so a bad key
   * elsewhere gives NOTFOUND; a reverse lookup parses them all. */
  if (s == NSS_STATUS_NOTFOUND && strncmp(data + 17, "kitchen-pi\t", 11) != 0) {
    uint8_t a[16];
    struct hostent h;
    char buf[512];
    inet_pton(AF_INET6, "fe80::1", a);
    s = _nss_linkname_gethostbyaddr_r(a, 16, AF_INET6, &h, buf, sizeof buf, &err,
                                      &herr);
  }
  CHECK(s == NSS_STATUS_UNAVAIL, "%s: status %d '%s'", what, s, text);
  CHECK(lnk_validate(data, len) == -1 || len > LNK_MAX_FILE, "%s: validates", what);
}

static void test_hostile(void) {
  char good[512], rec[256], *t, *big;
  long exp = future();
  size_t len;
  snprintf(rec, sizeof rec, "kitchen-pi\t%ld\tkitchen-pi\tfe80::1%%3 192.0.2.7", exp);
  t = table(1, rec);
  snprintf(good, sizeof good, "%s", t);
  free(t);
  len = strlen(good);
  CHECK(lnk_validate(good, len) == 1, "good file");
  for (size_t cut = 0; cut < len; cut++) /* truncated at every length */
    refused("truncated", good, cut);
  {
    char nul[512];
    memcpy(nul, good, len);
    nul[20] = '\0';
    refused("NUL byte", nul, len);
  }
  refused("no final newline", good, len - 1);
  big = malloc(LNK_MAX_FILE + 2);
  memset(big, 'x', LNK_MAX_FILE + 1);
  memcpy(big, good, len - 6);
  memcpy(big + LNK_MAX_FILE + 1 - 6, "end 1\n", 6);
  refused("oversized", big, LNK_MAX_FILE + 1);
  free(big);
  {
    /* hostile records, each alone in an otherwise valid file */
    static const char *const bad[] = {
        "kitchen-pi\t%ld\tkitchen-pi\tfe80::1",             /* no scope */
        "kitchen-pi\t%ld\tkitchen-pi\tfe80::1%%0",          /* scope 0 */
        "kitchen-pi\t%ld\tkitchen-pi\tfe80::1%%03",         /* leading zero */
        "kitchen-pi\t%ld\tkitchen-pi\tfe80::1%%4294967296", /* > 32 bits */
        "kitchen-pi\t%ld\tkitchen-pi\tfe80::1%%eth0",       /* names: no */
        "kitchen-pi\t%ld\tkitchen-pi\t2001:db8::1%%3",      /* scope on global */
        "kitchen-pi\t%ld\tkitchen-pi\t192.0.2.7%%3",
        "kitchen-pi\t%ld\tkitchen-pi\tFE80::1%%3",          /* not canonical */
        "kitchen-pi\t%ld\tkitchen-pi\t2001:0db8::1",
        "kitchen-pi\t%ld\tkitchen-pi\t192.000.2.7",
        "kitchen-pi\t%ld\tkitchen-pi\t",                    /* no address */
        "kitchen-pi\t%ld\tkitchen-pi\tfe80::1%%3 ",         /* trailing space */
        "kitchen-pi\t%ld\tkitchen-pi\tfe80::1%%3  192.0.2.7",
        "kitchen-pi\t%ld\tkitchen-pi\tfe80::1%%3\t192.0.2.7", /* 5 fields */
        "kitchen-pi\t%ld\tkitchen-pi",                      /* 3 fields */
        "kitchen-pi\t%ld\t\tfe80::1%%3",                    /* empty name */
        "Kitchen-pi\t%ld\tkitchen-pi\tfe80::1%%3",          /* key not folded */
        "kitchen.pi\t%ld\tkitchen-pi\tfe80::1%%3",          /* dot in key */
        "kitchen-pi\t%ld\tkitchen\x01pi\tfe80::1%%3",       /* control */
        "kitchen-pi\t%ld\tkitchen\xc3pi\tfe80::1%%3",       /* bad UTF-8 */
        "kitchen-pi\t%ld\tkitchen\xed\xa0\x80pi\tfe80::1%%3", /* surrogate */
        "kitchen-pi\t%ld\tkitchen\xc0\xafpi\tfe80::1%%3",   /* overlong */
        "kitchen-pi\t%ld\tkitchen-pi-kitchen-pi-kitchen-pi-kitchen-pi-kitchen-pi-kitchen-pi-x\tfe80::1%%3",
        "kitchen-pi\t0%ld\tkitchen-pi\tfe80::1%%3",         /* leading zero */
        "kitchen-pi\t-%ld\tkitchen-pi\tfe80::1%%3",
        "kitchen-pi\t%ld9999999999\tkitchen-pi\tfe80::1%%3", /* > int64 */
        "kitchen-pi\t%ld \tkitchen-pi\tfe80::1%%3",
        "kitchen-pi\t%ld\tkitchen-pi\tfe80::1%%3 fe80::2%%3 fe80::3%%3 fe80::4%%3 "
        "fe80::5%%3 fe80::6%%3 fe80::7%%3 fe80::8%%3 fe80::9%%3 fe80::a%%3 "
        "fe80::b%%3 fe80::c%%3 fe80::d%%3 fe80::e%%3 fe80::f%%3 fe80::10%%3 "
        "fe80::11%%3", /* 17 addresses */
        "kitchen-pi\t%ld\tkitchen-pi\tfe80::1%%3333333333333333333333333333333333333333333333333333",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      char line[1024];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
      snprintf(line, sizeof line, bad[i], exp); /* fixed table above */
#pragma GCC diagnostic pop
      t = table(1, line);
      refused(bad[i], t, strlen(t));
      free(t);
    }
  }
  {
    static const char *const framing[] = {
        "linkname-hosts 2\nend 0\n",
        "linkname-hosts 1\nend 1\n",
        "linkname-hosts 1\nend 00\n",
        "linkname-hosts 1\nend -0\n",
        "linkname-hosts 1\nend\n",
        "linkname-hosts 1\n\nend 0\n",
        "linkname-hosts 1\nend 0\n\n",
        "linkname-hosts 1\nend 0\nend 0\n",
        "linkname-hosts 1\r\nend 0\n",
        "linkname-hosts 1\nend 99999999999999999999\n",
        "\n",
    };
    for (size_t i = 0; i < sizeof framing / sizeof framing[0]; i++)
      refused(framing[i], framing[i], strlen(framing[i]));
    CHECK(lnk_validate("linkname-hosts 1\nend 0\n", 23) == 0, "empty table valid");
  }
  {
    /* not a regular file, a symlink, no file: UNAVAIL, and never blocks */
    char target[4200], text[64];
    int err, herr;
    unlink(path);
    CHECK(by4("kitchen-pi", 4096, text, sizeof text, &err, &herr) ==
              NSS_STATUS_UNAVAIL,
          "missing file");
    CHECK(mkfifo(path, 0600) == 0, "mkfifo");
    CHECK(by4("kitchen-pi", 4096, text, sizeof text, &err, &herr) ==
              NSS_STATUS_UNAVAIL,
          "FIFO");
    unlink(path);
    CHECK(mkdir(path, 0700) == 0, "mkdir");
    CHECK(by4("kitchen-pi", 4096, text, sizeof text, &err, &herr) ==
              NSS_STATUS_UNAVAIL,
          "directory");
    rmdir(path);
    snprintf(target, sizeof target, "%s/target", tmpdir);
    put_file(target, good, len);
    CHECK(symlink(target, path) == 0, "symlink");
    CHECK(by4("kitchen-pi", 4096, text, sizeof text, &err, &herr) ==
              NSS_STATUS_UNAVAIL,
          "symlink");
    unlink(path);
    unlink(target);
  }
  {
    /* every single-byte change of a valid file: any answer, no crash; a
     * changed file is either refused or still answers from valid records */
    char mutated[512];
    static const char values[] = {'\0', '\n', '\t', ' ', '%', '.', '0', '9',
                                  'A', (char)0x80, (char)0xff, ':'};
    for (size_t i = 0; i < len; i++)
      for (size_t v = 0; v < sizeof values; v++) {
        char text[512];
        int err, herr;
        memcpy(mutated, good, len);
        mutated[i] = values[v];
        put_file(path, mutated, len);
        (void)by4("kitchen-pi", 4096, text, sizeof text, &err, &herr);
        (void)lnk_validate(mutated, len);
      }
  }
}

/* Readers look up while a writer renames two different tables over the path
 * (at least 2,000 times, and at least 20,000 lookups per reader): every
 * answer is complete and is one of the two tables. */
#define MIN_RENAMES 2000
#define MIN_LOOKUPS 20000
static int stop_readers, renames;
static char file_a[512], file_b[512];

static void *writer(void *arg) {
  long n = 0;
  (void)arg;
  while (!__atomic_load_n(&stop_readers, __ATOMIC_ACQUIRE)) {
    put(n++ % 2 ? file_a : file_b);
    __atomic_store_n(&renames, (int)(n > INT32_MAX ? INT32_MAX : n), __ATOMIC_RELEASE);
  }
  return (void *)n;
}

struct tally {
  long lookups, bad;
};

static void *reader(void *arg) {
  struct tally *tally = arg;
  while (tally->lookups < MIN_LOOKUPS ||
         !__atomic_load_n(&stop_readers, __ATOMIC_ACQUIRE)) {
    char text[512];
    int err, herr;
    enum nss_status s = by4("kitchen-pi", 4096, text, sizeof text, &err, &herr);
    if (s != NSS_STATUS_SUCCESS ||
        (strcmp(text, "192.0.2.1 fe80::1%3") != 0 &&
         strcmp(text, "2001:db8::2 192.0.2.2 fe80::2%4") != 0))
      tally->bad++;
    tally->lookups++;
  }
  return NULL;
}

static void test_concurrent_rename(void) {
  char r[256], *t;
  pthread_t w, rd[4];
  struct tally tally[4];
  void *ret;
  long bad = 0, lookups = 0, writes;
  time_t deadline = time(NULL) + 60;
  snprintf(r, sizeof r, "kitchen-pi\t%ld\tkitchen-pi\tfe80::1%%3 192.0.2.1", future());
  t = table(1, r);
  snprintf(file_a, sizeof file_a, "%s", t);
  free(t);
  snprintf(r, sizeof r, "kitchen-pi\t%ld\tkitchen-pi\tfe80::2%%4 192.0.2.2 2001:db8::2",
           future());
  t = table(1, r);
  snprintf(file_b, sizeof file_b, "%s", t);
  free(t);
  put(file_a);
  memset(tally, 0, sizeof tally);
  pthread_create(&w, NULL, writer, NULL);
  for (int i = 0; i < 4; i++)
    pthread_create(&rd[i], NULL, reader, &tally[i]);
  while (__atomic_load_n(&renames, __ATOMIC_ACQUIRE) < MIN_RENAMES && time(NULL) < deadline)
    usleep(1000);
  __atomic_store_n(&stop_readers, 1, __ATOMIC_RELEASE);
  for (int i = 0; i < 4; i++) {
    pthread_join(rd[i], NULL);
    bad += tally[i].bad;
    lookups += tally[i].lookups;
  }
  pthread_join(w, &ret);
  writes = (long)ret;
  CHECK(bad == 0, "%ld of %ld lookups wrong during renames", bad, lookups);
  CHECK(writes >= MIN_RENAMES, "only %ld renames in 60 s", writes);
  printf("concurrent: %ld lookups, %ld renames, %ld wrong\n", lookups, writes, bad);
}

static void test_many(void) {
  /* 1,000 records: the last one is found, an unknown name is not */
  size_t cap = 1000 * 80 + 64, used;
  char *buf = malloc(cap);
  long exp = future();
  used = (size_t)sprintf(buf, "linkname-hosts 1\n");
  for (int i = 0; i < 1000; i++)
    used += (size_t)sprintf(buf + used, "host-%d\t%ld\tHost-%d\tfe80::%x%%2 10.0.%d.%d\n", i,
                            exp, i, i + 1, i / 256, i % 256);
  used += (size_t)sprintf(buf + used, "end 1000\n");
  put_file(path, buf, used);
  CHECK(lnk_validate(buf, used) == 1000, "1000 records");
  free(buf);
  expect4("host-999", "10.0.3.231 fe80::3e8%2");
  expect4("HOST-0", "10.0.0.0 fe80::1%2");
  expect4_status("host-1000", NSS_STATUS_NOTFOUND);
  expect_addr(AF_INET, "10.0.3.231", "Host-999 10.0.3.231");
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: check TMPDIR\n");
    return 2;
  }
  snprintf(tmpdir, sizeof tmpdir, "%s", argv[1]);
  mkdir(tmpdir, 0700);
  snprintf(path, sizeof path, "%s/hosts", tmpdir);
  setenv("LINKNAME_TEST_HOSTS_FILE", path, 1);
  test_lookups();
  test_erange();
  test_hostile();
  test_many();
  test_concurrent_rename();
  unlink(path);
  printf("%d checks, %d failed\n", checks, failures);
  return failures ? 1 : 0;
}
