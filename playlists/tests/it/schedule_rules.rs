//! Schedule semantics: windows, midnight, weekdays, date ranges, DST, priorities, alerts and
//! language variants. Instants are written in UTC; the comments give local wall-clock time.

use crate::common::fixtures::*;
use playlists::manifest::{AlertSet, Manifest, ScheduleEntry, Weekday};
use playlists::schedule::*;

/// Id of the playlist active at `at` (RFC 3339).
fn playing(m: &Manifest, at: &str) -> String {
    active_playlist(m, ts(at)).playlist.id.clone()
}

fn hcm(schedule: Vec<ScheduleEntry>) -> Manifest {
    let m = manifest_with("Asia/Ho_Chi_Minh", schedule);
    m.validate().unwrap();
    m
}

fn berlin(schedule: Vec<ScheduleEntry>) -> Manifest {
    let m = manifest_with("Europe/Berlin", schedule);
    m.validate().unwrap();
    m
}

fn days(e: ScheduleEntry, d: &[Weekday]) -> ScheduleEntry {
    ScheduleEntry {
        weekdays: Some(d.to_vec()),
        ..e
    }
}

fn dates(e: ScheduleEntry, from: Option<&str>, until: Option<&str>) -> ScheduleEntry {
    ScheduleEntry {
        from: from.map(date),
        until: until.map(date),
        ..e
    }
}

#[test]
fn fallback_plays_when_nothing_is_scheduled() {
    let m = hcm(Vec::new());
    let a = active_playlist(&m, ts("2025-06-02T01:00:00Z"));
    assert_eq!(a.playlist.id, "main");
    assert_eq!(a.entry, None);
    assert_eq!(next_change(&m, ts("2025-06-02T01:00:00Z")), None);
}

#[test]
fn daily_window_in_ho_chi_minh_city() {
    // 08:00-10:00 local (+07) = 01:00-03:00 UTC.
    let m = hcm(vec![window("morning", "news", 1, "08:00", "10:00")]);
    assert_eq!(playing(&m, "2025-06-02T00:59:59Z"), "main");
    assert_eq!(playing(&m, "2025-06-02T01:00:00Z"), "news");
    let a = active_playlist(&m, ts("2025-06-02T02:00:00Z"));
    assert_eq!(a.entry.map(|e| e.id.as_str()), Some("morning"));
    assert_eq!(playing(&m, "2025-06-02T02:59:59Z"), "news");
    assert_eq!(playing(&m, "2025-06-02T03:00:00Z"), "main");
}

#[test]
fn window_across_midnight_belongs_to_the_day_it_starts() {
    // Fridays 22:00 to Saturday 02:00 local. 2025-06-06 is a Friday.
    let m = hcm(vec![days(
        window("late", "night", 1, "22:00", "02:00"),
        &[Weekday::Fri],
    )]);
    assert_eq!(playing(&m, "2025-06-06T14:59:59Z"), "main"); // Fri 21:59:59
    assert_eq!(playing(&m, "2025-06-06T15:00:00Z"), "night"); // Fri 22:00
    assert_eq!(playing(&m, "2025-06-06T17:30:00Z"), "night"); // Sat 00:30
    assert_eq!(playing(&m, "2025-06-06T18:59:59Z"), "night"); // Sat 01:59:59
    assert_eq!(playing(&m, "2025-06-06T19:00:00Z"), "main"); // Sat 02:00
    assert_eq!(playing(&m, "2025-06-07T15:30:00Z"), "main"); // Sat 22:30: not Friday
    assert_eq!(playing(&m, "2025-06-05T18:00:00Z"), "main"); // Fri 01:00: started Thursday
    assert_eq!(playing(&m, "2025-06-13T15:00:00Z"), "night"); // next Friday 22:00
}

