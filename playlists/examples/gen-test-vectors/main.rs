//! Writes the published test vectors to `docs/test-vectors/`.
//!
//! ```text
//! cargo run -p playlists --example gen-test-vectors            # writes docs/test-vectors/
//! cargo run -p playlists --example gen-test-vectors -- DIR     # writes DIR/
//! ```
//!
//! The output is deterministic (fixed key seeds, fixed timestamps); `playlists/tests/it/vectors.rs`
//! regenerates it and fails if the committed files differ.

mod vectors;

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = match std::env::args_os().nth(1) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/test-vectors"),
    };
    std::fs::create_dir_all(&dir)?;
    for (name, contents) in vectors::generate() {
        let path = dir.join(name);
        std::fs::write(&path, contents)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
