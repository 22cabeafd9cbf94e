//! Validation of manifests and alert sets: one test per rule, plus the wire format.

use crate::common::fixtures::*;
use playlists::manifest::*;

fn err(m: &Manifest) -> ManifestError {
    m.validate().expect_err("manifest should be rejected")
}

fn alert_err(a: &AlertSet) -> ManifestError {
    a.validate().expect_err("alert set should be rejected")
}

#[test]
fn fixture_manifest_and_alert_set_are_valid() {
    manifest().validate().unwrap();
    alert_set().validate().unwrap();
}

#[test]
fn screen_id_must_match_pattern() {
    for bad in ["", "-a", "LC-A1", "lc_a1", "lc a1", &"a".repeat(64)] {
        let m = Manifest {
            screen: bad.to_string(),
            ..manifest()
        };
        assert_eq!(
            err(&m),
            ManifestError::ScreenId {
                value: bad.to_string()
            },
            "{bad:?}"
        );
    }
    let m = Manifest {
        screen: "a".repeat(63),
        ..manifest()
    };
    m.validate().unwrap();
}

#[test]
fn expires_at_must_be_after_issued_at() {
    let mut m = manifest();
    m.expires_at = m.issued_at;
    assert!(matches!(err(&m), ManifestError::Expiry { .. }));
    m.expires_at = ts("2024-12-31T23:59:59Z");
    assert!(matches!(err(&m), ManifestError::Expiry { .. }));
}

#[test]
fn timezone_must_be_an_exact_iana_name() {
    for bad in [
        "",
        "Mars/Olympus",
        "asia/ho_chi_minh",
        "UTC+7",
        "+07:00",
        "../etc/passwd",
        "Asia/Ho Chi Minh",
    ] {
        let m = Manifest {
            timezone: bad.to_string(),
            ..manifest()
        };
        assert_eq!(
            err(&m),
            ManifestError::Timezone {
                value: bad.to_string()
            },
            "{bad:?}"
        );
    }
    for good in [
        "Asia/Ho_Chi_Minh",
        "Europe/Berlin",
        "America/New_York",
        "UTC",
        "Asia/Vientiane",
    ] {
        assert!(is_valid_timezone(good), "{good}");
    }
}

#[test]
fn languages_must_be_well_formed_and_distinct() {
    let mut m = manifest();
    m.languages[1] = "english".to_string().repeat(2);
    assert_eq!(
        err(&m),
        ManifestError::LangTag {
            field: "languages[1]".into(),
            value: "englishenglish".into()
        }
    );
    let mut m = manifest();
    m.languages.push("EN".to_string());
    assert_eq!(
        err(&m),
        ManifestError::DuplicateLanguage {
            field: "languages[3]".into(),
            lang: "EN".into()
        }
    );
    let mut m = manifest();
    m.languages = (0..=MAX_LANGUAGES)
        .map(|i| format!("a{}", (b'a' + (i % 26) as u8) as char))
        .collect();
    assert!(matches!(err(&m), ManifestError::TooMany { field, .. } if field == "languages"));
    let m = Manifest {
        languages: Vec::new(),
        ..manifest()
    };
    m.validate().unwrap();
}

#[test]
fn lang_tag_syntax() {
    let good = [
        "vi",
        "en",
        "zh-Hans",
        "hmn",
        "ium",
        "pt-BR",
        "zh-Hant-TW",
        "es-419",
        "km",
        "lo",
        "th",
        "zh-yue",
        "sr-Latn-RS",
        "de-CH-1996",
        "en-US-x-gate",
        "und",
        "zxx",
        "VI",
        "zh-hans",
        "en-a-bbb-x-a",
        "cmn-Hans-CN",
    ];
    for t in good {
        assert!(is_valid_lang_tag(t), "{t:?} should be accepted");
    }
    let bad = [
        "",
        "e",
        "vie-",
        "-vi",
        "vi--en",
        "abcd",
        "toolonglang",
        "vi_VN",
        "zh-Hans-",
        "en-US-abc",
        "x-private",
        "en-x",
        "en-a",
        "en-a-x",
        "v1",
        "zh-Hans-Hant-TW-",
        "en-123456789",
        "ti ếng",
        "en-x-123456789",
    ];
    for t in bad {
        assert!(!is_valid_lang_tag(t), "{t:?} should be rejected");
    }
    assert!(!is_valid_lang_tag(&format!("en{}", "-abcde".repeat(12))));
}

