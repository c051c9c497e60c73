//! Who may do what: bearer tokens, one per role.
//!
//! Every route needs a role (its row in the route table, `routes.rs`); a request carries a token
//! (`Authorization: Bearer <token>`, or `?access_token=` on GET requests,
//! since a browser's `EventSource` cannot set headers), and the token's
//! role must cover the route's. Submitting code (jobs) and reading raw
//! events take the admin token; reading results takes the read token;
//! producers ingest with the ingest token. The admin token covers every
//! role. Authentication can be turned off only explicitly, and only on a
//! loopback address (checked at start-up, see [`Auth::new`]).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Anyone (health, the web page's static files).
    Public,
    /// Producers: `POST /v1/events`.
    Ingest,
    /// Result readers: jobs, results, streams, metrics.
    Read,
    /// Everything: jobs' lifecycle, raw events.
    Admin,
}

/// The node's tokens.
#[derive(Clone, Default)]
pub struct Auth {
    admin: Option<String>,
    read: Option<String>,
    ingest: Option<String>,
    /// Every request is allowed (`--no-auth`, loopback only).
    open: bool,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the tokens.
        f.debug_struct("Auth")
            .field("admin", &self.admin.is_some())
            .field("read", &self.read.is_some())
            .field("ingest", &self.ingest.is_some())
            .field("open", &self.open)
            .finish()
    }
}

/// Why the tokens given cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    /// `--no-auth` with an address others can reach.
    #[error(
        "--no-auth is allowed only on a loopback address, and {0} is not one: set \
         --admin-token (and --read-token / --ingest-token) instead"
    )]
    OpenOnNetwork(SocketAddr),
    /// No admin token and no `--no-auth`.
    #[error(
        "no admin token: set --admin-token or EPOCHD_ADMIN_TOKEN (and --read-token, \
         --ingest-token for readers and producers), or pass --no-auth to run without \
         tokens on a loopback address"
    )]
    NoAdminToken,
    /// A token too short to be a secret.
    #[error("the {0} token is shorter than 16 characters: use a long random string")]
    Weak(&'static str),
}

impl Auth {
    /// Tokens for a node listening on `listen`.
    pub fn new(
        listen: SocketAddr,
        admin: Option<String>,
        read: Option<String>,
        ingest: Option<String>,
        no_auth: bool,
    ) -> Result<Auth, AuthConfigError> {
        if no_auth {
            if !listen.ip().is_loopback() {
                return Err(AuthConfigError::OpenOnNetwork(listen));
            }
            return Ok(Auth::open());
        }
        let admin = admin.ok_or(AuthConfigError::NoAdminToken)?;
        for (name, token) in [
            ("admin", Some(&admin)),
            ("read", read.as_ref()),
            ("ingest", ingest.as_ref()),
        ] {
            if token.is_some_and(|t| t.len() < 16) {
                return Err(AuthConfigError::Weak(name));
            }
        }
        Ok(Auth {
            admin: Some(admin),
            read,
            ingest,
            open: false,
        })
    }

    /// No tokens needed (tests and local use on loopback).
    pub fn open() -> Auth {
        Auth {
            open: true,
            ..Auth::default()
        }
    }

    /// The token this node presents to another node of its cluster (to
    /// fetch a job module, role read): its read token, else its admin
    /// token; `None` without tokens.
    pub fn node_token(&self) -> Option<String> {
        self.read.clone().or_else(|| self.admin.clone())
    }

    /// Whether every request is allowed.
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// The role a presented token carries, if it is one of ours.
    fn role_of(&self, token: &str) -> Option<Role> {
        let is = |t: &Option<String>| t.as_deref().is_some_and(|t| same_secret(t, token));
        if is(&self.admin) {
            Some(Role::Admin)
        } else if is(&self.read) {
            Some(Role::Read)
        } else if is(&self.ingest) {
            Some(Role::Ingest)
        } else {
            None
        }
    }

    /// Whether a token's role covers `need`. Admin covers all; the read and
    /// ingest roles cover only themselves.
    fn allows(&self, token: Option<&str>, need: Role) -> Result<(), ApiError> {
        if self.open || need == Role::Public {
            return Ok(());
        }
        let Some(token) = token else {
            return Err(ApiError::client(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                format!(
                    "this request needs the {} token: send `Authorization: Bearer <token>`",
                    need.name()
                ),
            ));
        };
        match self.role_of(token) {
            None => Err(ApiError::client(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "the token is not one of this node's tokens",
            )),
            Some(Role::Admin) => Ok(()),
            Some(role) if role == need => Ok(()),
            Some(role) => Err(ApiError::client(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "the {} token cannot do this: it needs the {} token",
                    role.name(),
                    need.name()
                ),
            )),
        }
    }
}

