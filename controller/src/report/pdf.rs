//! The period report as a PDF in the layout of a Vietnamese administrative report: agency
//! top-left, national motto top-right, number and date line, title, sections with tables,
//! vector charts (drawn with the PDF's own path operators), appendix of evidence, "Nơi nhận"
//! and signer. Noto Serif (OFL) is loaded from `[report] font_dir` and embedded as a subset.

use std::path::Path;

use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::surface::Surface;
use krilla::text::{Font, TextDirection};
use krilla::Document;
use playlists::report::Figures;
use skrifa::instance::{LocationRef, Size};
use skrifa::MetadataProvider;

use super::html::{date_line, roman};
use super::tables::{evidence_lines, tables, Cell, Table};
use super::{vn_date, ReportError, ReportSettings, SUBTITLE, TITLE};

const W: f32 = 595.0;
const H: f32 = 842.0;
const LEFT: f32 = 70.0;
const RIGHT: f32 = W - 45.0;
const TOP: f32 = 50.0;
const BOTTOM: f32 = H - 50.0;

/// One font: krilla's handle and the bytes to measure glyph advances.
struct Face {
    font: Font,
    data: Vec<u8>,
}

impl Face {
    fn load(dir: &Path, file: &str) -> Result<Face, ReportError> {
        let path = dir.join(file);
        let data = std::fs::read(&path).map_err(|source| ReportError::Font {
            path: path.clone(),
            source,
        })?;
        let font = Font::new(data.clone().into(), 0).ok_or_else(|| ReportError::Font {
            path,
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, "not a usable font"),
        })?;
        Ok(Face { font, data })
    }

    fn width(&self, text: &str, size: f32) -> f32 {
        let Ok(f) = skrifa::FontRef::new(&self.data) else {
            return text.chars().count() as f32 * size * 0.5;
        };
        let cmap = f.charmap();
        let gm = f.glyph_metrics(Size::new(size), LocationRef::default());
        text.chars()
            .map(|c| {
                cmap.map(c)
                    .and_then(|g| gm.advance_width(g))
                    .unwrap_or(size * 0.5)
            })
            .sum()
    }

    /// Lines of at most `max` points.
    fn wrap(&self, text: &str, size: f32, max: f32) -> Vec<String> {
        let mut lines = Vec::new();
        let mut cur = String::new();
        for word in text.split(' ') {
            let cand = if cur.is_empty() {
                word.to_string()
            } else {
                format!("{cur} {word}")
            };
            if self.width(&cand, size) <= max || cur.is_empty() {
                cur = cand;
            } else {
                lines.push(std::mem::take(&mut cur));
                cur = word.to_string();
            }
            // A word longer than the line (a hash): cut it.
            while self.width(&cur, size) > max && cur.chars().count() > 1 {
                let mut n = cur.chars().count();
                while n > 1 && self.width(&cur.chars().take(n).collect::<String>(), size) > max {
                    n -= 1;
                }
                let head: String = cur.chars().take(n).collect();
                let tail: String = cur.chars().skip(n).collect();
                lines.push(head);
                cur = tail;
            }
        }
        if !cur.is_empty() || lines.is_empty() {
            lines.push(cur);
        }
        lines
    }
}

fn black() -> Fill {
    fill(0, 0, 0)
}

fn fill(r: u8, g: u8, b: u8) -> Fill {
    Fill {
        paint: rgb::Color::new(r, g, b).into(),
        opacity: NormalizedF32::ONE,
        rule: Default::default(),
    }
}

const PALETTE: [(u8, u8, u8); 6] = [
    (31, 78, 145),
    (200, 55, 45),
    (46, 139, 87),
    (230, 150, 30),
    (120, 80, 160),
    (90, 90, 90),
];

/// Draws pages one after the other, breaking when a page is full.
struct Writer<'a> {
    doc: Document,
    regular: &'a Face,
    bold: &'a Face,
    /// Drawing operations of the current page, replayed when it is finished.
    ops: Vec<Op>,
    y: f32,
}

