//! The tables of a period report, once for every document format.

use playlists::report::{Figures, Tally};

/// One cell of a table.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text.
    Text(String),
    /// A count.
    Int(u64),
    /// A duration in milliseconds, shown in hours.
    Hours(u64),
    /// A duration in milliseconds, shown in seconds.
    Seconds(u64),
    /// Basis points, shown as a percentage.
    Percent(u64),
    /// An RFC 3339 timestamp (UTC), or nothing.
    Time(Option<String>),
}

impl Cell {
    /// The cell as text (Vietnamese number format).
    pub fn text(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Int(n) => n.to_string(),
            Cell::Hours(ms) => super::hours(*ms),
            Cell::Seconds(ms) => format!("{:.1}", *ms as f64 / 1000.0).replace('.', ","),
            Cell::Percent(bp) => super::percent(*bp),
            Cell::Time(Some(t)) => format!(
                "{} {} UTC",
                super::vn_date(t),
                t.get(11..16).unwrap_or_default()
            ),
            Cell::Time(None) => "—".into(),
        }
    }
}

/// A table: a sheet of the XLSX, a table of the HTML and PDF.
#[derive(Debug, Clone)]
pub struct Table {
    /// Sheet name (≤ 31 characters).
    pub sheet: &'static str,
    /// Section heading.
    pub title: &'static str,
    /// Column headers.
    pub headers: Vec<&'static str>,
    /// Rows.
    pub rows: Vec<Vec<Cell>>,
}

const TALLY_HEADERS: [&str; 5] = [
    "Lượt phát",
    "Lượt hiển thị",
    "Lượt không hiển thị (null)",
    "Lỗi",
    "Giờ phát sóng",
];

fn tally(t: &Tally) -> [Cell; 5] {
    [
        Cell::Int(t.plays),
        Cell::Int(t.shown),
        Cell::Int(t.null_backend),
        Cell::Int(t.failed),
        Cell::Hours(t.shown_ms),
    ]
}

