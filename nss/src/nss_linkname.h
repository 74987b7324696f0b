/* The entry points of libnss_linkname.so.2 (glibc's NSS "hosts" interface). */
#ifndef NSS_LINKNAME_H
#define NSS_LINKNAME_H

#include <netdb.h>
#include <nss.h>
#include <stdint.h>
#include <sys/socket.h>

#define LNK_EXPORT __attribute__((visibility("default")))

LNK_EXPORT enum nss_status _nss_linkname_gethostbyname4_r(
    const char *name, struct gaih_addrtuple **pat, char *buffer,
    size_t buflen, int *errnop, int *h_errnop, int32_t *ttlp);
LNK_EXPORT enum nss_status _nss_linkname_gethostbyname3_r(
    const char *name, int af, struct hostent *result, char *buffer,
    size_t buflen, int *errnop, int *h_errnop, int32_t *ttlp, char **canonp);
LNK_EXPORT enum nss_status _nss_linkname_gethostbyname2_r(
    const char *name, int af, struct hostent *result, char *buffer,
    size_t buflen, int *errnop, int *h_errnop);
LNK_EXPORT enum nss_status _nss_linkname_gethostbyname_r(
    const char *name, struct hostent *result, char *buffer, size_t buflen,
    int *errnop, int *h_errnop);
LNK_EXPORT enum nss_status _nss_linkname_gethostbyaddr2_r(
    const void *addr, socklen_t len, int af, struct hostent *result,
    char *buffer, size_t buflen, int *errnop, int *h_errnop, int32_t *ttlp);
LNK_EXPORT enum nss_status _nss_linkname_gethostbyaddr_r(
    const void *addr, socklen_t len, int af, struct hostent *result,
    char *buffer, size_t buflen, int *errnop, int *h_errnop);

#endif
