//! What the command line's HTTP clients share: the node's token as a
//! header on every request.

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};

/// `Authorization: Bearer <token>` when there is a token.
pub fn auth_headers(token: Option<&str>) -> anyhow::Result<HeaderMap> {
    let mut headers = HeaderMap::new();
    if let Some(token) = token {
        let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| anyhow::anyhow!("the token has characters a header cannot carry"))?;
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
    }
    Ok(headers)
}
