//! The web page: plain HTML and JavaScript shipped inside the binary.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::ApiError;

/// The page's files, by name.
const FILES: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("web/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("web/app.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("web/style.css"),
    ),
];

fn serve(name: &str) -> Result<Response, ApiError> {
    let (_, content_type, body) = FILES.iter().find(|(n, _, _)| *n == name).ok_or_else(|| {
        ApiError::client(
            StatusCode::NOT_FOUND,
            "no_such_file",
            format!("no page file {name:?}: the page has index.html, app.js and style.css"),
        )
    })?;
    Ok((
        [
            (header::CONTENT_TYPE, *content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        *body,
    )
        .into_response())
}

/// `GET /`: the page.
pub async fn index() -> Result<Response, ApiError> {
    serve("index.html")
}

/// The API's OpenAPI 3.1 document, as in the repository (docs/openapi.json;
/// the tests keep it true to the routes).
const OPENAPI: &str = include_str!("../../../docs/openapi.json");

/// `GET /v1/openapi.json`: the document, for clients and API tools.
pub async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
        .into_response()
}

/// `GET /ui/{file}`: its script and style.
pub async fn file(Path(name): Path<String>) -> Result<Response, ApiError> {
    serve(&name)
}