#[test]
fn weekday_filter_with_daytime_window() {
    // Mon, Wed 09:00-17:00 local. 2025-06-02 is a Monday.
    let m = hcm(vec![days(
        window("office", "news", 1, "09:00", "17:00"),
        &[Weekday::Mon, Weekday::Wed],
    )]);
    assert_eq!(playing(&m, "2025-06-02T02:00:00Z"), "news"); // Mon 09:00
    assert_eq!(playing(&m, "2025-06-03T02:00:00Z"), "main"); // Tue 09:00
    assert_eq!(playing(&m, "2025-06-04T09:59:59Z"), "news"); // Wed 16:59:59
    assert_eq!(playing(&m, "2025-06-04T10:00:00Z"), "main"); // Wed 17:00
                                                             // Weekday is the local day: Mon 01:00 local is still Sunday in UTC.
    let all_monday = hcm(vec![days(entry("mon", "news", 1), &[Weekday::Mon])]);
    assert_eq!(playing(&all_monday, "2025-06-01T18:00:00Z"), "news"); // Mon 01:00
    assert_eq!(playing(&all_monday, "2025-06-01T16:59:59Z"), "main"); // Sun 23:59:59
}

#[test]
fn date_range_is_inclusive_local_days() {
    let m = hcm(vec![dates(
        entry("fest", "news", 1),
        Some("2025-06-10"),
        Some("2025-06-12"),
    )]);
    assert_eq!(playing(&m, "2025-06-09T16:59:59Z"), "main"); // 06-09 23:59:59
    assert_eq!(playing(&m, "2025-06-09T17:00:00Z"), "news"); // 06-10 00:00
    assert_eq!(playing(&m, "2025-06-12T16:59:59Z"), "news"); // 06-12 23:59:59
    assert_eq!(playing(&m, "2025-06-12T17:00:00Z"), "main"); // 06-13 00:00

    // A window crossing midnight that starts on `until` runs past it.
    let m = hcm(vec![dates(
        window("n", "night", 1, "22:00", "02:00"),
        Some("2025-06-10"),
        Some("2025-06-12"),
    )]);
    assert_eq!(playing(&m, "2025-06-09T18:00:00Z"), "main"); // 06-10 01:00: started 06-09
    assert_eq!(playing(&m, "2025-06-12T18:00:00Z"), "night"); // 06-13 01:00: started 06-12
    assert_eq!(playing(&m, "2025-06-13T15:00:00Z"), "main"); // 06-13 22:00
}

#[test]
fn equal_start_and_end_is_a_24_hour_window() {
    // Mondays from 06:00 to Tuesday 06:00 local.
    let m = hcm(vec![days(
        window("day", "news", 1, "06:00", "06:00"),
        &[Weekday::Mon],
    )]);
    assert_eq!(playing(&m, "2025-06-01T22:59:59Z"), "main"); // Mon 05:59:59
    assert_eq!(playing(&m, "2025-06-01T23:00:00Z"), "news"); // Mon 06:00
    assert_eq!(playing(&m, "2025-06-02T22:59:59Z"), "news"); // Tue 05:59:59
    assert_eq!(playing(&m, "2025-06-02T23:00:00Z"), "main"); // Tue 06:00
                                                             // 00:00-00:00 is the same as no window.
    let m = hcm(vec![days(
        window("all", "news", 1, "00:00", "00:00"),
        &[Weekday::Mon],
    )]);
    assert_eq!(playing(&m, "2025-06-01T17:00:00Z"), "news"); // Mon 00:00
    assert_eq!(playing(&m, "2025-06-02T16:59:59Z"), "news"); // Mon 23:59:59
    assert_eq!(playing(&m, "2025-06-02T17:00:00Z"), "main"); // Tue 00:00
}