#[test]
fn sha256_must_be_64_lowercase_hex() {
    assert!(is_valid_sha256_hex(&sha(0xabc)));
    assert!(!is_valid_sha256_hex(&sha(0xabc).to_uppercase()));
    assert!(!is_valid_sha256_hex(&sha(1)[1..]));
    assert!(!is_valid_sha256_hex(&format!("{}0", sha(1))));
    assert!(!is_valid_sha256_hex(&"g".repeat(64)));
    assert!(!is_valid_sha256_hex(&format!("../{}", &sha(1)[3..])));

    let mut m = manifest();
    m.media[2].sha256 = sha(0xabc).to_uppercase();
    assert_eq!(
        err(&m),
        ManifestError::Sha256 {
            field: "media[2].sha256".into(),
            value: sha(0xabc).to_uppercase()
        }
    );
}

#[test]
fn ids_syntax() {
    for good in [
        "main",
        "a",
        "pl-1",
        "x.y_z:1",
        "A1",
        &"a".repeat(MAX_ID_LEN),
    ] {
        assert!(is_valid_id(good), "{good:?}");
    }
    for bad in [
        "",
        "-a",
        ".a",
        "a b",
        "a/b",
        "ä",
        &"a".repeat(MAX_ID_LEN + 1),
    ] {
        assert!(!is_valid_id(bad), "{bad:?}");
    }
}

#[test]
fn duplicate_media_hash_is_rejected() {
    let mut m = manifest();
    m.media.push(media(2, "en", MediaKind::Clip));
    assert_eq!(
        err(&m),
        ManifestError::DuplicateMedia {
            field: "media[5].sha256".into(),
            sha256: sha(2)
        }
    );
}

#[test]
fn media_bytes_bounds() {
    for (bytes, ok) in [
        (0, false),
        (1, true),
        (MAX_MEDIA_BYTES, true),
        (MAX_MEDIA_BYTES + 1, false),
    ] {
        let mut m = manifest();
        m.media[0].bytes = bytes;
        match m.validate() {
            Ok(()) => assert!(ok, "{bytes} accepted"),
            Err(e) => {
                assert!(!ok, "{bytes} rejected: {e}");
                assert_eq!(
                    e,
                    ManifestError::OutOfRange {
                        field: "media[0].bytes".into(),
                        value: bytes,
                        min: 1,
                        max: 64 << 30
                    }
                );
            }
        }
    }
}

#[test]
fn media_duration_bounds() {
    let mut m = manifest();
    m.media[1].duration_ms = Some(0);
    assert!(
        matches!(err(&m), ManifestError::OutOfRange { field, .. } if field == "media[1].duration_ms")
    );
    m.media[1].duration_ms = Some(MAX_DURATION_MS + 1);
    assert!(
        matches!(err(&m), ManifestError::OutOfRange { field, .. } if field == "media[1].duration_ms")
    );
    m.media[1].duration_ms = Some(MAX_DURATION_MS);
    m.validate().unwrap();
    m.media[1].duration_ms = None;
    m.validate().unwrap();
}

#[test]
fn media_mime_lang_and_title_are_checked() {
    for bad in ["", "video", "video/", "/mp4", "vid eo/mp4", "video/mp4\n"] {
        let mut m = manifest();
        m.media[0].mime = bad.to_string();
        assert_eq!(
            err(&m),
            ManifestError::Mime {
                field: "media[0].mime".into(),
                value: bad.into()
            }
        );
    }
    let mut m = manifest();
    m.media[0].mime = "text/html; charset=utf-8".to_string();
    m.validate().unwrap();

    let mut m = manifest();
    m.media[3].lang = "vi_VN".to_string();
    assert_eq!(
        err(&m),
        ManifestError::LangTag {
            field: "media[3].lang".into(),
            value: "vi_VN".into()
        }
    );

    let mut m = manifest();
    m.media[0].title = "line\u{7}bell".to_string();
    assert!(matches!(err(&m), ManifestError::Text { field, .. } if field == "media[0].title"));
    m.media[0].title = "ư".repeat(MAX_TITLE_LEN / 2 + 1);
    assert!(matches!(err(&m), ManifestError::Text { field, .. } if field == "media[0].title"));
    m.media[0].title = "Thông báo — 通知".to_string();
    m.validate().unwrap();
}

