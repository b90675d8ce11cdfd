/* Self-signed server certificates (wsip cert --self-signed): an ECDSA P-256
 * (or RSA-2048) key and an X.509 v3 certificate a browser accepts once the
 * user trusts it: CA:FALSE, serverAuth, subjectAltNames, at most 825 days. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "wsip/tls.h"

#define CERT_NAMES_MAX 64

static void cert_err(struct wsip_tls_err *err, const char *what, const char *why)
{
    if (err != NULL)
        snprintf(err->msg, sizeof(err->msg), "%.80s: %.160s", what, why);
}

static void cert_err_openssl(struct wsip_tls_err *err, const char *what)
{
    unsigned long e = ERR_peek_error();
    const char *why = e != 0 && !ERR_SYSTEM_ERROR(e) ? ERR_reason_error_string(e) : NULL;
    cert_err(err, what, why != NULL ? why : "OpenSSL error");
    ERR_clear_error();
}

/* A host name for a dNSName: letters, digits, '-', '.', an optional leading
 * "*." (RFC 6125 wildcards), at most 253 characters. */
static bool valid_dns_name(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > 253)
        return false;
    if (s[0] == '*' && s[1] == '.')
        s += 2;
    if (*s == '\0' || *s == '.')
        return false;
    for (const char *p = s; *p != '\0'; p++) {
        char ch = *p;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '-' || (ch == '.' && p[1] != '.');
        if (!ok)
            return false;
    }
    return true;
}

/* 4 or 16 (bytes in ip) for an IP literal, 0 for a host name, -1 for neither. */
static int parse_name(const char *name, unsigned char ip[16])
{
    if (inet_pton(AF_INET, name, ip) == 1)
        return 4;
    if (inet_pton(AF_INET6, name, ip) == 1)
        return 16;
    return valid_dns_name(name) ? 0 : -1;
}

static int add_san(GENERAL_NAMES *gens, const char *name, struct wsip_tls_err *err)
{
    unsigned char ip[16];
    int iplen = parse_name(name, ip);
    if (iplen < 0) {
        cert_err(err, name, "not a host name or IP address");
        return -1;
    }

    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_STRING *v = iplen ? ASN1_OCTET_STRING_new() : ASN1_IA5STRING_new();
    bool ok = gn != NULL && v != NULL &&
              (iplen ? ASN1_OCTET_STRING_set(v, ip, iplen) : ASN1_STRING_set(v, name, -1));
    if (ok) {
        GENERAL_NAME_set0_value(gn, iplen ? GEN_IPADD : GEN_DNS, v);
        v = NULL;
        ok = sk_GENERAL_NAME_push(gens, gn) > 0;
        if (ok)
            gn = NULL;
    }
    ASN1_STRING_free(v);
    GENERAL_NAME_free(gn);
    if (!ok) {
        cert_err_openssl(err, "subjectAltName");
        return -1;
    }
    return 0;
}

/* Names compare as typed: "::1" and "0::1" are both kept, which is harmless. */
static bool name_seen(const char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(names[i], name) == 0)
            return true;
    }
    return false;
}

