//! An RFC 4180 CSV writer: UTF-8, CRLF line endings, fields quoted when they hold a comma, a
//! double quote, CR or LF (quotes doubled inside), and an optional U+FEFF byte order mark so
//! spreadsheet programs read the file as UTF-8.
//!
//! Fields that start with `=`, `+`, `-`, `@`, TAB or CR are written as they are: this writer
//! produces data for auditors, not formulas, and altering values would break their integrity.
//! Spreadsheet users should import the file as text (see `docs/auditing.md`).

/// Writes CSV records into a byte buffer.
#[derive(Debug, Default)]
pub struct CsvWriter {
    out: Vec<u8>,
}

impl CsvWriter {
    /// An empty writer; with `bom` the output starts with the UTF-8 byte order mark (EF BB BF).
    pub fn new(bom: bool) -> CsvWriter {
        let mut out = Vec::new();
        if bom {
            out.extend_from_slice("\u{FEFF}".as_bytes());
        }
        CsvWriter { out }
    }

    /// Appends one record (fields in order), terminated by CRLF.
    pub fn record<I, S>(&mut self, fields: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for (i, f) in fields.into_iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            write_field(&mut self.out, f.as_ref());
        }
        self.out.extend_from_slice(b"\r\n");
    }

    /// The bytes written so far.
    pub fn into_bytes(self) -> Vec<u8> {
        self.out
    }
}

/// Writes one field, quoted if it needs to be (RFC 4180 §2 rules 5–7).
fn write_field(out: &mut Vec<u8>, f: &str) {
    if f.contains([',', '"', '\r', '\n']) {
        out.push(b'"');
        for part in f.split('"').enumerate() {
            if part.0 > 0 {
                out.extend_from_slice(b"\"\"");
            }
            out.extend_from_slice(part.1.as_bytes());
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(f.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(bom: bool, rows: &[&[&str]]) -> String {
        let mut w = CsvWriter::new(bom);
        for r in rows {
            w.record(r.iter());
        }
        String::from_utf8(w.into_bytes()).unwrap()
    }

    #[test]
    fn plain_fields_are_unquoted_and_lines_end_in_crlf() {
        assert_eq!(csv(false, &[&["a", "b"], &["1", ""]]), "a,b\r\n1,\r\n");
    }

    #[test]
    fn special_characters_are_quoted_and_quotes_doubled() {
        assert_eq!(
            csv(false, &[&["x,y", "say \"hi\"", "l1\nl2", "cr\r", "\""]]),
            "\"x,y\",\"say \"\"hi\"\"\",\"l1\nl2\",\"cr\r\",\"\"\"\"\r\n"
        );
    }

    #[test]
    fn utf8_is_kept_and_bom_is_optional() {
        let s = csv(true, &[&["Cửa khẩu Lào Cai – Hà Khẩu", "中文"]]);
        assert!(s.starts_with('\u{FEFF}'));
        assert_eq!(&s[3..], "Cửa khẩu Lào Cai – Hà Khẩu,中文\r\n");
        assert!(!csv(false, &[&["a"]]).starts_with('\u{FEFF}'));
    }
}