enum Op {
    Text {
        x: f32,
        y: f32,
        bold: bool,
        size: f32,
        text: String,
    },
    Rect {
        rect: Rect,
        fill: Option<(u8, u8, u8)>,
    },
    Line {
        x1: f32,
        y1: f32,
        x2: f32,
        y2: f32,
    },
}

impl<'a> Writer<'a> {
    fn face(&self, bold: bool) -> &'a Face {
        if bold {
            self.bold
        } else {
            self.regular
        }
    }

    fn text(&mut self, x: f32, y: f32, bold: bool, size: f32, text: &str) {
        self.ops.push(Op::Text {
            x,
            y,
            bold,
            size,
            text: text.to_string(),
        });
    }

    fn centered(&mut self, cx: f32, y: f32, bold: bool, size: f32, text: &str) {
        let w = self.face(bold).width(text, size);
        self.text(cx - w / 2.0, y, bold, size, text);
    }

    fn line(&mut self, x1: f32, y1: f32, x2: f32, y2: f32) {
        self.ops.push(Op::Line { x1, y1, x2, y2 });
    }

    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, color: Option<(u8, u8, u8)>) {
        if let Some(rect) = Rect::from_xywh(x, y, w.max(0.1), h.max(0.1)) {
            self.ops.push(Op::Rect { rect, fill: color });
        }
    }

    /// A paragraph, wrapped, from the left margin (plus `indent`).
    fn para(&mut self, bold: bool, size: f32, indent: f32, text: &str) {
        for l in self.face(bold).wrap(text, size, RIGHT - LEFT - indent) {
            self.need(size * 1.4);
            self.y += size * 1.4;
            self.text(LEFT + indent, self.y, bold, size, &l);
        }
    }

    /// Start a new page unless `h` more points fit.
    fn need(&mut self, h: f32) {
        if self.y + h > BOTTOM {
            self.new_page();
        }
    }

    fn new_page(&mut self) {
        self.flush();
        self.y = TOP;
    }

    fn flush(&mut self) {
        if self.ops.is_empty() {
            return;
        }
        let ops = std::mem::take(&mut self.ops);
        let settings = PageSettings::from_wh(W, H).expect("A4 is a valid page size");
        let mut page = self.doc.start_page_with(settings);
        let mut s = page.surface();
        for op in ops {
            draw(&mut s, op, self.regular, self.bold);
        }
        s.finish();
        page.finish();
    }

    /// Column widths of `t`: each column wants its longest cell (at most a third of the text
    /// width) and at least its longest header word; the text width is shared in proportion,
    /// so a long gate name gets room and a column of numbers stays narrow.
    fn column_widths(&self, t: &Table, size: f32) -> Vec<f32> {
        let total = RIGHT - LEFT;
        let want: Vec<f32> = (0..t.headers.len())
            .map(|i| {
                let header = t.headers[i]
                    .split_whitespace()
                    .map(|w| self.bold.width(w, size))
                    .fold(0.0, f32::max);
                let cells = t
                    .rows
                    .iter()
                    .filter_map(|r| r.get(i))
                    .map(|c| self.regular.width(&c.text(), size))
                    .fold(0.0, f32::max);
                header.max(cells.min(total / 3.0)).max(30.0) + 8.0
            })
            .collect();
        let sum: f32 = want.iter().sum();
        want.iter().map(|w| w * total / sum).collect()
    }

    fn table(&mut self, n: usize, t: &Table) {
        self.need(60.0);
        self.y += 8.0;
        self.para(true, 11.0, 0.0, &format!("{}. {}", roman(n), t.title));
        self.y += 4.0;
        let cols = t.headers.len();
        let size = 8.0;
        let widths = self.column_widths(t, size);
        let row = |w: &mut Writer, cells: Vec<(String, bool, bool)>| {
            // (text, bold, right-aligned)
            let lines: Vec<Vec<String>> = cells
                .iter()
                .zip(&widths)
                .map(|((t, b, _), cw)| w.face(*b).wrap(t, size, cw - 6.0))
                .collect();
            let h = lines.iter().map(Vec::len).max().unwrap_or(1) as f32 * size * 1.3 + 5.0;
            w.need(h);
            let mut x = LEFT;
            for (i, ((_, b, right), ls)) in cells.iter().zip(&lines).enumerate() {
                w.rect(x, w.y, widths[i], h, None);
                for (k, l) in ls.iter().enumerate() {
                    let ty = w.y + 3.0 + size * 1.3 * (k as f32 + 1.0) - 2.0;
                    let tx = if *right {
                        x + widths[i] - 3.0 - w.face(*b).width(l, size)
                    } else {
                        x + 3.0
                    };
                    w.text(tx, ty, *b, size, l);
                }
                x += widths[i];
            }
            w.y += h;
        };
        row(
            self,
            t.headers
                .iter()
                .map(|h| (h.to_string(), true, false))
                .collect(),
        );
        if t.rows.is_empty() {
            let mut cells = vec![("Không có".to_string(), false, false)];
            cells.extend((1..cols).map(|_| (String::new(), false, false)));
            row(self, cells);
        }
        for r in &t.rows {
            let cells = r
                .iter()
                .map(|c| {
                    let mut text = c.text();
                    if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
                        text = format!("{}…", &text[..16]);
                    }
                    (text, false, !matches!(c, Cell::Text(_) | Cell::Time(_)))
                })
                .collect();
            row(self, cells);
        }
    }
}

