#include "api/routes.h"
#include "api/handlers.h"
#include "auth/cache.h"

#define OP        LX_ROLE_OPERATOR
#define ANY       LX_ROLE_ANY
#define WM        LX_ROLE_WEBMASTER
#define LEAD_BODY ((size_t)64 << 10) /* one realistic lead is 1-3 KiB; attributes are capped by the niche schema */

enum {
    M_HEALTHZ,
    M_READYZ,
    M_METRICS,
    M_RECEIPT_KEYS,    /* before any /v1/receipts/{id} */
    M_RECEIPTS_EXPORT, /* before /v1/receipts/{id} too */
    M_RECEIPTS_LIST,
    M_RECEIPTS_GET,
    M_LOG_HEAD,
    M_LOG_HEADS,
    M_LOG_CONSISTENCY,
    M_LOG_ENTRIES,
    M_ME,
    M_ACCOUNTS_CREATE,
    M_ACCOUNTS_LIST,
    M_ACCOUNTS_GET,
    M_KEYS_LIST,
    M_KEYS_CREATE,
    M_KEYS_REVOKE,
    M_ACCOUNTS_UPDATE,
    M_DEPOSITS_CREATE,
    M_PAYOUTS_CREATE,
    M_WITHDRAWALS_CREATE,
    M_STATEMENT_GET,
    M_BALANCE_GET,
    M_LEDGER_LIST,
    M_LEDGER_PLATFORM,
    M_NICHES_CREATE,
    M_NICHES_LIST,
    M_NICHES_GET,
    M_NICHES_UPDATE,
    M_REGIONS_LIST,
    M_CAMPAIGNS_CREATE,
    M_CAMPAIGNS_LIST,
    M_CAMPAIGNS_GET,
    M_CAMPAIGNS_UPDATE,
    M_CAMPAIGNS_PAUSE,
    M_CAMPAIGNS_RESUME,
    M_LEADS_CREATE,
    M_LEADS_BATCH,
    M_LEADS_LIST,
    M_LEADS_GET,
    M_LEADS_ERASE_CONTACT,
    M_ERASURES_CREATE,
    M_MARKET_LEADS_LIST,
    M_MARKET_PURCHASE,
    M_PURCHASES_LIST,
    M_PURCHASES_GET,
    M_PURCHASES_RETURN,
    M_RETURN_REASONS, /* before /v1/returns/{id} */
    M_RETURNS_LIST,
    M_RETURNS_GET,
    M_RETURNS_DECIDE,
    M_RETURNS_CONTEST,
    M_AUDIT_ACTIONS,
    M_AUDIT_REPORT,
    M__COUNT
};

