//! A private PostgreSQL cluster under a temporary directory, for tests that stop and restart the
//! database (an outage) without touching the shared one. Built with the machine's PostgreSQL
//! binaries (`initdb`, `pg_ctl`), run as the `postgres` user when the tests run as root (the
//! server refuses to run as root). `None` where they are missing.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

impl PgCluster {
    /// A new, started cluster with trust authentication on 127.0.0.1.
    pub fn start() -> Option<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .find(|p| p.join("initdb").exists())?;
        let dir = tempfile::tempdir().ok()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let cluster = Self { dir, bin, port };
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(cluster.dir.path())
                .status()
                .ok()?;
            assert!(status.success(), "chown the cluster directory");
        }
        let data = cluster.data();
        let data = data.to_str()?;
        cluster.run(&[
            "initdb",
            "-D",
            data,
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        ]);
        cluster.pg_ctl_start();
        Some(cluster)
    }

    /// The database URL of the `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server at once (connections are cut, as in a crash).
    pub fn stop(&self) {
        let data = self.data();
        self.run(&[
            "pg_ctl",
            "-D",
            data.to_str().unwrap_or_default(),
            "-m",
            "immediate",
            "-w",
            "stop",
        ]);
    }

    /// Starts it again on the same port.
    pub fn pg_ctl_start(&self) {
        let data = self.data();
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        self.run(&[
            "pg_ctl",
            "-D",
            data.to_str().unwrap_or_default(),
            "-o",
            &options,
            "-l",
            self.dir.path().join("log").to_str().unwrap_or_default(),
            "-w",
            "start",
        ]);
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn run(&self, args: &[&str]) {
        let program = self.bin.join(args[0]);
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        cmd.args(&args[1..]).current_dir(self.dir.path());
        let out = cmd.output().expect("PostgreSQL tools run");
        assert!(
            out.status.success(),
            "{}: {}{}",
            args[0],
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.data();
        if data.join("postmaster.pid").exists() {
            let program = self.bin.join("pg_ctl");
            let dir = data.to_string_lossy().into_owned();
            let mut cmd = if is_root() {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(&program);
                c
            } else {
                Command::new(&program)
            };
            let _ = cmd.args(["-D", &dir, "-m", "immediate", "stop"]).output();
        }
    }
}

fn is_root() -> bool {
    Path::new("/proc/self/status").exists()
        && std::fs::read_to_string("/proc/self/status")
            .map(|s| {
                s.lines()
                    .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
            })
            .unwrap_or(false)
}