static int add_extensions(X509 *x, const struct wsip_tls_cert_opts *o, struct wsip_tls_err *err)
{
    static const char *const defaults[] = {"localhost", "127.0.0.1", "::1"};
    int rc = -1;
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
    ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
    EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();
    ASN1_OCTET_STRING *ski = ASN1_OCTET_STRING_new();
    AUTHORITY_KEYID *aki = AUTHORITY_KEYID_new();
    if (gens == NULL || bc == NULL || ku == NULL || eku == NULL || ski == NULL || aki == NULL) {
        cert_err(err, "certificate", "out of memory");
        goto out;
    }

    const char *all[3 + CERT_NAMES_MAX];
    size_t n = 0;
    for (size_t i = 0; i < 3; i++)
        all[n++] = defaults[i];
    for (size_t i = 0; i < o->n_names; i++) {
        if (!name_seen(all, n, o->names[i]))
            all[n++] = o->names[i];
    }
    for (size_t i = 0; i < n; i++) {
        if (add_san(gens, all[i], err) != 0)
            goto out;
    }

    /* A leaf, not a CA: Firefox refuses a CA certificate used as a server's. */
    bc->ca = 0;
    /* digitalSignature for (EC)DHE; RSA key exchange is not offered, but old
     * RSA peers still look for keyEncipherment. */
    ASN1_BIT_STRING_set_bit(ku, 0, 1);
    if (o->key_type == WSIP_TLS_KEY_RSA2048)
        ASN1_BIT_STRING_set_bit(ku, 2, 1);
    /* clientAuth too: the same certificate serves outgoing SIP-TLS. */
    sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_server_auth));
    sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_client_auth));

    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    if (!X509_pubkey_digest(x, EVP_sha1(), md, &mdlen) || !ASN1_OCTET_STRING_set(ski, md, mdlen)) {
        cert_err_openssl(err, "subjectKeyIdentifier");
        goto out;
    }
    aki->keyid = ASN1_OCTET_STRING_dup(ski);

    if (aki->keyid == NULL ||
        X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1, X509V3_ADD_DEFAULT) != 1 ||
        X509_add1_ext_i2d(x, NID_key_usage, ku, 1, X509V3_ADD_DEFAULT) != 1 ||
        X509_add1_ext_i2d(x, NID_ext_key_usage, eku, 0, X509V3_ADD_DEFAULT) != 1 ||
        X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) != 1 ||
        X509_add1_ext_i2d(x, NID_subject_key_identifier, ski, 0, X509V3_ADD_DEFAULT) != 1 ||
        X509_add1_ext_i2d(x, NID_authority_key_identifier, aki, 0, X509V3_ADD_DEFAULT) != 1) {
        cert_err_openssl(err, "certificate extensions");
        goto out;
    }
    rc = 0;
out:
    GENERAL_NAMES_free(gens);
    BASIC_CONSTRAINTS_free(bc);
    ASN1_BIT_STRING_free(ku);
    sk_ASN1_OBJECT_free(eku); /* the objects are OpenSSL's static ones */
    ASN1_OCTET_STRING_free(ski);
    AUTHORITY_KEYID_free(aki);
    return rc;
}

/* A random positive 159-bit serial (RFC 5280 allows 20 octets). */
static int set_serial(X509 *x)
{
    BIGNUM *bn = BN_new();
    int ok = bn != NULL && BN_rand(bn, 159, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) &&
             BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
    return ok ? 0 : -1;
}

static X509 *make_cert(EVP_PKEY *pkey, const struct wsip_tls_cert_opts *o, struct wsip_tls_err *err)
{
    X509 *x = X509_new();
    if (x == NULL) {
        cert_err(err, "certificate", "out of memory");
        return NULL;
    }
    const char *cn = o->n_names > 0 ? o->names[0] : "localhost";
    long days = o->days ? (long)o->days : WSIP_TLS_CERT_DAYS;
    X509_NAME *name = X509_get_subject_name(x);
    /* Backdated five minutes for clock skew; the span stays exactly `days`. */
    if (!X509_set_version(x, X509_VERSION_3) || set_serial(x) != 0 ||
        !X509_gmtime_adj(X509_getm_notBefore(x), -300) ||
        !X509_time_adj_ex(X509_getm_notAfter(x), (int)days, -300, NULL) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
                                    0) ||
        !X509_set_issuer_name(x, name) || !X509_set_pubkey(x, pkey)) {
        cert_err_openssl(err, "certificate");
        goto fail;
    }
    if (add_extensions(x, o, err) != 0)
        goto fail;
    if (X509_sign(x, pkey, EVP_sha256()) <= 0) {
        cert_err_openssl(err, "signing the certificate");
        goto fail;
    }
    return x;