static const lx_route_desc_t healthz = {lx_api_healthz, 0, 0, 0, M_HEALTHZ};
static const lx_route_desc_t readyz = {lx_api_readyz, 0, 0, 0, M_READYZ};
static const lx_route_desc_t metrics = {lx_api_metrics, 0, 0, 0, M_METRICS};
static const lx_route_desc_t receipt_keys = {lx_api_receipt_keys, 0, 0, 0, M_RECEIPT_KEYS};
static const lx_route_desc_t receipts_export = {lx_api_receipts_export, ANY, 0, 0, M_RECEIPTS_EXPORT};
static const lx_route_desc_t receipts_list = {lx_api_receipts_list, ANY, 0, 0, M_RECEIPTS_LIST};
static const lx_route_desc_t receipts_get = {lx_api_receipts_get, ANY, 0, 0, M_RECEIPTS_GET};
static const lx_route_desc_t log_head = {lx_api_log_head, 0, 0, 0, M_LOG_HEAD};
static const lx_route_desc_t log_heads = {lx_api_log_heads, 0, 0, 0, M_LOG_HEADS};
static const lx_route_desc_t log_consistency = {lx_api_log_consistency, 0, 0, 0, M_LOG_CONSISTENCY};
static const lx_route_desc_t log_entries = {lx_api_log_entries, ANY, 0, 0, M_LOG_ENTRIES};
static const lx_route_desc_t me = {lx_api_me, ANY, 0, 0, M_ME};
static const lx_route_desc_t accounts_create = {lx_api_accounts_create, OP, LX_ROUTE_BODY_JSON, 0, M_ACCOUNTS_CREATE};
static const lx_route_desc_t accounts_list = {lx_api_accounts_list, OP, 0, 0, M_ACCOUNTS_LIST};
static const lx_route_desc_t accounts_get = {lx_api_accounts_get, ANY, 0, 0, M_ACCOUNTS_GET};
static const lx_route_desc_t keys_list = {lx_api_keys_list, ANY, 0, 0, M_KEYS_LIST};
static const lx_route_desc_t keys_create = {lx_api_keys_create, ANY, LX_ROUTE_BODY_OPTIONAL, 0, M_KEYS_CREATE};
static const lx_route_desc_t keys_revoke = {lx_api_keys_revoke, ANY, 0, 0, M_KEYS_REVOKE};
static const lx_route_desc_t accounts_update = {lx_api_accounts_update, OP, LX_ROUTE_BODY_JSON, 0, M_ACCOUNTS_UPDATE};
static const lx_route_desc_t deposits_create = {lx_api_deposits_create, OP, LX_ROUTE_BODY_JSON, 0, M_DEPOSITS_CREATE};
static const lx_route_desc_t payouts_create = {lx_api_payouts_create, OP, LX_ROUTE_BODY_JSON, 0, M_PAYOUTS_CREATE};
static const lx_route_desc_t withdrawals_create = {lx_api_withdrawals_create, OP, LX_ROUTE_BODY_JSON, 0, M_WITHDRAWALS_CREATE};
static const lx_route_desc_t statement_get = {lx_api_statement_get, ANY, 0, 0, M_STATEMENT_GET};
static const lx_route_desc_t balance_get = {lx_api_balance_get, ANY, 0, 0, M_BALANCE_GET};
static const lx_route_desc_t ledger_list = {lx_api_ledger_list, ANY, 0, 0, M_LEDGER_LIST};
static const lx_route_desc_t ledger_platform = {lx_api_ledger_platform, OP, 0, 0, M_LEDGER_PLATFORM};
static const lx_route_desc_t niches_create = {lx_api_niches_create, OP, LX_ROUTE_BODY_JSON, 0, M_NICHES_CREATE};
static const lx_route_desc_t niches_list = {lx_api_niches_list, ANY, 0, 0, M_NICHES_LIST};
static const lx_route_desc_t niches_get = {lx_api_niches_get, ANY, 0, 0, M_NICHES_GET};
static const lx_route_desc_t niches_update = {lx_api_niches_update, OP, LX_ROUTE_BODY_JSON, 0, M_NICHES_UPDATE};
static const lx_route_desc_t regions_list = {lx_api_regions_list, ANY, 0, 0, M_REGIONS_LIST};
static const lx_route_desc_t campaigns_create = {lx_api_campaigns_create, LX_ROLE_ADVERTISER, LX_ROUTE_BODY_JSON, 0,
                                                 M_CAMPAIGNS_CREATE};
static const lx_route_desc_t campaigns_list = {lx_api_campaigns_list, OP | LX_ROLE_ADVERTISER, 0, 0, M_CAMPAIGNS_LIST};
static const lx_route_desc_t campaigns_get = {lx_api_campaigns_get, OP | LX_ROLE_ADVERTISER, 0, 0, M_CAMPAIGNS_GET};
static const lx_route_desc_t campaigns_update = {lx_api_campaigns_update, OP | LX_ROLE_ADVERTISER, LX_ROUTE_BODY_JSON, 0,
                                                 M_CAMPAIGNS_UPDATE};
