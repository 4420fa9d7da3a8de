//! `artifact-store serve`: the local web view and its JSON API.

use std::net::{SocketAddr, ToSocketAddrs};

use clap::Args;

use artifact_store::web::{ServeOptions, Server};
use artifact_store::{Error, Result};

use super::Ctx;

/// Serve a read-only web view of the store and its JSON API (GET and HEAD only).
///
/// Pages: `/` workflows and tasks; `/sets?workflow=W&task=T&where=…` a sortable table of
/// versions, one column per metric, with an "only columns that differ" switch;
/// `/sets/REF` one version with its metadata, trailers, file previews and a chart of every
/// CSV with a time or index column; `/compare?refs=A,B,C` two to eight versions side by
/// side, their curves overlaid, their files diffed.
///
/// API (the bodies are the `--json` output of the same command): `/api/sets?…` (list),
/// `/api/sets/REF` (show), `/api/sets/REF/log` (log), `/api/diff?a=A&b=B` (diff),
/// `/api/stats` (stats), `/api/sets/REF/files/PATH` (a file's bytes, never as HTML).
/// Errors are the CLI's, as JSON with the HTTP status of the exit code (5 is 404, 2 is 400).
///
/// Binds 127.0.0.1:8080 by default and answers only requests addressed to a loopback name.
/// Any other address requires --token; a client then sends `Authorization: Bearer TOKEN`,
/// or a browser opens a page once with `?token=TOKEN`, which sets a cookie. Refs are read
/// on every request, so versions committed or pushed meanwhile show at once. docs/web.md
/// has the details.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on, IP:PORT (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "IP:PORT")]
    addr: String,
    /// Secret every request must present (at least 16 characters); required off loopback.
    #[arg(
        long,
        env = "ARTIFACT_STORE_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    token: Option<String>,
    /// Open the view in the default web browser once it listens.
    #[arg(long)]
    open: bool,
}

/// Runs `serve` until the process is stopped.
pub fn run(ctx: &Ctx, args: &ServeArgs) -> Result<()> {
    let addr = resolve(&args.addr)?;
    let server = Server::bind(
        &ServeOptions {
            addr,
            token: args.token.clone(),
        },
        ctx.open.clone(),
    )?;
    let url = server.url()?;
    if ctx.out.json {
        ctx.out.json_ok(&serde_json::json!({
            "url": url,
            "addr": server.local_addr()?.to_string(),
            "token_required": args.token.is_some(),
        }));
    } else {
        ctx.out.data(&url);
    }
    ctx.out.status(&format!(
        "serving a read-only view of the store at {url}; Ctrl-C stops it"
    ));
    if args.token.is_some() {
        ctx.out.status(
            "every request needs the token: `Authorization: Bearer TOKEN`, or open the page once with ?token=TOKEN",
        );
    }
    if args.open {
        let target = match &args.token {
            Some(token) => format!("{url}?token={token}"),
            None => url.clone(),
        };
        open_browser(ctx, &target);
    }
    server.run()
}

fn resolve(addr: &str) -> Result<SocketAddr> {
    let bad = |why: String| {
        Error::InvalidInput(format!(
            "--addr {addr:?}: {why}; expected IP:PORT such as 127.0.0.1:8080"
        ))
    };
    if let Ok(a) = addr.parse::<SocketAddr>() {
        return Ok(a);
    }
    addr.to_socket_addrs()
        .map_err(|e| bad(e.to_string()))?
        .next()
        .ok_or_else(|| bad("it names no address".into()))
}

fn open_browser(ctx: &Ctx, url: &str) {
    let program = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    let spawned = std::process::Command::new(program)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Err(e) = spawned {
        ctx.out.warn(&format!(
            "could not open a browser with {program}: {e}; open the URL above by hand"
        ));
    }
}
