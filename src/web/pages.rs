//! The pages: the overview, the table of versions, one version, and the comparison of
//! two to eight versions. Rendered on the server; `assets/web/app.js` adds sorting, the
//! "only what differs" switch and the charts.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Response, StatusCode};
use serde_json::{json, Value};

use super::api::{known, list_query, task_of};
use super::html::{bytes, delta, enc, esc, json_script, page, scalar, short, time};
use super::{status_of, with_store, App};
use crate::catalog::series::{Curves, XKind};
use crate::catalog::{table, ArtifactSet, DiffOptions, FileChange, FileEntry};
use crate::error::{Error, Result};
use crate::metadata::METADATA_FILE;
use crate::store::Store;

/// Points per series sent to the browser at most (`Curves::downsample`).
pub const MAX_POINTS: usize = 2000;

/// Files larger than this are not read for a preview.
const PREVIEW_MAX_BYTES: u64 = 8 << 20;

/// CSV files larger than this are not charted.
const CHART_MAX_BYTES: u64 = 32 << 20;

/// Rows of a CSV preview.
const CSV_PREVIEW_ROWS: usize = 50;

/// Lines of a text preview.
const TEXT_PREVIEW_LINES: usize = 2000;

/// Files larger than this get no text diff on the compare page.
const DIFF_MAX_BYTES: u64 = 2 << 20;

/// Lines of one text diff shown at most.
const DIFF_MAX_LINES: usize = 400;

/// Numeric columns of one CSV charted at most.
const COLUMNS_PER_FILE: usize = 6;

/// Versions the compare page takes.
const COMPARE_MIN: usize = 2;
const COMPARE_MAX: usize = 8;

pub(super) async fn route(
    app: Arc<App>,
    segs: &[&str],
    params: Vec<(String, String)>,
) -> Response<Body> {
    let owned: Vec<String> = segs.iter().map(|s| s.to_string()).collect();
    match segs {
        [""] => render(app, move |store| overview(store, &params)).await,
        ["sets"] | ["sets", ""] => render(app, move |store| versions(store, &params)).await,
        ["sets", _] => render(app, move |store| one_set(store, &owned[1], &params)).await,
        ["compare"] => render(app, move |store| compare(store, &params)).await,
        _ => error_page(
            StatusCode::NOT_FOUND,
            &Error::NotFound(format!("no page at /{}", segs.join("/"))),
        ),
    }
}

/// What a page renderer returns: its title, its body, whether it draws charts.
struct Page {
    title: String,
    body: String,
    charts: bool,
}

async fn render(
    app: Arc<App>,
    f: impl FnOnce(&Store) -> Result<Page> + Send + 'static,
) -> Response<Body> {
    with_store(
        app,
        move |store, git_dir| match f(store) {
            Ok(p) => {
                super::html::response(StatusCode::OK, page(&p.title, git_dir, &p.body, p.charts))
            }
            Err(e) => error_page(status_of(e.exit_code()), &e),
        },
        |e| error_page(status_of(e.exit_code()), &e),
    )
    .await
}

/// A page that says what went wrong, with the error's kind and hint.
pub(super) fn error_page(status: StatusCode, error: &Error) -> Response<Body> {
    let body = format!(
        "<h1>{}</h1>\n{}",
        esc(status.canonical_reason().unwrap_or("Error")),
        error_box(error)
    );
    super::html::response(status, page("Error", "", &body, false))
}

fn error_box(error: &Error) -> String {
    let mut out = format!(
        "<div class=\"error\" data-kind=\"{}\"><p><strong>{}</strong></p>",
        esc(error.kind()),
        esc(&error.to_string())
    );
    for cause in crate::report::causes(error) {
        let _ = write!(out, "<p class=\"cause\">caused by: {}</p>", esc(&cause));
    }
    if let Some(hint) = error.hint() {
        let _ = write!(out, "<p class=\"hint\">hint: {}</p>", esc(&hint));
    }
    out.push_str("</div>");
    out
}

fn set_href(sha: &str) -> String {
    format!("/sets/{}", enc(sha))
}

fn get<'m>(m: &'m Value, key: &str) -> Option<&'m str> {
    m.get(key).and_then(Value::as_str)
}