static const lx_route_desc_t campaigns_pause = {lx_api_campaigns_pause, OP | LX_ROLE_ADVERTISER, 0, 0, M_CAMPAIGNS_PAUSE};
static const lx_route_desc_t campaigns_resume = {lx_api_campaigns_resume, OP | LX_ROLE_ADVERTISER, 0, 0, M_CAMPAIGNS_RESUME};
static const lx_route_desc_t leads_create = {lx_api_leads_create, WM, LX_ROUTE_BODY_JSON, LEAD_BODY, M_LEADS_CREATE};
static const lx_route_desc_t leads_batch = {lx_api_leads_batch, WM, LX_ROUTE_BODY_JSON | LX_ROUTE_BODY_BATCH, 0, M_LEADS_BATCH};
static const lx_route_desc_t leads_list = {lx_api_leads_list, ANY, 0, 0, M_LEADS_LIST};
static const lx_route_desc_t leads_get = {lx_api_leads_get, ANY, 0, 0, M_LEADS_GET};
static const lx_route_desc_t leads_erase_contact = {lx_api_leads_erase_contact, OP, 0, 0, M_LEADS_ERASE_CONTACT};
static const lx_route_desc_t erasures_create = {lx_api_erasures_create, OP, LX_ROUTE_BODY_JSON, 0, M_ERASURES_CREATE};
static const lx_route_desc_t market_leads_list = {lx_api_market_leads_list, LX_ROLE_ADVERTISER, 0, 0, M_MARKET_LEADS_LIST};
static const lx_route_desc_t market_purchase = {lx_api_market_purchase, LX_ROLE_ADVERTISER, LX_ROUTE_BODY_JSON, 0,
                                                M_MARKET_PURCHASE};
static const lx_route_desc_t purchases_list = {lx_api_purchases_list, OP | LX_ROLE_ADVERTISER, 0, 0, M_PURCHASES_LIST};
static const lx_route_desc_t purchases_get = {lx_api_purchases_get, OP | LX_ROLE_ADVERTISER, 0, 0, M_PURCHASES_GET};
static const lx_route_desc_t purchases_return = {lx_api_purchases_return, LX_ROLE_ADVERTISER, LX_ROUTE_BODY_JSON, 0,
                                                 M_PURCHASES_RETURN};
static const lx_route_desc_t return_reasons = {lx_api_return_reasons, ANY, 0, 0, M_RETURN_REASONS};
static const lx_route_desc_t returns_list = {lx_api_returns_list, ANY, 0, 0, M_RETURNS_LIST};
static const lx_route_desc_t returns_get = {lx_api_returns_get, ANY, 0, 0, M_RETURNS_GET};
static const lx_route_desc_t returns_decide = {lx_api_returns_decide, OP, LX_ROUTE_BODY_JSON, 0, M_RETURNS_DECIDE};
static const lx_route_desc_t returns_contest = {lx_api_returns_contest, WM, LX_ROUTE_BODY_JSON, 0, M_RETURNS_CONTEST};
static const lx_route_desc_t audit_actions = {lx_api_audit_actions, OP, 0, 0, M_AUDIT_ACTIONS};
static const lx_route_desc_t audit_report = {lx_api_audit_report, OP, 0, 0, M_AUDIT_REPORT};

