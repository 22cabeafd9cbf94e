//! Finding an external program (mpv, mosquitto, chromium, chromedriver).

use std::path::{Path, PathBuf};

/// Directories searched after `PATH`: Debian installs mosquitto in `/usr/sbin`, which is not on
/// every user's `PATH`.
const SBIN_DIRS: [&str; 3] = ["/usr/sbin", "/sbin", "/usr/local/sbin"];

/// Where `program` is: its own path if it names a file (contains a `/`), else the first file of
/// that name on `PATH`, then in `/usr/sbin`, `/sbin` and `/usr/local/sbin`.
pub fn find(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let p = Path::new(program);
        return p.is_file().then(|| p.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(SBIN_DIRS.iter().map(PathBuf::from))
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_sh_and_not_a_made_up_name() {
        assert!(find("sh").is_some_and(|p| p.is_file()));
        assert!(find("gatecast-no-such-program-9f3a").is_none());
        assert_eq!(find("/bin/sh"), Some(PathBuf::from("/bin/sh")));
        assert_eq!(find("/no/such/file"), None);
    }
}
