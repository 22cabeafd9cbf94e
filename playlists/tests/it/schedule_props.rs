//! Property tests of the schedule: exactly one valid playlist at every instant, the winner is
//! the highest-priority active entry, agreement with a plain wall-clock oracle away from DST
//! transitions, and `next_change` never skips a change.

use crate::common::fixtures::*;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use playlists::manifest::{parse_time_of_day, Manifest, ScheduleEntry, Weekday};
use playlists::schedule::*;
use proptest::prelude::*;

/// Independent model: an entry is active when the local wall-clock time lies in a window that
/// started on a day passing the filters (no DST handling, so only valid away from transitions).
fn oracle_active(e: &ScheduleEntry, tz: &TimeZone, now: Timestamp) -> bool {
    let local = tz.to_datetime(now);
    let d = local.date();
    let secs = |t: jiff::civil::Time| {
        i64::from(t.hour()) * 3600 + i64::from(t.minute()) * 60 + i64::from(t.second())
    };
    let t = secs(local.time());
    let passes = |day: jiff::civil::Date| {
        e.from.is_none_or(|f| day >= f)
            && e.until.is_none_or(|u| day <= u)
            && e.weekdays
                .as_ref()
                .is_none_or(|w| w.contains(&Weekday::of(day)))
    };
    let window = e
        .start
        .as_deref()
        .and_then(parse_time_of_day)
        .zip(e.end.as_deref().and_then(parse_time_of_day));
    match window {
        None => passes(d),
        Some((s, en)) => {
            let (s, en) = (secs(s), secs(en));
            if s < en {
                passes(d) && s <= t && t < en
            } else {
                (passes(d) && t >= s) || (passes(d.yesterday().unwrap()) && t < en)
            }
        }
    }
}

/// Whether there is a UTC offset change within 50 hours of `now`.
fn near_transition(tz: &TimeZone, now: Timestamp) -> bool {
    let window = SignedDuration::from_hours(50);
    let near = |t: Timestamp| (t.duration_since(now)).abs() < window;
    tz.preceding(now)
        .next()
        .is_some_and(|t| near(t.timestamp()))
        || tz
            .following(now)
            .next()
            .is_some_and(|t| near(t.timestamp()))
}

fn winner_id(m: &Manifest, now: Timestamp) -> Option<String> {
    active_playlist(m, now).entry.map(|e| e.id.clone())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn exactly_one_valid_playlist_is_active(m in arb::manifest(), now in arb::instant()) {
        prop_assert!(m.validate().is_ok());
        let a = active_playlist(&m, now);
        prop_assert!(m.playlists.iter().any(|p| std::ptr::eq(p, a.playlist)), "not a playlist of the manifest");
        match a.entry {
            Some(e) => {
                prop_assert!(m.schedule.iter().any(|s| std::ptr::eq(s, e)));
                prop_assert!(is_entry_active(&m, e, now));
                prop_assert_eq!(&a.playlist.id, &e.playlist);
            }
            None => {
                prop_assert!(m.schedule.iter().all(|e| !is_entry_active(&m, e, now)));
                prop_assert_eq!(&a.playlist.id, &m.fallback);
            }
        }
    }

    #[test]
    fn the_highest_priority_active_entry_wins(m in arb::manifest(), now in arb::instant()) {
        let a = active_playlist(&m, now);
        for e in m.schedule.iter().filter(|e| is_entry_active(&m, e, now)) {
            let w = a.entry.expect("an entry is active, so the fallback must not play");
            prop_assert!(
                e.priority < w.priority || (e.priority == w.priority && w.id <= e.id),
                "active {} (prio {}) beats winner {} (prio {})", e.id, e.priority, w.id, w.priority
            );
        }
    }

    #[test]
    fn agrees_with_the_wall_clock_model_away_from_dst_transitions(m in arb::manifest(), now in arb::instant()) {
        let tz = TimeZone::get(&m.timezone).unwrap();
        prop_assume!(!near_transition(&tz, now));
        for e in &m.schedule {
            prop_assert_eq!(is_entry_active(&m, e, now), oracle_active(e, &tz, now), "entry {:?}", e);
        }
        let expected = m
            .schedule
            .iter()
            .filter(|e| oracle_active(e, &tz, now))
            .max_by(|a, b| a.priority.cmp(&b.priority).then_with(|| b.id.cmp(&a.id)))
            .map(|e| e.id.clone());
        prop_assert_eq!(winner_id(&m, now), expected);
    }

    #[test]
    fn nothing_changes_before_next_change(m in arb::manifest(), now in arb::instant(), fracs in proptest::collection::vec(0.0f64..1.0, 4)) {
        let before: Vec<bool> = m.schedule.iter().map(|e| is_entry_active(&m, e, now)).collect();
        match next_change(&m, now) {
            Some(t) => {
                prop_assert!(t > now);
                let span = t.duration_since(now).as_secs_f64();
                let mut probes: Vec<Timestamp> = fracs.iter().map(|f| now + SignedDuration::from_secs_f64(span * f)).collect();
                probes.push(t - SignedDuration::from_nanos(1));
                for p in probes.into_iter().filter(|p| *p >= now && *p < t) {
                    let at: Vec<bool> = m.schedule.iter().map(|e| is_entry_active(&m, e, p)).collect();
                    prop_assert_eq!(&at, &before, "changed at {} before next_change {}", p, t);
                }
            }
            None => {
                for days in [1i64, 9, 40, 400] {
                    let p = now + SignedDuration::from_hours(24 * days);
                    let at: Vec<bool> = m.schedule.iter().map(|e| is_entry_active(&m, e, p)).collect();
                    prop_assert_eq!(&at, &before, "changed at {} although next_change is None", p);
                }
            }
        }
    }

    #[test]
    fn every_instant_is_covered_without_gaps_in_ho_chi_minh(m in arb::manifest(), now in arb::instant()) {
        // In a zone without DST, stepping minute by minute through a day always finds a playlist
        // and changes only where next_change said a change could happen.
        let m = Manifest { timezone: "Asia/Ho_Chi_Minh".to_string(), ..m };
        let mut t = now;
        let end = now + SignedDuration::from_hours(26);
        let mut wake = next_change(&m, t);
        let mut current = winner_id(&m, t);
        while t < end {
            t += SignedDuration::from_mins(7);
            let w = winner_id(&m, t);
            if w != current {
                prop_assert!(wake.is_some_and(|x| x <= t), "winner changed at {} but next_change was {:?}", t, wake);
                current = w;
            }
            if wake.is_some_and(|x| x <= t) {
                wake = next_change(&m, t);
            }
        }
    }
}
