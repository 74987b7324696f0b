/* libFuzzer target: the table file parser (src/lnk_table.c).
 *
 * The input is a table file. Every entry point of the parser runs on it: the
 * whole-file validator, name lookups (of a fixed name and of the input's
 * first key), reverse lookups of the addresses it holds. Invariants: a
 * result points into the input and stays within its limits; in a file the
 * validator accepts, the first key answers and its addresses answer back.
 * (A name lookup parses only the records of its key, so in an invalid file
 * it may still answer; a reverse lookup parses every record.)
 */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lnk_table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_host(const struct lnk_host *h, const char *buf, size_t len) {
  if (h->name < buf || h->name_len == 0 || h->name_len > LNK_MAX_NAME ||
      h->name + h->name_len > buf + len || h->naddr == 0 ||
      h->naddr > LNK_MAX_ADDRS || h->expiry <= 0)
    abort();
  for (size_t i = 0; i < h->naddr; i++) {
    const struct lnk_addr *a = &h->addr[i];
    if ((a->family != AF_INET && a->family != AF_INET6) ||
        (a->cls == LNK_CLASS_LINK_LOCAL) != (a->scope != 0))
      abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* an exact-size copy: any read past the end is an ASan error */
  char *buf = malloc(size ? size : 1), key[LNK_MAX_KEY], query[LNK_MAX_KEY + 1];
  struct lnk_host h;
  long records;
  int keylen;
  memcpy(buf, data, size);
  records = lnk_validate(buf, size);
  keylen = lnk_query_key("kitchen-pi", key);
  if (lnk_find_name(buf, size, 0, key, (size_t)keylen, &h) == LNK_FOUND)
    check_host(&h, buf, size);
  if (lnk_find_name(buf, size, INT64_MAX, key, (size_t)keylen, &h) == LNK_FOUND)
    abort(); /* nothing outlives the end of time */
  /* the first record's key, as a query */
  if (size > 17) {
    const char *tab = memchr(buf + 17, '\t', size - 17);
    size_t n = tab ? (size_t)(tab - (buf + 17)) : 0;
    if (n > 0 && n <= LNK_MAX_KEY) {
      memcpy(query, buf + 17, n);
      query[n] = '\0';
      keylen = lnk_query_key(query, key);
      if (keylen > 0) {
        int r = lnk_find_name(buf, size, 0, key, (size_t)keylen, &h);
        if (r == LNK_FOUND) {
          check_host(&h, buf, size);
          for (size_t i = 0; i < h.naddr; i++) {
            struct lnk_host back;
            int rb = lnk_find_addr(buf, size, 0, h.addr[i].family,
                                   h.addr[i].addr, h.addr[i].scope, &back);
            if (records >= 0 && rb != LNK_FOUND)
              abort(); /* valid file: a found host's address is found back */
            if (rb == LNK_FOUND)
              check_host(&back, buf, size);
          }
        }
        if (records > 0 && strlen(query) == (size_t)keylen &&
            memcmp(query, key, (size_t)keylen) == 0 && r != LNK_FOUND)
          abort(); /* valid file, unexpired first record: it answers */
      }
    }
  }
  {
    uint8_t any[16] = {0xfe, 0x80};
    if (lnk_find_addr(buf, size, 0, AF_INET6, any, 0, &h) == LNK_FOUND)
      check_host(&h, buf, size);
  }
  free(buf);
  return 0;
}