fail:
    X509_free(x);
    return NULL;
}

/* Writes into a fresh 0600 file next to path, then moves it into place:
 * rename() with force, else link() so that an existing file is never
 * replaced. which: 0 the certificate, 1 the key. */
static int write_pem(const char *path, bool force, int which, X509 *x, EVP_PKEY *pkey,
                     struct wsip_tls_err *err)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp)) {
        cert_err(err, path, "path too long");
        return -1;
    }
    int fd = mkstemp(tmp); /* mode 0600 */
    if (fd < 0) {
        cert_err(err, path, strerror(errno));
        return -1;
    }
    int rc = -1;
    FILE *f = fdopen(fd, "w");
    if (f == NULL) {
        cert_err(err, path, strerror(errno));
        close(fd);
        goto out;
    }
    if (which == 0 && fchmod(fd, 0644) != 0) {
        cert_err(err, path, strerror(errno));
        fclose(f);
        goto out;
    }
    int ok = which == 0 ? PEM_write_X509(f, x)
                        : PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL);
    if (!ok) {
        cert_err_openssl(err, path);
        fclose(f);
        goto out;
    }
    if (fflush(f) != 0 || fsync(fd) != 0) {
        cert_err(err, path, strerror(errno));
        fclose(f);
        goto out;
    }
    if (fclose(f) != 0) {
        cert_err(err, path, strerror(errno));
        goto out;
    }
    if (force ? rename(tmp, path) : link(tmp, path)) {
        cert_err(err, path,
                 errno == EEXIST ? "exists (use --force to replace it)" : strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (rc != 0 || !force)
        unlink(tmp); /* after link(), or on failure */
    return rc;
}

int wsip_tls_cert_self_signed(const char *dir, const struct wsip_tls_cert_opts *opts,
                              struct wsip_tls_err *err)
{
    struct wsip_tls_cert_opts o = *opts;
    char cert_path[PATH_MAX], key_path[PATH_MAX];
    EVP_PKEY *pkey = NULL;
    X509 *x = NULL;
    int rc = -1;

    ERR_clear_error();
    if (o.n_names > CERT_NAMES_MAX) {
        cert_err(err, "--name", "too many names");
        goto out;
    }
    if (o.days > 100000) {
        cert_err(err, "days", "out of range");
        goto out;
    }
    for (size_t i = 0; i < o.n_names; i++) {
        unsigned char ip[16];
        if (parse_name(o.names[i], ip) < 0) {
            cert_err(err, o.names[i], "not a host name or IP address");
            goto out;
        }
    }
    if (snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", dir) >= (int)sizeof(cert_path) ||
        snprintf(key_path, sizeof(key_path), "%s/key.pem", dir) >= (int)sizeof(key_path)) {
        cert_err(err, dir, "path too long");
        goto out;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        cert_err(err, dir, strerror(errno));
        goto out;
    }
    /* Checked first so that a refusal leaves nothing half-written. */
    if (!o.force) {
        const char *paths[2] = {cert_path, key_path};
        for (int i = 0; i < 2; i++) {
            if (access(paths[i], F_OK) == 0) {
                cert_err(err, paths[i], "exists (use --force to replace it)");
                goto out;
            }
        }
    }

    if (o.key_type == WSIP_TLS_KEY_RSA2048)
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    else
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (pkey == NULL) {
        cert_err_openssl(err, "key generation");
        goto out;
    }
    x = make_cert(pkey, &o, err);
    if (x == NULL)
        goto out;
    /* The key first: a certificate without its key is useless. */
    if (write_pem(key_path, o.force, 1, x, pkey, err) != 0)
        goto out;
    if (write_pem(cert_path, o.force, 0, x, pkey, err) != 0) {
        if (!o.force)
            unlink(key_path); /* ours: we just created it */
        goto out;
    }
    rc = 0;
out:
    X509_free(x);
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    return rc;
}
