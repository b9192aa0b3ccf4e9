//! The `authx` binary: parse the command line, load the configuration, set up logging, dispatch,
//! and turn the outcome into an exit code — 0 on success, 2 for bad input or an environment that
//! prevents starting (configuration, database URL, unreachable database, port in use), 1 for
//! anything that failed later.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use clap::Parser;

use authx::cli::{BootstrapArgs, Cli, Command, KeysCommand, RotateArgs, SecretsCommand};
use authx::config::Config;
use authx::engine::bootstrap::{BootstrapRequest, bootstrap_admin, issue_admin_api_key};
use authx::startup::{App, open_store, shutdown_signal};

/// Bad input or an environment that prevents starting.
const EXIT_USAGE: u8 = 2;
/// A failure after start-up.
const EXIT_FAILURE: u8 = 1;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref(), &cli.overrides()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("authx: configuration error: {error}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    authx::telemetry::init(&config.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("authx: cannot start the async runtime: {error}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    runtime.block_on(run(cli, config))
}

async fn run(cli: Cli, mut config: Config) -> ExitCode {
    match cli.command {
        Command::Serve(args) => {
            if args.no_migrate {
                config.database.migrate_on_start = false;
            }
            let app = match App::build(config).await {
                Ok(app) => app,
                Err(error) => {
                    eprintln!("authx: cannot start: {error}");
                    return ExitCode::from(EXIT_USAGE);
                }
            };
            match app.run_until(shutdown_signal()).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("authx: server failed: {error}");
                    ExitCode::from(EXIT_FAILURE)
                }
            }
        }
        Command::Migrate => match open_store(&config, false).await {
            Ok(store) => {
                let result = store.migrate().await;
                store.close().await;
                match result {
                    Ok(0) => {
                        println!("database is up to date; no migrations applied");
                        ExitCode::SUCCESS
                    }
                    Ok(n) => {
                        println!("applied {n} migration(s)");
                        ExitCode::SUCCESS
                    }
                    Err(error) => {
                        eprintln!("authx: migration failed: {error}");
                        ExitCode::from(EXIT_FAILURE)
                    }
                }
            }
            Err(error) => {
                eprintln!("authx: {error}");
                ExitCode::from(EXIT_USAGE)
            }
        },
        Command::CheckConfig => {
            println!("{config:#?}");
            println!("configuration is valid");
            ExitCode::SUCCESS
        }
        Command::BootstrapAdmin(args) => bootstrap(args, config).await,
        Command::Keys(KeysCommand::Rotate(args)) => rotate_keys(args, config).await,
        Command::Secrets(SecretsCommand::Reseal) => reseal_secrets(config).await,
        Command::Openapi(args) => {
            let spec = authx::http::api::spec_json();
            match args.output {
                Some(path) => match std::fs::write(&path, spec + "\n") {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(error) => {
                        eprintln!("authx: cannot write {}: {error}", path.display());
                        ExitCode::from(EXIT_FAILURE)
                    }
                },
                None => {
                    println!("{spec}");
                    ExitCode::SUCCESS
                }
            }
        }
    }
}

