//! The two binaries exist, build from the workspace and describe themselves.

use gatecast_tests::binary;
use std::process::Command;

fn help_of(name: &str) -> String {
    let out = Command::new(binary(name))
        .arg("--help")
        .output()
        .expect("running --help");
    assert!(
        out.status.success(),
        "{name} --help exited with {}",
        out.status
    );
    String::from_utf8(out.stdout).expect("help is UTF-8")
}

#[test]
fn controller_prints_help_with_its_commands() {
    let help = help_of("gatecast-controller");
    assert!(help.contains("serve"), "no `serve` in:\n{help}");
    assert!(help.contains("demo"), "no `demo` in:\n{help}");
}

#[test]
fn player_prints_help_with_its_commands() {
    let help = help_of("gatecast-player");
    assert!(help.contains("enroll"), "no `enroll` in:\n{help}");
    assert!(help.contains("run"), "no `run` in:\n{help}");
}
