//! The period report as a printable HTML page (the console's "Báo cáo" page shows it).

use std::fmt::Write as _;

use playlists::report::Figures;

use super::tables::{evidence_lines, tables, Cell};
use super::{vn_date, ReportSettings, SUBTITLE, TITLE};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The whole HTML document.
pub fn render(f: &Figures, s: &ReportSettings) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=\"vi\"><head><meta charset=\"utf-8\"><title>{TITLE} {} – {}</title>\
<style>body{{font-family:'Noto Serif','Times New Roman',serif;max-width:60rem;margin:2rem auto;color:#000}}\
.head{{display:flex;justify-content:space-between;text-align:center}}.head b{{display:block}}\
h1{{text-align:center;font-size:1.2rem;margin:1.5rem 0 0}}h1+p{{text-align:center;font-weight:bold;margin-top:.2rem}}\
table{{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}}td,th{{border:1px solid #000;padding:.2rem .4rem;font-size:.85rem}}\
td.n{{text-align:right}}.sign{{text-align:center}}.date{{text-align:right;font-style:italic}}.foot{{display:flex;justify-content:space-between}}\
@media print{{body{{margin:0}}}}</style></head><body>",
        vn_date(&f.from),
        vn_date(&f.to)
    );
    let _ = write!(
        h,
        "<div class=\"head\"><div>{}<b>{}</b>Số: {}</div><div><b>CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM</b><u><b>Độc lập - Tự do - Hạnh phúc</b></u></div></div>",
        esc(&s.agency_parent),
        esc(&s.agency),
        esc(&s.number)
    );
    let _ = write!(
        h,
        "<p class=\"date\">{}, {}</p><h1>{TITLE}</h1><p>{SUBTITLE}<br>từ ngày {} đến ngày {}</p>",
        esc(&s.place),
        date_line(&f.evidence.generated_at),
        vn_date(&f.from),
        vn_date(&f.to)
    );
    for (i, t) in tables(f).iter().enumerate() {
        let _ = write!(h, "<h2>{}. {}</h2><table><tr>", roman(i + 1), esc(t.title));
        for c in &t.headers {
            let _ = write!(h, "<th>{}</th>", esc(c));
        }
        h.push_str("</tr>");
        if t.rows.is_empty() {
            let _ = write!(
                h,
                "<tr><td colspan=\"{}\">Không có</td></tr>",
                t.headers.len()
            );
        }
        for r in &t.rows {
            h.push_str("<tr>");
            for c in r {
                let class = if matches!(c, Cell::Text(_) | Cell::Time(_)) {
                    ""
                } else {
                    " class=\"n\""
                };
                let _ = write!(h, "<td{class}>{}</td>", esc(&c.text()));
            }
            h.push_str("</tr>");
        }
        h.push_str("</table>");
    }
    h.push_str("<h2>Phụ lục: chứng cứ kiểm chứng</h2><ul>");
    for l in evidence_lines(f) {
        let _ = write!(h, "<li>{}</li>", esc(&l));
    }
    h.push_str("</ul><div class=\"foot\"><div><b><i>Nơi nhận:</i></b><br>");
    for r in &s.recipients {
        let _ = write!(h, "- {}<br>", esc(r));
    }
    let _ = write!(
        h,
        "</div><div class=\"sign\"><b>{}</b><br><br><br><b>{}</b></div></div></body></html>",
        esc(&s.signer_title),
        esc(&s.signer_name)
    );
    h
}

/// "ngày d tháng m năm y" of an RFC 3339 timestamp.
pub fn date_line(ts: &str) -> String {
    let p: Vec<&str> = ts.get(0..10).unwrap_or_default().split('-').collect();
    if p.len() != 3 {
        return "ngày … tháng … năm …".into();
    }
    format!("ngày {} tháng {} năm {}", p[2], p[1], p[0])
}

/// Roman numeral of a section (1..=39).
pub fn roman(n: usize) -> String {
    const T: [&str; 4] = ["", "X", "XX", "XXX"];
    const U: [&str; 10] = ["", "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX"];
    format!("{}{}", T[(n / 10).min(3)], U[n % 10])
}