#[test]
fn higher_priority_wins_and_ties_go_to_the_smallest_id() {
    let m = hcm(vec![
        entry("base", "night", -5),
        window("b-ads", "news", 3, "08:00", "10:00"),
        window("a-ads", "night", 3, "09:00", "11:00"),
        window("vip", "main", 9, "09:30", "09:45"),
    ]);
    let who = |at: &str| active_playlist(&m, ts(at)).entry.map(|e| e.id.clone());
    assert_eq!(who("2025-06-02T00:00:00Z").as_deref(), Some("base")); // 07:00: a negative priority still beats the fallback
    assert_eq!(who("2025-06-02T01:30:00Z").as_deref(), Some("b-ads")); // 08:30
    assert_eq!(who("2025-06-02T02:15:00Z").as_deref(), Some("a-ads")); // 09:15 tie: "a-ads" < "b-ads"
    assert_eq!(who("2025-06-02T02:40:00Z").as_deref(), Some("vip")); // 09:40
    assert_eq!(who("2025-06-02T03:30:00Z").as_deref(), Some("a-ads")); // 10:30
                                                                       // The order of entries in the manifest does not matter.
    let mut reversed = m.clone();
    reversed.schedule.reverse();
    for at in [
        "2025-06-02T01:30:00Z",
        "2025-06-02T02:15:00Z",
        "2025-06-02T02:40:00Z",
    ] {
        assert_eq!(playing(&m, at), playing(&reversed, at));
    }
}

#[test]
fn dst_spring_forward_in_berlin() {
    // 2025-03-30: 02:00 CET (01:00Z) jumps to 03:00 CEST.
    // 01:00-04:00 local is 00:00Z-02:00Z: two real hours.
    let m = berlin(vec![window("w", "news", 1, "01:00", "04:00")]);
    assert_eq!(playing(&m, "2025-03-29T23:59:59Z"), "main");
    assert_eq!(playing(&m, "2025-03-30T00:00:00Z"), "news");
    assert_eq!(playing(&m, "2025-03-30T01:59:59Z"), "news");
    assert_eq!(playing(&m, "2025-03-30T02:00:00Z"), "main");
    // A window starting inside the gap starts at the transition.
    let m = berlin(vec![window("w", "news", 1, "02:30", "03:30")]);
    assert_eq!(playing(&m, "2025-03-30T00:59:59Z"), "main");
    assert_eq!(playing(&m, "2025-03-30T01:00:00Z"), "news"); // 03:00 CEST
    assert_eq!(playing(&m, "2025-03-30T01:30:00Z"), "main"); // 03:30 CEST
                                                             // A window entirely inside the gap does not play that day, but does the next.
    let m = berlin(vec![window("w", "news", 1, "02:00", "02:30")]);
    for at in [
        "2025-03-30T00:59:59Z",
        "2025-03-30T01:00:00Z",
        "2025-03-30T01:15:00Z",
    ] {
        assert_eq!(playing(&m, at), "main", "{at}");
    }
    assert_eq!(playing(&m, "2025-03-31T00:00:00Z"), "news"); // 02:00 CEST
    assert_eq!(playing(&m, "2025-03-29T01:00:00Z"), "news"); // 02:00 CET the day before
}

#[test]
fn dst_fall_back_in_berlin() {
    // 2025-10-26: 03:00 CEST (01:00Z) goes back to 02:00 CET; 02:00-03:00 happens twice.
    // 01:00-04:00 local is 2025-10-25T23:00Z-03:00Z: four real hours.
    let m = berlin(vec![window("w", "news", 1, "01:00", "04:00")]);
    assert_eq!(playing(&m, "2025-10-25T22:59:59Z"), "main");
    assert_eq!(playing(&m, "2025-10-25T23:00:00Z"), "news");
    assert_eq!(playing(&m, "2025-10-26T02:59:59Z"), "news");
    assert_eq!(playing(&m, "2025-10-26T03:00:00Z"), "main");
    // A window inside the fold plays once, during the first pass.
    let m = berlin(vec![window("w", "news", 1, "02:00", "02:30")]);
    assert_eq!(playing(&m, "2025-10-26T00:00:00Z"), "news"); // 02:00 CEST
    assert_eq!(playing(&m, "2025-10-26T00:30:00Z"), "main"); // 02:30 CEST
    assert_eq!(playing(&m, "2025-10-26T01:00:00Z"), "main"); // 02:00 CET (second pass)
    assert_eq!(playing(&m, "2025-10-26T01:15:00Z"), "main");
}

