//! The one route table: every route of the API with its method, path, the
//! role it needs and its handler, in three groups: the node's own (health,
//! metrics, the web page), the store's and the daemon's. A process serves
//! the groups it runs (both in embedded mode), each router with its own
//! state; the routes of a group it does not run answer with where to go
//! instead. The role checks, the OpenAPI test and this table cannot
//! disagree: they are all read from here.

use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode};
use axum::routing::{any, delete, get, post, put, MethodRouter};
use axum::Router;

use super::auth::{self, Role};
use super::{
    cluster_jobs_routes, cluster_routes, gateway_routes, jobs_routes, metrics, results_routes,
    store_routes, web, ApiError, AppState, DaemonState,
};

/// One route.
pub struct Route<S> {
    /// Its method.
    pub method: Method,
    /// Its path template, as routed.
    pub path: &'static str,
    /// Who may call it.
    pub role: Role,
    handler: MethodRouter<S>,
}

fn route<S>(method: Method, path: &'static str, role: Role, handler: MethodRouter<S>) -> Route<S> {
    Route {
        method,
        path,
        role,
        handler,
    }
}

/// The node's own routes: they answer whatever the process runs.
pub fn node_routes() -> Vec<Route<AppState>> {
    vec![
        route(Method::GET, "/healthz", Role::Public, get(super::healthz)),
        route(Method::GET, "/metrics", Role::Read, get(metrics::metrics)),
        route(Method::GET, "/", Role::Public, get(web::index)),
        route(Method::GET, "/ui/{file}", Role::Public, get(web::file)),
        route(
            Method::GET,
            "/v1/openapi.json",
            Role::Public,
            get(web::openapi),
        ),
        route(
            Method::GET,
            "/v1/cluster",
            Role::Read,
            get(cluster_routes::status),
        ),
        route(
            Method::GET,
            "/v1/cluster/parts",
            Role::Read,
            get(gateway_routes::parts),
        ),
        route(
            Method::GET,
            "/v1/cluster/jobs/{name}/results",
            Role::Read,
            get(gateway_routes::range),
        ),
        route(
            Method::GET,
            "/v1/cluster/jobs/{name}/results/stream",
            Role::Read,
            get(gateway_routes::stream),
        ),
        route(
            Method::GET,
            "/v1/cluster/modules/{sha256}",
            Role::Read,
            get(cluster_jobs_routes::module),
        ),
    ]
}

/// The store's routes: both ingest paths and the raw reads.
pub fn store_routes() -> Vec<Route<std::sync::Arc<epochd_store::Store>>> {
    const CHUNK: &str = "/v1/chunks/{epoch}/{dc}/{event_type}/{subtype}/{chunk}";
    const MANIFEST: &str = "/v1/manifests/{epoch}/{dc}/{seq}";
    vec![
        route(
            Method::POST,
            "/v1/events",
            Role::Ingest,
            post(store_routes::ingest),
        ),
        route(
            Method::PUT,
            CHUNK,
            Role::Admin,
            put(store_routes::put_chunk),
        ),
        route(
            Method::GET,
            CHUNK,
            Role::Admin,
            get(store_routes::get_chunk),
        ),
        route(
            Method::PUT,
            MANIFEST,
            Role::Admin,
            put(store_routes::put_manifest),
        ),
        route(
            Method::GET,
            MANIFEST,
            Role::Admin,
            get(store_routes::get_manifest),
        ),
        route(
            Method::GET,
            "/v1/commits",
            Role::Admin,
            get(store_routes::list_commits),
        ),
    ]
}

