//! The documents of the period report test (`report_period`): the PDF through poppler, the
//! XLSX through openpyxl, and the ticker corrections and gate names they carry.

use std::path::Path;

use serde_json::{json, Value};

use crate::api_support::*;
use crate::report_period::{get, GATE_NAME, TICKER_TEXT};

pub async fn check_pdf(ctl: &Ctl, token: &str, q: &str, art: &Path, sha: &str) {
    let (s, pdf) = get(ctl, token, &format!("{q}&format=pdf")).await;
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&pdf));
    assert!(pdf.starts_with(b"%PDF-"));
    let path = art.join("report.pdf");
    std::fs::write(&path, &pdf).unwrap();
    if !gatecast_testkit::require_program("report_period", "pdftotext", "poppler-utils") {
        return;
    }
    let out = std::process::Command::new("pdftotext")
        .args([path.to_str().unwrap(), "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    // A table cell wraps long names over lines: compare with the whitespace collapsed.
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let gate = format!("{GATE_NAME} (lao-cai)");
    for wanted in [
        "Đính chính bằng dòng chữ chạy (ticker) đã gửi",
        TICKER_TEXT[0].1,
        &gate,
    ] {
        assert!(
            flat.contains(wanted),
            "{wanted:?} missing from the PDF text:\n{text}"
        );
    }
    for heading in [
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "BÁO CÁO",
        "Kết quả thông tin đối ngoại trên hệ thống màn hình điện tử",
        "Nơi nhận",
        "Kết quả theo ngôn ngữ",
        "Tình trạng hoạt động của màn hình",
        "Thực hiện kế hoạch phát",
        "Tết 2026 (tet-2026)",
        "Du lịch Sa Pa",
        sha,
    ] {
        assert!(
            text.contains(heading),
            "{heading:?} missing from the PDF text:\n{text}"
        );
    }
    let status = std::process::Command::new("pdftoppm")
        .args(["-png", "-r", "80", path.to_str().unwrap()])
        .arg(art.join("page"))
        .status()
        .unwrap();
    assert!(status.success());
    assert!(art.join("page-1.png").exists() || art.join("page-01.png").exists());
}

pub async fn check_xlsx(ctl: &Ctl, token: &str, q: &str, art: &Path, report: &Value) {
    let (s, xlsx) = get(ctl, token, &format!("{q}&format=xlsx")).await;
    assert_eq!(s, 200);
    let path = art.join("report.xlsx");
    std::fs::write(&path, &xlsx).unwrap();
    // The Debian python3-openpyxl is for the system interpreter, which a pyenv shim on PATH
    // may hide: take the first python3 that imports it.
    let Some(python) = ["python3", "/usr/bin/python3"].into_iter().find(|p| {
        std::process::Command::new(p)
            .args(["-c", "import openpyxl"])
            .output()
            .is_ok_and(|o| o.status.success())
    }) else {
        assert!(
            !gatecast_testkit::external_required(),
            "openpyxl is missing (apt-get install python3-openpyxl)"
        );
        println!(
            "SKIPPED: report_period XLSX check needs openpyxl (apt-get install python3-openpyxl)"
        );
        return;
    };
    let script = r#"
import json, sys, openpyxl, datetime
wb = openpyxl.load_workbook(sys.argv[1])
out = {}
for name in ["Tổng hợp", "Ngôn ngữ", "Màn hình", "Cửa khẩu", "Kế hoạch", "Dòng chữ chạy"]:
    ws = wb[name]
    rows = []
    for r in ws.iter_rows(min_row=3, values_only=True):
        rows.append([v.isoformat() if isinstance(v, datetime.datetime) else v for v in r])
    out[name] = rows
print(json.dumps(out))
"#;
    let out = std::process::Command::new(python)
        .args(["-c", script, path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sheets: Value = serde_json::from_slice(&out.stdout).unwrap();
    let t = &report["totals"];
    let row = &sheets["Tổng hợp"][0];
    assert_eq!(
        row.as_array().unwrap()[..5],
        json!([
            "Tổng cộng",
            t["plays"],
            t["shown"],
            t["null_backend"],
            t["failed"]
        ])
        .as_array()
        .unwrap()[..]
    );
    // Hours as a number (the XLSX keeps 15 significant digits).
    let hours = t["shown_ms"].as_f64().unwrap() / 3_600_000.0;
    assert!(
        (row[5].as_f64().unwrap() - hours).abs() < 1e-9,
        "{row} vs {hours}"
    );
    for (i, l) in report["languages"].as_array().unwrap().iter().enumerate() {
        let row = &sheets["Ngôn ngữ"][i];
        assert_eq!(row[0], l["lang"]);
        assert_eq!(row[2], l["shown"]);
        assert_eq!(
            row[6].as_f64().unwrap(),
            l["share_bp"].as_f64().unwrap() / 10_000.0
        );
    }
    for (i, g) in report["gates"].as_array().unwrap().iter().enumerate() {
        assert_eq!(sheets["Cửa khẩu"][i][1], g["plays"]);
        let label = match g["title"].as_str() {
            Some(t) => format!("{t} ({})", g["key"].as_str().unwrap()),
            None => g["key"].as_str().unwrap().to_string(),
        };
        assert_eq!(sheets["Cửa khẩu"][i][0], json!(label));
    }
    assert!(report["gates"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["title"] == GATE_NAME));
    // Ticker corrections: turns and seconds as numbers, times as real dates.
    let tickers = report["tickers"].as_array().unwrap();
    assert_eq!(
        sheets["Dòng chữ chạy"].as_array().unwrap().len(),
        tickers.len()
    );
    for (i, t) in tickers.iter().enumerate() {
        let row = &sheets["Dòng chữ chạy"][i];
        assert_eq!(row[1], json!("mong-cai"), "{row}");
        assert_eq!(row[2], json!("en, vi"), "{row}");
        assert!(
            row[3]
                .as_str()
                .unwrap()
                .starts_with(&t["first_shown"].as_str().unwrap()[..16]),
            "{row}"
        );
        assert_eq!(row[5], t["shown"]);
        assert!(
            (row[6].as_f64().unwrap() - t["shown_ms"].as_f64().unwrap() / 1000.0).abs() < 1e-9,
            "{row}"
        );
    }
    for (i, c) in report["compliance"].as_array().unwrap().iter().enumerate() {
        let row = &sheets["Kế hoạch"][i];
        let gate = c["gate"].as_str().unwrap();
        let label = if gate == "lao-cai" {
            format!("{GATE_NAME} ({gate})")
        } else {
            gate.to_string()
        };
        assert_eq!(row[1], json!(label));
        assert_eq!(row[2], c["planned"]);
        assert_eq!(row[4], c["recorded"]);
        assert_eq!(
            row[5].as_f64().unwrap(),
            c["compliance_bp"].as_f64().unwrap() / 10_000.0
        );
    }
    for (i, s) in report["screens"].as_array().unwrap().iter().enumerate() {
        let row = &sheets["Màn hình"][i];
        assert_eq!(
            row[0],
            json!(format!(
                "{} ({})",
                s["name"].as_str().unwrap(),
                s["screen"].as_str().unwrap()
            ))
        );
        // A real date, not text.
        assert!(
            row[2]
                .as_str()
                .unwrap()
                .starts_with(&s["registered_at"].as_str().unwrap()[..16]),
            "{row}"
        );
        assert_eq!(
            row[7].as_f64().unwrap(),
            s["availability_bp"].as_f64().unwrap() / 10_000.0
        );
    }
}
