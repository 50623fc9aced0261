/* Handlers of the public API; each answers exactly once, now or after its database job. */
#ifndef LX_API_HANDLERS_H
#define LX_API_HANDLERS_H

#include "http/request.h"

void lx_api_healthz(lx_req_t *lr);
void lx_api_readyz(lx_req_t *lr);
void lx_api_metrics(lx_req_t *lr);
void lx_api_receipt_keys(lx_req_t *lr);
void lx_api_receipts_export(lx_req_t *lr);
void lx_api_receipts_list(lx_req_t *lr);
void lx_api_receipts_get(lx_req_t *lr);
void lx_api_log_head(lx_req_t *lr);
void lx_api_log_heads(lx_req_t *lr);
void lx_api_log_consistency(lx_req_t *lr);
void lx_api_log_entries(lx_req_t *lr);
void lx_api_me(lx_req_t *lr);
void lx_api_accounts_create(lx_req_t *lr);
void lx_api_accounts_list(lx_req_t *lr);
void lx_api_accounts_get(lx_req_t *lr);
void lx_api_keys_list(lx_req_t *lr);
void lx_api_keys_create(lx_req_t *lr);
void lx_api_keys_revoke(lx_req_t *lr);
void lx_api_accounts_update(lx_req_t *lr);
void lx_api_deposits_create(lx_req_t *lr);
void lx_api_payouts_create(lx_req_t *lr);
void lx_api_withdrawals_create(lx_req_t *lr);
void lx_api_statement_get(lx_req_t *lr);
void lx_api_balance_get(lx_req_t *lr);
void lx_api_ledger_list(lx_req_t *lr);
void lx_api_ledger_platform(lx_req_t *lr);
void lx_api_niches_create(lx_req_t *lr);
void lx_api_niches_list(lx_req_t *lr);
void lx_api_niches_get(lx_req_t *lr);
void lx_api_niches_update(lx_req_t *lr);
void lx_api_regions_list(lx_req_t *lr);
void lx_api_campaigns_create(lx_req_t *lr);
void lx_api_campaigns_list(lx_req_t *lr);
void lx_api_campaigns_get(lx_req_t *lr);
void lx_api_campaigns_update(lx_req_t *lr);
void lx_api_campaigns_pause(lx_req_t *lr);
void lx_api_campaigns_resume(lx_req_t *lr);
void lx_api_leads_create(lx_req_t *lr);
void lx_api_leads_batch(lx_req_t *lr);
void lx_api_leads_get(lx_req_t *lr);
void lx_api_leads_list(lx_req_t *lr);
void lx_api_leads_erase_contact(lx_req_t *lr);
void lx_api_erasures_create(lx_req_t *lr);
void lx_api_market_leads_list(lx_req_t *lr);
void lx_api_market_purchase(lx_req_t *lr);
void lx_api_purchases_list(lx_req_t *lr);
void lx_api_purchases_get(lx_req_t *lr);
void lx_api_purchases_return(lx_req_t *lr);
void lx_api_return_reasons(lx_req_t *lr);
void lx_api_returns_list(lx_req_t *lr);
void lx_api_returns_get(lx_req_t *lr);
void lx_api_returns_decide(lx_req_t *lr);
void lx_api_returns_contest(lx_req_t *lr);
void lx_api_audit_actions(lx_req_t *lr);
void lx_api_audit_report(lx_req_t *lr);

#endif
