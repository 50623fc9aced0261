/*
 * Returns: reasons, policy and the refund's documents (billing/returns.h).
 *
 * Why the refund is built here and not in the handler: the decision of an
 * operator and the policy's automatic acceptance post the same refund, and a
 * refund must mirror the intake's and the purchase's sale (the same books, the
 * same receipt fields) exactly; one function keeps the two paths identical and
 * is testable without a database.
 */
#include "billing/returns.h"
#include "billing/ledger.h"
#include "billing/receipts.h"

#include <string.h>

const char *const lx_return_reasons[LX_RETURN__COUNT + 1] = {"invalid_contact", "duplicate", "out_of_region", "fake",
                                                             "other",           NULL};

static const char *const descriptions[LX_RETURN__COUNT] = {
    "The phone number or e-mail does not reach the person (wrong, disconnected, not theirs).",
    "The buyer already had this person's request (from leadx or elsewhere).",
    "The person is outside the region the lead was sold for.",
    "Not a real request: a bot, a prank, the supplier's own staff, a person who never asked.",
    "Anything else; an operator usually decides.",
};

int lx_return_reason_parse(const char *s, size_t len)
{
    for (int i = 0; i < LX_RETURN__COUNT; i++)
        if (strlen(lx_return_reasons[i]) == len && memcmp(lx_return_reasons[i], s, len) == 0) return i;
    return -1;
}

int lx_return_reason_resale(lx_return_reason_t r)
{
    return r != LX_RETURN_INVALID_CONTACT && r != LX_RETURN_FAKE;
}

const char *lx_return_reason_description(lx_return_reason_t r)
{
    return descriptions[r];
}

int lx_return_reasons_from_pg(const char *text, unsigned *mask)
{
    *mask = 0;
    size_t n = strlen(text);
    if (n < 2 || text[0] != '{' || text[n - 1] != '}') return -1;
    const char *p = text + 1, *end = text + n - 1;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma != NULL ? comma : end;
        int r = lx_return_reason_parse(p, (size_t)(stop - p));
        if (r < 0) return -1;
        *mask |= 1u << r;
        p = comma != NULL ? comma + 1 : end;
        if (comma != NULL && p == end) return -1; /* a trailing comma */
    }
    return 0;
}

int lx_return_auto_accept(unsigned auto_mask, lx_return_reason_t reason, int64_t accepted_30d, int64_t purchases_30d,
                          int max_rate_bps)
{
    if ((auto_mask & (1u << reason)) == 0) return 0;
    if (accepted_30d < 0 || purchases_30d < 1 || max_rate_bps < 0) return 0;
    /* Both sides stay far below 2^63: counts of rows times at most 10,000. */
    return (accepted_30d + 1) * 10000 <= (int64_t)max_rate_bps * purchases_30d;
}

int lx_refund_build(const lx_refund_sale_t *s, const char *txn_id, const char *created_by, const lx_keys_t *keys,
                    lx_ledger_rows_t *ledger, lx_receipt_rows_t *receipts)
{
    if (s->buyer_receipt == NULL || (s->payout != 0 && s->webmaster_receipt == NULL)) return -1;
    lx_ledger_txn(ledger, txn_id, "refund", s->currency, NULL, s->lead_id, created_by);
    /* The exact negation of the sale's entries for this sale (zero amounts are skipped, as in the sale). */
    lx_ledger_entry(ledger, txn_id, s->buyer_id, LX_BOOK_BALANCE, s->price, s->currency);
    lx_ledger_entry(ledger, txn_id, s->webmaster_id, LX_BOOK_PENDING, -s->payout, s->currency);
    lx_ledger_entry(ledger, txn_id, NULL, LX_BOOK_REVENUE, -s->fee, s->currency);

    char digest[LX_HASH_B64_LEN + 1];
    lx_lead_digest(keys->lead_digest_key, s->lead_id, digest);
    lx_receipt_body_t body = {.kind = "refund",
                              .account = s->buyer_id,
                              .ledger_txn = txn_id,
                              .amount = s->price,
                              .currency = s->currency,
                              .lead_id = s->lead_id,
                              .lead_digest = digest,
                              .niche = s->niche,
                              .region = s->region,
                              .mode = s->mode,
                              .share_index = s->share_index,
                              .sale_id = s->sale_id,
                              .reverses = s->buyer_receipt};
    const lx_signer_t *signer = lx_keys_signer(keys);
    lx_receipts_add(receipts, signer, LX_BOOK_BALANCE, &body, NULL);
    if (s->payout != 0) {
        body.account = s->webmaster_id;
        body.amount = -s->payout;
        body.reverses = s->webmaster_receipt;
        lx_receipts_add(receipts, signer, LX_BOOK_PENDING, &body, NULL);
    }
    return 0;
}