#[test]
fn list_sizes_are_bounded() {
    let mut m = manifest();
    m.media = (1..=MAX_MEDIA as u64 + 1)
        .map(|n| media(n, "vi", MediaKind::Video))
        .collect();
    assert_eq!(
        err(&m),
        ManifestError::TooMany {
            field: "media".into(),
            count: MAX_MEDIA + 1,
            max: MAX_MEDIA
        }
    );

    let mut m = manifest();
    m.playlists = (0..=MAX_PLAYLISTS)
        .map(|i| playlist(&format!("p{i}"), vec![item(4)]))
        .collect();
    m.fallback = "p0".to_string();
    assert!(matches!(err(&m), ManifestError::TooMany { field, .. } if field == "playlists"));

    let mut m = manifest();
    m.playlists[1].items = vec![item(4); MAX_ITEMS_PER_PLAYLIST + 1];
    assert!(
        matches!(err(&m), ManifestError::TooMany { field, .. } if field == "playlists[1].items")
    );
    m.playlists[1].items.pop();
    m.validate().unwrap();

    let mut m = manifest();
    m.schedule = (0..=MAX_SCHEDULE_ENTRIES)
        .map(|i| entry(&format!("e{i}"), "news", 1))
        .collect();
    assert!(matches!(err(&m), ManifestError::TooMany { field, .. } if field == "schedule"));
}

#[test]
fn playlist_ids_names_and_items() {
    let mut m = manifest();
    m.playlists[1].id = "bad id".to_string();
    assert_eq!(
        err(&m),
        ManifestError::Id {
            field: "playlists[1].id".into(),
            value: "bad id".into()
        }
    );

    let mut m = manifest();
    m.playlists[2].id = "main".to_string();
    assert_eq!(
        err(&m),
        ManifestError::DuplicatePlaylist {
            field: "playlists[2].id".into(),
            id: "main".into()
        }
    );

    let mut m = manifest();
    m.playlists[1].items.clear();
    assert_eq!(
        err(&m),
        ManifestError::Empty {
            field: "playlists[1].items".into()
        }
    );

    let mut m = manifest();
    m.playlists[0].name = "x".repeat(MAX_TITLE_LEN + 1);
    assert!(matches!(err(&m), ManifestError::Text { field, .. } if field == "playlists[0].name"));
}

#[test]
fn playlist_item_must_refer_to_listed_media() {
    let mut m = manifest();
    m.playlists[1].items.push(item(99));
    assert_eq!(
        err(&m),
        ManifestError::UnknownMedia {
            field: "playlists[1].items[1].media".into(),
            sha256: sha(99)
        }
    );
    let mut m = manifest();
    m.playlists[1].items[0].media = "../../etc/passwd".to_string();
    assert!(
        matches!(err(&m), ManifestError::Sha256 { field, .. } if field == "playlists[1].items[0].media")
    );
}

#[test]
fn playlist_item_duration_bounds() {
    let mut m = manifest();
    m.playlists[0].items[1].duration_ms = Some(0);
    assert!(
        matches!(err(&m), ManifestError::OutOfRange { field, value: 0, .. } if field == "playlists[0].items[1].duration_ms")
    );
    m.playlists[0].items[1].duration_ms = Some(MAX_DURATION_MS + 1);
    assert!(matches!(err(&m), ManifestError::OutOfRange { .. }));
    m.playlists[0].items[1].duration_ms = Some(15_000);
    m.validate().unwrap();
}

