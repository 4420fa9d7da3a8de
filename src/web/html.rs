//! HTML building blocks: escaping, the page frame, values and times as text.
//!
//! Every value that comes from a store (metadata, file names, file contents, ids) goes
//! through [`esc`] or [`json_script`]; nothing from an artifact is ever written as markup.

use std::fmt::Write;

use axum::body::Body;
use axum::http::{header, Response, StatusCode};
use serde_json::Value;

/// The pages' Content-Security-Policy: scripts and styles from this origin only, no
/// inline script, nothing from elsewhere, no framing, forms only to here.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Escapes text for an HTML element or a quoted attribute.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Encodes one URL path segment or query value.
pub fn enc(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// A JSON value inside `<script type="application/json">`: `<`, `>` and `&` escaped so the
/// text can never close the element, whatever the data holds.
pub fn json_script(id: &str, value: &Value) -> String {
    let text = serde_json::to_string(value)
        .unwrap_or_else(|_| "null".into())
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026");
    format!(
        "<script type=\"application/json\" id=\"{}\">{text}</script>",
        esc(id)
    )
}

/// A scalar JSON value as text; objects and arrays as compact JSON.
pub fn scalar(value: &Value) -> String {
    match value {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

/// A time as `2025-11-07 18:02 UTC`.
pub fn time(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| seconds.to_string())
}

/// A size as `1.2 MB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// A signed difference, short: `+22.3`, `-0.07`.
pub fn delta(d: f64) -> String {
    let rounded = (d * 1e6).round() / 1e6;
    if rounded > 0.0 {
        format!("+{rounded}")
    } else {
        format!("{rounded}")
    }
}

/// The first 12 characters of a commit id.
pub fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

/// A whole page: head with the assets, the navigation, `body`; `scripts` names extra
/// assets to load (the chart library).
pub fn page(title: &str, store: &str, body: &str, charts: bool) -> String {
    let v = env!("CARGO_PKG_VERSION");
    let chart_assets = if charts {
        format!(
            "<link rel=\"stylesheet\" href=\"/assets/uPlot.min.css?v={v}\">\n<script src=\"/assets/uPlot.iife.min.js?v={v}\" defer></script>\n"
        )
    } else {
        String::new()
    };
    format!(
        "<!doctype html>
<html lang=\"en\">
<head>
<meta charset=\"utf-8\">
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">
<title>{title} · artifact-store</title>
<link rel=\"stylesheet\" href=\"/assets/app.css?v={v}\">
{chart_assets}<script src=\"/assets/app.js?v={v}\" defer></script>
</head>
<body>
<header class=\"top\">
<a class=\"brand\" href=\"/\">artifact-store</a>
<nav><a href=\"/\">Overview</a> <a href=\"/sets\">Versions</a></nav>
<span class=\"store\" title=\"the store this view reads\">{store}</span>
</header>
<main>
{body}
</main>
<footer>read-only view · refs are read afresh on every page · charts by <a href=\"/assets/uPlot-LICENSE\">uPlot</a></footer>
</body>
</html>
",
        title = esc(title),
        store = esc(store),
    )
}

/// An HTML response with the pages' policy.
pub fn response(status: StatusCode, html: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CONTENT_SECURITY_POLICY, PAGE_CSP)
        .body(Body::from(html))
        .unwrap_or_else(|_| super::internal_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_data_stays_text() {
        assert_eq!(
            esc("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
        let s = json_script("d", &Value::String("</script><script>x()</script>".into()));
        assert_eq!(s.matches("</script>").count(), 1, "{s}");
        assert!(s.contains("\\u003c/script\\u003e"));
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(1_234_567), "1.2 MB");
        assert_eq!(delta(22.3), "+22.3");
        assert_eq!(delta(-0.07), "-0.07");
        assert_eq!(time(1762538520), "2025-11-07 18:02 UTC");
    }
}
