/* mask: hides customer data (email addresses, phone numbers, card numbers) inside free text that synchub did not write itself —
 * Odoo and Shopify error messages quote the values they rejected — before that text reaches an err_t, a log line,
 * the store, the CLI or the dashboard. Pure string work: no I/O, no allocation, no state; safe from any thread.
 * Not here: masking of structured payloads (JSON fields by name), which knows field names instead of shapes. */
#ifndef SYNCHUB_MASK_H
#define SYNCHUB_MASK_H

#include <stddef.h>

/* Copy `in` into `out` (n bytes, always NUL-terminated when n > 0, truncated to fit) with every email-shaped
 * substring replaced by "<first char>***@***" and every phone-shaped one by "***<last two digits>".
 * Phone-shaped: 7 to 15 digits in one run of digits and separators (space - . ( ) /) that starts with '+', or that
 * contains a separator and is neither a date (2026-01-31), an IPv4 address nor a decimal number. A bare digit run
 * (an order or record id) is kept, unless it is card-shaped: 13 to 19 digits (bare, or grouped by spaces or dashes)
 * with a card scheme's prefix and length, passing the Luhn check, become "***<last four digits>". `in` and `out` may not overlap. Returns the number of
 * substrings masked. */
size_t mask_pii(const char *in, char *out, size_t n);

#endif
