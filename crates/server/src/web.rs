//! The web interface (`web/`): its built bundle is embedded in the binary, so `plumbline serve`
//! alone serves the whole UI at `/`, its assets under `/assets/`, and the API under `/api/v1`
//! as before. The bundle is committed in `web/dist`, so building the server needs no Node.
//!
//! Caching: `index.html` names each script and stylesheet with `?v=` and the first 8 bytes of
//! the file's keccak256 (written by `web/build.mjs`). A request whose `v` matches what this
//! binary embeds is cacheable for a year; anything else, and the page itself, must be
//! revalidated, which the strong `ETag` makes cheap. An upgraded server therefore never has a
//! browser run an old script against a new API.

use crate::error::AppError;
use crate::state::AppState;
use axum::Router;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use std::sync::LazyLock;

/// One embedded file.
struct Asset {
    /// The name under `/assets/` (the page itself is served at `/`).
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const INDEX: Asset = Asset {
    name: "index.html",
    content_type: "text/html; charset=utf-8",
    bytes: include_bytes!("../../../web/dist/index.html"),
};

const ASSETS: [Asset; 3] = [
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../../web/dist/assets/app.js"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../../web/dist/assets/app.css"),
    },
    Asset {
        name: "icon.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../../../web/dist/assets/icon.svg"),
    },
];

/// What the page may load and run: only its own scripts, styles and API, no inline code, and
/// no framing. The interface builds every element through the DOM, so it needs nothing more.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Cache lifetime of an asset requested by its current version.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Revalidate every time (cheap with the `ETag`).
const REVALIDATE: &str = "no-cache";

/// `0x`-less hex of the first 8 bytes of keccak256, as `web/build.mjs` writes it.
fn version_of(bytes: &[u8]) -> String {
    alloy_primitives::hex::encode(&alloy_primitives::keccak256(bytes)[..8])
}

/// Each asset's version, computed once.
static VERSIONS: LazyLock<Vec<String>> = LazyLock::new(|| {
    std::iter::once(&INDEX).chain(ASSETS.iter()).map(|a| version_of(a.bytes)).collect()
});

/// The routes of the interface, to be merged beside `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new().route("/", get(index)).route("/assets/{name}", get(asset))
}

#[derive(Deserialize)]
struct AssetQuery {
    v: Option<String>,
}

async fn index(headers: HeaderMap) -> Response {
    let mut response = serve(&INDEX, &VERSIONS[0], REVALIDATE, &headers);
    let set = response.headers_mut();
    set.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    set.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    set.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

async fn asset(
    Path(name): Path<String>,
    Query(query): Query<AssetQuery>,
    headers: HeaderMap,
) -> Response {
    let Some(index) = ASSETS.iter().position(|a| a.name == name) else {
        return AppError::not_found(format!("no asset {name:?}")).into_response();
    };
    let version = &VERSIONS[index + 1];
    let cache = if query.v.as_deref() == Some(version.as_str()) { IMMUTABLE } else { REVALIDATE };
    serve(&ASSETS[index], version, cache, &headers)
}

fn serve(asset: &Asset, version: &str, cache: &'static str, headers: &HeaderMap) -> Response {
    let etag = format!("\"{version}\"");
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let common = [
        (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        (header::ETAG, HeaderValue::from_str(&etag).expect("hex is a valid header value")),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    let content_type = (header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    (common, [content_type], asset.bytes).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_the_versions_the_server_embeds() {
        let page = std::str::from_utf8(INDEX.bytes).expect("index.html is UTF-8");
        for (asset, version) in ASSETS.iter().zip(&VERSIONS[1..]) {
            if asset.name == "icon.svg" {
                continue;
            }
            let reference = format!("/assets/{}?v={version}", asset.name);
            assert!(page.contains(&reference), "index.html does not reference {reference}");
        }
    }

    #[test]
    fn every_embedded_file_is_non_empty() {
        for asset in std::iter::once(&INDEX).chain(ASSETS.iter()) {
            assert!(!asset.bytes.is_empty(), "{} is empty", asset.name);
        }
    }
}
