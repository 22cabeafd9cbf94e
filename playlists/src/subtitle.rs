//! Subtitle files of a video (`docs/protocol.md` §21): SRT or WebVTT, checked before they are
//! stored or shown. Pure: bytes in, cues or a named error out.
//!
//! The check is what a screen needs to show the file safely with mpv: valid UTF-8 (a byte-order
//! mark is allowed), within [`MAX_SUBTITLE_BYTES`], and made of cues with a well-formed time
//! range (`start < end`) and some text. Styling markup inside a cue's text is left as it is.

use serde::{Deserialize, Serialize};

/// Largest subtitle file accepted: 1 MiB (a two-hour film's subtitles are about 100 KiB).
pub const MAX_SUBTITLE_BYTES: usize = 1024 * 1024;
/// Most cues in one file.
pub const MAX_CUES: usize = 20_000;

/// The two formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubtitleFormat {
    /// SubRip (`.srt`): numbered cues, `00:00:01,000 --> 00:00:02,500`.
    Srt,
    /// WebVTT (`.vtt`): a `WEBVTT` header, `00:01.000 --> 00:02.500`.
    Vtt,
}

impl SubtitleFormat {
    /// The MIME type the file is stored and served with.
    pub fn mime(self) -> &'static str {
        match self {
            SubtitleFormat::Srt => "application/x-subrip",
            SubtitleFormat::Vtt => "text/vtt",
        }
    }

    /// The file extension mpv recognises the format by.
    pub fn extension(self) -> &'static str {
        match self {
            SubtitleFormat::Srt => "srt",
            SubtitleFormat::Vtt => "vtt",
        }
    }

    /// The format of a MIME type, if it is one of the two.
    pub fn from_mime(mime: &str) -> Option<SubtitleFormat> {
        match mime.split(';').next().unwrap_or("").trim() {
            "application/x-subrip" | "text/srt" | "application/srt" => Some(SubtitleFormat::Srt),
            "text/vtt" => Some(SubtitleFormat::Vtt),
            _ => None,
        }
    }
}

/// One cue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cue {
    /// Start, in milliseconds from the start of the video.
    pub start_ms: u64,
    /// End, in milliseconds (greater than `start_ms`).
    pub end_ms: u64,
    /// The text (lines joined with `\n`).
    pub text: String,
}

/// A checked subtitle file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subtitles {
    /// Its format (found from the content: a `WEBVTT` header or not).
    pub format: SubtitleFormat,
    /// Its cues, in file order.
    pub cues: Vec<Cue>,
}

/// Why a subtitle file was refused; `code()` is the API's error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubtitleError {
    /// Larger than [`MAX_SUBTITLE_BYTES`].
    #[error("the subtitle file is {0} bytes; at most {MAX_SUBTITLE_BYTES} bytes are accepted")]
    TooLarge(usize),
    /// Not UTF-8.
    #[error("the subtitle file is not UTF-8 (byte {0}); save it as UTF-8")]
    NotUtf8(usize),
    /// No cue at all.
    #[error("the subtitle file has no cue (SRT: number, time line, text; WebVTT: WEBVTT header, time line, text)")]
    Empty,
    /// A cue or line is malformed.
    #[error("line {line}: {what}")]
    Invalid {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        what: String,
    },
}

impl SubtitleError {
    /// `subtitle_too_large`, `subtitle_not_utf8`, `subtitle_empty` or `subtitle_invalid`.
    pub fn code(&self) -> &'static str {
        match self {
            SubtitleError::TooLarge(_) => "subtitle_too_large",
            SubtitleError::NotUtf8(_) => "subtitle_not_utf8",
            SubtitleError::Empty => "subtitle_empty",
            SubtitleError::Invalid { .. } => "subtitle_invalid",
        }
    }
}