/// `authx secrets reseal`: every stored secret under the current key.
async fn reseal_secrets(config: Config) -> ExitCode {
    let sealer = match authx::startup::sealer(&config) {
        Ok(sealer) => sealer,
        Err(error) => {
            eprintln!("authx: {error}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let Some(key_id) = sealer.current_key_id().map(str::to_owned) else {
        eprintln!(
            "authx: {}",
            authx::sealing::key_source::KeySourceError::Missing
        );
        return ExitCode::from(EXIT_USAGE);
    };
    let store = match open_store(&config, false).await {
        Ok(store) => store,
        Err(error) => {
            eprintln!("authx: {error}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let result = store.reseal_secrets(authx::sealing::Reseal::All).await;
    store.close().await;
    match result {
        Ok(n) => {
            println!("resealed {n} secret(s); every stored secret is now under key {key_id}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("authx: resealing failed: {error}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

async fn bootstrap(args: BootstrapArgs, config: Config) -> ExitCode {
    let password = match read_password(&args) {
        Ok(password) => password,
        Err(message) => {
            eprintln!("authx: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if let Some(secs) = args.expires_in
        && !(1..=config.api_keys.max_ttl_secs).contains(&secs)
    {
        eprintln!(
            "authx: --expires-in must be between 1 and {} seconds (api_keys.max_ttl_secs)",
            config.api_keys.max_ttl_secs
        );
        return ExitCode::from(EXIT_USAGE);
    }
    let store = match open_store(&config, config.database.migrate_on_start).await {
        Ok(store) => store,
        Err(error) => {
            eprintln!("authx: {error}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let request = BootstrapRequest {
        email: args.email,
        password,
        restore_root: args.restore_root,
    };
    let mut result = bootstrap_admin(store.as_ref(), &config, request).await;
    let mut key = None;
    if let (Ok(report), true) = (&result, args.issue_api_key) {
        match issue_admin_api_key(store.as_ref(), &config, &report.user_id, args.expires_in).await {
            Ok(issued) => key = Some(issued),
            Err(error) => result = Err(error),
        }
    }
    store.close().await;
    match result {
        Ok(report) => {
            let mut out = std::io::stdout().lock();
            for step in &report.steps {
                let _ = writeln!(out, "- {step}");
            }
            let _ = writeln!(out, "\nAdministrator ready: user {}.", report.user_id);
            let _ = if server_is_running(&config).await {
                writeln!(
                    out,
                    "The server at {} is running: sign in at {}/login",
                    config.listen,
                    config.issuer_url()
                )
            } else {
                writeln!(
                    out,
                    "Next: start the server with `authx serve` and open {}/",
                    config.issuer_url()
                )
            };
            if let Some(key) = key {
                let expires = time::OffsetDateTime::from_unix_timestamp(key.expires_at)
                    .ok()
                    .and_then(|t| {
                        t.format(&time::format_description::well_known::Rfc3339)
                            .ok()
                    })
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "\nAPI key {} for the administrator (scopes {}, expires {expires}).\n\
                     It is shown only this once: store it now.\n{}",
                    key.id,
                    authx::engine::bootstrap::ROOT_SCOPE,
                    key.secret
                );
            }
            ExitCode::SUCCESS
        }
        Err(authx::engine::bootstrap::BootstrapError::Store(error)) => {
            eprintln!("authx: bootstrap failed: {error}");
            ExitCode::from(EXIT_FAILURE)
        }
        Err(error) => {
            eprintln!("authx: bootstrap refused: {error}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// `authx keys rotate`: rotates the signing key, audits it, prints the new kid.
async fn rotate_keys(args: RotateArgs, config: Config) -> ExitCode {
    let store = match open_store(&config, config.database.migrate_on_start).await {
        Ok(store) => store,
        Err(error) => {
            eprintln!("authx: {error}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let pace = if args.now {
        authx::engine::oauth2::keys::Pace::Now
    } else {
        authx::engine::oauth2::keys::Pace::Published
    };
    let result =
        authx::engine::oauth2::keys::rotate_in(store.as_ref(), &config.tokens, args.alg, pace)
            .await;
    if let Ok(rotations) = &result {
        for rotation in rotations {
            let mut event = authx::domain::audit::NewAuditEvent::new("cli", None, "key.rotate")
                .target("signing_key", &rotation.key.kid);
            event.details = rotation.audit_details();
            if let Err(error) = store.append_audit(event).await {
                eprintln!("authx: warning: could not record the audit event: {error}");
            }
        }
    }
    store.close().await;
    match result {
        Ok(rotations) => {
            for rotation in rotations {
                println!(
                    "new signing key: kid {} ({})",
                    rotation.key.kid, rotation.key.alg
                );
                println!(
                    "  the new key signs from {}",
                    authx::http::api::common::timestamp(rotation.key.signs_from)
                );
                if rotation.retired.is_empty() {
                    println!("  there was no active {} key to retire", rotation.key.alg);
                } else {
                    let until = authx::http::api::common::timestamp(rotation.publish_until);
                    println!(
                        "  retired {} stay published until {until}",
                        rotation.retired.join(", ")
                    );
                }
            }
            ExitCode::SUCCESS
        }
        Err(error @ authx::engine::oauth2::keys::KeyError::Unpublished(_)) => {
            eprintln!("authx: {error}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(error) => {
            eprintln!("authx: key rotation failed: {error}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// Whether an authx answers `/healthz` at the configured listen address (a quick local probe, so
/// the closing hint does not tell the operator to start a server that already runs).
async fn server_is_running(config: &Config) -> bool {
    let mut addr = config.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let probe = async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.ok()?;
        Some(head.starts_with(b"HTTP/1.1 200"))
    };
    matches!(
        tokio::time::timeout(std::time::Duration::from_secs(1), probe).await,
        Ok(Some(true))
    )
}

/// Reads the first line of the password file or of standard input, without its line ending. On
/// a terminal, standard input is read without echo, after a prompt, and asked twice.
fn read_password(args: &BootstrapArgs) -> Result<Option<String>, String> {
    use std::io::IsTerminal;
    let line = if let Some(path) = &args.password_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read password file {}: {e}", path.display()))?;
        text.lines().next().unwrap_or_default().to_owned()
    } else if args.password_stdin && std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password for the administrator: ")
            .map_err(|e| format!("cannot read the password: {e}"))?;
        let again = rpassword::prompt_password("The same password again: ")
            .map_err(|e| format!("cannot read the password: {e}"))?;
        if first != again {
            return Err("the two passwords differ".to_owned());
        }
        first
    } else if args.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        return Ok(None);
    };
    if line.is_empty() {
        return Err("the password is empty".to_owned());
    }
    Ok(Some(line))
}