/// How a row or a set is named on a page: its correlation id, else its commit.
fn label(metadata: &Value, sha: &str) -> String {
    metadata
        .get("correlation_id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| short(sha).to_string())
}

fn status_cell(status: Option<&str>) -> String {
    match status {
        Some(s) => format!("<span class=\"status status-{0}\">{0}</span>", esc(s)),
        None => "—".into(),
    }
}

fn unreadable_box(listing: &crate::catalog::Listing) -> String {
    match listing.unreadable_error() {
        Some(e) => error_box(&e),
        None => String::new(),
    }
}

// ---------------------------------------------------------------------------------------
// `/`: workflows and tasks.

fn overview(store: &Store, params: &[(String, String)]) -> Result<Page> {
    known(params, &[])?;
    let listing = store.list(&crate::catalog::ListQuery {
        limit: usize::MAX,
        ..Default::default()
    })?;
    let mut workflows: BTreeMap<String, Vec<&ArtifactSet>> = BTreeMap::new();
    for row in &listing.rows {
        let wf = get(&row.metadata, "workflow_id").unwrap_or("?").to_string();
        workflows.entry(wf).or_default().push(row);
    }
    let mut order: Vec<(&String, &Vec<&ArtifactSet>)> = workflows.iter().collect();
    order.sort_by_key(|(_, rows)| std::cmp::Reverse(rows.first().map_or(0, |r| r.time)));
    let mut body = format!(
        "<h1>Overview</h1>\n<p class=\"lead\">{} workflow{}, {} task{}. Each task is a branch; each version a commit tagged with its correlation id.</p>\n{}",
        workflows.len(),
        plural(workflows.len()),
        listing.rows.len(),
        plural(listing.rows.len()),
        unreadable_box(&listing)
    );
    if listing.rows.is_empty() && listing.unreadable.is_empty() {
        body.push_str("<p class=\"empty\">This store holds no artifact sets yet. Commit one with <code>artifact-store commit</code>.</p>");
    }
    for (wf, rows) in order {
        let _ = writeln!(
            body,
            "<section class=\"workflow\">\n<h2><a href=\"/sets?workflow={}\">{}</a> <small>{} task{} · newest {}</small></h2>",
            enc(wf),
            esc(wf),
            rows.len(),
            plural(rows.len()),
            rows.first().map(|r| time(r.time)).unwrap_or_default()
        );
        body.push_str("<table class=\"grid\"><thead><tr><th>Task</th><th>Newest version</th><th>Status</th><th>Committed</th><th>Metrics</th></tr></thead><tbody>\n");
        for row in rows.iter().take(100) {
            let task = get(&row.metadata, "task_id").unwrap_or("?");
            let _ = writeln!(
                body,
                "<tr><td><a href=\"/sets?workflow={}&amp;task={}\">{}</a></td><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                enc(wf),
                enc(task),
                esc(task),
                set_href(&row.commit_sha),
                esc(&label(&row.metadata, &row.commit_sha)),
                status_cell(get(&row.metadata, "test_status")),
                time(row.time),
                esc(&metrics_text(row.metadata.get("test_metrics")))
            );
        }
        body.push_str("</tbody></table>\n");
        if rows.len() > 100 {
            let _ = write!(
                body,
                "<p><a href=\"/sets?workflow={}&amp;all_versions=false&amp;limit=10000\">all {} tasks of {}</a></p>",
                enc(wf),
                rows.len(),
                esc(wf)
            );
        }
        body.push_str("</section>\n");
    }
    Ok(Page {
        title: "Overview".into(),
        body,
        charts: false,
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn metrics_text(metrics: Option<&Value>) -> String {
    match metrics {
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", scalar(v)))
            .collect::<Vec<_>>()
            .join("  "),
        _ => String::new(),
    }
}

// ---------------------------------------------------------------------------------------
// `/sets`: the table of versions.

/// One column of the versions table: its heading, how to read a row's value.
struct Column {
    heading: String,
    key: Vec<String>,
}

fn value_at<'v>(m: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(m, |v, k| v.get(k))
}

fn versions(store: &Store, params: &[(String, String)]) -> Result<Page> {
    let differ = params.iter().any(|(k, v)| k == "differ" && v != "0");
    let list_params: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "differ")
        .cloned()
        .collect();
    let form = filter_form(&list_params, differ);
    let q = match list_query(&list_params, 200, true) {
        Ok(q) => q,
        Err(e) => {
            return Ok(Page {
                title: "Versions".into(),
                body: format!("<h1>Versions</h1>\n{form}\n{}", error_box(&e)),
                charts: false,
            })
        }
    };
    let listing = store.list(&q)?;
    let rows = &listing.rows;
    let mut columns: Vec<Column> = Vec::new();
    let mut seen = BTreeSet::new();
    for key in ["agent_version", "llm_version", "prompt_hash"] {
        if rows.iter().any(|r| r.metadata.get(key).is_some()) {
            columns.push(Column {
                heading: key.into(),
                key: vec![key.into()],
            });
        }
    }
    for row in rows {
        if let Some(Value::Object(m)) = row.metadata.get("test_metrics") {
            for k in m.keys() {
                if seen.insert(k.clone()) {
                    columns.push(Column {
                        heading: k.clone(),
                        key: vec!["test_metrics".into(), k.clone()],
                    });
                }
            }
        }
    }
    let mut body = format!("<h1>Versions</h1>\n{form}\n{}", unreadable_box(&listing));
    let _ = writeln!(
        body,
        "<p class=\"lead\">{} version{}{}, newest first. Click a heading to sort; tick versions to compare them.</p>",
        rows.len(),
        plural(rows.len()),
        if rows.len() == q.limit { format!(" (the first {}: raise limit= for more)", q.limit) } else { String::new() }
    );
    if rows.is_empty() {
        body.push_str("<p class=\"empty\">No version matches.</p>");
        return Ok(Page {
            title: "Versions".into(),
            body,
            charts: false,
        });
    }
    let _ = writeln!(
        body,
        "<form method=\"get\" action=\"/compare\" class=\"compare-form\">\n<div class=\"toolbar\"><button type=\"submit\" id=\"compare-selected\">Compare selected</button> <label class=\"switch\"><input type=\"checkbox\" id=\"only-differ\" data-table=\"versions\"{}> only columns that differ</label></div>",
        if differ { " checked" } else { "" }
    );
    let _ = write!(
        body,
        "<table class=\"grid sortable{}\" id=\"versions\"><thead><tr><th class=\"pick\"></th><th data-type=\"text\">Version</th><th data-type=\"text\" class=\"{}\">Task</th><th data-type=\"text\" class=\"{}\">Status</th><th data-type=\"num\">Committed</th><th data-type=\"text\">Commit</th>",
        if differ { " only-differ" } else { "" },
        same_class(rows.iter().map(|r| r.metadata.get("task_id"))),
        same_class(rows.iter().map(|r| r.metadata.get("test_status"))),
    );
    let mut same = Vec::new();
    for c in &columns {
        let values: Vec<Option<&Value>> =
            rows.iter().map(|r| value_at(&r.metadata, &c.key)).collect();
        let numeric = values.iter().flatten().all(|v| v.is_number());
        let class = same_class(values.iter().copied());
        let _ = write!(
            body,
            "<th data-type=\"{}\" class=\"metric {class}\">{}</th>",
            if numeric { "num" } else { "text" },
            esc(&c.heading)
        );
        same.push(class);
    }
    body.push_str("</tr></thead><tbody>\n");
    let task_same = same_class(rows.iter().map(|r| r.metadata.get("task_id")));
    let status_same = same_class(rows.iter().map(|r| r.metadata.get("test_status")));
    for row in rows {
        let m = &row.metadata;
        let name = label(m, &row.commit_sha);
        let _ = write!(
            body,
            "<tr><td class=\"pick\"><input type=\"checkbox\" name=\"ref\" value=\"{sha}\" aria-label=\"compare {name}\"></td><td data-v=\"{name}\"><a href=\"{href}\">{name}</a></td><td class=\"{task_same}\" data-v=\"{task}\">{task}</td><td class=\"{status_same}\" data-v=\"{status}\">{status_cell}</td><td data-v=\"{t}\">{time}</td><td data-v=\"{sha}\"><code>{short}</code></td>",
            sha = esc(&row.commit_sha),
            name = esc(&name),
            href = set_href(&row.commit_sha),
            task = esc(get(m, "task_id").unwrap_or("")),
            status = esc(get(m, "test_status").unwrap_or("")),
            status_cell = status_cell(get(m, "test_status")),
            t = row.time,
            time = time(row.time),
            short = esc(short(&row.commit_sha)),
        );
        for (c, class) in columns.iter().zip(&same) {
            match value_at(m, &c.key) {
                Some(v) => {
                    let _ = write!(
                        body,
                        "<td class=\"metric {class}\" data-v=\"{0}\">{0}</td>",
                        esc(&scalar(v))
                    );
                }
                None => {
                    let _ = write!(body, "<td class=\"metric {class}\" data-v=\"\">—</td>");
                }
            }
        }
        body.push_str("</tr>\n");
    }
    body.push_str("</tbody></table>\n</form>\n");
    Ok(Page {
        title: "Versions".into(),
        body,
        charts: false,
    })
}

/// `same` when every value is equal (a column "only what differs" hides), else empty.
fn same_class<'v>(values: impl Iterator<Item = Option<&'v Value>>) -> &'static str {
    let distinct: BTreeSet<String> = values
        .map(|v| v.map(|v| v.to_string()).unwrap_or_default())
        .collect();
    if distinct.len() <= 1 {
        "same"
    } else {
        ""
    }
}