fn with_tally(first: &'static str) -> Vec<&'static str> {
    std::iter::once(first).chain(TALLY_HEADERS).collect()
}

/// Every table of the report, in document order.
pub fn tables(f: &Figures) -> Vec<Table> {
    let keyed = |key: &str, t: &Tally| {
        std::iter::once(Cell::Text(key.to_string()))
            .chain(tally(t))
            .collect::<Vec<_>>()
    };
    let mut totals = keyed("Tổng cộng", &f.totals);
    totals[0] = Cell::Text("Tổng cộng".into());
    vec![
        Table {
            sheet: "Tổng hợp",
            title: "Tổng hợp kết quả",
            headers: with_tally("Nội dung"),
            rows: vec![totals],
        },
        Table {
            sheet: "Chiến dịch",
            title: "Kết quả theo chiến dịch (danh sách phát)",
            headers: with_tally("Chiến dịch"),
            rows: f
                .campaigns
                .iter()
                .map(|r| keyed(&titled(&r.title, &r.key), &r.tally))
                .collect(),
        },
        compliance(f),
        Table {
            sheet: "Cửa khẩu",
            title: "Kết quả theo cửa khẩu",
            headers: with_tally("Cửa khẩu"),
            rows: f
                .gates
                .iter()
                .map(|r| keyed(&f.gate_label(&r.key), &r.tally))
                .collect(),
        },
        Table {
            sheet: "Ngôn ngữ",
            title: "Kết quả theo ngôn ngữ",
            headers: {
                let mut h = with_tally("Ngôn ngữ");
                h.push("Tỷ lệ");
                h
            },
            rows: f
                .languages
                .iter()
                .map(|l| {
                    let mut r = keyed(&l.lang, &l.tally);
                    r.push(Cell::Percent(l.share_bp));
                    r
                })
                .collect(),
        },
        Table {
            sheet: "Nội dung",
            title: "Kết quả theo nội dung",
            headers: {
                let mut h = with_tally("Nội dung");
                h.push("SHA-256 (10 ký tự đầu)");
                h
            },
            rows: f
                .media
                .iter()
                .map(|r| {
                    let name = if r.title.is_empty() {
                        format!("{}…", r.key.get(..10).unwrap_or(&r.key))
                    } else {
                        r.title.clone()
                    };
                    let mut row = keyed(&name, &r.tally);
                    row.push(Cell::Text(r.key.get(..10).unwrap_or(&r.key).to_string()));
                    row
                })
                .collect(),
        },
        Table {
            sheet: "Theo tháng",
            title: "Lượt hiển thị theo tháng và cửa khẩu",
            headers: vec!["Cửa khẩu", "Tháng", "Lượt hiển thị"],
            rows: f
                .months
                .iter()
                .map(|m| {
                    vec![
                        Cell::Text(f.gate_label(&m.gate)),
                        Cell::Text(m.month.clone()),
                        Cell::Int(m.shown),
                    ]
                })
                .collect(),
        },
        Table {
            sheet: "Màn hình",
            title: "Tình trạng hoạt động của màn hình (theo biên nhận có chữ ký của màn hình)",
            headers: vec![
                "Màn hình",
                "Cửa khẩu",
                "Đăng ký lúc",
                "Giờ tính",
                "Giờ phát",
                "Giờ tắt",
                "Số lần tắt",
                "Sẵn sàng",
            ],
            rows: f
                .screens
                .iter()
                .map(|s| {
                    vec![
                        Cell::Text(titled(&s.name, &s.screen)),
                        Cell::Text(f.gate_label(&s.gate)),
                        Cell::Time(Some(s.registered_at.clone())),
                        Cell::Hours(s.counted_ms),
                        Cell::Hours(s.playing_ms),
                        Cell::Hours(s.dark_ms),
                        Cell::Int(s.dark.len() as u64),
                        Cell::Percent(s.availability_bp),
                    ]
                })
                .collect(),
        },
        controller_record(f),
        Table {
            sheet: "Cảnh báo",
            title: "Cảnh báo khẩn đã gửi",
            headers: vec![
                "Mã cảnh báo",
                "Gửi lúc",
                "Hủy lúc",
                "Cửa khẩu",
                "Lượt hiển thị",
                "Thời gian hiển thị (giây)",
            ],
            rows: f
                .alerts
                .iter()
                .map(|a| {
                    vec![
                        Cell::Text(a.id.clone()),
                        Cell::Time(a.sent_at.clone()),
                        Cell::Time(a.cancelled_at.clone()),
                        Cell::Text(gate_labels(f, &a.gates)),
                        Cell::Int(a.shown),
                        Cell::Seconds(a.shown_ms),
                    ]
                })
                .collect(),
        },
        tickers(f),
        Table {
            sheet: "Sự cố",
            title: "Sự cố: lô biên nhận bị từ chối",
            headers: vec!["Màn hình", "Số lô xung đột", "Lần đầu"],
            rows: f
                .rejections
                .iter()
                .map(|r| {
                    vec![
                        Cell::Text(r.screen.clone()),
                        Cell::Int(r.conflicts),
                        Cell::Time(Some(r.first_at.clone())),
                    ]
                })
                .collect(),
        },
    ]
}

/// The gates as documents name them, comma separated.
fn gate_labels(f: &Figures, gates: &[String]) -> String {
    gates
        .iter()
        .map(|g| f.gate_label(g))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Ticker corrections: per text, where, in which languages, when and how long on screen.
fn tickers(f: &Figures) -> Table {
    Table {
        sheet: "Dòng chữ chạy",
        title: "Đính chính bằng dòng chữ chạy (ticker) đã gửi",
        headers: vec![
            "Dòng chữ (mã)",
            "Cửa khẩu",
            "Ngôn ngữ",
            "Hiển thị lần đầu",
            "Hiển thị lần cuối",
            "Số lượt chạy",
            "Thời gian hiển thị (giây)",
        ],
        rows: f
            .tickers
            .iter()
            .map(|t| {
                vec![
                    Cell::Text(titled(
                        &t.text
                            .first()
                            .map(|x| format!("[{}] {}", x.lang, x.text))
                            .unwrap_or_default(),
                        &t.id,
                    )),
                    Cell::Text(gate_labels(f, &t.gates)),
                    Cell::Text(t.languages.join(", ")),
                    Cell::Time(t.first_shown.clone()),
                    Cell::Time(t.last_shown.clone()),
                    Cell::Int(t.tally.shown),
                    Cell::Seconds(t.tally.shown_ms),
                ]
            })
            .collect(),
    }
}

/// `title (key)`, or the key alone when there is no title.
fn titled(title: &str, key: &str) -> String {
    if title.is_empty() {
        key.to_string()
    } else {
        format!("{title} ({key})")
    }
}

/// Planned versus recorded plays per campaign and gate.
fn compliance(f: &Figures) -> Table {
    Table {
        sheet: "Kế hoạch",
        title: "Thực hiện kế hoạch phát theo chiến dịch và cửa khẩu",
        headers: vec![
            "Chiến dịch",
            "Cửa khẩu",
            "Lượt theo kế hoạch",
            "Giờ theo kế hoạch",
            "Lượt hiển thị",
            "Tỷ lệ thực hiện",
        ],
        rows: f
            .compliance
            .iter()
            .map(|c| {
                vec![
                    Cell::Text(titled(&c.title, &c.campaign)),
                    Cell::Text(f.gate_label(&c.gate)),
                    c.planned
                        .map_or_else(|| Cell::Text("không rõ".into()), Cell::Int),
                    Cell::Hours(c.planned_ms),
                    Cell::Int(c.recorded),
                    c.compliance_bp
                        .map_or_else(|| Cell::Text("—".into()), Cell::Percent),
                ]
            })
            .collect(),
    }
}

/// Online time as the controller recorded it (empty when the figures carry no record).
fn controller_record(f: &Figures) -> Table {
    Table {
        sheet: "Trực tuyến",
        title: "Thời gian trực tuyến theo ghi nhận của bộ điều khiển (không có chữ ký của màn hình, không kiểm tra được bằng gói xuất)",
        headers: vec![
            "Màn hình",
            "Cửa khẩu",
            "Giờ tính",
            "Giờ trực tuyến",
            "Giờ mất kết nối",
            "Giờ chưa có trạng thái",
            "Số khoảng mất kết nối hoặc chưa có trạng thái",
        ],
        rows: f
            .controller_record
            .iter()
            .flat_map(|r| &r.screens)
            .map(|s| {
                vec![
                    Cell::Text(titled(&s.name, &s.screen)),
                    Cell::Text(f.gate_label(&s.gate)),
                    Cell::Hours(s.counted_ms),
                    Cell::Hours(s.online_ms),
                    Cell::Hours(s.offline_ms),
                    Cell::Hours(s.no_status_ms),
                    Cell::Int(s.dark.len() as u64),
                ]
            })
            .collect(),
    }
}

/// The appendix lines: what the figures were computed from and how to check them.
pub fn evidence_lines(f: &Figures) -> Vec<String> {
    let e = &f.evidence;
    vec![
        format!(
            "Điểm kiểm tra có chữ ký (checkpoint): kích thước cây {}, gốc {}",
            e.checkpoint_size, e.checkpoint_root
        ),
        format!("SHA-256 của gói xuất kiểm toán: {}", e.bundle_sha256),
        format!(
            "Gói xuất lúc {} cho khoảng {} – {} (UTC)",
            e.generated_at, e.export_from, e.export_to
        ),
        format!(
            "Kiểm tra: gatecast-audit report BUNDLE --check REPORT.json (kỳ {} – {})",
            f.from, f.to
        ),
    ]
}
