//! A real SMTP listener on loopback for tests: Python's `aiosmtpd`, storing every message it
//! receives as a file, plus helpers to pull the link out of a raw message.
//!
//! Python is found through `AUTHX_TEST_PYTHON` (a python with aiosmtpd; `.ci/run` makes a venv),
//! else `python3` if it can import aiosmtpd. Without one the sink is skipped ([`SmtpSink::start`]
//! returns `None`) — unless `CI=true`, where a missing SMTP server is a broken setup and panics.

#![allow(dead_code)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The server: listens on 127.0.0.1 with an OS-chosen port and prints it, stores each message as
/// `<n>.eml` with its recipients in `<n>.rcpt` (written first; the `.eml` appears atomically),
/// and exits when its stdin closes, so it never outlives the test process.
const SERVER_PY: &str = r#"
import asyncio, os, sys
from aiosmtpd.smtp import SMTP

out_dir = sys.argv[1]
counter = 0

class Handler:
    async def handle_DATA(self, server, session, envelope):
        global counter
        counter += 1
        name = os.path.join(out_dir, '%06d' % counter)
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode('utf-8', 'surrogateescape')
        with open(name + '.rcpt', 'w') as f:
            f.write('\n'.join(envelope.rcpt_tos))
        with open(name + '.tmp', 'wb') as f:
            f.write(data)
        os.rename(name + '.tmp', name + '.eml')
        return '250 OK'

async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(Handler(), hostname='sink.test'), '127.0.0.1', 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()
    os._exit(0)

asyncio.run(main())
"#;

/// A running SMTP sink; the process is killed on drop.
pub struct SmtpSink {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    taken: Mutex<HashSet<PathBuf>>,
}

/// The python to use, or `None` to skip.
fn find_python() -> Option<String> {
    let has_aiosmtpd = |python: &str| {
        Command::new(python)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if let Ok(python) = std::env::var("AUTHX_TEST_PYTHON")
        && !python.is_empty()
    {
        assert!(
            has_aiosmtpd(&python),
            "AUTHX_TEST_PYTHON={python} cannot `import aiosmtpd` (pip install aiosmtpd)"
        );
        return Some(python);
    }
    if has_aiosmtpd("python3") {
        return Some("python3".to_owned());
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but no python with aiosmtpd: set AUTHX_TEST_PYTHON to a python that can \
         `import aiosmtpd` (pip install aiosmtpd)"
    );
    eprintln!("skipping: no python with aiosmtpd (set AUTHX_TEST_PYTHON)");
    None
}

impl SmtpSink {
    /// Starts the sink and waits until it accepts connections; `None` when no python with
    /// aiosmtpd is available outside CI.
    pub fn start() -> Option<SmtpSink> {
        let python = find_python()?;
        let dir = tempfile::tempdir().expect("temp dir for the SMTP sink");
        let stderr = std::fs::File::create(dir.path().join("server.log")).expect("sink log");
        let mut child = Command::new(&python)
            .args(["-c", SERVER_PY])
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {python}: {e}"));
        let stdout = child.stdout.take().expect("sink stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
        let mut sink = SmtpSink {
            child,
            port: 0,
            dir,
            taken: Mutex::new(HashSet::new()),
        };
        sink.port = match line.trim().parse() {
            Ok(port) => port,
            Err(_) => panic!(
                "the SMTP sink did not start (printed {line:?}); its log:\n{}",
                sink.log()
            ),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", sink.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the SMTP sink does not accept connections on port {}; its log:\n{}",
                sink.port,
                sink.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(sink)
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The sink's own log (Python's stderr), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Every message received so far, oldest first, as (recipients, raw message).
    pub fn messages(&self) -> Vec<(Vec<String>, String)> {
        list_messages(self.dir.path())
            .into_iter()
            .map(|(_, rcpts, raw)| (rcpts, raw))
            .collect()
    }

    /// The oldest message to `to` (compared case-insensitively) not returned before, as the raw
    /// RFC 5322 text; panics after `timeout`.
    pub async fn wait_for_message(&self, to: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            for (path, rcpts, raw) in list_messages(self.dir.path()) {
                if rcpts.iter().any(|r| r.eq_ignore_ascii_case(to))
                    && self.taken.lock().unwrap().insert(path)
                {
                    return raw;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no message for {to} within {timeout:?}; received: {:?}; sink log:\n{}",
                self.messages()
                    .iter()
                    .map(|(r, _)| r.join(","))
                    .collect::<Vec<_>>(),
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

fn list_messages(dir: &Path) -> Vec<(PathBuf, Vec<String>, String)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "eml"))
                .collect()
        })
        .unwrap_or_default();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|path| {
            let raw = std::fs::read(&path).ok()?;
            let rcpts = std::fs::read_to_string(path.with_extension("rcpt")).ok()?;
            let rcpts = rcpts.lines().map(str::to_owned).collect();
            Some((path, rcpts, String::from_utf8_lossy(&raw).into_owned()))
        })
        .collect()
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first link in `raw` (a whole message or a body) that starts with `prefix`, e.g.
/// `http://127.0.0.1:1234/login/email/callback?token=`. The link ends at whitespace, a quote or
/// `<`/`>`; `&amp;` is unescaped. Quoted-printable bodies are handled: when no intact link is
/// found as is, the text is decoded (`=\r\n` soft line breaks, `=3D` and other `=XX` escapes)
/// and searched again.
pub fn extract_link(raw: &str, prefix: &str) -> Option<String> {
    find_link(raw, prefix, true).or_else(|| find_link(&decode_quoted_printable(raw), prefix, false))
}

fn find_link(text: &str, prefix: &str, reject_soft_breaks: bool) -> Option<String> {
    let mut from = 0;
    while let Some(i) = text[from..].find(prefix) {
        let start = from + i;
        let end = text[start..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>'))
            .map_or(text.len(), |e| start + e);
        let link = &text[start..end];
        let cut_by_soft_break =
            reject_soft_breaks && link.ends_with('=') && text[end..].starts_with(['\r', '\n']);
        if !cut_by_soft_break && link.len() > prefix.len() {
            return Some(link.replace("&amp;", "&"));
        }
        from = end.max(start + 1);
    }
    None
}

/// Decodes quoted-printable text (RFC 2045 §6.7): soft line breaks are removed and `=XX` escapes
/// become bytes; anything else is kept as is.
pub fn decode_quoted_printable(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            if bytes[i + 1..].starts_with(b"\r\n") {
                i += 3;
                continue;
            }
            if bytes[i + 1..].starts_with(b"\n") {
                i += 2;
                continue;
            }
            if let Some(hex) = bytes.get(i + 1..i + 3)
                && hex.iter().all(u8::is_ascii_hexdigit)
                && let Ok(hex) = std::str::from_utf8(hex)
                && let Ok(byte) = u8::from_str_radix(hex, 16)
            {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
