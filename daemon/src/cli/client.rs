//! The HTTP client of a node's API that the command line's commands share:
//! requests with the node's token, and the API's JSON errors turned into
//! [`RemoteError`]s whose text is `<message> (<code>)`, so that `main`
//! prints `epochd: <message> (<code>)` and exits non-zero.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;

use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use serde_json::Value;

use super::args::ClientArgs;
use super::format::truncate;

/// Why a request to the node failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The API refused the request with its JSON error.
    #[error("{message} ({code}){hint}")]
    Api {
        /// The HTTP status.
        status: StatusCode,
        /// The machine-readable code, e.g. `no_such_job`.
        code: String,
        /// What was wrong and what to do.
        message: String,
        /// A line of advice of ours (tokens), or empty.
        hint: String,
    },
    /// Nothing answered at the URL.
    #[error(
        "cannot reach epochd at {url}: {cause}; check --url (or EPOCHD_URL) and that the node runs"
    )]
    Connect {
        /// The URL that failed.
        url: String,
        /// The underlying error, innermost.
        cause: String,
    },
    /// An answer that is not the API's (another server, a proxy...).
    #[error("{method} {url} answered HTTP {status}{body}: is --url an epochd node's API?")]
    Http {
        /// The request's method.
        method: Method,
        /// The URL.
        url: String,
        /// The status.
        status: StatusCode,
        /// The start of the body, if any, prefixed with ": ".
        body: String,
    },
    /// The request failed midway.
    #[error("{method} {url} failed: {cause}")]
    Transport {
        /// The request's method.
        method: Method,
        /// The URL.
        url: String,
        /// The underlying error, innermost.
        cause: String,
    },
}

impl RemoteError {
    /// Whether trying again later may succeed (the node restarting, a
    /// dropped connection, a 5xx), as opposed to a refusal.
    pub fn is_transient(&self) -> bool {
        match self {
            RemoteError::Api { status, .. } | RemoteError::Http { status, .. } => {
                status.is_server_error()
            }
            RemoteError::Connect { .. } | RemoteError::Transport { .. } => true,
        }
    }
}

/// The innermost cause of an error ("Connection refused (os error 111)"
/// rather than reqwest's "error sending request").
pub(super) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut inner = e;
    while let Some(next) = inner.source() {
        inner = next;
    }
    inner.to_string()
}

/// A node's API, as the command line reaches it.
pub struct Remote {
    base: Url,
    http: reqwest::Client,
    has_token: bool,
}

impl Remote {
    /// A client of the node at `args.url` with `args.token`.
    pub fn new(args: &ClientArgs) -> anyhow::Result<Remote> {
        let raw = args.url.trim();
        let with_scheme = if raw.contains("://") {
            raw.to_owned()
        } else {
            format!("http://{raw}")
        };
        let base = Url::parse(&with_scheme)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .with_context(|| {
                format!("--url {raw:?} is not an http URL: give the node's address, e.g. http://127.0.0.1:8790")
            })?;
        let token = args.token.as_deref().filter(|t| !t.is_empty());
        let http = reqwest::Client::builder()
            .default_headers(crate::api::auth::auth_headers(token)?)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Remote {
            base,
            http,
            has_token: token.is_some(),
        })
    }

    /// The URL of the API path `segments` (each one percent-encoded).
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.set_query(None);
        url.set_fragment(None);
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    pub(super) fn request(&self, method: Method, url: Url) -> RequestBuilder {
        self.http.request(method, url)
    }

    /// Sends a request; a non-2xx answer becomes the matching [`RemoteError`].
    pub async fn send(&self, request: RequestBuilder) -> Result<Response, RemoteError> {
        let (client, request) = request.build_split();
        let request = request.map_err(|e| RemoteError::Transport {
            method: Method::GET,
            url: self.base.to_string(),
            cause: root_cause(&e),
        })?;
        let method = request.method().clone();
        let url = request.url().clone();
        let response = client.execute(request).await.map_err(|e| {
            if e.is_connect() {
                RemoteError::Connect {
                    url: url.to_string(),
                    cause: root_cause(&e),
                }
            } else {
                RemoteError::Transport {
                    method: method.clone(),
                    url: url.to_string(),
                    cause: root_cause(&e),
                }
            }
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.bytes().await.unwrap_or_default();
        let error: Option<(String, String)> =
            serde_json::from_slice::<Value>(&body).ok().and_then(|v| {
                Some((
                    v.get("error")?.as_str()?.to_owned(),
                    v.get("message")?.as_str()?.to_owned(),
                ))
            });
        Err(match error {
            Some((code, message)) => {
                let hint = match status {
                    StatusCode::UNAUTHORIZED if !self.has_token => {
                        "\n  the node needs a token: pass --token or set EPOCHD_TOKEN"
                    }
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                        "\n  pass a token with that role with --token (or EPOCHD_TOKEN)"
                    }
                    _ => "",
                };
                RemoteError::Api {
                    status,
                    code,
                    message,
                    hint: hint.to_owned(),
                }
            }
            None => {
                let text = String::from_utf8_lossy(&body);
                let text = truncate(text.trim(), 200);
                RemoteError::Http {
                    method,
                    url: url.to_string(),
                    status,
                    body: if text.is_empty() {
                        String::new()
                    } else {
                        format!(": {text}")
                    },
                }
            }
        })
    }

    /// Sends a request and reads its JSON answer.
    pub(super) async fn json(&self, request: RequestBuilder) -> anyhow::Result<Value> {
        self.json_as(request).await
    }

    /// Sends a request and reads its JSON answer as a `T` (one with
    /// [`serde_json::value::RawValue`] fields keeps their text as sent).
    pub(super) async fn json_as<T: serde::de::DeserializeOwned>(
        &self,
        request: RequestBuilder,
    ) -> anyhow::Result<T> {
        let request = request.timeout(Duration::from_secs(120));
        let response = self.send(request).await?;
        let url = response.url().to_string();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| anyhow::anyhow!("reading the answer of {url}: {}", root_cause(&e)))?;
        serde_json::from_slice(&bytes)
            .with_context(|| format!("{url} did not answer JSON: is --url an epochd node's API?"))
    }
}

/// Lines to stdout; a closed stdout (`| head`) ends the command quietly.
pub(super) struct Out {
    out: std::io::Stdout,
}

/// Stdout was closed by its reader.
#[derive(Debug)]
pub(super) struct Closed;

impl Out {
    pub(super) fn new() -> Out {
        Out {
            out: std::io::stdout(),
        }
    }

    pub(super) fn line(&self, text: &str) -> Result<(), Closed> {
        let mut out = self.out.lock();
        writeln!(out, "{text}")
            .and_then(|()| out.flush())
            .map_err(|_| Closed)
    }
}
