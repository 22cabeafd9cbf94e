//! The admin commands of `gatecast-controller` (`token`, `broker-acl`, `rotate-key`,
//! `backup`) and the local admin socket that lets them work while `serve` runs
//! (`docs/operations.md`, "Admin commands on a running controller").
//!
//! While `serve` runs it holds the database's lock, so a second process cannot open it.
//! `serve` therefore listens on `<data>/admin.sock`, a Unix socket of mode 0600 that answers
//! only a peer running as the socket's owner (checked with `SO_PEERCRED`). A command first
//! tries the socket; when nothing listens there it opens the database itself. Both paths call
//! [`execute`], so the output is the same either way.
//!
//! Wire format: one JSON [`AdminCommand`] line in, one JSON [`AdminReply`] line out.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tracing::{info, warn};

use crate::store::{Role, Store, StoreError};

/// The socket's file name in the data directory.
pub const SOCKET: &str = "admin.sock";
/// Longest request line accepted.
const MAX_REQUEST: u64 = 64 * 1024;
/// How long a peer has to send its command.
const REQUEST_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// One admin command.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum AdminCommand {
    /// Create an API token.
    TokenCreate {
        /// Its role.
        role: Role,
    },
    /// List the API tokens (ids, roles, creation times; never secrets).
    TokenList,
    /// Revoke a token by id.
    TokenRevoke {
        /// Token id.
        id: String,
    },
    /// Write mosquitto's password and ACL files into `out` (an absolute path).
    BrokerAclMosquitto {
        /// Output directory.
        out: PathBuf,
        /// mosquitto's TLS listener, when the controller has a certificate (absolute paths).
        #[serde(default)]
        tls: Option<crate::acl::MosquittoTls>,
    },
    /// Make a new signing key and a rotation statement.
    RotateKey {
        /// Days the players keep trusting the old key.
        overlap_days: u64,
    },
    /// Create a console user (a random password when none is given, shown once).
    UserAdd {
        /// Login.
        login: String,
        /// Full name.
        name: String,
        /// Role.
        role: Role,
        /// Password (from the operator's terminal), or `None` for a random one.
        password: Option<String>,
        /// Turn on two-factor sign-in (prints the otpauth:// URI for the phone app).
        totp: bool,
    },
    /// Disable a user (sessions end, the user's tokens stop working).
    UserDisable {
        /// Login.
        login: String,
    },
    /// Give a user a new random password (shown once) and enable them.
    UserReset {
        /// Login.
        login: String,
    },
    /// Write a backup archive to `out` (an absolute path).
    Backup {
        /// The archive.
        out: PathBuf,
        /// Include the media files (else by reference).
        with_media: bool,
    },
}

impl AdminCommand {
    /// The command's wire name (for the log; never its arguments).
    pub fn name(&self) -> &'static str {
        match self {
            AdminCommand::TokenCreate { .. } => "token-create",
            AdminCommand::TokenList => "token-list",
            AdminCommand::TokenRevoke { .. } => "token-revoke",
            AdminCommand::BrokerAclMosquitto { .. } => "broker-acl-mosquitto",
            AdminCommand::RotateKey { .. } => "rotate-key",
            AdminCommand::UserAdd { .. } => "user-add",
            AdminCommand::UserDisable { .. } => "user-disable",
            AdminCommand::UserReset { .. } => "user-reset",
            AdminCommand::Backup { .. } => "backup",
        }
    }
}

/// The answer on the socket.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdminReply {
    /// Whether the command succeeded.
    pub ok: bool,
    /// What to print: the output, or the error message.
    pub output: String,
}

