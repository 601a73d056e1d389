/* x509 credentials for tls: (and for tcp: once they are given, as QEMU's
 * tls-creds makes its migration use TLS), laid out as QEMU's
 * tls-creds-x509 directory:
 *
 *   ca-cert.pem                       the CA(s) a peer's certificate must chain to
 *   server-cert.pem, server-key.pem   the destination's (it accepts)
 *   client-cert.pem, client-key.pem   the source's (it connects)
 *
 * Every file is read into memory and checked once, when the directory is
 * named (at start for --tls-creds, before the sandbox and the jail; when a
 * migration starts for the tls-creds parameter), so a TLS handshake later
 * opens no file. Both ends verify the other: the destination demands a
 * client certificate from the CA, the source checks the server's chain
 * and that it names the host it connected to (or tls-hostname).
 */
#ifndef VMM__TLS_CREDS_H
#define VMM__TLS_CREDS_H

#include <stdbool.h>
#include <stddef.h>

#include "tls_tunnel.h"

struct tls_creds;
struct ssl_ctx_st;

#define TLS_CREDS_CA		"ca-cert.pem"
/* Bigger than any sane PEM file: a bound on what is read into memory. */
#define TLS_CREDS_FILE_MAX	(1u << 20)

/* Loads dir for role: ca-cert.pem and the role's certificate and key are
 * required; the other role's pair is loaded too when either of its files
 * exists (a destination that will migrate the guest on). Each file is
 * checked: present, readable, PEM, the key matching its certificate, the
 * certificate issued by a CA of ca-cert.pem. A certificate out of its
 * validity period only gets a warning: its peer refuses it, naming why.
 * 0, or -errno with the file and the reason in err. */
int tls_creds__load(const char *dir, enum tls_role role, struct tls_creds **out,
		    char *err, size_t errlen);
void tls_creds__free(struct tls_creds *c);
/* Whether c holds role's certificate and key. */
bool tls_creds__has(const struct tls_creds *c, enum tls_role role);
/* Puts role's certificate, key and chain, and the CAs that verify the
 * peer, into ctx. 0 or -EIO. */
int tls_creds__use(const struct tls_creds *c, enum tls_role role, struct ssl_ctx_st *ctx);

/* --- pure --------------------------------------------------------------- */

/* The name the server's certificate must carry: tls_hostname when set
 * (not NULL, not empty), else the host of the URI, as QEMU does. */
const char *tls_creds__peer_name(const char *tls_hostname, const char *uri_host);
/* A numeric IPv4 or IPv6 address (checked against the certificate's IP
 * entries) rather than a DNS name. */
bool tls_creds__name_is_ip(const char *name);

#endif
