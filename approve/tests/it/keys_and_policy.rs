//! `keygen` and `policy init|sign|next`, run as the real binary; the results are checked with
//! the contract's own verifier (`playlists::policy`).

use std::path::Path;
use std::process::Command;

use gatecast_testkit::TestDir;
use playlists::policy::{verify_chain, verify_policy, Anchor};

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gatecast-approve"))
        .args(args)
        .output()
        .expect("run gatecast-approve");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn keygen(dir: &Path, name: &str) -> (String, String) {
    let path = dir.join(name);
    let (ok, out) = run(&["keygen", "--out", path.to_str().unwrap()]);
    assert!(ok, "{out}");
    let id = out.split_whitespace().last().unwrap().to_owned();
    (path.to_str().unwrap().to_owned(), id)
}

#[test]
fn keygen_writes_a_0600_secret_a_pub_file_and_prints_the_key_id_last() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TestDir::new("approve-keygen");
    let (path, id) = keygen(dir.path(), "a.key");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let public = std::fs::read_to_string(format!("{path}.pub")).unwrap();
    let key = playlists::keys::PublicKey::from_base64(public.trim()).unwrap();
    assert_eq!(key.key_id(), id);
    let (ok, out) = run(&["keygen", "--out", &path]);
    assert!(!ok && out.contains("refusing to overwrite"), "{out}");
}

#[test]
fn policy_init_sign_and_next_verify_under_the_pinned_roots() {
    let dir = TestDir::new("approve-policy");
    let (r1, id1) = keygen(dir.path(), "root1.key");
    let (r2, id2) = keygen(dir.path(), "root2.key");
    let (a1, _) = keygen(dir.path(), "a1.key");
    let (a2, _) = keygen(dir.path(), "a2.key");
    let v1 = dir.path().join("policy-1.json");
    let (ok, out) = run(&[
        "policy",
        "init",
        "--root-key",
        &r1,
        "--root-key",
        &format!("{r2}.pub"),
        "--approver",
        &format!("Nguyễn Văn An={a1}.pub"),
        "--approver",
        &format!("Trần Thị Bình={a2}.pub"),
        "--media-threshold",
        "2",
        "--alert-threshold",
        "1",
        "--out",
        v1.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    let pinned = vec![id1.clone(), id2.clone()];
    let now = jiff::Timestamp::now();
    // Threshold 2 (both roots), only root 1 has signed so far.
    let bytes = std::fs::read(&v1).unwrap();
    assert!(verify_policy(&bytes, Anchor::Pinned(&pinned), now, true).is_err());
    let (ok, out) = run(&[
        "policy",
        "sign",
        "--key",
        &r2,
        "--policy",
        v1.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    let bytes = std::fs::read(&v1).unwrap();
    let p1 = verify_policy(&bytes, Anchor::Pinned(&pinned), now, true).unwrap();
    assert_eq!(
        (
            p1.version,
            p1.media_threshold,
            p1.approvers[0].name.as_str()
        ),
        (1, 2, "Nguyễn Văn An")
    );
    // Signing again with the same key adds nothing.
    assert!(
        run(&[
            "policy",
            "sign",
            "--key",
            &r2,
            "--policy",
            v1.to_str().unwrap()
        ])
        .0
    );
    assert_eq!(
        playlists::envelope::Envelope::parse(&std::fs::read(&v1).unwrap())
            .unwrap()
            .signatures
            .len(),
        2
    );

    // Rotation: v2 drops approver 2, signed by both old roots.
    let v2 = dir.path().join("policy-2.json");
    let (ok, out) = run(&[
        "policy",
        "next",
        "--previous",
        v1.to_str().unwrap(),
        "--root-key",
        &r1,
        "--root-key",
        &r2,
        "--approver",
        &format!("Nguyễn Văn An={a1}.pub"),
        "--media-threshold",
        "1",
        "--alert-threshold",
        "1",
        "--out",
        v2.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    let chain = vec![
        String::from_utf8(std::fs::read(&v1).unwrap()).unwrap(),
        String::from_utf8(std::fs::read(&v2).unwrap()).unwrap(),
    ];
    let (p2, _) = verify_chain(&chain, &pinned, None, now).unwrap().unwrap();
    assert_eq!((p2.version, p2.approvers.len()), (2, 1));
    // A policy with no secret key to sign it is refused.
    let (ok, out) = run(&[
        "policy",
        "init",
        "--root-key",
        &format!("{r1}.pub"),
        "--approver",
        &format!("A={a1}.pub"),
        "--media-threshold",
        "1",
        "--alert-threshold",
        "1",
        "--out",
        dir.path().join("x").to_str().unwrap(),
    ]);
    assert!(!ok && out.contains("no secret key"), "{out}");
}