/// An admin command that failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The database could not be opened or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A backup failed.
    #[error(transparent)]
    Backup(#[from] crate::backup::BackupError),
    /// A key rotation failed.
    #[error(transparent)]
    Rotation(#[from] crate::rotation::RotationError),
    /// A user could not be made or changed.
    #[error(transparent)]
    Account(#[from] crate::accounts::AccountError),
    /// No token has that id.
    #[error("no token with id {0:?}")]
    NoSuchToken(String),
    /// The running controller answered with an error.
    #[error("{0}")]
    Remote(String),
    /// The socket spoke something else than this protocol.
    #[error("admin socket {path}: {message}")]
    Protocol {
        /// The socket.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AdminError + '_ {
    move |source| AdminError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Runs `cmd` on the controller's database `store` and data directory `data`; returns the text
/// to print. The running controller and the stopped-controller path both call this.
pub async fn execute(store: &Store, data: &Path, cmd: AdminCommand) -> Result<String, AdminError> {
    match cmd {
        AdminCommand::TokenCreate { role } => {
            let (rec, token) = crate::tokens::create_token(store, role).await?;
            Ok(format!(
                "created {} token {} (store it now; it is not shown again): {token}",
                role.as_str(),
                rec.id
            ))
        }
        AdminCommand::TokenList => {
            let mut lines = vec![
                "id                role      created                        state".to_string(),
            ];
            for t in store.tokens()? {
                lines.push(format!(
                    "{:<17} {:<9} {:<30} {}",
                    t.id,
                    t.role.as_str(),
                    t.created_at,
                    if t.revoked { "revoked" } else { "active" }
                ));
            }
            Ok(lines.join("\n"))
        }
        AdminCommand::TokenRevoke { id } => {
            if !crate::tokens::revoke_token(store, &id).await? {
                return Err(AdminError::NoSuchToken(id));
            }
            Ok(format!("revoked token {id}"))
        }
        AdminCommand::BrokerAclMosquitto { out, tls } => {
            let screens: Vec<(String, String)> = store
                .screens()?
                .into_iter()
                .filter(|s| !s.disabled)
                .map(|s| (s.id, s.mqtt_password_hash))
                .collect();
            let pw_path = data.join(crate::config::files::MQTT_PASSWORD);
            let (controller_pw, _) = crate::secrets::load_or_create_secret(
                &pw_path,
                crate::mqtt::password::generate_mqtt_password,
            )
            .map_err(|e| AdminError::Io {
                path: pw_path.clone(),
                source: std::io::Error::other(e.to_string()),
            })?;
            crate::acl::write_mosquitto_files(&out, &screens, &controller_pw).map_err(io(&out))?;
            let mut said = String::new();
            if let Some(tls) = &tls {
                crate::acl::write_tls_listener(&out, tls).map_err(io(&out))?;
                said = format!(
                    "wrote {} (listener {} with TLS); include it in mosquitto.conf\n",
                    out.join(crate::acl::TLS_LISTENER_FILE).display(),
                    tls.port
                );
            }
            Ok(format!(
                "{said}wrote {} and {} for {} screen(s); run: mosquitto -c <conf> with password_file and acl_file pointing there",
                out.join(crate::acl::PASSWORD_FILE).display(),
                out.join(crate::acl::ACL_FILE).display(),
                screens.len()
            ))
        }
        AdminCommand::RotateKey { overlap_days } => {
            let r = crate::rotation::rotate_key(
                data,
                store,
                std::time::Duration::from_secs(overlap_days.saturating_mul(86_400)),
                jiff::Timestamp::now(),
            )
            .await?;
            Ok(format!(
                "rotated the controller key {} -> {} (old key kept in {}); players trust both until {}; (re)start the controller to sign with the new key and publish the statement",
                r.old_key_id,
                r.new_key_id,
                r.retired_path.display(),
                r.overlap_until
            ))
        }
        AdminCommand::UserAdd {
            login,
            name,
            role,
            password,
            totp,
        } => {
            let given = password.is_some();
            let n = crate::accounts::add_user(store, &login, &name, role, password, totp).await?;
            let mut out = format!("created {} user {login} ({name})", role.as_str());
            if !given {
                out.push_str(&format!("; password (shown once): {}", n.password));
            }
            if let Some(uri) = n.otpauth {
                out.push_str(&format!(
                    "\ntwo-factor: add this to the phone app (as text or a QR code): {uri}"
                ));
            }
            Ok(out)
        }
        AdminCommand::UserDisable { login } => {
            crate::accounts::disable_user(store, &login).await?;
            Ok(format!("disabled user {login}; their sessions ended"))
        }
        AdminCommand::UserReset { login } => {
            let pw = crate::accounts::reset_password(store, &login, None).await?;
            Ok(format!("new password for {login} (shown once): {pw}"))
        }
        AdminCommand::Backup { out, with_media } => {
            let (store, data) = (store.clone(), data.to_owned());
            let done = tokio::task::spawn_blocking(move || {
                crate::backup::create(&store, &data, &out, with_media)
            })
            .await
            .map_err(|e| AdminError::Remote(format!("the backup task failed: {e}")))??;
            Ok(done.to_string())
        }
    }
}

/// `<data>/admin.sock`.
pub fn socket_path(data: &Path) -> PathBuf {
    data.join(SOCKET)
}

/// Runs `cmd` for the controller whose data directory is `data`: through the running
/// controller's admin socket if one answers, else directly on the database.
pub async fn run_command(data: &Path, cmd: AdminCommand) -> Result<String, AdminError> {
    let path = socket_path(data);
    match UnixStream::connect(&path).await {
        Ok(stream) => ask(&path, stream, &cmd).await,
        // InvalidInput: a path too long for a Unix socket address (SUN_LEN), where `serve`
        // could not listen either (it says so in its log): no socket, as when none exists.
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound
                    | std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::InvalidInput
            ) =>
        {
            std::fs::create_dir_all(data).map_err(io(data))?;
            let store = Store::open(&data.join(crate::config::files::DB))?;
            let out = execute(&store, data, cmd).await;
            store.flush().await?;
            out
        }
        Err(e) => Err(io(&path)(e)),
    }
}

async fn ask(path: &Path, stream: UnixStream, cmd: &AdminCommand) -> Result<String, AdminError> {
    let (r, mut w) = stream.into_split();
    let mut line = serde_json::to_vec(cmd).expect("commands serialize");
    line.push(b'\n');
    w.write_all(&line).await.map_err(io(path))?;
    let mut reply = String::new();
    BufReader::new(r)
        .read_line(&mut reply)
        .await
        .map_err(io(path))?;
    let reply: AdminReply = serde_json::from_str(&reply).map_err(|e| AdminError::Protocol {
        path: path.to_owned(),
        message: format!("unreadable reply ({e}): is the controller this version?"),
    })?;
    if reply.ok {
        Ok(reply.output)
    } else {
        Err(AdminError::Remote(reply.output))
    }
}

/// Binds `<data>/admin.sock` (mode 0600, a stale file from a crash replaced: the caller holds
/// the database lock, so no other controller uses this directory) and serves it until the
/// task is aborted.
pub fn listen(data: &Path, store: Store) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let path = socket_path(data);
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    let owner = std::fs::metadata(&path)?.uid();
    let data = data.to_owned();
    info!(socket = %path.display(), "admin socket listening");
    Ok(tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let (store, data) = (store.clone(), data.clone());
                    tokio::spawn(async move { serve_one(stream, owner, &store, &data).await });
                }
                Err(e) => {
                    warn!(error = %e, "admin socket accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    }))
}

async fn serve_one(stream: UnixStream, owner: u32, store: &Store, data: &Path) {
    let peer = stream.peer_cred();
    let (r, mut w) = stream.into_split();
    // The request is read before any answer, refusals included, so the client's write never
    // meets a closed socket; a peer that sends nothing is dropped after a while.
    let mut line = String::new();
    let read = tokio::time::timeout(
        REQUEST_DEADLINE,
        BufReader::new(r.take(MAX_REQUEST)).read_line(&mut line),
    )
    .await;
    let reply = match (peer, read) {
        (Ok(c), _) if c.uid() != owner => {
            warn!(
                peer_uid = c.uid(),
                owner, "admin socket: refused a peer that is not the controller's user"
            );
            refuse(format!("refused: uid {} is not the controller's user (uid {owner}); run the command as that user", c.uid()))
        }
        (Err(e), _) => refuse(format!("refused: cannot read the peer's credentials: {e}")),
        (Ok(_), Err(_)) => refuse(format!("no command within {REQUEST_DEADLINE:?}")),
        (Ok(_), Ok(Err(e))) => refuse(format!("cannot read the command: {e}")),
        (Ok(_), Ok(Ok(_))) => match serde_json::from_str::<AdminCommand>(&line) {
            Ok(cmd) => {
                // The name only: a command may carry a password.
                info!(command = cmd.name(), "admin command on the socket");
                match execute(store, data, cmd).await {
                    Ok(output) => AdminReply { ok: true, output },
                    Err(e) => refuse(e.to_string()),
                }
            }
            Err(e) => refuse(format!("unreadable command: {e}")),
        },
    };
    let mut bytes = serde_json::to_vec(&reply).expect("replies serialize");
    bytes.push(b'\n');
    if let Err(e) = w.write_all(&bytes).await {
        warn!(error = %e, "admin socket: could not send the reply");
    }
}

fn refuse(output: String) -> AdminReply {
    AdminReply { ok: false, output }
}
