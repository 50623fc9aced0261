/*
 * Returns (DESIGN.md §3 flow 6): the published reasons, a niche's policy for
 * accepting them without an operator, and the refund an accepted return
 * posts. No I/O: the API (api/returns.c) locks the rows, asks this module what
 * to do and runs the statements it builds, in one database transaction.
 *
 * Reasons are a fixed list; a lead returned as invalid_contact or fake is bad
 * for every buyer and never goes back on the market; the others (duplicate,
 * out_of_region, other) free the buyer's slot for someone else.
 *
 * Policy: a return is accepted at once when its reason is in the niche's
 * return_auto_accept list AND the buyer's accepted returns in the niche over
 * the last 30 days, this one included, stay within return_max_rate_bps of its
 * purchases in the niche over the same 30 days (the returned purchase always
 * counted): (accepted + 1) * 10000 <= max_rate_bps * purchases. Otherwise it
 * waits as pending for an operator.
 *
 * The refund is the exact negation of the sale's three entries for that sale
 * (buyer balance +price, webmaster pending -payout, platform revenue -fee) in
 * one ledger transaction of kind "refund", with one receipt per account it
 * touches (the buyer's +price on its balance, the webmaster's -payout on its
 * pending payouts, none when the payout was 0), each naming the same account's
 * sale receipt in `reverses` and carrying the sale receipt's lead fields.
 */
#ifndef LX_BILLING_RETURNS_H
#define LX_BILLING_RETURNS_H

#include <stddef.h>
#include <stdint.h>

#include "billing/receipts.h"
#include "keys.h"

typedef enum {
    LX_RETURN_INVALID_CONTACT = 0,
    LX_RETURN_DUPLICATE,
    LX_RETURN_OUT_OF_REGION,
    LX_RETURN_FAKE,
    LX_RETURN_OTHER,
    LX_RETURN__COUNT
} lx_return_reason_t;

/* The reasons' names in enum order, NULL-terminated (the API's and the database's spelling). */
extern const char *const lx_return_reasons[LX_RETURN__COUNT + 1];

/* The reason named by `s` (`len` bytes), or -1. */
int lx_return_reason_parse(const char *s, size_t len);
/* 1 when a lead returned for this reason may be sold again (its slot, or the lead, goes back on the market). */
int lx_return_reason_resale(lx_return_reason_t r);
/* One line for people (GET /v1/returns/reasons). */
const char *lx_return_reason_description(lx_return_reason_t r);

/* Bit (1 << reason) for each reason of PostgreSQL's text[] output ("{a,b}", "{}"). -1 on anything else. */
int lx_return_reasons_from_pg(const char *text, unsigned *mask);

/* The niche's policy (see above): 1 to accept now, 0 to leave the return pending. */
int lx_return_auto_accept(unsigned auto_mask, lx_return_reason_t reason, int64_t accepted_30d, int64_t purchases_30d,
                          int max_rate_bps);

/* The sale a refund reverses, as stored (strings borrowed). */
typedef struct {
    const char *sale_id, *lead_id, *buyer_id, *webmaster_id, *currency;
    const char *niche;  /* slug */
    const char *region; /* the lead's */
    const char *mode;   /* exclusive | shared */
    int share_index;
    int64_t price, fee, payout;
    const char *buyer_receipt;     /* the buyer's sale receipt id */
    const char *webmaster_receipt; /* the webmaster's sale receipt id; NULL when the payout was 0 */
} lx_refund_sale_t;

/*
 * Appends the refund of `s` as ledger transaction `txn_id` (created_by: the deciding operator, or NULL) to the rows
 * under construction (billing/ledger.h lx_ledger_rows_start, billing/receipts.h lx_receipts_start): the transaction,
 * its entries and its signed receipts. Run them as lx_ledger_insert_txns, lx_receipts_insert,
 * lx_ledger_insert_entries in the sale's transaction. Returns -1 (and appends nothing) when a sale receipt to reverse
 * is missing.
 */
int lx_refund_build(const lx_refund_sale_t *s, const char *txn_id, const char *created_by, const lx_keys_t *keys,
                    lx_ledger_rows_t *ledger, lx_receipt_rows_t *receipts);

#endif