impl Role {
    /// Its name, as docs/API.md and docs/openapi.json (`x-epochd-role`) say it.
    pub fn name(self) -> &'static str {
        match self {
            Role::Public => "public",
            Role::Ingest => "ingest",
            Role::Read => "read",
            Role::Admin => "admin",
        }
    }
}

/// Compares two secrets in time that depends only on their lengths.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The token a request presents: the `Authorization` header, or for GET
/// requests the `access_token` query parameter.
fn presented(req: &Request) -> Option<String> {
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?.trim_start();
        // The scheme is case-insensitive (RFC 9110 §11.1): `bearer` too.
        let (scheme, token) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_owned());
    }
    if req.method() != Method::GET {
        return None;
    }
    req.uri().query()?.split('&').find_map(|pair| {
        let value = pair.strip_prefix("access_token=")?;
        percent_decode(value)
    })
}

/// Decodes `%XX` escapes (tokens are printable ASCII; `+` stays `+`).
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Middleware (a route layer, so the route is known): refuses a request
/// whose token does not cover its route's role.
pub async fn check(
    State((auth, need)): State<(Arc<Auth>, Role)>,
    req: Request,
    next: Next,
) -> Response {
    match auth.allows(presented(&req).as_deref(), need) {
        Ok(()) => next.run(req).await,
        Err(e) => {
            let unauthorized = e.status() == StatusCode::UNAUTHORIZED;
            let mut response = e.into_response();
            if unauthorized {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            response
        }
    }
}

/// A token that cannot go in a header.
#[derive(Debug, thiserror::Error)]
#[error("the token has characters a header cannot carry (line breaks, control characters): check EPOCHD_TOKEN or --token")]
pub struct BadToken;

/// The client side of the scheme, for the command line and the load
/// generator: `Authorization: Bearer <token>` when there is a token.
pub fn auth_headers(token: Option<&str>) -> Result<HeaderMap, BadToken> {
    let mut headers = HeaderMap::new();
    if let Some(token) = token {
        let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| BadToken)?;
        value.set_sensitive(true);
        headers.insert(header::AUTHORIZATION, value);
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        Auth::new(
            "0.0.0.0:1".parse().unwrap(),
            Some("admin-admin-admin-1".into()),
            Some("read-read-read-read-1".into()),
            Some("ingest-ingest-ingest-1".into()),
            false,
        )
        .unwrap()
    }

    #[test]
    fn each_token_covers_its_role_and_admin_covers_all() {
        let a = auth();
        let admin = Some("admin-admin-admin-1");
        let read = Some("read-read-read-read-1");
        let ingest = Some("ingest-ingest-ingest-1");
        for need in [Role::Ingest, Role::Read, Role::Admin] {
            assert!(a.allows(admin, need).is_ok());
        }
        assert!(a.allows(read, Role::Read).is_ok());
        assert_eq!(
            a.allows(read, Role::Admin).unwrap_err().status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            a.allows(read, Role::Ingest).unwrap_err().status(),
            StatusCode::FORBIDDEN
        );
        assert!(a.allows(ingest, Role::Ingest).is_ok());
        assert_eq!(
            a.allows(ingest, Role::Read).unwrap_err().status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            a.allows(None, Role::Read).unwrap_err().status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            a.allows(Some("admin-admin-admin-2"), Role::Read)
                .unwrap_err()
                .status(),
            StatusCode::UNAUTHORIZED
        );
        assert!(a.allows(None, Role::Public).is_ok());
    }

    #[test]
    fn no_auth_only_on_loopback_and_tokens_must_be_long() {
        assert!(Auth::new("127.0.0.1:1".parse().unwrap(), None, None, None, true).is_ok());
        assert!(Auth::new("[::1]:1".parse().unwrap(), None, None, None, true).is_ok());
        assert!(matches!(
            Auth::new("0.0.0.0:1".parse().unwrap(), None, None, None, true),
            Err(AuthConfigError::OpenOnNetwork(_))
        ));
        assert!(matches!(
            Auth::new("127.0.0.1:1".parse().unwrap(), None, None, None, false),
            Err(AuthConfigError::NoAdminToken)
        ));
        assert!(matches!(
            Auth::new(
                "127.0.0.1:1".parse().unwrap(),
                Some("short".into()),
                None,
                None,
                false
            ),
            Err(AuthConfigError::Weak("admin"))
        ));
    }

    #[test]
    fn query_tokens_are_percent_decoded() {
        assert_eq!(percent_decode("a%2Bb%3D").as_deref(), Some("a+b="));
        assert_eq!(percent_decode("bad%zz"), None);
    }
}
