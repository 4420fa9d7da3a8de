//! The JSON API: each route's body is the CLI's `--json` output for the same arguments,
//! built by [`crate::report`], with the HTTP status mapped from the exit code.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Response, StatusCode};

use super::{json_response, status_of, with_store, App};
use crate::catalog::{query, ListQuery};
use crate::error::{Error, Result};
use crate::metadata::TestStatus;
use crate::refs::{TaskId, WorkflowId};
use crate::report::{self, Report};

/// The query parameters of `/api/sets` and `/sets`, as `list` takes them.
pub(super) const LIST_PARAMS: &[&str] = &[
    "workflow",
    "task",
    "status",
    "since",
    "where",
    "limit",
    "all_versions",
];

pub(super) async fn route(
    app: Arc<App>,
    segs: &[&str],
    params: Vec<(String, String)>,
) -> Response<Body> {
    let owned: Vec<String> = segs.iter().map(|s| s.to_string()).collect();
    match segs {
        ["sets"] => {
            json(app, move |store| {
                let q = list_query(&params, 50, false)?;
                Ok(report::of(&store.list(&q)?))
            })
            .await
        }
        ["sets", _] => {
            json(app, move |store| {
                known(&params, &[])?;
                Ok(success(&store.show(&owned[1])?.show_view()))
            })
            .await
        }
        ["sets", _, "log"] => {
            json(app, move |store| {
                known(&params, &["limit"])?;
                let limit = number(&params, "limit", 20)?;
                let set = store.show(&owned[1])?;
                let task = task_of(&set)?;
                Ok(success(&store.log(&task, limit)?))
            })
            .await
        }
        ["sets", _, "files", rest @ ..] if !rest.is_empty() => {
            let path = rest.join("/");
            let reference = owned[1].clone();
            with_store(
                app,
                move |store, _| file_response(store, &reference, &path, &params),
                |e| failure(&e),
            )
            .await
        }
        ["diff"] => {
            json(app, move |store| {
                known(&params, &["a", "b"])?;
                let a = required(&params, "a")?;
                let b = required(&params, "b")?;
                Ok(success(&store.diff(&a, &b)?))
            })
            .await
        }
        ["stats"] => {
            json(app, move |store| {
                known(&params, &["top"])?;
                Ok(success(&store.stats(number(&params, "top", 5)?)?))
            })
            .await
        }
        _ => failure(&Error::NotFound(format!(
            "no API route /api/{}; docs/web.md lists them",
            segs.join("/")
        ))),
    }
}

/// Runs `f` on a store and answers with its report as JSON.
async fn json(
    app: Arc<App>,
    f: impl FnOnce(&crate::store::Store) -> Result<Report> + Send + 'static,
) -> Response<Body> {
    with_store(
        app,
        move |store, _| match f(store) {
            Ok(report) => json_response(status_of(report.exit_code), &report.body),
            Err(e) => failure(&e),
        },
        |e| failure(&e),
    )
    .await
}

fn success<T: serde::Serialize>(data: &T) -> Report {
    Report {
        body: report::success(data),
        exit_code: 0,
    }
}

fn failure(error: &Error) -> Response<Body> {
    let report = report::failure(error);
    json_response(status_of(report.exit_code), &report.body)
}

/// `W/T` of a set, from its metadata.
pub(super) fn task_of(set: &crate::catalog::ArtifactSet) -> Result<String> {
    let get = |k: &str| set.metadata.get(k).and_then(|v| v.as_str());
    match (get("workflow_id"), get("task_id")) {
        (Some(w), Some(t)) => Ok(format!("{w}/{t}")),
        _ => Err(Error::Corrupt {
            message: format!(
                "the metadata.json of commit {} names no workflow_id and task_id",
                set.commit_sha
            ),
        }),
    }
}

/// Refuses a parameter the route does not take: a typo (`workflow_id=`) would otherwise
/// answer for everything.
pub(super) fn known(params: &[(String, String)], allowed: &[&str]) -> Result<()> {
    match params
        .iter()
        .find(|(k, _)| !allowed.contains(&k.as_str()) && k != "token")
    {
        Some((k, _)) => Err(Error::InvalidRequest {
            message: format!("unknown query parameter {k:?}"),
            hint: Some(if allowed.is_empty() {
                "this route takes no parameters".to_string()
            } else {
                format!("this route takes {}", allowed.join(", "))
            }),
        }),
        None => Ok(()),
    }
}

fn required(params: &[(String, String)], key: &str) -> Result<String> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Error::InvalidInput(format!("the query parameter {key}= is required")))
}

fn param<'p>(params: &'p [(String, String)], key: &str) -> Option<&'p str> {
    params
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

pub(super) fn number(params: &[(String, String)], key: &str, default: usize) -> Result<usize> {
    match param(params, key) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| Error::InvalidInput(format!("{key}={v:?}: expected a whole number"))),
    }
}

pub(super) fn flag(params: &[(String, String)], key: &str, default: bool) -> Result<bool> {
    match param(params, key) {
        None => Ok(default),
        Some("1" | "true" | "yes" | "on") => Ok(true),
        Some("0" | "false" | "no" | "off") => Ok(false),
        Some(v) => Err(Error::InvalidInput(format!(
            "{key}={v:?}: expected true or false"
        ))),
    }
}

