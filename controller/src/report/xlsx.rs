//! The period report as an XLSX workbook: one sheet per table, numbers as numbers (hours as
//! hours, shares as fractions with a percent format), times as dates.

use playlists::report::Figures;
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, XlsxError};

use super::tables::{evidence_lines, tables, Cell};
use super::ReportError;

fn err(e: XlsxError) -> ReportError {
    ReportError::Render {
        format: "xlsx",
        message: e.to_string(),
    }
}

/// The workbook's bytes.
pub fn render(f: &Figures) -> Result<Vec<u8>, ReportError> {
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let hours = Format::new().set_num_format("0.0");
    let pct = Format::new().set_num_format("0.0%");
    let when = Format::new().set_num_format("dd/mm/yyyy hh:mm");
    for t in tables(f) {
        let ws = wb.add_worksheet();
        ws.set_name(t.sheet).map_err(err)?;
        ws.write_string_with_format(0, 0, t.title, &bold)
            .map_err(err)?;
        for (c, h) in t.headers.iter().enumerate() {
            ws.write_string_with_format(1, c as u16, *h, &bold)
                .map_err(err)?;
            ws.set_column_width(c as u16, if c == 0 { 28 } else { 16 })
                .map_err(err)?;
        }
        for (r, row) in t.rows.iter().enumerate() {
            let r = r as u32 + 2;
            for (c, cell) in row.iter().enumerate() {
                let c = c as u16;
                match cell {
                    Cell::Text(s) => ws.write_string(r, c, s).map(|_| ()),
                    Cell::Int(n) => ws.write_number(r, c, *n as f64).map(|_| ()),
                    Cell::Hours(ms) => ws
                        .write_number_with_format(r, c, *ms as f64 / 3_600_000.0, &hours)
                        .map(|_| ()),
                    Cell::Seconds(ms) => ws
                        .write_number_with_format(r, c, *ms as f64 / 1000.0, &hours)
                        .map(|_| ()),
                    Cell::Percent(bp) => ws
                        .write_number_with_format(r, c, *bp as f64 / 10_000.0, &pct)
                        .map(|_| ()),
                    Cell::Time(None) => Ok(()),
                    Cell::Time(Some(t)) => {
                        // RFC 3339 UTC with milliseconds: the date and time parts.
                        let dt = ExcelDateTime::parse_from_str(t.get(0..19).unwrap_or_default())
                            .map_err(err)?;
                        ws.write_datetime_with_format(r, c, &dt, &when).map(|_| ())
                    }
                }
                .map_err(err)?;
            }
        }
    }
    let ws = wb.add_worksheet();
    ws.set_name("Chứng cứ").map_err(err)?;
    for (i, l) in evidence_lines(f).iter().enumerate() {
        ws.write_string(i as u32, 0, l).map_err(err)?;
    }
    wb.save_to_buffer().map_err(err)
}