fn filter_form(params: &[(String, String)], differ: bool) -> String {
    let get = |k: &str| {
        params
            .iter()
            .rev()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let mut wheres: Vec<&str> = params
        .iter()
        .filter(|(k, v)| k == "where" && !v.is_empty())
        .map(|(_, v)| v.as_str())
        .collect();
    wheres.push("");
    let mut out = String::from("<form method=\"get\" action=\"/sets\" class=\"filters\">\n");
    for (key, label, hint) in [
        ("workflow", "Workflow", "wf_rsi_strategy"),
        ("task", "Task", "task_coder_001"),
        ("status", "Status", "passed"),
        ("since", "Since", "7d or 2025-11-07"),
    ] {
        let _ = writeln!(
            out,
            "<label>{label} <input name=\"{key}\" value=\"{}\" placeholder=\"{hint}\" size=\"14\"></label>",
            esc(get(key))
        );
    }
    for w in wheres {
        let _ = writeln!(
            out,
            "<label>Where <input name=\"where\" value=\"{}\" placeholder=\"test_metrics.win_rate>=0.5\" size=\"26\"></label>",
            esc(w)
        );
    }
    let _ = write!(
        out,
        "<label>Limit <input name=\"limit\" value=\"{}\" size=\"5\"></label>\n<label><input type=\"checkbox\" name=\"all_versions\" value=\"false\"{}> tips only</label>\n{}<button type=\"submit\">Filter</button>\n</form>",
        esc(if get("limit").is_empty() { "200" } else { get("limit") }),
        if get("all_versions") == "false" { " checked" } else { "" },
        if differ { "<input type=\"hidden\" name=\"differ\" value=\"1\">" } else { "" }
    );
    out
}

// ---------------------------------------------------------------------------------------
// `/sets/{ref}`: one version.

fn one_set(store: &Store, reference: &str, params: &[(String, String)]) -> Result<Page> {
    known(params, &[])?;
    let set = store.show(reference)?;
    let trailers = store.set_trailers(&set)?;
    let name = label(&set.metadata, &set.commit_sha);
    let task = task_of(&set).ok();
    let mut body = format!(
        "<h1>{} <small>{}</small></h1>\n",
        esc(&name),
        esc(&set.branch)
    );
    body.push_str("<div class=\"columns\"><section><h2>Version</h2><table class=\"facts\">");
    let mut fact = |k: &str, v: String| {
        let _ = write!(body, "<tr><th>{}</th><td>{v}</td></tr>", esc(k));
    };
    fact("commit", format!("<code>{}</code>", esc(&set.commit_sha)));
    fact(
        "branch",
        match &task {
            Some(t) => {
                let (w, k) = t.split_once('/').unwrap_or((t, ""));
                format!(
                    "<a href=\"/sets?workflow={}&amp;task={}\">{}</a>",
                    enc(w),
                    enc(k),
                    esc(&set.branch)
                )
            }
            None => esc(&set.branch),
        },
    );
    fact(
        "tags",
        if set.tags.is_empty() {
            "—".into()
        } else {
            set.tags
                .iter()
                .map(|t| esc(t))
                .collect::<Vec<_>>()
                .join(", ")
        },
    );
    fact(
        "parent",
        match &set.parent {
            Some(p) => format!(
                "<a href=\"{}\"><code>{}</code></a> · <a href=\"/compare?refs={},{}\">compare with parent</a>",
                set_href(p),
                esc(short(p)),
                enc(p),
                enc(&set.commit_sha)
            ),
            None => "—".into(),
        },
    );
    fact(
        "committed",
        format!(
            "{} <small>{}</small>",
            time(set.time),
            esc(&set.commit_time)
        ),
    );
    fact(
        "directory",
        format!("<code>{}</code>", esc(&set.artifact_dir)),
    );
    fact(
        "status",
        status_cell(set.metadata.get("test_status").and_then(Value::as_str)),
    );
    fact(
        "JSON",
        format!(
            "<a href=\"/api/sets/{}\">show --json</a> · <a href=\"/api/sets/{}/log\">log --json</a>",
            enc(&set.commit_sha),
            enc(&set.commit_sha)
        ),
    );
    body.push_str("</table></section>\n");
    if let Some(Value::Object(metrics)) = set.metadata.get("test_metrics") {
        body.push_str("<section><h2>Metrics</h2><table class=\"facts metrics\">");
        for (k, v) in metrics {
            let _ = write!(
                body,
                "<tr><th>{}</th><td>{}</td></tr>",
                esc(k),
                esc(&scalar(v))
            );
        }
        body.push_str("</table></section>\n");
    }
    body.push_str("<section><h2>Trailers</h2><table class=\"facts\">");
    for t in &trailers {
        let _ = write!(
            body,
            "<tr><th>{}</th><td>{}</td></tr>",
            esc(&t.key),
            esc(&t.value)
        );
    }
    body.push_str("</table></section></div>\n");

    let files: Vec<&FileEntry> = set.files.iter().collect();
    let mut contents: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
    for f in &files {
        if f.size <= CHART_MAX_BYTES {
            let (_, bytes) = store.set_file(&set, &f.path)?;
            contents.insert(&f.path, bytes);
        }
    }
    let mut charts = Vec::new();
    for f in chart_order(&files) {
        let Some(bytes) = contents.get(f.path.as_str()) else {
            continue;
        };
        // One chart per column: columns of one file are often of unlike scales
        // (price and quantity), which one axis would flatten.
        if let Some(s) = Curves::parse(&f.path, bytes) {
            let d = s.downsample(MAX_POINTS);
            for column in d.columns.iter().take(COLUMNS_PER_FILE) {
                charts.push(json!({
                    "title": format!("{} · {}", f.path, column.name),
                    "time": d.x_kind == XKind::Time,
                    "x_label": d.x_name,
                    "note": note(&s, &d),
                    "series": [{"label": column.name, "x": d.x, "y": column.values}],
                }));
            }
        }
    }
    if !charts.is_empty() {
        body.push_str("<section class=\"charts\"><h2>Charts</h2>\n");
        body.push_str(&chart_figures(&charts));
        body.push_str("</section>\n");
    }

    body.push_str("<section><h2>Files</h2><table class=\"grid files\"><thead><tr><th>Path</th><th>Size</th><th>sha256</th><th></th></tr></thead><tbody>\n");
    for f in &files {
        let raw = format!(
            "/api/sets/{}/files/{}",
            enc(&set.commit_sha),
            file_href(&f.path)
        );
        let _ = writeln!(
            body,
            "<tr><td><a href=\"#file-{anchor}\">{path}</a></td><td data-v=\"{size}\">{hsize}</td><td><code title=\"{sum}\">{sumshort}</code></td><td><a href=\"{raw}\">raw</a> · <a href=\"{raw}?download=1\">download</a></td></tr>",
            anchor = esc(&anchor(&f.path)),
            path = esc(&f.path),
            size = f.size,
            hsize = bytes(f.size),
            sum = esc(f.checksum.as_deref().unwrap_or("")),
            sumshort = esc(f.checksum.as_deref().map(|c| &c[..c.len().min(19)]).unwrap_or("—")),
        );
    }
    body.push_str("</tbody></table></section>\n<section class=\"previews\"><h2>Previews</h2>\n");
    for f in &files {
        let _ =
            writeln!(
            body,
            "<details class=\"preview\" id=\"file-{}\"{}><summary>{} <small>{}</small></summary>",
            esc(&anchor(&f.path)),
            if f.size <= 64 * 1024 && f.path != METADATA_FILE { " open" } else { "" },
            esc(&f.path),
            bytes(f.size)
        );
        body.push_str(&preview(
            f,
            contents.get(f.path.as_str()).map(Vec::as_slice),
        ));
        body.push_str("</details>\n");
    }
    body.push_str("</section>\n");
    Ok(Page {
        title: name,
        body,
        charts: !charts.is_empty(),
    })
}

fn anchor(path: &str) -> String {
    path.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// A file's path as URL path segments.
fn file_href(path: &str) -> String {
    path.split('/').map(enc).collect::<Vec<_>>().join("/")
}

fn is_csv(path: &str) -> bool {
    path.to_ascii_lowercase().ends_with(".csv")
}

/// The files to chart, equity curves first, then by path.
fn chart_order<'f>(files: &[&'f FileEntry]) -> Vec<&'f FileEntry> {
    let mut out: Vec<&FileEntry> = files.iter().copied().filter(|f| is_csv(&f.path)).collect();
    out.sort_by_key(|f| {
        (
            !f.path.to_ascii_lowercase().contains("equity"),
            f.path.clone(),
        )
    });
    out
}