fn draw(s: &mut Surface<'_>, op: Op, regular: &Face, bold: &Face) {
    match op {
        Op::Text {
            x,
            y,
            bold: b,
            size,
            text,
        } => {
            s.set_fill(Some(black()));
            let face = if b { bold } else { regular };
            s.draw_text(
                Point::from_xy(x, y),
                face.font.clone(),
                size,
                &text,
                false,
                TextDirection::Auto,
            );
        }
        Op::Rect { rect, fill: color } => {
            let mut pb = PathBuilder::new();
            pb.push_rect(rect);
            let Some(path) = pb.finish() else { return };
            match color {
                Some((r, g, b)) => {
                    s.set_stroke(None);
                    s.set_fill(Some(fill(r, g, b)));
                }
                None => {
                    s.set_fill(None);
                    s.set_stroke(Some(Stroke {
                        width: 0.5,
                        ..Default::default()
                    }));
                }
            }
            s.draw_path(&path);
            s.set_stroke(None);
        }
        Op::Line { x1, y1, x2, y2 } => {
            let mut pb = PathBuilder::new();
            pb.move_to(x1, y1);
            pb.line_to(x2, y2);
            let Some(path) = pb.finish() else { return };
            s.set_fill(None);
            s.set_stroke(Some(Stroke {
                width: 0.6,
                ..Default::default()
            }));
            s.draw_path(&path);
            s.set_stroke(None);
        }
    }
}

