//! The `artifact-store` command line: a thin face over the library.

#![deny(clippy::unwrap_used)]

mod cli;

fn main() {
    std::process::exit(cli::main());
}
