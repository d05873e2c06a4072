/* mask: email and phone shapes in free text. A scanner over the input that copies bytes through and, at the start
 * of a candidate, decides on the whole candidate at once. Deliberately shape-based: it cannot know which words are
 * names, so names and street addresses in remote error texts are not caught here (synchub never puts them into its
 * own messages; see docs/OPERATIONS.md). */
#include "core/mask.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

typedef struct out {
    char *p;
    size_t n, len;
} out_t;

static void put(out_t *o, const char *s, size_t len)
{
    if (o->n == 0)
        return;
    size_t room = o->n - 1 - o->len;
    if (len > room)
        len = room;
    memcpy(o->p + o->len, s, len);
    o->len += len;
    o->p[o->len] = '\0';
}

static bool local_char(unsigned char c)
{
    return isalnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

static bool domain_char(unsigned char c)
{
    return isalnum(c) || c == '.' || c == '-';
}

/* in[at] == '@'. On an email, sets [*start, *end) and returns true. */
static bool email_at(const char *in, size_t at, size_t floor, size_t *start, size_t *end)
{
    size_t s = at;
    while (s > floor && local_char((unsigned char)in[s - 1]))
        s--;
    if (s == at)
        return false;
    size_t e = at + 1;
    while (domain_char((unsigned char)in[e]))
        e++;
    while (e > at + 1 && (in[e - 1] == '.' || in[e - 1] == '-')) /* a sentence's full stop is not the domain's */
        e--;
    /* the domain needs a dot and an alphabetic top-level label of 2+ letters */
    size_t dot = e;
    while (dot > at + 1 && in[dot - 1] != '.')
        dot--;
    if (dot <= at + 2 || e - dot < 2)
        return false;
    for (size_t i = dot; i < e; i++)
        if (!isalpha((unsigned char)in[i]))
            return false;
    *start = s;
    *end = e;
    return true;
}

static bool phone_sep(unsigned char c)
{
    return c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '/';
}

/* Does the run [s, e) (digits and separators, starting with '+' or a digit, ending with a digit) look like a
 * phone number rather than an id, a date, an address or an amount? */
static bool phone_like(const char *in, size_t s, size_t e)
{
    int digits = 0, groups = 0, dots = 0, others = 0, glen[16] = {0};
    bool in_group = false;
    for (size_t i = s; i < e; i++) {
        unsigned char c = (unsigned char)in[i];
        if (isdigit(c)) {
            digits++;
            if (!in_group && groups < 16)
                groups++;
            in_group = true;
            if (groups <= 16)
                glen[groups - 1]++;
        } else {
            in_group = false;
            if (c == '.')
                dots++;
            else if (c != '+')
                others++;
        }
    }
    if (digits < 7 || digits > 15)
        return false;
    if (in[s] == '+')
        return true;
    if (dots == 0 && others == 0)
        return false; /* a bare number: an id */
    if (groups == 3 && glen[0] == 4 && glen[1] == 2 && glen[2] == 2 && others > 0 && dots == 0)
        return false; /* 2026-01-31 */
    if (e - s > 10 && glen[0] == 4 && glen[1] == 2 && glen[2] == 2 && in[s + 4] == '-' && in[s + 7] == '-' &&
        in[s + 10] == ' ')
        return false; /* 2026-01-31 10:00:00, Odoo's datetimes: the run stops at the first ':' */
    if (others == 0) {
        if (dots == 1)
            return false; /* 12345.678: an amount */
        if (groups == 4 && glen[0] <= 3 && glen[1] <= 3 && glen[2] <= 3 && glen[3] <= 3)
            return false; /* 192.168.10.200 */
    }
    return true;
}

/* Could digits d[0..n) be a card of one of the major schemes (issuer prefix and length)? Without this, one id in ten
 * of 13 to 19 digits (Shopify's ids are 13 and 14) would pass the Luhn check and be masked. */
static bool card_scheme(const char *d, int n)
{
    int p2 = (d[0] - '0') * 10 + (d[1] - '0');
    int p3 = p2 * 10 + (d[2] - '0');
    int p4 = p3 * 10 + (d[3] - '0');
    if (d[0] == '4')
        return n == 13 || n == 16 || n == 19;                        /* Visa */
    if (p2 == 34 || p2 == 37)
        return n == 15;                                              /* American Express */
    if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720))
        return n == 16;                                              /* Mastercard */
    if (p4 == 6011 || p2 == 65 || (p3 >= 644 && p3 <= 649) || p2 == 62 || (p4 >= 3528 && p4 <= 3589))
        return n >= 16;                                              /* Discover, UnionPay, JCB */
    if (p2 == 36 || p2 == 38 || p2 == 39 || (p3 >= 300 && p3 <= 305))
        return n >= 14;                                              /* Diners Club */
    return false;
}

/* Is the run [s, e) a payment card number: 13 to 19 digits, bare or grouped by spaces or dashes, of a card scheme's
 * prefix and length, passing the Luhn check? (A remote error may quote one from a note or an address line.) */
static bool card_like(const char *in, size_t s, size_t e)
{
    char d[20];
    int n = 0;
    for (size_t i = s; i < e; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == ' ' || c == '-')
            continue;
        if (!isdigit(c) || n == 19)
            return false;
        d[n++] = (char)c;
    }
    if (n < 13 || !card_scheme(d, n))
        return false;
    int sum = 0;
    for (int i = 0; i < n; i++) {
        int v = d[n - 1 - i] - '0';
        if (i % 2 == 1 && (v *= 2) > 9)
            v -= 9;
        sum += v;
    }
    return sum % 10 == 0;
}

size_t mask_pii(const char *in, char *out, size_t n)
{
    out_t o = {out, n, 0};
    if (n)
        out[0] = '\0';
    if (!in)
        return 0;
    size_t count = 0, copied = 0, len = strlen(in);
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)in[i];
        size_t s, e;
        if (c == '@' && email_at(in, i, copied, &s, &e)) {
            put(&o, in + copied, s - copied);
            put(&o, in + s, 1);
            put(&o, "***@***", 7);
            count++;
            i = copied = e;
            continue;
        }
        /* a phone run starts with '+' or a digit that does not continue a word or a number */
        bool starts = (c == '+' && isdigit((unsigned char)in[i + 1])) || isdigit(c);
        if (starts && i > 0 && (isalnum((unsigned char)in[i - 1]) || in[i - 1] == '.' || in[i - 1] == '-'))
            starts = false;
        if (starts) {
            size_t j = i + 1, last_digit = isdigit(c) ? i : 0;
            while (j < len && (isdigit((unsigned char)in[j]) || phone_sep((unsigned char)in[j]))) {
                if (isdigit((unsigned char)in[j]))
                    last_digit = j;
                j++;
            }
            e = last_digit + 1;
            /* the run must not run on into a word ("12 34 56 78abc" is not a phone number) */
            bool word_after = e < len && (isalpha((unsigned char)in[e]) || in[e] == '_');
            if (last_digit >= i && !word_after && card_like(in, i, e)) {
                put(&o, in + copied, i - copied);
                put(&o, "***", 3);
                put(&o, in + e - 4, 4); /* the last four, as on a receipt */
                count++;
                i = copied = e;
                continue;
            }
            if (last_digit >= i && !word_after && phone_like(in, i, e)) {
                put(&o, in + copied, i - copied);
                put(&o, "***", 3);
                put(&o, in + e - 2, 2);
                count++;
                i = copied = e;
                continue;
            }
            i = e > i ? e : i + 1; /* the rest of a rejected run cannot start a phone number either */
            continue;
        }
        i++;
    }
    put(&o, in + copied, len - copied);
    return count;
}