/// The header block: agency, motto, number, date, title.
fn header(w: &mut Writer, f: &Figures, s: &ReportSettings) {
    let lx = LEFT + 85.0;
    let rx = RIGHT - 130.0;
    w.centered(lx, TOP + 12.0, false, 11.0, &s.agency_parent);
    w.centered(lx, TOP + 26.0, true, 11.0, &s.agency);
    let aw = w.bold.width(&s.agency, 11.0).min(160.0) / 3.0;
    w.line(lx - aw / 2.0, TOP + 34.0, lx + aw / 2.0, TOP + 34.0);
    w.centered(lx, TOP + 52.0, false, 11.0, &format!("Số: {}", s.number));
    w.centered(
        rx,
        TOP + 12.0,
        true,
        11.0,
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
    );
    let motto = "Độc lập - Tự do - Hạnh phúc";
    w.centered(rx, TOP + 27.0, true, 12.0, motto);
    let mw = w.bold.width(motto, 12.0) / 2.0;
    w.line(rx - mw, TOP + 34.0, rx + mw, TOP + 34.0);
    w.centered(
        rx,
        TOP + 52.0,
        false,
        11.0,
        &format!("{}, {}", s.place, date_line(&f.evidence.generated_at)),
    );
    w.y = TOP + 86.0;
    w.centered(W / 2.0 + 12.0, w.y, true, 14.0, TITLE);
    for l in w.bold.wrap(SUBTITLE, 12.0, RIGHT - LEFT - 60.0) {
        w.y += 16.0;
        w.centered(W / 2.0 + 12.0, w.y, true, 12.0, &l);
    }
    w.y += 16.0;
    let period = format!("(Từ ngày {} đến ngày {})", vn_date(&f.from), vn_date(&f.to));
    w.centered(W / 2.0 + 12.0, w.y, false, 11.0, &period);
    w.y += 10.0;
    let gates = if f.gates_requested.is_empty() {
        "tất cả các cửa khẩu".to_string()
    } else {
        f.gates_requested
            .iter()
            .map(|g| f.gate_label(g))
            .collect::<Vec<_>>()
            .join(", ")
    };
    w.para(
        false,
        10.5,
        0.0,
        &format!(
            "Phạm vi: {gates}; {} màn hình. Số liệu tính theo ngày giờ tại cửa khẩu, chỉ từ ngày màn hình được đăng ký; lượt phát của bộ phát \"null\" (không hiển thị) không được tính là đã hiển thị.",
            f.screens.len()
        ),
    );
}

/// Bars: shown plays per month per gate.
fn chart_months(w: &mut Writer, f: &Figures) {
    let gates: Vec<&str> = {
        let mut g: Vec<&str> = f.months.iter().map(|m| m.gate.as_str()).collect();
        g.dedup();
        g.sort();
        g.dedup();
        g
    };
    let mut months: Vec<&str> = f.months.iter().map(|m| m.month.as_str()).collect();
    months.sort();
    months.dedup();
    let h = 95.0;
    w.need(h + 60.0);
    w.para(
        true,
        10.5,
        0.0,
        "Biểu đồ 1. Lượt hiển thị theo tháng và cửa khẩu",
    );
    let top = w.y + 8.0;
    let max = f.months.iter().map(|m| m.shown).max().unwrap_or(0).max(1) as f32;
    let x0 = LEFT + 30.0;
    w.line(x0, top, x0, top + h);
    w.line(x0, top + h, RIGHT, top + h);
    w.text(LEFT, top + 8.0, false, 7.0, &format!("{}", max as u64));
    w.text(LEFT + 18.0, top + h, false, 7.0, "0");
    let slot = (RIGHT - x0 - 10.0) / months.len().max(1) as f32;
    let bar = (slot * 0.8 / gates.len().max(1) as f32).min(30.0);
    for (i, m) in months.iter().enumerate() {
        let sx = x0 + 5.0 + slot * i as f32;
        for (k, g) in gates.iter().enumerate() {
            let v = f
                .months
                .iter()
                .find(|r| r.month == *m && r.gate == *g)
                .map_or(0, |r| r.shown) as f32;
            let bh = h * v / max;
            w.rect(
                sx + bar * k as f32,
                top + h - bh,
                bar * 0.9,
                bh,
                Some(PALETTE[k % 6]),
            );
        }
        w.text(sx, top + h + 10.0, false, 7.5, m);
    }
    w.y = top + h + 16.0;
    let labels: Vec<String> = gates.iter().map(|g| f.gate_label(g)).collect();
    legend(w, &labels.iter().map(String::as_str).collect::<Vec<_>>());
}

fn legend(w: &mut Writer, names: &[&str]) {
    let mut x = LEFT + 30.0;
    w.y += 10.0;
    for (k, n) in names.iter().enumerate() {
        // A name that would run past the margin starts a new legend line.
        if x > LEFT + 30.0 && x + 20.0 + w.regular.width(n, 8.0) > RIGHT {
            x = LEFT + 30.0;
            w.y += 12.0;
        }
        w.rect(x, w.y - 7.0, 8.0, 8.0, Some(PALETTE[k % 6]));
        w.text(x + 11.0, w.y, false, 8.0, n);
        x += 20.0 + w.regular.width(n, 8.0);
    }
    w.y += 6.0;
}

