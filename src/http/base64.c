/* Base64 (RFC 4648 sec 4). Own code rather than EVP_DecodeBlock, which
 * accepts whitespace, does not report padding and returns a length rounded
 * to whole groups: a Sec-WebSocket-Key check needs the exact length. */
#include "wsip/http.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* 0..63 for alphabet characters, -1 for anything else ('=' included) */
static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

size_t wsip_base64_encode(const void *in, size_t len, char *out, size_t cap)
{
    const unsigned char *s = in;
    if (len > (SIZE_MAX - 1) / 4 * 3 - 2)
        return 0;
    size_t need = (len + 2) / 3 * 4;
    if (cap < need + 1)
        return 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        size_t left = len - i;
        uint32_t v = (uint32_t)s[i] << 16;
        if (left > 1)
            v |= (uint32_t)s[i + 1] << 8;
        if (left > 2)
            v |= s[i + 2];
        out[o++] = b64_alphabet[v >> 18 & 63];
        out[o++] = b64_alphabet[v >> 12 & 63];
        out[o++] = left > 1 ? b64_alphabet[v >> 6 & 63] : '=';
        out[o++] = left > 2 ? b64_alphabet[v & 63] : '=';
    }
    out[o] = '\0';
    return o;
}

long wsip_base64_decode(const char *in, size_t len, void *out, size_t cap, unsigned flags)
{
    unsigned char *d = out;
    if (len % 4 != 0)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        bool last = i + 4 == len;
        int v[4];
        unsigned pad = 0;
        for (int k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)in[i + (size_t)k];
            /* '=' only in the last two places of the last group */
            if (c == '=' && last && k >= 2) {
                pad++;
                v[k] = 0;
                continue;
            }
            if (pad) /* "x=y=" or "xy=z" */
                return -1;
            v[k] = b64_val(c);
            if (v[k] < 0)
                return -1;
        }
        uint32_t bits =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        size_t n = 3 - pad;
        /* bits the padding leaves unused: zero in the canonical encoding */
        if ((flags & WSIP_BASE64_CANONICAL) && (bits & ((1u << (8 * pad)) - 1)) != 0)
            return -1;
        if (n > cap - o) /* o <= cap always */
            return -1;
        d[o++] = (unsigned char)(bits >> 16);
        if (n > 1)
            d[o++] = (unsigned char)(bits >> 8);
        if (n > 2)
            d[o++] = (unsigned char)bits;
    }
    return (long)o;
}
