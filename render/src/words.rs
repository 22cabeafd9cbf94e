//! The words on an alert screen that are not the operator's: the word for "emergency" on the
//! band and the language's own name, per language, and the font family each language is set in.

use cosmic_text::fontdb::Database;

/// What the band says for one language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LangWords {
    /// The language these words are in (the tag the band is set for).
    pub tag: &'static str,
    /// The word for "emergency", in capitals where the script has them.
    pub emergency: &'static str,
    /// The language's name in itself, shown on the band so a reader finds their turn.
    pub label: &'static str,
    /// The language the label is in (the label of an unknown language is its tag, in Latin).
    pub label_tag: &'static str,
}

/// The known languages; anything else gets the English words.
const KNOWN: &[LangWords] = &[
    LangWords {
        tag: "vi",
        emergency: "CẢNH BÁO KHẨN",
        label: "Tiếng Việt",
        label_tag: "vi",
    },
    LangWords {
        tag: "en",
        emergency: "EMERGENCY",
        label: "English",
        label_tag: "en",
    },
    LangWords {
        tag: "zh",
        emergency: "紧急警报",
        label: "中文",
        label_tag: "zh",
    },
    // Hmong (Hmong Daw / White Hmong, RPA): "ceev" urgent, "faj" beware.
    LangWords {
        tag: "hmn",
        emergency: "CEEV FAJ",
        label: "Hmoob",
        label_tag: "hmn",
    },
];

/// Latin and Vietnamese text: the first family that is installed wins.
pub const LATIN_FAMILIES: &[&str] = &["Noto Sans", "DejaVu Sans", "Liberation Sans"];
/// Chinese text (Simplified first: `zh`, `zh-Hans`, `zh-CN`).
pub const CJK_FAMILIES: &[&str] = &["Noto Sans CJK SC", "Noto Sans SC", "WenQuanYi Zen Hei"];

/// The band's words for the language `tag` (BCP 47; matched on its primary subtag, so
/// `zh-Hans` and `zh-CN` are Chinese, `en-GB` English). Unknown languages get the English word.
pub fn for_lang(tag: &str) -> &'static LangWords {
    let primary = primary(tag);
    KNOWN
        .iter()
        .find(|w| w.tag == primary)
        .or_else(|| match primary.as_str() {
            // Hmong Daw and Mong Njua have their own codes.
            "mww" | "hnj" => KNOWN.iter().find(|w| w.tag == "hmn"),
            _ => None,
        })
        .unwrap_or(&KNOWN[1])
}

/// The lowercase primary subtag of a BCP 47 tag.
fn primary(tag: &str) -> String {
    tag.split(['-', '_'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// The font family text in `lang` is set in: the first installed of [`CJK_FAMILIES`] for
/// Chinese, of [`LATIN_FAMILIES`] otherwise; characters the family lacks fall back by script.
pub fn family_for(db: &Database, lang: &str) -> &'static str {
    let list = if primary(lang) == "zh" {
        CJK_FAMILIES
    } else {
        LATIN_FAMILIES
    };
    list.iter()
        .copied()
        .find(|name| installed(db, name))
        .unwrap_or(LATIN_FAMILIES[0])
}

/// Whether a face of family `name` is in `db`.
pub fn installed(db: &Database, name: &str) -> bool {
    db.faces()
        .any(|f| f.families.iter().any(|(family, _)| family == name))
}

#[cfg(test)]
mod tests {
    use super::for_lang;

    #[test]
    fn words_by_language_tag() {
        assert_eq!(for_lang("vi").emergency, "CẢNH BÁO KHẨN");
        assert_eq!(for_lang("zh-Hans").emergency, "紧急警报");
        assert_eq!(for_lang("ZH_cn").label, "中文");
        assert_eq!(for_lang("hmn").emergency, "CEEV FAJ");
        assert_eq!(for_lang("mww").label, "Hmoob");
        assert_eq!(for_lang("en-GB").label, "English");
        assert_eq!(for_lang("fr").emergency, "EMERGENCY");
        assert_eq!(for_lang("").emergency, "EMERGENCY");
    }
}
