/* Public probes: liveness (no I/O), readiness (a real round trip to PostgreSQL), metrics. */
#include "api/handlers.h"

LX_DB_STMT(health_ping, 0, "SELECT 1");

void lx_api_healthz(lx_req_t *lr)
{
    lx_respond_json(lr, 200, json_pack("{s:s}", "status", "ok"));
}

static int on_ping(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_problem(lr, LX_ERR_DB_UNAVAILABLE, NULL, "The database is not reachable.");
        return 0;
    }
    lx_respond_json(lr, 200, json_pack("{s:s}", "status", "ready"));
    return 0;
}

void lx_api_readyz(lx_req_t *lr)
{
    lx_async_t *a = lx_async_new(lr, on_ping);
    lx_db_job_add(&a->job, &health_ping);
    if (lx_db_submit(lr->worker->db, &a->job) != 0) {
        /* Not ready is the answer here, whatever the reason. */
        lr->pending = NULL;
        free(a);
        lx_respond_problem(lr, LX_ERR_DB_UNAVAILABLE, NULL, "The database is not reachable.");
    }
}

void lx_api_metrics(lx_req_t *lr)
{
    lx_strbuf_t sb;
    lx_strbuf_init(&sb, 16 << 20);
    lx_server_render_metrics(lr->worker->server, &sb);
    lx_respond_body(lr, 200, "text/plain; version=0.0.4; charset=utf-8", sb.base ? sb.base : "", sb.len);
    lx_strbuf_free(&sb);
}