#[test]
fn dst_days_in_new_york_are_23_and_25_hours_long() {
    let m = manifest_with(
        "America/New_York",
        vec![
            dates(
                entry("spring", "news", 1),
                Some("2025-03-09"),
                Some("2025-03-09"),
            ),
            dates(
                entry("fall", "night", 1),
                Some("2025-11-02"),
                Some("2025-11-02"),
            ),
        ],
    );
    m.validate().unwrap();
    assert_eq!(playing(&m, "2025-03-09T04:59:59Z"), "main");
    assert_eq!(playing(&m, "2025-03-09T05:00:00Z"), "news"); // 00:00 EST
    assert_eq!(playing(&m, "2025-03-10T03:59:59Z"), "news"); // 23:59:59 EDT
    assert_eq!(playing(&m, "2025-03-10T04:00:00Z"), "main");
    assert_eq!(playing(&m, "2025-11-02T03:59:59Z"), "main");
    assert_eq!(playing(&m, "2025-11-02T04:00:00Z"), "night"); // 00:00 EDT
    assert_eq!(playing(&m, "2025-11-03T04:59:59Z"), "night"); // 23:59:59 EST
    assert_eq!(playing(&m, "2025-11-03T05:00:00Z"), "main");
}

#[test]
fn day_that_starts_in_a_gap_starts_at_the_transition() {
    // Chile: on 2025-09-07 clocks go from 00:00 -04 straight to 01:00 -03 (04:00Z).
    let m = manifest_with(
        "America/Santiago",
        vec![dates(
            entry("d", "news", 1),
            Some("2025-09-07"),
            Some("2025-09-07"),
        )],
    );
    m.validate().unwrap();
    assert_eq!(playing(&m, "2025-09-07T03:59:59Z"), "main");
    assert_eq!(playing(&m, "2025-09-07T04:00:00Z"), "news");
    assert_eq!(playing(&m, "2025-09-08T02:59:59Z"), "news"); // 23:59:59 -03
    assert_eq!(playing(&m, "2025-09-08T03:00:00Z"), "main");
}

#[test]
fn next_change_points_at_the_next_boundary() {
    let m = hcm(vec![window("morning", "news", 1, "08:00", "10:00")]);
    assert_eq!(
        next_change(&m, ts("2025-06-02T00:00:00Z")),
        Some(ts("2025-06-02T01:00:00Z"))
    );
    assert_eq!(
        next_change(&m, ts("2025-06-02T01:00:00Z")),
        Some(ts("2025-06-02T03:00:00Z"))
    );
    assert_eq!(
        next_change(&m, ts("2025-06-02T03:00:00Z")),
        Some(ts("2025-06-03T01:00:00Z"))
    );

    // Weekly: asked on a Saturday, the next change is Friday 22:00.
    let m = hcm(vec![days(
        window("late", "night", 1, "22:00", "02:00"),
        &[Weekday::Fri],
    )]);
    assert_eq!(
        next_change(&m, ts("2025-06-07T05:00:00Z")),
        Some(ts("2025-06-13T15:00:00Z"))
    );

    // A far-future start is found exactly; a finished entry never changes anything again.
    let m = hcm(vec![dates(
        entry("ny", "news", 1),
        Some("2026-01-01"),
        None,
    )]);
    assert_eq!(
        next_change(&m, ts("2025-06-02T00:00:00Z")),
        Some(ts("2025-12-31T17:00:00Z"))
    );
    let m = hcm(vec![dates(
        entry("old", "news", 1),
        None,
        Some("2025-01-01"),
    )]);
    assert_eq!(next_change(&m, ts("2025-06-02T00:00:00Z")), None);

    // Across DST in Berlin: 01:00-04:00 on the spring-forward day ends at 02:00Z.
    let m = berlin(vec![window("w", "news", 1, "01:00", "04:00")]);
    assert_eq!(
        next_change(&m, ts("2025-03-30T00:30:00Z")),
        Some(ts("2025-03-30T02:00:00Z"))
    );

    // An always-active entry: no boundary at midnight; whatever is returned is later, and the
    // active entry does not change before it.
    let m = hcm(vec![entry("always", "news", 1)]);
    let now = ts("2025-06-02T00:00:00Z");
    let t = next_change(&m, now).expect("conservative wake-up");
    assert!(t > ts("2025-06-08T00:00:00Z"), "{t}");
    assert_eq!(active_playlist(&m, t).playlist.id, "news");
}

