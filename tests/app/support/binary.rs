//! Running the real `authx` binary, for what only a process shows: exit codes, stderr, signals.

use std::path::Path;
use std::process::{Command, Output};

/// The `authx` command with a clean `AUTHX_*` environment, run in `dir`.
pub fn authx(dir: &Path) -> Command {
    clean(Command::new(env!("CARGO_BIN_EXE_authx")), dir)
}

/// `authx` run with at most `files` open file descriptors (through util-linux's `prlimit`, which
/// execs it: the child's pid is the server's).
pub fn authx_with_fd_limit(dir: &Path, files: u32) -> Command {
    let mut cmd = Command::new("prlimit");
    cmd.arg(format!("--nofile={files}:{files}"))
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_authx"));
    clean(cmd, dir)
}

fn clean(mut cmd: Command, dir: &Path) -> Command {
    cmd.current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("AUTHX_") || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Runs to completion and returns the output.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("authx runs")
}

/// stdout and stderr as text.
pub fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A plain HTTP/1.1 GET over a blocking socket (for tests that are not async); returns the body.
pub fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned()
}