/// The daemon's routes: jobs, results, streams, logs. Submissions take
/// bodies up to `max_job_bytes`.
pub fn daemon_routes(max_job_bytes: usize) -> Vec<Route<DaemonState>> {
    const JOB: &str = "/v1/jobs/{name}";
    vec![
        route(
            Method::POST,
            "/v1/jobs",
            Role::Admin,
            post(jobs_routes::submit).layer(DefaultBodyLimit::max(max_job_bytes)),
        ),
        route(Method::GET, "/v1/jobs", Role::Read, get(jobs_routes::list)),
        route(Method::GET, JOB, Role::Read, get(jobs_routes::show)),
        route(
            Method::DELETE,
            JOB,
            Role::Admin,
            delete(jobs_routes::delete),
        ),
        route(
            Method::POST,
            "/v1/jobs/{name}/pause",
            Role::Admin,
            post(jobs_routes::pause),
        ),
        route(
            Method::POST,
            "/v1/jobs/{name}/resume",
            Role::Admin,
            post(jobs_routes::resume),
        ),
        route(
            Method::GET,
            "/v1/jobs/{name}/results",
            Role::Read,
            get(results_routes::range),
        ),
        route(
            Method::GET,
            "/v1/jobs/{name}/results/stream",
            Role::Read,
            get(results_routes::stream),
        ),
        route(
            Method::GET,
            "/v1/jobs/{name}/logs",
            Role::Read,
            get(results_routes::logs),
        ),
    ]
}

/// Every route of the API (the three groups): method, path and role.
pub fn table() -> Vec<(Method, &'static str, Role)> {
    fn rows<S>(routes: Vec<Route<S>>) -> impl Iterator<Item = (Method, &'static str, Role)> {
        routes.into_iter().map(|r| (r.method, r.path, r.role))
    }
    rows(node_routes())
        .chain(rows(store_routes()))
        .chain(rows(daemon_routes(0)))
        .collect()
}

/// The role a route needs (Admin for one not in the table).
pub fn required_role(method: &Method, path: &str) -> Role {
    table()
        .into_iter()
        .find(|(m, p, _)| m == method && *p == path)
        .map_or(Role::Admin, |(_, _, role)| role)
}

/// A group's routes as a router with its state, each behind its role.
pub fn serve<S: Clone + Send + Sync + 'static>(
    routes: Vec<Route<S>>,
    state: S,
    auth: &std::sync::Arc<auth::Auth>,
) -> Router {
    let mut router = Router::new();
    for r in routes {
        let check = axum::middleware::from_fn_with_state((auth.clone(), r.role), auth::check);
        router = router.route(r.path, r.handler.route_layer(check));
    }
    router.with_state(state)
}

/// A group this process does not run: each of its paths answers 404 with
/// `code` and where to go instead.
pub fn elsewhere<S>(routes: Vec<Route<S>>, code: &'static str, message: &'static str) -> Router {
    let paths: std::collections::BTreeSet<&'static str> = routes.iter().map(|r| r.path).collect();
    let mut router = Router::new();
    for path in paths {
        router = router.route(
            path,
            any(move || async move { ApiError::client(StatusCode::NOT_FOUND, code, message) }),
        );
    }
    router
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_need_the_roles_the_docs_say() {
        assert_eq!(required_role(&Method::GET, "/healthz"), Role::Public);
        assert_eq!(required_role(&Method::POST, "/v1/events"), Role::Ingest);
        assert_eq!(required_role(&Method::GET, "/v1/jobs"), Role::Read);
        assert_eq!(required_role(&Method::POST, "/v1/jobs"), Role::Admin);
        assert_eq!(
            required_role(&Method::DELETE, "/v1/jobs/{name}"),
            Role::Admin
        );
        assert_eq!(
            required_role(&Method::GET, "/v1/jobs/{name}/results/stream"),
            Role::Read
        );
        assert_eq!(
            required_role(
                &Method::GET,
                "/v1/chunks/{epoch}/{dc}/{event_type}/{subtype}/{chunk}"
            ),
            Role::Admin
        );
        assert_eq!(required_role(&Method::GET, "/v1/commits"), Role::Admin);
    }

    #[test]
    fn each_method_and_path_is_in_the_table_once() {
        let table = table();
        let unique: std::collections::BTreeSet<_> =
            table.iter().map(|(m, p, _)| (m.as_str(), *p)).collect();
        assert_eq!(unique.len(), table.len());
    }
}