#[test]
fn is_entry_active_ignores_priority() {
    let m = hcm(vec![entry("low", "news", 1), entry("high", "night", 2)]);
    let now = ts("2025-06-02T00:00:00Z");
    assert!(is_entry_active(&m, &m.schedule[0], now));
    assert!(is_entry_active(&m, &m.schedule[1], now));
    assert_eq!(active_playlist(&m, now).playlist.id, "night");
}

#[test]
fn alerts_override_by_priority_then_id_until_they_expire() {
    let set = AlertSet {
        alerts: vec![
            alert("zeta", 5, "2025-03-01T12:00:00Z"),
            alert("alpha", 5, "2025-03-01T10:00:00Z"),
            alert("low", 1, "2025-03-02T00:00:00Z"),
            alert("old", 99, "2025-02-01T00:00:00Z"),
        ],
        ..alert_set()
    };
    set.validate().unwrap();
    let id = |at: &str| active_alert(&set, ts(at)).map(|a| a.id.clone());
    assert_eq!(id("2025-03-01T09:00:00Z").as_deref(), Some("alpha")); // tie 5/5: "alpha" < "zeta"
    assert_eq!(id("2025-03-01T10:00:00Z").as_deref(), Some("zeta")); // alpha expired at 10:00
    assert_eq!(id("2025-03-01T12:00:00Z").as_deref(), Some("low"));
    assert_eq!(id("2025-03-02T00:00:00Z"), None);
    assert_eq!(
        next_alert_change(&set, ts("2025-03-01T09:00:00Z")),
        Some(ts("2025-03-01T10:00:00Z"))
    );
    assert_eq!(next_alert_change(&set, ts("2025-03-02T00:00:00Z")), None);
    // Cancelling = a new version without the alert.
    let cancelled = AlertSet {
        version: 4,
        alerts: Vec::new(),
        ..alert_set()
    };
    assert_eq!(active_alert(&cancelled, ts("2025-03-01T09:00:00Z")), None);
}

#[test]
fn variants_follow_the_language_rotation() {
    let m = manifest(); // languages vi, en, zh-Hans; item 1 (vi) has variants 2 (en), 3 (zh-Hans)
    let message = &m.playlists[0].items[0];
    let picked: Vec<String> = (0..7)
        .map(|k| pick_variant(&m, message, k).sha256.clone())
        .collect();
    assert_eq!(
        picked,
        [sha(1), sha(2), sha(3), sha(1), sha(2), sha(3), sha(1)]
    );
    // An item without variants always plays its own media.
    let slide = &m.playlists[0].items[1];
    assert!((0..5).all(|k| pick_variant(&m, slide, k).sha256 == sha(4)));
    assert_eq!(pick_variant(&m, message, u64::MAX).sha256, sha(1)); // u64::MAX % 3 == 0
}

#[test]
fn missing_language_falls_back_to_the_items_own_media() {
    let mut m = manifest();
    m.languages = vec!["km".into(), "EN".into()]; // no Khmer variant; tags compare case-insensitively
    m.validate().unwrap();
    let message = m.playlists[0].items[0].clone();
    assert_eq!(pick_variant(&m, &message, 0).sha256, sha(1));
    assert_eq!(pick_variant(&m, &message, 1).sha256, sha(2));
    m.languages.clear();
    assert!((0..4).all(|k| pick_variant(&m, &message, k).sha256 == sha(1)));
}