#[test]
fn variants_must_be_listed_distinct_and_in_other_languages() {
    let mut m = manifest();
    m.playlists[0].items[0].variants.push(sha(42));
    assert_eq!(
        err(&m),
        ManifestError::UnknownMedia {
            field: "playlists[0].items[0].variants[2]".into(),
            sha256: sha(42)
        }
    );

    let mut m = manifest();
    m.playlists[0].items[0].variants.push(sha(1));
    assert_eq!(
        err(&m),
        ManifestError::VariantIsItem {
            field: "playlists[0].items[0].variants[2]".into(),
            sha256: sha(1)
        }
    );

    // media 5 is also English, like variant media 2
    let mut m = manifest();
    m.playlists[0].items[0].variants.push(sha(5));
    assert_eq!(
        err(&m),
        ManifestError::DuplicateLanguage {
            field: "playlists[0].items[0].variants[2]".into(),
            lang: "en".into()
        }
    );

    // media 4 is Vietnamese, like the item's own media 1
    let mut m = manifest();
    m.playlists[0].items[0].variants = vec![sha(4)];
    assert!(matches!(err(&m), ManifestError::DuplicateLanguage { lang, .. } if lang == "vi"));

    let mut m = manifest();
    m.playlists[0].items[0].variants = vec![sha(2); MAX_VARIANTS_PER_ITEM + 1];
    assert!(
        matches!(err(&m), ManifestError::TooMany { field, .. } if field == "playlists[0].items[0].variants")
    );
}

#[test]
fn schedule_entry_must_refer_to_listed_playlist_with_unique_id() {
    let m = manifest_with("UTC", vec![entry("a", "main", 1), entry("b", "gone", 1)]);
    assert_eq!(
        err(&m),
        ManifestError::UnknownPlaylist {
            field: "schedule[1].playlist".into(),
            id: "gone".into()
        }
    );

    let m = manifest_with("UTC", vec![entry("a", "main", 1), entry("a", "news", 2)]);
    assert_eq!(
        err(&m),
        ManifestError::DuplicateId {
            field: "schedule[1].id".into(),
            id: "a".into()
        }
    );

    let m = manifest_with("UTC", vec![entry("", "main", 1)]);
    assert_eq!(
        err(&m),
        ManifestError::Id {
            field: "schedule[0].id".into(),
            value: "".into()
        }
    );
}

#[test]
fn schedule_dates_must_be_ordered() {
    let mut e = entry("a", "news", 1);
    e.from = Some(date("2025-06-02"));
    e.until = Some(date("2025-06-01"));
    let m = manifest_with("UTC", vec![e.clone()]);
    assert_eq!(
        err(&m),
        ManifestError::DateRange {
            field: "schedule[0].from".into(),
            from: date("2025-06-02"),
            until: date("2025-06-01")
        }
    );
    e.until = e.from;
    manifest_with("UTC", vec![e]).validate().unwrap();
}

#[test]
fn schedule_weekdays_not_empty_nor_repeated() {
    let mut e = entry("a", "news", 1);
    e.weekdays = Some(Vec::new());
    assert_eq!(
        err(&manifest_with("UTC", vec![e.clone()])),
        ManifestError::Empty {
            field: "schedule[0].weekdays".into()
        }
    );
    e.weekdays = Some(vec![Weekday::Mon, Weekday::Fri, Weekday::Mon]);
    assert_eq!(
        err(&manifest_with("UTC", vec![e.clone()])),
        ManifestError::DuplicateWeekday {
            field: "schedule[0].weekdays".into(),
            day: Weekday::Mon
        }
    );
    e.weekdays = Some(vec![Weekday::Mon, Weekday::Fri]);
    manifest_with("UTC", vec![e]).validate().unwrap();
}