/// Checks a subtitle file: UTF-8, size, and the cue structure of SRT or WebVTT (WebVTT when
/// the first line starts with `WEBVTT`).
pub fn parse(bytes: &[u8]) -> Result<Subtitles, SubtitleError> {
    if bytes.len() > MAX_SUBTITLE_BYTES {
        return Err(SubtitleError::TooLarge(bytes.len()));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| SubtitleError::NotUtf8(e.valid_up_to()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if let Some(p) = text.find(|c: char| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        let line = text[..p].lines().count().max(1);
        return Err(invalid(
            line,
            "a control character; a subtitle file is plain text",
        ));
    }
    let lines: Vec<&str> = text.lines().collect();
    let vtt = lines.first().is_some_and(|l| {
        l.starts_with("WEBVTT") && (l.len() == 6 || l[6..].starts_with([' ', '\t']))
    });
    let format = if vtt {
        SubtitleFormat::Vtt
    } else {
        SubtitleFormat::Srt
    };
    let cues = blocks(&lines, usize::from(vtt))
        .into_iter()
        .filter_map(|(start, block)| cue(format, start, block).transpose())
        .collect::<Result<Vec<_>, _>>()?;
    if cues.is_empty() {
        return Err(SubtitleError::Empty);
    }
    if cues.len() > MAX_CUES {
        return Err(invalid(lines.len(), &format!("more than {MAX_CUES} cues")));
    }
    Ok(Subtitles { format, cues })
}

fn invalid(line: usize, what: &str) -> SubtitleError {
    SubtitleError::Invalid {
        line,
        what: what.to_string(),
    }
}

/// Blank-line separated blocks from line `from` on, each with its 0-based first line.
fn blocks<'a>(lines: &'a [&'a str], from: usize) -> Vec<(usize, &'a [&'a str])> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, l) in lines.iter().enumerate().skip(from) {
        match (l.trim().is_empty(), start) {
            (true, Some(s)) => {
                out.push((s, &lines[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, &lines[s..]));
    }
    out
}

/// One block as a cue; `None` for a WebVTT block that is no cue (header, NOTE, STYLE, REGION).
fn cue(format: SubtitleFormat, start: usize, block: &[&str]) -> Result<Option<Cue>, SubtitleError> {
    let first = block[0].trim();
    if format == SubtitleFormat::Vtt
        && (first.starts_with("NOTE") || first == "STYLE" || first == "REGION")
    {
        return Ok(None);
    }
    let timing_at = if first.contains("-->") {
        0
    } else if block.len() > 1 && block[1].contains("-->") {
        if format == SubtitleFormat::Srt && first.parse::<u64>().is_err() {
            return Err(invalid(
                start + 1,
                &format!("{first:?} is not a cue number"),
            ));
        }
        1
    } else {
        return Err(invalid(
            start + 1,
            "no time line (e.g. 00:00:01,000 --> 00:00:03,500) in this cue",
        ));
    };
    let line_no = start + timing_at + 1;
    let timing = block[timing_at];
    let (a, rest) = timing
        .split_once("-->")
        .ok_or_else(|| invalid(line_no, "no `-->` in the time line"))?;
    let b = rest.split_whitespace().next().unwrap_or("");
    let start_ms = time(format, a.trim()).ok_or_else(|| {
        invalid(
            line_no,
            &format!("{:?} is not a {} time", a.trim(), name(format)),
        )
    })?;
    let end_ms = time(format, b)
        .ok_or_else(|| invalid(line_no, &format!("{b:?} is not a {} time", name(format))))?;
    if end_ms <= start_ms {
        return Err(invalid(line_no, "the cue ends before it starts"));
    }
    let text = block[timing_at + 1..].join("\n");
    if text.trim().is_empty() {
        return Err(invalid(line_no, "the cue has no text"));
    }
    Ok(Some(Cue {
        start_ms,
        end_ms,
        text,
    }))
}

fn name(f: SubtitleFormat) -> &'static str {
    match f {
        SubtitleFormat::Srt => "SRT (00:00:01,000)",
        SubtitleFormat::Vtt => "WebVTT (00:01.000)",
    }
}

/// `hh:mm:ss,mmm` (SRT) or `[hh:]mm:ss.mmm` (WebVTT) in milliseconds.
fn time(format: SubtitleFormat, s: &str) -> Option<u64> {
    let sep = match format {
        SubtitleFormat::Srt => ',',
        SubtitleFormat::Vtt => '.',
    };
    let (hms, ms) = s.split_once(sep)?;
    if ms.len() != 3 || !ms.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let two = |p: &str, max: u64| -> Option<u64> {
        (p.len() == 2 && digits(p))
            .then(|| p.parse::<u64>().ok())
            .flatten()
            .filter(|v| *v <= max)
    };
    let parts: Vec<&str> = hms.split(':').collect();
    let (h, m, sec) = match (format, parts.as_slice()) {
        (_, [h, m, sec]) if digits(h) && h.len() <= 4 => {
            (h.parse::<u64>().ok()?, two(m, 59)?, two(sec, 59)?)
        }
        (SubtitleFormat::Vtt, [m, sec]) => (0, two(m, 59)?, two(sec, 59)?),
        _ => return None,
    };
    Some(((h * 60 + m) * 60 + sec) * 1000 + ms.parse::<u64>().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRT: &str = "1\n00:00:01,000 --> 00:00:03,500\nChào mừng đến Lào Cai\n\n2\n00:00:04,000 --> 00:00:06,000\nWelcome\nto Lao Cai\n";
    const VTT: &str = "WEBVTT - Hmong\n\nNOTE written for the tests\n\n00:01.000 --> 00:03.500 line:90%\nZoo siab txais tos\n\nintro\n01:00:04.000 --> 01:00:06.000\nNyob zoo\n";

    #[test]
    fn srt_and_vtt_parse() {
        let s = parse(SRT.as_bytes()).unwrap();
        assert_eq!(s.format, SubtitleFormat::Srt);
        assert_eq!(s.cues.len(), 2);
        assert_eq!((s.cues[0].start_ms, s.cues[0].end_ms), (1000, 3500));
        assert_eq!(s.cues[1].text, "Welcome\nto Lao Cai");
        let v = parse(VTT.as_bytes()).unwrap();
        assert_eq!(v.format, SubtitleFormat::Vtt);
        assert_eq!(v.cues.len(), 2, "the NOTE block is no cue");
        assert_eq!(v.cues[1].start_ms, 3_604_000);
        // A BOM and CRLF line ends are fine.
        let crlf = format!("\u{feff}{}", SRT.replace('\n', "\r\n"));
        assert_eq!(parse(crlf.as_bytes()).unwrap().cues.len(), 2);
    }

    #[test]
    fn garbage_is_refused_by_name() {
        let cases: Vec<(Vec<u8>, &str, &str)> = vec![
            (vec![0xff, 0xfe, 0x41], "subtitle_not_utf8", "UTF-8"),
            (b"".to_vec(), "subtitle_empty", "no cue"),
            (b"WEBVTT\n".to_vec(), "subtitle_empty", "no cue"),
            (
                b"GIF89a\x01\x00\x01\x00".to_vec(),
                "subtitle_invalid",
                "control character",
            ),
            (
                b"hello\nworld\n".to_vec(),
                "subtitle_invalid",
                "no time line",
            ),
            (
                b"1\n00:00:03,000 --> 00:00:01,000\nx\n".to_vec(),
                "subtitle_invalid",
                "ends before",
            ),
            (
                b"1\n00:00:01.000 --> 00:00:02.000\nx\n".to_vec(),
                "subtitle_invalid",
                "SRT",
            ),
            (
                b"1\n00:00:01,000 --> 00:00:02,000\n\n".to_vec(),
                "subtitle_invalid",
                "no text",
            ),
            (
                b"x\n00:00:01,000 --> 00:00:02,000\nx\n".to_vec(),
                "subtitle_invalid",
                "cue number",
            ),
            (
                b"1\n00:61:01,000 --> 00:62:02,000\nx\n".to_vec(),
                "subtitle_invalid",
                "not a SRT",
            ),
            (
                vec![b'a'; MAX_SUBTITLE_BYTES + 1],
                "subtitle_too_large",
                "at most",
            ),
        ];
        for (bytes, code, words) in cases {
            let e = parse(&bytes).unwrap_err();
            assert_eq!(e.code(), code, "{e}");
            assert!(e.to_string().contains(words), "want {words:?} in {e}");
        }
    }

    #[test]
    fn formats_know_their_mime() {
        assert_eq!(
            SubtitleFormat::from_mime("text/vtt; charset=utf-8"),
            Some(SubtitleFormat::Vtt)
        );
        assert_eq!(
            SubtitleFormat::from_mime(SubtitleFormat::Srt.mime()),
            Some(SubtitleFormat::Srt)
        );
        assert_eq!(SubtitleFormat::from_mime("video/mp4"), None);
    }
}
