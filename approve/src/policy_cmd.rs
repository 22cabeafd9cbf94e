//! `policy init|next|sign`: root key holders make and sign the approval policy.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use gatecast_support::fs::write_atomic;
use jiff::{SignedDuration, Timestamp};
use playlists::envelope::Envelope;
use playlists::policy::{add_signature, Approver, Policy, RootKey, POLICY_TYPE};

use crate::keys::{public_from_arg, read_key, read_secret, KeyFile};

/// The flags of `policy init` and `policy next`.
#[derive(clap::Args)]
pub struct PolicyArgs {
    /// Root key files (secret: listed and signs; `.pub`: listed only). These sign the NEXT policy.
    #[arg(long = "root-key", required = true)]
    pub root_keys: Vec<PathBuf>,
    /// Distinct root signatures the next policy needs (default: all listed root keys).
    #[arg(long)]
    pub root_threshold: Option<u32>,
    /// An approver: `NAME=PUBKEY` (base64, or a `.pub` file). Repeat for each.
    #[arg(long = "approver", required = true)]
    pub approvers: Vec<String>,
    /// Distinct approvals each media item needs.
    #[arg(long)]
    pub media_threshold: u32,
    /// Distinct approvals each alert text or alert media needs.
    #[arg(long)]
    pub alert_threshold: u32,
    /// Days until the policy expires.
    #[arg(long, default_value_t = 365)]
    pub days: u32,
    /// `next` only: the policy it follows (its version + 1).
    #[arg(long)]
    pub previous: Option<PathBuf>,
    /// More secret keys that sign (e.g. retiring root keys signing their successor).
    #[arg(long = "sign-key")]
    pub sign_keys: Vec<PathBuf>,
    /// Where to write the policy envelope.
    #[arg(long)]
    pub out: PathBuf,
}

fn read_policy(path: &Path) -> Result<(Envelope, Policy)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let env = Envelope::parse(&bytes)
        .with_context(|| format!("{} is not an envelope", path.display()))?;
    if env.payload_type != POLICY_TYPE {
        bail!(
            "{} is a {} envelope, not a policy",
            path.display(),
            env.payload_type
        );
    }
    let p = Policy::from_json(&env.payload)?;
    Ok((env, p))
}

/// `policy init` (`next == false`) or `policy next`.
pub fn make(a: &PolicyArgs, next: bool) -> Result<()> {
    let version = match (next, &a.previous) {
        (false, None) => 1,
        (true, Some(prev)) => read_policy(prev)?.1.version + 1,
        (true, None) => bail!("policy next needs --previous FILE (the policy it follows)"),
        (false, Some(_)) => bail!("--previous is for policy next; policy init makes version 1"),
    };
    let keys: Vec<KeyFile> = a
        .root_keys
        .iter()
        .map(|p| read_key(p))
        .collect::<Result<_>>()?;
    let mut approvers = Vec::new();
    for spec in &a.approvers {
        let (name, key) = spec
            .split_once('=')
            .with_context(|| format!("--approver {spec:?}: write NAME=PUBKEY"))?;
        let key = public_from_arg(key)?;
        approvers.push(Approver {
            key_id: key.key_id(),
            public_key: key.to_base64(),
            name: name.trim().to_owned(),
            roles: Vec::new(),
        });
    }
    let now = Timestamp::now();
    let policy = Policy {
        version,
        issued_at: now,
        expires_at: now + SignedDuration::from_hours(24 * i64::from(a.days.max(1))),
        root_keys: keys
            .iter()
            .map(|k| RootKey {
                key_id: k.public().key_id(),
                public_key: k.public().to_base64(),
            })
            .collect(),
        root_threshold: a.root_threshold.unwrap_or(keys.len() as u32),
        approvers,
        media_threshold: a.media_threshold,
        alert_threshold: a.alert_threshold,
    };
    policy.validate()?;
    let mut signers: Vec<_> = keys
        .iter()
        .filter_map(|k| match k {
            KeyFile::Secret(s) => Some(s.clone()),
            KeyFile::Public(_) => None,
        })
        .collect();
    for p in &a.sign_keys {
        signers.push(read_secret(p)?);
    }
    let Some(first) = signers.first() else {
        bail!("no secret key given: at least one --root-key (or --sign-key) must be a secret key file");
    };
    let mut env = playlists::policy::sign_policy(&policy, first);
    for s in &signers[1..] {
        add_signature(&mut env, s);
    }
    write_atomic(&a.out, &env.to_json(), 0o644)
        .with_context(|| format!("cannot write {}", a.out.display()))?;
    let ids: Vec<_> = env.signatures.iter().map(|s| s.keyid.as_str()).collect();
    println!(
        "policy version {version} written to {}; signed by {}; root keys {} (threshold {})",
        a.out.display(),
        ids.join(","),
        policy.root_ids().join(","),
        policy.root_threshold
    );
    Ok(())
}

/// `policy sign --key FILE --policy FILE`: add one more root signature.
pub fn sign(key: &Path, policy: &Path) -> Result<()> {
    let key = read_secret(key)?;
    let (mut env, p) = read_policy(policy)?;
    add_signature(&mut env, &key);
    write_atomic(policy, &env.to_json(), 0o644)
        .with_context(|| format!("cannot write {}", policy.display()))?;
    println!(
        "policy version {} in {} now carries {} signature(s), the last by {}",
        p.version,
        policy.display(),
        env.signatures.len(),
        key.key_id()
    );
    Ok(())
}