fn note(full: &Curves, shown: &Curves) -> String {
    if shown.x.len() < full.points {
        format!(
            "{} points, {} drawn (each bucket keeps its first, lowest and highest)",
            full.points,
            shown.x.len()
        )
    } else {
        format!("{} points", full.points)
    }
}

fn chart_figures(charts: &[Value]) -> String {
    let mut out = String::new();
    for (i, c) in charts.iter().enumerate() {
        let _ = writeln!(
            out,
            "<figure class=\"chart\" data-chart=\"{i}\" data-series=\"{}\"><figcaption>{} <small>{}</small></figcaption><div class=\"plot\"></div></figure>",
            c["series"].as_array().map_or(0, Vec::len),
            esc(c["title"].as_str().unwrap_or("")),
            esc(c["note"].as_str().unwrap_or(""))
        );
    }
    out.push_str(&json_script("chart-data", &Value::Array(charts.to_vec())));
    out
}

/// A file's preview: CSV as a table of its first rows, JSON pretty, other text with line
/// numbers, and nothing but its size for the rest. All of it escaped text.
fn preview(f: &FileEntry, content: Option<&[u8]>) -> String {
    let Some(content) = content.filter(|_| f.size <= PREVIEW_MAX_BYTES) else {
        return format!(
            "<p class=\"note\">{} is too large to preview here; use raw or download.</p>",
            bytes(f.size)
        );
    };
    let Some(text) = std::str::from_utf8(content)
        .ok()
        .filter(|t| !t.contains('\0'))
    else {
        return format!("<p class=\"note\">binary file, {}.</p>", bytes(f.size));
    };
    let lower = f.path.to_ascii_lowercase();
    if lower.ends_with(".csv") {
        let table = table::preview(content, b',', CSV_PREVIEW_ROWS);
        let total = text
            .lines()
            .filter(|l| !l.is_empty())
            .count()
            .saturating_sub(1);
        let mut out = String::from("<div class=\"scroll\"><table class=\"grid csv\"><thead><tr>");
        for h in &table.header {
            let _ = write!(out, "<th>{}</th>", esc(h));
        }
        out.push_str("</tr></thead><tbody>");
        for row in &table.rows {
            out.push_str("<tr>");
            for cell in row {
                let _ = write!(out, "<td>{}</td>", esc(cell));
            }
            out.push_str("</tr>");
        }
        out.push_str("</tbody></table></div>");
        if table.truncated {
            let _ = write!(
                out,
                "<p class=\"note\">the first {} of {total} rows</p>",
                table.rows.len()
            );
        }
        return out;
    }
    if lower.ends_with(".json") {
        if let Ok(value) = serde_json::from_str::<Value>(text) {
            let pretty = serde_json::to_string_pretty(&value).unwrap_or_default();
            return numbered(&pretty);
        }
    }
    numbered(text)
}