/// One stacked bar of the language shares.
fn chart_languages(w: &mut Writer, f: &Figures) {
    w.need(70.0);
    w.y += 8.0;
    w.para(true, 10.5, 0.0, "Biểu đồ 2. Tỷ lệ ngôn ngữ (lượt hiển thị)");
    let top = w.y + 6.0;
    let width = RIGHT - LEFT - 30.0;
    let mut x = LEFT + 30.0;
    let names: Vec<String> = f
        .languages
        .iter()
        .map(|l| format!("{} {}", l.lang, super::percent(l.share_bp)))
        .collect();
    for (k, l) in f.languages.iter().enumerate() {
        let bw = width * l.share_bp as f32 / 10_000.0;
        w.rect(x, top, bw, 18.0, Some(PALETTE[k % 6]));
        x += bw;
    }
    w.y = top + 22.0;
    legend(w, &names.iter().map(String::as_str).collect::<Vec<_>>());
}

/// One bar per screen: availability.
fn chart_availability(w: &mut Writer, f: &Figures) {
    w.need(40.0 + 14.0 * f.screens.len() as f32);
    w.y += 8.0;
    w.para(true, 10.5, 0.0, "Biểu đồ 3. Mức sẵn sàng của màn hình");
    let x0 = LEFT + 110.0;
    let width = RIGHT - x0 - 40.0;
    for s in &f.screens {
        w.y += 14.0;
        let label = if s.name.is_empty() {
            &s.screen
        } else {
            &s.name
        };
        w.text(LEFT, w.y, false, 8.0, label);
        w.rect(x0, w.y - 9.0, width, 10.0, Some((225, 225, 225)));
        w.rect(
            x0,
            w.y - 9.0,
            width * s.availability_bp as f32 / 10_000.0,
            10.0,
            Some(PALETTE[2]),
        );
        w.text(
            x0 + width + 4.0,
            w.y,
            false,
            8.0,
            &super::percent(s.availability_bp),
        );
    }
    w.y += 6.0;
}

fn footer(w: &mut Writer, s: &ReportSettings) {
    let h = 30.0 + 12.0 * s.recipients.len() as f32 + 50.0;
    w.need(h);
    w.y += 20.0;
    let top = w.y;
    w.text(LEFT, top, true, 10.0, "Nơi nhận:");
    for (i, r) in s.recipients.iter().enumerate() {
        w.text(
            LEFT,
            top + 12.0 * (i as f32 + 1.0),
            false,
            9.0,
            &format!("- {r}"),
        );
    }
    let rx = RIGHT - 110.0;
    w.centered(rx, top, true, 11.0, &s.signer_title);
    w.centered(rx, top + 60.0, true, 11.0, &s.signer_name);
    w.y = top + h;
}

/// The PDF's bytes.
pub fn render(f: &Figures, s: &ReportSettings) -> Result<Vec<u8>, ReportError> {
    let regular = Face::load(&s.font_dir, "NotoSerif-Regular.ttf")?;
    let bold = Face::load(&s.font_dir, "NotoSerif-Bold.ttf")?;
    let mut w = Writer {
        doc: Document::new(),
        regular: &regular,
        bold: &bold,
        ops: Vec::new(),
        y: TOP,
    };
    header(&mut w, f, s);
    let all = tables(f);
    for (i, t) in all.iter().enumerate() {
        w.table(i + 1, t);
    }
    w.y += 10.0;
    w.need(200.0);
    chart_months(&mut w, f);
    chart_languages(&mut w, f);
    chart_availability(&mut w, f);
    w.need(80.0);
    w.y += 8.0;
    w.para(true, 11.0, 0.0, "Phụ lục: chứng cứ kiểm chứng");
    for l in evidence_lines(f) {
        w.para(false, 9.0, 10.0, &l);
    }
    footer(&mut w, s);
    w.flush();
    w.doc.finish().map_err(|e| ReportError::Render {
        format: "pdf",
        message: format!("{e:?}"),
    })
}
