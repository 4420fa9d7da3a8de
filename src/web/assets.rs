//! The view's static files, compiled into the binary: nothing is read from disk or fetched
//! from another origin at run time. uPlot is vendored under `assets/web/vendor/` with its
//! licence and a note of where it came from.

use axum::body::Body;
use axum::http::{header, Response, StatusCode};

/// `(name, content type, bytes)` of every asset.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/web/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/web/app.css"),
    ),
    (
        "uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/web/vendor/uplot-1.6.32/uPlot.iife.min.js"),
    ),
    (
        "uPlot.min.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/web/vendor/uplot-1.6.32/uPlot.min.css"),
    ),
    (
        "uPlot-LICENSE",
        "text/plain; charset=utf-8",
        include_str!("../../assets/web/vendor/uplot-1.6.32/LICENSE"),
    ),
];

/// Serves one asset, cached for an hour (they change only with the binary).
pub(super) fn serve(name: &str) -> Response<Body> {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, kind, text)) => Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, *kind)
            .header(header::CACHE_CONTROL, "public, max-age=3600")
            .body(Body::from(*text))
            .unwrap_or_else(|_| super::internal_error()),
        None => super::error_response(
            false,
            StatusCode::NOT_FOUND,
            &crate::error::Error::NotFound(format!("no asset named {name:?}")),
        ),
    }
}