fn numbered(text: &str) -> String {
    let mut out = String::from("<pre class=\"code\">");
    let mut n = 0;
    for line in text.lines().take(TEXT_PREVIEW_LINES) {
        n += 1;
        let _ = writeln!(out, "<span class=\"ln\">{n}</span>{}", esc(line));
    }
    out.push_str("</pre>");
    let total = text.lines().count();
    if total > n {
        let _ = write!(out, "<p class=\"note\">the first {n} of {total} lines</p>");
    }
    out
}

// ---------------------------------------------------------------------------------------
// `/compare?refs=a,b,c`: versions side by side.

fn compare(store: &Store, params: &[(String, String)]) -> Result<Page> {
    let differ = params.iter().any(|(k, v)| k == "differ" && v != "0");
    known(params, &["refs", "ref", "differ"])?;
    let refs: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "refs" || k == "ref")
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .collect();
    if refs.len() < COMPARE_MIN || refs.len() > COMPARE_MAX {
        return Err(Error::InvalidRequest {
            message: format!(
                "compare takes {COMPARE_MIN} to {COMPARE_MAX} versions; {} given",
                refs.len()
            ),
            hint: Some(
                "name them as /compare?refs=A,B,C (correlation ids, tags or commits), or tick them in the table of versions".into(),
            ),
        });
    }
    let sets: Vec<ArtifactSet> = refs.iter().map(|r| store.show(r)).collect::<Result<_>>()?;
    let names: Vec<String> = sets
        .iter()
        .map(|s| label(&s.metadata, &s.commit_sha))
        .collect();
    let mut body = String::from("<h1>Compare</h1>\n");
    let _ = writeln!(
        body,
        "<div class=\"toolbar\"><label class=\"switch\"><input type=\"checkbox\" id=\"only-differ\" data-table=\"compare\"{}> only what differs</label> <span class=\"note\">deltas are against the first version</span></div>",
        if differ { " checked" } else { "" }
    );
    let _ = write!(
        body,
        "<div id=\"compare\" class=\"{}\">",
        if differ { "only-differ" } else { "" }
    );

    // Versions and their values.
    body.push_str("<section><h2>Values</h2><div class=\"scroll\"><table class=\"grid side\"><thead><tr><th></th>");
    for (s, name) in sets.iter().zip(&names) {
        let _ = write!(
            body,
            "<th><a href=\"{}\">{}</a><br><small><code>{}</code> · {}</small></th>",
            set_href(&s.commit_sha),
            esc(name),
            esc(short(&s.commit_sha)),
            time(s.time)
        );
    }
    body.push_str("</tr></thead><tbody>\n");
    for (key, path) in compared_keys(&sets) {
        let values: Vec<Option<&Value>> = sets
            .iter()
            .map(|s| path.iter().try_fold(&s.metadata, |v, k| v.get(k)))
            .collect();
        body.push_str(&value_row(&key, &values));
    }
    body.push_str("</tbody></table></div></section>\n");

    // Charts: every curve of the same file and column, one series per version.
    let mut contents: Vec<BTreeMap<String, Vec<u8>>> = Vec::new();
    for s in &sets {
        let mut files = BTreeMap::new();
        for f in s.files.iter().filter(|f| f.size <= CHART_MAX_BYTES) {
            if is_csv(&f.path) {
                files.insert(f.path.clone(), store.set_file(s, &f.path)?.1);
            }
        }
        contents.push(files);
    }
    let mut csv_paths: Vec<&FileEntry> = Vec::new();
    let mut seen = BTreeSet::new();
    for s in &sets {
        for f in &s.files {
            if is_csv(&f.path) && seen.insert(f.path.clone()) {
                csv_paths.push(f);
            }
        }
    }
    let mut charts = Vec::new();
    for f in chart_order(&csv_paths) {
        let parsed: Vec<Option<Curves>> = contents
            .iter()
            .map(|c| c.get(&f.path).and_then(|b| Curves::parse(&f.path, b)))
            .collect();
        let mut columns: Vec<String> = Vec::new();
        for s in parsed.iter().flatten() {
            for c in &s.columns {
                if !columns.contains(&c.name) {
                    columns.push(c.name.clone());
                }
            }
        }
        for column in columns.iter().take(COLUMNS_PER_FILE) {
            let mut lines = Vec::new();
            let mut time_axis = true;
            let mut x_label = String::new();
            let mut points = 0;
            for (s, name) in parsed.iter().zip(&names) {
                let Some(s) = s else { continue };
                let Some(i) = s.columns.iter().position(|c| &c.name == column) else {
                    continue;
                };
                let d = s.only(i).downsample(MAX_POINTS);
                time_axis &= d.x_kind == XKind::Time;
                x_label = d.x_name.clone();
                points = points.max(s.points);
                lines.push(json!({"label": name, "x": d.x, "y": d.columns[0].values}));
            }
            if lines.is_empty() {
                continue;
            }
            let drawn = lines.len();
            charts.push(json!({
                "title": format!("{} · {column}", f.path),
                "time": time_axis,
                "x_label": x_label,
                "note": format!("{drawn} version{} · up to {points} points each, at most {MAX_POINTS} drawn", plural(drawn)),
                "series": lines,
            }));
        }
    }
    if !charts.is_empty() {
        body.push_str("<section class=\"charts\"><h2>Charts</h2>\n");
        body.push_str(&chart_figures(&charts));
        body.push_str("</section>\n");
    }

    // Files side by side, then the text diffs against the first version.
    let mut paths: Vec<String> = sets
        .iter()
        .flat_map(|s| s.files.iter().map(|f| f.path.clone()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    paths.retain(|p| p != METADATA_FILE);
    body.push_str("<section><h2>Files</h2><div class=\"scroll\"><table class=\"grid side\"><thead><tr><th>Path</th>");
    for name in &names {
        let _ = write!(body, "<th>{}</th>", esc(name));
    }
    body.push_str("</tr></thead><tbody>\n");
    let find = |s: &ArtifactSet, p: &str| {
        s.files
            .iter()
            .find(|f| f.path == p)
            .map(|f| (f.oid, f.size))
    };
    for p in &paths {
        let cells: Vec<Option<(crate::ObjectId, u64)>> = sets.iter().map(|s| find(s, p)).collect();
        let all_same = cells
            .iter()
            .all(|c| c.map(|x| x.0) == cells[0].map(|x| x.0));
        let _ = write!(
            body,
            "<tr class=\"{}\"><th>{}</th>",
            if all_same { "same" } else { "" },
            esc(p)
        );
        for (i, c) in cells.iter().enumerate() {
            let differs = i > 0 && c.map(|x| x.0) != cells[0].map(|x| x.0);
            match c {
                Some((_, size)) => {
                    let _ = write!(
                        body,
                        "<td class=\"{}\">{}{}</td>",
                        if differs { "differs" } else { "" },
                        bytes(*size),
                        if differs {
                            " <small>changed</small>"
                        } else {
                            ""
                        }
                    );
                }
                None => {
                    let _ = write!(
                        body,
                        "<td class=\"{}\">—</td>",
                        if differs { "differs" } else { "" }
                    );
                }
            }
        }
        body.push_str("</tr>\n");
    }
    body.push_str(
        "</tbody></table></div></section>\n<section class=\"diffs\"><h2>Text diffs</h2>\n",
    );
    // One diff per version against the first, the same `diff --patch` the CLI prints
    // (the git layer's blob diff); each changed file's hunks are looked up by path.
    let options = DiffOptions {
        patch: true,
        ..DiffOptions::default()
    };
    let mut diffs: Vec<BTreeMap<String, FileChange>> = vec![BTreeMap::new()];
    for s in &sets[1..] {
        let report = store.diff_with(&sets[0].commit_sha, &s.commit_sha, &options)?;
        diffs.push(
            report
                .changed
                .into_iter()
                .map(|c| (c.path.clone(), c))
                .collect(),
        );
    }
    let mut any = false;
    for p in &paths {
        for i in 1..sets.len() {
            let Some(change) = diffs[i].get(p) else {
                continue;
            };
            any = true;
            let _ = writeln!(
                body,
                "<details class=\"diff\"><summary>{} <small>{} → {}</small></summary>",
                esc(p),
                esc(&names[0]),
                esc(&names[i])
            );
            let too_large = change.size_a.max(change.size_b).unwrap_or(0) > DIFF_MAX_BYTES;
            match change.patch.as_deref().filter(|_| !too_large) {
                Some(patch) => body.push_str(&text_diff(patch)),
                None => body.push_str("<p class=\"note\">binary or too large for a text diff</p>"),
            }
            body.push_str("</details>\n");
        }
    }
    if !any {
        body.push_str("<p class=\"note\">every file is the same in all versions</p>");
    }
    body.push_str("</section></div>\n");
    Ok(Page {
        title: format!("Compare {}", names.join(", ")),
        body,
        charts: !charts.is_empty(),
    })
}

/// The values the compare page sets side by side: the metadata's scalar keys, then each
/// of `test_metrics`.
fn compared_keys(sets: &[ArtifactSet]) -> Vec<(String, Vec<String>)> {
    let mut top: Vec<String> = Vec::new();
    let mut metrics: Vec<String> = Vec::new();
    for s in sets {
        if let Value::Object(m) = &s.metadata {
            for (k, v) in m {
                if !v.is_object() && !v.is_array() && !top.contains(k) {
                    top.push(k.clone());
                }
            }
            if let Some(Value::Object(tm)) = m.get("test_metrics") {
                for k in tm.keys() {
                    if !metrics.contains(k) {
                        metrics.push(k.clone());
                    }
                }
            }
        }
    }
    let mut out: Vec<(String, Vec<String>)> = metrics
        .into_iter()
        .map(|k| (k.clone(), vec!["test_metrics".to_string(), k]))
        .collect();
    out.extend(top.into_iter().map(|k| (k.clone(), vec![k])));
    out
}

fn value_row(key: &str, values: &[Option<&Value>]) -> String {
    let first = values[0];
    let all_same = values.iter().all(|v| *v == first);
    let mut out = format!(
        "<tr class=\"{}\"><th>{}</th>",
        if all_same { "same" } else { "" },
        esc(key)
    );
    for (i, v) in values.iter().enumerate() {
        let differs = i > 0 && *v != first;
        let text = v.map(scalar).unwrap_or_else(|| "—".into());
        let d = match (i, first.and_then(Value::as_f64), v.and_then(|v| v.as_f64())) {
            (1.., Some(a), Some(b)) if differs => {
                let class = if b > a { "up" } else { "down" };
                format!(
                    " <span class=\"delta {class}\">{}</span>",
                    esc(&delta(b - a))
                )
            }
            _ => String::new(),
        };
        let _ = write!(
            out,
            "<td class=\"{}\">{}{d}</td>",
            if differs { "differs" } else { "" },
            esc(&text)
        );
    }
    out.push_str("</tr>\n");
    out
}

/// A unified diff (as `diff --patch` renders it: `---`/`+++` header, `@@` hunks) as
/// escaped lines, each classed by its sign, at most `DIFF_MAX_LINES` of them.
fn text_diff(patch: &str) -> String {
    let mut out = String::from("<pre class=\"diff\">");
    // The two header lines name the file, which the summary already does; an empty line
    // is the git diff's lead-in to "\ No newline at end of file".
    let lines = patch.splitn(3, '\n').nth(2).unwrap_or("").lines();
    let mut body = lines.filter(|l| !l.is_empty()).peekable();
    for line in body.by_ref().take(DIFF_MAX_LINES) {
        let class = match line.as_bytes().first() {
            Some(b'@') => "hunk",
            Some(b'+') => "add",
            Some(b'-') => "del",
            _ => "ctx",
        };
        let _ = writeln!(out, "<span class=\"{class}\">{}</span>", esc(line));
    }
    let cut = body.peek().is_some();
    out.push_str("</pre>");
    if cut {
        let _ = write!(
            out,
            "<p class=\"note\">the first {DIFF_MAX_LINES} lines of the diff; the whole files are under raw</p>"
        );
    }
    out
}