/* Order matters only where patterns overlap; the metrics index of each descriptor is its row's label. */
static const lx_route_t routes[M__COUNT] = {
    [M_HEALTHZ] = {"GET", "/healthz", &healthz},
    [M_READYZ] = {"GET", "/readyz", &readyz},
    [M_METRICS] = {"GET", "/metrics", &metrics},
    [M_RECEIPT_KEYS] = {"GET", "/v1/receipts/keys", &receipt_keys},
    [M_RECEIPTS_EXPORT] = {"GET", "/v1/receipts/export", &receipts_export},
    [M_RECEIPTS_LIST] = {"GET", "/v1/receipts", &receipts_list},
    [M_RECEIPTS_GET] = {"GET", "/v1/receipts/{id}", &receipts_get},
    [M_LOG_HEAD] = {"GET", "/v1/log/head", &log_head},
    [M_LOG_HEADS] = {"GET", "/v1/log/heads", &log_heads},
    [M_LOG_CONSISTENCY] = {"GET", "/v1/log/consistency", &log_consistency},
    [M_LOG_ENTRIES] = {"GET", "/v1/log/entries", &log_entries},
    [M_ME] = {"GET", "/v1/me", &me},
    [M_ACCOUNTS_CREATE] = {"POST", "/v1/accounts", &accounts_create},
    [M_ACCOUNTS_LIST] = {"GET", "/v1/accounts", &accounts_list},
    [M_ACCOUNTS_GET] = {"GET", "/v1/accounts/{id}", &accounts_get},
    [M_KEYS_LIST] = {"GET", "/v1/accounts/{id}/keys", &keys_list},
    [M_KEYS_CREATE] = {"POST", "/v1/accounts/{id}/keys", &keys_create},
    [M_KEYS_REVOKE] = {"DELETE", "/v1/accounts/{id}/keys/{key_id}", &keys_revoke},
    [M_ACCOUNTS_UPDATE] = {"PATCH", "/v1/accounts/{id}", &accounts_update},
    [M_DEPOSITS_CREATE] = {"POST", "/v1/accounts/{id}/deposits", &deposits_create},
    [M_PAYOUTS_CREATE] = {"POST", "/v1/accounts/{id}/payouts", &payouts_create},
    [M_WITHDRAWALS_CREATE] = {"POST", "/v1/accounts/{id}/withdrawals", &withdrawals_create},
    [M_STATEMENT_GET] = {"GET", "/v1/accounts/{id}/statement", &statement_get},
    [M_BALANCE_GET] = {"GET", "/v1/accounts/{id}/balance", &balance_get},
    [M_LEDGER_LIST] = {"GET", "/v1/ledger", &ledger_list},
    [M_LEDGER_PLATFORM] = {"GET", "/v1/ledger/platform", &ledger_platform},
    [M_NICHES_CREATE] = {"POST", "/v1/niches", &niches_create},
    [M_NICHES_LIST] = {"GET", "/v1/niches", &niches_list},
    [M_NICHES_GET] = {"GET", "/v1/niches/{slug}", &niches_get},
    [M_NICHES_UPDATE] = {"PATCH", "/v1/niches/{slug}", &niches_update},
    [M_REGIONS_LIST] = {"GET", "/v1/regions", &regions_list},
    [M_CAMPAIGNS_CREATE] = {"POST", "/v1/campaigns", &campaigns_create},
    [M_CAMPAIGNS_LIST] = {"GET", "/v1/campaigns", &campaigns_list},
    [M_CAMPAIGNS_GET] = {"GET", "/v1/campaigns/{id}", &campaigns_get},
    [M_CAMPAIGNS_UPDATE] = {"PATCH", "/v1/campaigns/{id}", &campaigns_update},
    [M_CAMPAIGNS_PAUSE] = {"POST", "/v1/campaigns/{id}/pause", &campaigns_pause},
    [M_CAMPAIGNS_RESUME] = {"POST", "/v1/campaigns/{id}/resume", &campaigns_resume},
    [M_LEADS_CREATE] = {"POST", "/v1/leads", &leads_create},
    [M_LEADS_BATCH] = {"POST", "/v1/leads/batch", &leads_batch},
    [M_LEADS_LIST] = {"GET", "/v1/leads", &leads_list},
    [M_LEADS_GET] = {"GET", "/v1/leads/{id}", &leads_get},
    [M_LEADS_ERASE_CONTACT] = {"DELETE", "/v1/leads/{id}/contact", &leads_erase_contact},
    [M_ERASURES_CREATE] = {"POST", "/v1/erasures", &erasures_create},
    [M_MARKET_LEADS_LIST] = {"GET", "/v1/market/leads", &market_leads_list},
    [M_MARKET_PURCHASE] = {"POST", "/v1/market/leads/{id}/purchase", &market_purchase},
    [M_PURCHASES_LIST] = {"GET", "/v1/purchases", &purchases_list},
    [M_PURCHASES_GET] = {"GET", "/v1/purchases/{id}", &purchases_get},
    [M_PURCHASES_RETURN] = {"POST", "/v1/purchases/{id}/return", &purchases_return},
    [M_RETURN_REASONS] = {"GET", "/v1/returns/reasons", &return_reasons},
    [M_RETURNS_LIST] = {"GET", "/v1/returns", &returns_list},
    [M_RETURNS_GET] = {"GET", "/v1/returns/{id}", &returns_get},
    [M_RETURNS_DECIDE] = {"POST", "/v1/returns/{id}/decision", &returns_decide},
    [M_RETURNS_CONTEST] = {"POST", "/v1/returns/{id}/contest", &returns_contest},
    [M_AUDIT_ACTIONS] = {"GET", "/v1/audit/actions", &audit_actions},
    [M_AUDIT_REPORT] = {"GET", "/v1/audit/report", &audit_report},
};

const lx_route_t *lx_api_routes(size_t *n)
{
    *n = M__COUNT;
    return routes;
}
