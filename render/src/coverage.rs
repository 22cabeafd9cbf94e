//! Whether the installed fonts cover the scripts of the alert languages.
//!
//! A screen needs Vietnamese (Latin with stacked diacritics), Hmong in Latin letters and
//! Simplified Chinese; Pahawh Hmong (U+16B00–U+16B8F) is drawn when a font has it and is
//! only reported otherwise. Missing fonts are named by their Debian package.

use cosmic_text::fontdb::{Database, FaceInfo};
use cosmic_text::ttf_parser;

use crate::words::{CJK_FAMILIES, LATIN_FAMILIES};

/// One script the screen may need, and what was found for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptCheck {
    /// The script, in words (`Vietnamese`, `Simplified Chinese`, …).
    pub script: &'static str,
    /// The characters that must all be in one face.
    pub sample: &'static str,
    /// The Debian package that brings a face with them.
    pub package: &'static str,
    /// Whether alerts need it (Pahawh Hmong is optional).
    pub required: bool,
    /// The family of the first face that has every sample character, if any.
    pub found: Option<String>,
}

/// The checks of every script ([`check`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    /// One check per script.
    pub scripts: Vec<ScriptCheck>,
}

impl Coverage {
    /// The required scripts that no installed font covers.
    pub fn missing(&self) -> impl Iterator<Item = &ScriptCheck> {
        self.scripts
            .iter()
            .filter(|s| s.required && s.found.is_none())
    }

    /// One sentence for an operator when a required script has no font (`None` when all do):
    /// which scripts, and which Debian packages to install.
    pub fn warning(&self) -> Option<String> {
        let missing: Vec<&ScriptCheck> = self.missing().collect();
        if missing.is_empty() {
            return None;
        }
        let scripts: Vec<&str> = missing.iter().map(|s| s.script).collect();
        let mut packages: Vec<&str> = missing.iter().map(|s| s.package).collect();
        packages.dedup();
        Some(format!(
            "no installed font covers {}: alerts in these languages would show empty boxes; \
             install {} (apt-get install {})",
            scripts.join(", "),
            packages.join(" and "),
            packages.join(" ")
        ))
    }

    /// Whether Pahawh Hmong can be drawn.
    pub fn pahawh_hmong(&self) -> bool {
        self.scripts
            .iter()
            .any(|s| s.script == PAHAWH && s.found.is_some())
    }
}

const PAHAWH: &str = "Pahawh Hmong";

/// Checks `db` for a face with each script's sample characters.
pub fn check(db: &Database) -> Coverage {
    let wanted: [(&str, &str, &str, bool, &[&str]); 4] = [
        (
            "Vietnamese",
            "CẢNH BÁO KHẨN Ở Ầ Ễ Ự Ỹ ởầễựỹ",
            "fonts-noto-core",
            true,
            LATIN_FAMILIES,
        ),
        (
            "Hmong (Latin)",
            "Hmoob Ceev faj txhua",
            "fonts-noto-core",
            true,
            LATIN_FAMILIES,
        ),
        (
            "Simplified Chinese",
            "紧急警报中文边境关闭",
            "fonts-noto-cjk",
            true,
            CJK_FAMILIES,
        ),
        (
            PAHAWH,
            "\u{16B00}\u{16B01}\u{16B02}\u{16B50}",
            "fonts-noto-core",
            false,
            &["Noto Sans Pahawh Hmong"],
        ),
    ];
    let scripts = wanted
        .into_iter()
        .map(
            |(script, sample, package, required, families)| ScriptCheck {
                script,
                sample,
                package,
                required,
                found: face_with(db, sample, families),
            },
        )
        .collect();
    Coverage { scripts }
}

/// The family of the first face in `db` that maps every non-space character of `sample`,
/// looking first at the `preferred` families (the ones the renderer sets the text in).
fn face_with(db: &Database, sample: &str, preferred: &[&str]) -> Option<String> {
    let rank = |info: &FaceInfo| {
        preferred
            .iter()
            .position(|p| info.families.iter().any(|(f, _)| f == p))
            .unwrap_or(preferred.len())
    };
    let mut faces: Vec<&FaceInfo> = db.faces().collect();
    faces.sort_by_key(|info| rank(info));
    faces.into_iter().find_map(|info| {
        let covers = db
            .with_face_data(info.id, |data, index| {
                ttf_parser::Face::parse(data, index).is_ok_and(|face| {
                    sample
                        .chars()
                        .filter(|c| !c.is_whitespace())
                        .all(|c| face.glyph_index(c).is_some())
                })
            })
            .unwrap_or(false);
        covers.then(|| {
            info.families
                .first()
                .map(|(name, _)| name.clone())
                .unwrap_or_else(|| info.post_script_name.clone())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::{check, Coverage};

    #[test]
    fn an_empty_font_database_names_the_packages() {
        let c: Coverage = check(&cosmic_text::fontdb::Database::new());
        assert_eq!(c.missing().count(), 3);
        let w = c.warning().expect("fonts are missing");
        assert!(
            w.contains("fonts-noto-core") && w.contains("fonts-noto-cjk"),
            "{w}"
        );
        assert!(
            w.contains("Simplified Chinese") && w.contains("Vietnamese"),
            "{w}"
        );
        assert!(!c.pahawh_hmong());
    }
}
