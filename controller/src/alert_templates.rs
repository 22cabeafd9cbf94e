//! Ready-made alert texts for emergencies (border closure, flood, weather, landslide) in the
//! languages of the border gates: the console's alert form starts from one of them. An admin
//! edits them (`GET`/`PUT /api/v1/alert-templates`, `docs/protocol.md` §17); until then the
//! built-in set below is served. Parts in square brackets (`[giờ]`) are for the operator to
//! fill in: the console refuses to send an alert that still has one.

pub use crate::store::AlertTemplate;
use crate::store::AlertTextRecord;

/// Most templates one controller keeps.
pub const MAX_TEMPLATES: usize = 64;

fn text(lang: &str, s: &str) -> AlertTextRecord {
    AlertTextRecord {
        lang: lang.to_string(),
        text: s.to_string(),
    }
}

/// The built-in templates, served until an admin stores an edited set.
pub fn defaults() -> Vec<AlertTemplate> {
    vec![
        AlertTemplate {
            id: "dong-cua-khau".into(),
            name_vi: "Tạm dừng thông quan".into(),
            name_en: "Border crossing suspended".into(),
            text: vec![
                text("vi", "THÔNG BÁO: Cửa khẩu tạm dừng làm thủ tục xuất nhập cảnh từ [giờ]. Đề nghị hành khách làm theo hướng dẫn của lực lượng chức năng."),
                text("en", "NOTICE: Border crossing procedures are suspended from [time]. Please follow the instructions of the border officers."),
                text("zh-Hans", "通知：口岸自[时间]起暂停办理出入境手续。请听从工作人员指引。"),
                text("hmn", "CEEB TOOM: Ciam teb tseem tsis pub hla txij [sijhawm]. Thov ua raws li cov tub ceev xwm qhia."),
            ],
            hours: 4,
        },
        AlertTemplate {
            id: "lu-lut".into(),
            name_vi: "Lũ, lũ quét".into(),
            name_en: "Flood, flash flood".into(),
            text: vec![
                text("vi", "CẢNH BÁO LŨ: Không đi qua suối, ngầm tràn; di chuyển ngay lên chỗ cao. Làm theo hướng dẫn của lực lượng chức năng."),
                text("en", "FLOOD WARNING: Do not cross streams or flooded roads; move to higher ground now. Follow the officers' instructions."),
                text("zh-Hans", "洪水预警：请勿涉水过河或通过积水路段，立即前往高处。请听从工作人员指引。"),
                text("hmn", "CEEB TOOM DEJ NYAB: Tsis txhob hla dej los yog txoj kev dej nyab; cia li mus rau qhov chaw siab. Ua raws li cov tub ceev xwm qhia."),
            ],
            hours: 8,
        },
        AlertTemplate {
            id: "thoi-tiet".into(),
            name_vi: "Mưa lớn, gió mạnh".into(),
            name_en: "Heavy rain, strong wind".into(),
            text: vec![
                text("vi", "CẢNH BÁO THỜI TIẾT: Mưa lớn, gió mạnh tại [khu vực] từ [giờ]. Hạn chế ra ngoài, chú ý an toàn."),
                text("en", "WEATHER WARNING: Heavy rain and strong wind in [area] from [time]. Stay indoors where you can and take care."),
                text("zh-Hans", "天气预警：[地区]自[时间]起有大雨和强风。请减少外出，注意安全。"),
                text("hmn", "CEEB TOOM HUAB CUA: Nag hnyav thiab cua daj cua dub ntawm [qhov chaw] txij [sijhawm]. Nyob hauv tsev thiab ceev faj."),
            ],
            hours: 12,
        },
        AlertTemplate {
            id: "sat-lo".into(),
            name_vi: "Sạt lở đất, cấm đường".into(),
            name_en: "Landslide, road closed".into(),
            text: vec![
                text("vi", "CẢNH BÁO SẠT LỞ ĐẤT: Tạm cấm đường [tuyến đường]. Không đi vào khu vực nguy hiểm, làm theo hướng dẫn của lực lượng chức năng."),
                text("en", "LANDSLIDE WARNING: [road] is closed. Keep out of the danger area and follow the officers' instructions."),
                text("zh-Hans", "山体滑坡预警：[路段]暂时封闭。请勿进入危险区域，听从工作人员指引。"),
                text("hmn", "CEEB TOOM AV POB: Txoj kev [txoj kev] kaw lawm. Tsis txhob mus rau qhov chaw txaus ntshai, ua raws li cov tub ceev xwm qhia."),
            ],
            hours: 24,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_have_valid_ids_and_four_languages() {
        let all = defaults();
        assert!(all.len() >= 3 && all.len() <= MAX_TEMPLATES);
        for t in &all {
            assert!(playlists::manifest::is_valid_id(&t.id), "{}", t.id);
            let langs: Vec<_> = t.text.iter().map(|x| x.lang.as_str()).collect();
            assert_eq!(langs, ["vi", "en", "zh-Hans", "hmn"], "{}", t.id);
            assert!(t.hours > 0);
        }
    }
}
