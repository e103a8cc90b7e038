//! The API's routes, one module per resource. Each module lists its routes once, as [`Route`]
//! values carrying both the handler and its description, so the router and the OpenAPI
//! document are built from the same list and cannot drift apart.

pub mod accounts;
pub mod auth;
pub mod batches;
pub mod chain;
pub mod experiments;
pub mod health;
pub mod openapi;
pub mod practice;
pub mod test_clock;
pub mod work;

use crate::state::{AppState, Config};
use axum::Router;
use axum::routing::MethodRouter;

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without signing in.
    Anyone,
    /// A signed-in caller (`Authorization: Bearer TOKEN`).
    Session,
    /// Anyone holding the key that signed the EIP-712 message in the body.
    Signer,
}

/// One route: what the router serves and what the OpenAPI document says about it.
pub struct Route {
    /// `get` or `post`.
    pub method: &'static str,
    /// The path under `/api/v1`, with `{name}` parameters.
    pub path: &'static str,
    /// One line on what it does.
    pub summary: &'static str,
    /// Who may call it.
    pub access: Access,
    /// The request body's media type, if it takes one.
    pub body: Option<&'static str>,
    /// The statuses it answers with, and when.
    pub responses: &'static [(u16, &'static str)],
    /// The handler.
    pub handler: MethodRouter<AppState>,
}

/// Builds a router from a module's routes.
pub fn router_of(routes: Vec<Route>) -> Router<AppState> {
    routes.into_iter().fold(Router::new(), |router, route| router.route(route.path, route.handler))
}

/// Every route the server answers with this configuration.
pub fn all(config: &Config) -> Vec<Route> {
    let mut routes = Vec::new();
    routes.extend(health::routes());
    routes.extend(auth::routes());
    routes.extend(accounts::routes());
    routes.extend(experiments::routes(config));
    routes.extend(practice::routes(config));
    routes.extend(batches::routes());
    routes.extend(work::routes());
    routes.extend(chain::routes());
    routes.extend(openapi::routes());
    if config.test_clock {
        routes.extend(test_clock::routes());
    }
    routes
}

/// The router of the whole API (to be nested under `/api/v1`).
pub fn api(config: &Config) -> Router<AppState> {
    let mut router = Router::new()
        .merge(health::router())
        .merge(auth::router())
        .merge(accounts::router())
        .merge(experiments::router(config))
        .merge(practice::router(config))
        .merge(batches::router())
        .merge(work::router())
        .merge(chain::router())
        .merge(openapi::router());
    // Without --test-clock the route does not exist at all, not merely refuse.
    if config.test_clock {
        router = router.merge(test_clock::router());
    }
    router
}