/// Builds `list`'s query from the parameters, with `list`'s rules for each.
pub(super) fn list_query(
    params: &[(String, String)],
    default_limit: usize,
    default_all: bool,
) -> Result<ListQuery> {
    known(params, LIST_PARAMS)?;
    Ok(ListQuery {
        workflow: param(params, "workflow").map(WorkflowId::new).transpose()?,
        task: param(params, "task").map(TaskId::new).transpose()?,
        status: param(params, "status").map(TestStatus::parse).transpose()?,
        since: param(params, "since")
            .map(|s| query::parse_since(s, chrono::Utc::now().timestamp()))
            .transpose()?,
        wheres: params
            .iter()
            .filter(|(k, v)| k == "where" && !v.trim().is_empty())
            .map(|(_, w)| query::Where::parse(w.trim()))
            .collect::<Result<_>>()?,
        limit: number(params, "limit", default_limit)?,
        all_versions: flag(params, "all_versions", default_all)?,
        brief: false,
    })
}

/// The bytes of one file, never as HTML: text as `text/plain`, the rest as an attachment.
/// A file above the streaming threshold (8 MiB) is streamed as an attachment, never read
/// whole (see [`stream_file`]).
fn file_response(
    store: &crate::store::Store,
    reference: &str,
    path: &str,
    params: &[(String, String)],
) -> Response<Body> {
    let result = known(params, &["download"])
        .and_then(|()| flag(params, "download", false))
        .and_then(|download| {
            let set = store.show(reference)?;
            let entry = store.set_file_entry(&set, path)?;
            if entry.size > crate::scan::LARGE_FILE_BYTES {
                let entry = entry.clone();
                return stream_file(store, set, entry).map(Err);
            }
            let (_, bytes) = store.set_file(&set, path)?;
            Ok(Ok((download, bytes)))
        });
    let (download, bytes) = match result {
        Ok(Ok(found)) => found,
        Ok(Err(streamed)) => return streamed,
        Err(e) => return failure(&e),
    };
    let text = !bytes.contains(&0) && std::str::from_utf8(&bytes).is_ok();
    let disposition = format!(
        "{}; {}",
        if text && !download {
            "inline"
        } else {
            "attachment"
        },
        attachment_name(path)
    );
    Response::builder()
        .status(StatusCode::OK)
        .header(
            header::CONTENT_TYPE,
            if text {
                "text/plain; charset=utf-8"
            } else {
                "application/octet-stream"
            },
        )
        .header(header::CONTENT_DISPOSITION, disposition)
        .header(
            header::CONTENT_SECURITY_POLICY,
            "sandbox; default-src 'none'",
        )
        .body(Body::from(bytes))
        .unwrap_or_else(|_| super::internal_error())
}

/// The `filename` parameters of a Content-Disposition for the file at `path`: its last
/// part, in ASCII with anything else as `_`, and percent-encoded UTF-8.
fn attachment_name(path: &str) -> String {
    let name = path.rsplit('/').next().unwrap_or(path);
    format!(
        "filename=\"{}\"; filename*=UTF-8''{}",
        name.chars()
            .map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            })
            .collect::<String>(),
        url::form_urlencoded::byte_serialize(name.as_bytes())
            .collect::<String>()
            .replace('+', "%20")
    )
}

/// Pieces in flight between the reading thread and the response, at most: with pieces of
/// 1 MiB, what a download holds in memory whatever the file's size.
const PIECES_IN_FLIGHT: usize = 4;

/// Streams a large file as an attachment (`application/octet-stream`, its length known):
/// a thread of its own, with a repository handle of its own, reads the blob in pieces as
/// `export` does (loose or packed, a delta too) and hands them over a bounded channel, so
/// the server holds a few pieces, never the file. The bytes are checked against the blob
/// id as they go; when they do not match, the body ends in an error, the connection is
/// cut before the announced length, and no client takes the file for whole.
fn stream_file(
    store: &crate::store::Store,
    set: crate::catalog::ArtifactSet,
    entry: crate::catalog::FileEntry,
) -> Result<Response<Body>> {
    let reader = store.open_again()?;
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(PIECES_IN_FLIGHT);
    let size = entry.size;
    let name = attachment_name(&entry.path);
    std::thread::spawn(move || {
        let read = reader.set_file_pieces(&set, &entry, |piece| {
            tx.blocking_send(Ok(piece.to_vec()))
                .map_err(|_| Error::Internal {
                    message: "the client went away".into(),
                })
        });
        if let Err(e) = read {
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, size)
        .header(header::CONTENT_DISPOSITION, format!("attachment; {name}"))
        .header(
            header::CONTENT_SECURITY_POLICY,
            "sandbox; default-src 'none'",
        )
        .body(Body::from_stream(Pieces(rx)))
        .map_err(|e| Error::Internal {
            message: format!("failed to build the response: {e}"),
        })
}

/// The pieces of a streamed file, as the body reads them.
struct Pieces(tokio::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>);

impl futures_core::Stream for Pieces {
    type Item = std::io::Result<Vec<u8>>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}