#[test]
fn schedule_windows_are_hh_mm_pairs() {
    for bad in [
        "24:00", "8:00", "08:60", "08-00", "0800", " 08:00", "08:00:00", "ab:cd",
    ] {
        let m = manifest_with("UTC", vec![window("a", "news", 1, bad, "10:00")]);
        assert_eq!(
            err(&m),
            ManifestError::TimeOfDay {
                field: "schedule[0].start".into(),
                value: bad.into()
            }
        );
        let m = manifest_with("UTC", vec![window("a", "news", 1, "10:00", bad)]);
        assert_eq!(
            err(&m),
            ManifestError::TimeOfDay {
                field: "schedule[0].end".into(),
                value: bad.into()
            }
        );
    }
    let mut e = window("a", "news", 1, "08:00", "10:00");
    e.end = None;
    assert_eq!(
        err(&manifest_with("UTC", vec![e.clone()])),
        ManifestError::HalfWindow {
            field: "schedule[0].end".into()
        }
    );
    e.end = e.start.take();
    assert_eq!(
        err(&manifest_with("UTC", vec![e])),
        ManifestError::HalfWindow {
            field: "schedule[0].start".into()
        }
    );
    for (s, t) in [("00:00", "23:59"), ("22:00", "02:00"), ("07:30", "07:30")] {
        manifest_with("UTC", vec![window("a", "news", 1, s, t)])
            .validate()
            .unwrap();
    }
    assert_eq!(
        parse_time_of_day("23:59"),
        Some(jiff::civil::time(23, 59, 0, 0))
    );
    assert_eq!(
        parse_time_of_day("00:00"),
        Some(jiff::civil::time(0, 0, 0, 0))
    );
}

#[test]
fn fallback_must_be_a_listed_playlist() {
    let m = Manifest {
        fallback: "nope".to_string(),
        layout: None,
        ..manifest()
    };
    assert_eq!(
        err(&m),
        ManifestError::UnknownPlaylist {
            field: "fallback".into(),
            id: "nope".into()
        }
    );
}

#[test]
fn error_messages_name_the_field() {
    let mut m = manifest();
    m.playlists[1].items.push(item(99));
    let msg = err(&m).to_string();
    assert!(msg.contains("playlists[1].items[1].media"), "{msg}");
    assert!(msg.contains(&sha(99)), "{msg}");
}

#[test]
fn wire_format_uses_the_fixed_field_names() {
    let mut m = manifest();
    let mut e = window("night-1", "night", 5, "22:00", "06:00");
    e.from = Some(date("2025-02-01"));
    e.weekdays = Some(vec![Weekday::Fri, Weekday::Sat]);
    m.schedule.push(e);
    let v: serde_json::Value = serde_json::from_slice(&m.to_json()).unwrap();
    for k in [
        "screen",
        "version",
        "issued_at",
        "expires_at",
        "timezone",
        "languages",
        "media",
        "playlists",
        "schedule",
        "fallback",
    ] {
        assert!(v.get(k).is_some(), "missing {k}");
    }
    assert_eq!(v["issued_at"], "2025-01-01T00:00:00Z");
    assert_eq!(v["media"][3]["kind"], "slide");
    for k in [
        "sha256",
        "bytes",
        "mime",
        "kind",
        "lang",
        "title",
        "duration_ms",
    ] {
        assert!(v["media"][0].get(k).is_some(), "media missing {k}");
    }
    assert_eq!(v["playlists"][0]["items"][0]["variants"][1], sha(3));
    let s = &v["schedule"][0];
    assert_eq!(s["from"], "2025-02-01");
    assert_eq!(s["weekdays"], serde_json::json!(["fri", "sat"]));
    assert_eq!(s["start"], "22:00");
    assert!(s.get("until").is_none());
    assert_eq!(Manifest::from_json(&m.to_json()).unwrap(), m);
}

