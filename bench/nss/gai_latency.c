/* getaddrinfo latency: gai_latency NAME COUNT MAX_SECONDS [MODULE]
 *
 * Calls getaddrinfo(NAME, NULL, {AF_UNSPEC, SOCK_STREAM}) COUNT times (after
 * 20 warm-up calls, or fewer when they are slow), at most MAX_SECONDS in
 * all, and prints one JSON line: calls, answers, p50/p99/max in microseconds
 * and the first answer's addresses (link-local with %scope).
 *
 * With MODULE (a libnss_linkname.so.2), it times the module's own
 * _nss_linkname_gethostbyname4_r instead: the module's share of a lookup,
 * without glibc's work around it (nsswitch, "files", RFC 6724 sorting).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <nss.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void describe(const struct addrinfo *ai, char *out, size_t len) {
  size_t used = 0;
  out[0] = '\0';
  for (; ai != NULL && used + 64 < len; ai = ai->ai_next) {
    char text[INET6_ADDRSTRLEN] = "?";
    if (ai->ai_family == AF_INET6) {
      const struct sockaddr_in6 *s = (const void *)ai->ai_addr;
      inet_ntop(AF_INET6, &s->sin6_addr, text, sizeof text);
      used += (size_t)snprintf(out + used, len - used, "%s\"%s", used ? "," : "", text);
      if (s->sin6_scope_id)
        used += (size_t)snprintf(out + used, len - used, "%%%u", s->sin6_scope_id);
      used += (size_t)snprintf(out + used, len - used, "\"");
    } else if (ai->ai_family == AF_INET) {
      const struct sockaddr_in *s = (const void *)ai->ai_addr;
      inet_ntop(AF_INET, &s->sin_addr, text, sizeof text);
      used += (size_t)snprintf(out + used, len - used, "%s\"%s\"", used ? "," : "", text);
    }
  }
}

typedef enum nss_status (*by4_fn)(const char *, struct gaih_addrtuple **,
                                  char *, size_t, int *, int *, int32_t *);
static by4_fn by4;

/* getaddrinfo, or the module's gethostbyname4_r: 0 when found */
static int lookup(const char *name, const struct addrinfo *hints,
                  struct addrinfo **res) {
  char buf[4096];
  struct gaih_addrtuple *pat = NULL;
  int err, herr;
  int32_t ttl;
  if (by4 == NULL)
    return getaddrinfo(name, NULL, hints, res);
  *res = NULL;
  return by4(name, &pat, buf, sizeof buf, &err, &herr, &ttl) ==
                 NSS_STATUS_SUCCESS
             ? 0
             : -1;
}

int main(int argc, char **argv) {
  struct addrinfo hints, *res;
  double *t, start, limit;
  long count, done = 0, found = 0;
  char first[2048] = "";
  int have_first = 0;
  if (argc != 4 && argc != 5) {
    fprintf(stderr, "usage: gai_latency NAME COUNT MAX_SECONDS [MODULE]\n");
    return 2;
  }
  if (argc == 5) {
    void *lib = dlopen(argv[4], RTLD_NOW);
    if (lib == NULL || (*(void **)&by4 = dlsym(lib, "_nss_linkname_gethostbyname4_r")) == NULL) {
      fprintf(stderr, "%s\n", dlerror());
      return 2;
    }
  }
  count = atol(argv[2]);
  limit = atof(argv[3]) * 1e6;
  t = calloc((size_t)count, sizeof *t);
  if (t == NULL)
    return 2;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  start = now_us();
  for (int i = 0; i < 20 && now_us() - start < limit / 10; i++)
    if (lookup(argv[1], &hints, &res) == 0 && res != NULL)
      freeaddrinfo(res);
  start = now_us();
  while (done < count && (done < 3 || now_us() - start < limit)) {
    double t0 = now_us();
    int r = lookup(argv[1], &hints, &res);
    t[done++] = now_us() - t0;
    if (r == 0) {
      found++;
      if (res == NULL)
        continue;
      if (!have_first) {
        describe(res, first, sizeof first);
        have_first = 1;
      }
      freeaddrinfo(res);
    }
  }
  qsort(t, (size_t)done, sizeof *t, cmp);
  printf("{\"name\":\"%s\",\"calls\":%ld,\"answers\":%ld,\"p50_us\":%.2f,"
         "\"p99_us\":%.2f,\"max_us\":%.2f,\"addresses\":[%s]}\n",
         argv[1], done, found, t[done / 2],
         t[(size_t)((double)(done - 1) * 0.99)], t[done - 1], first);
  free(t);
  return 0;
}