#[test]
fn third_party_json_parses_with_optional_fields_omitted_and_unknown_fields_ignored() {
    let doc = format!(
        r#"{{"screen":"hk-1","version":1,"issued_at":"2025-05-01T07:00:00+07:00",
        "expires_at":"2025-06-01T00:00:00Z","timezone":"Asia/Ho_Chi_Minh","future_field":{{"x":1}},
        "media":[{{"sha256":"{}","bytes":5,"mime":"video/mp4","kind":"clip","lang":"hmn","title":""}}],
        "playlists":[{{"id":"p","name":"","items":[{{"media":"{}"}}]}}],
        "schedule":[{{"id":"e","playlist":"p","priority":-3,"until":null,"weekdays":["sun"]}}],
        "fallback":"p"}}"#,
        sha(1),
        sha(1)
    );
    let m = Manifest::from_json(doc.as_bytes()).unwrap();
    m.validate().unwrap();
    assert!(m.languages.is_empty());
    assert_eq!(m.issued_at, ts("2025-05-01T00:00:00Z"));
    assert_eq!(m.media[0].duration_ms, None);
    assert_eq!(m.schedule[0].weekdays, Some(vec![Weekday::Sun]));

    let missing = doc.replace(r#""fallback":"p""#, r#""fallbackx":"p""#);
    assert!(matches!(
        Manifest::from_json(missing.as_bytes()),
        Err(ManifestError::Json(_))
    ));
    let bad_kind = doc.replace(r#""kind":"clip""#, r#""kind":"audio""#);
    assert!(matches!(
        Manifest::from_json(bad_kind.as_bytes()),
        Err(ManifestError::Json(_))
    ));
    let bad_date = doc.replace(r#""until":null"#, r#""until":"2025-6-1""#);
    assert!(matches!(
        Manifest::from_json(bad_date.as_bytes()),
        Err(ManifestError::Json(_))
    ));
    let bad_day = doc.replace(r#"["sun"]"#, r#"["sunday"]"#);
    assert!(matches!(
        Manifest::from_json(bad_day.as_bytes()),
        Err(ManifestError::Json(_))
    ));
    let bad_ts = doc.replace("2025-06-01T00:00:00Z", "yesterday");
    assert!(matches!(
        Manifest::from_json(bad_ts.as_bytes()),
        Err(ManifestError::Json(_))
    ));
}

#[test]
fn alert_validation_rules() {
    let mut a = alert_set();
    a.screen = "Bad".to_string();
    assert!(matches!(alert_err(&a), ManifestError::ScreenId { .. }));

    let mut a = alert_set();
    a.alerts.push(alert("flood", 1, "2025-03-05T00:00:00Z"));
    assert_eq!(
        alert_err(&a),
        ManifestError::DuplicateId {
            field: "alerts[1].id".into(),
            id: "flood".into()
        }
    );

    let mut a = alert_set();
    a.alerts[0].id = "no way".to_string();
    assert!(matches!(alert_err(&a), ManifestError::Id { field, .. } if field == "alerts[0].id"));

    let mut a = alert_set();
    a.alerts[0].text.clear();
    assert_eq!(
        alert_err(&a),
        ManifestError::EmptyAlert {
            field: "alerts[0]".into()
        }
    );
    a.alerts[0].media = Some(media(1, "vi", MediaKind::Video));
    a.validate().unwrap();
    a.alerts[0].media.as_mut().unwrap().sha256 = "abc".to_string();
    assert!(
        matches!(alert_err(&a), ManifestError::Sha256 { field, .. } if field == "alerts[0].media.sha256")
    );

    let mut a = alert_set();
    a.alerts[0].text[1].lang = "english!".to_string();
    assert!(
        matches!(alert_err(&a), ManifestError::LangTag { field, .. } if field == "alerts[0].text[1].lang")
    );
    a.alerts[0].text[1].lang = "VI".to_string();
    assert!(matches!(
        alert_err(&a),
        ManifestError::DuplicateLanguage { .. }
    ));

    let mut a = alert_set();
    a.alerts[0].text[0].text = String::new();
    assert_eq!(
        alert_err(&a),
        ManifestError::Empty {
            field: "alerts[0].text[0].text".into()
        }
    );
    a.alerts[0].text[0].text = "line one\nline two".to_string();
    a.validate().unwrap();
    a.alerts[0].text[0].text = "esc\u{1b}[2J".to_string();
    assert!(matches!(alert_err(&a), ManifestError::Text { .. }));
    a.alerts[0].text[0].text = "x".repeat(MAX_ALERT_TEXT_LEN + 1);
    assert!(matches!(alert_err(&a), ManifestError::Text { .. }));

    let mut a = alert_set();
    a.alerts = (0..=MAX_ALERTS)
        .map(|i| alert(&format!("a{i}"), 1, "2025-03-02T00:00:00Z"))
        .collect();
    assert!(matches!(alert_err(&a), ManifestError::TooMany { field, .. } if field == "alerts"));

    let empty = AlertSet {
        alerts: Vec::new(),
        ..alert_set()
    };
    empty.validate().unwrap();
    assert_eq!(
        AlertSet::from_json(&alert_set().to_json()).unwrap(),
        alert_set()
    );
}
