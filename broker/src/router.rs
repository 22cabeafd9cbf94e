//! Subscription index and retained store of the embedded broker (pure data, no I/O).
//!
//! Exact filters (no `+`/`#`) live in a hash map keyed by the topic, so routing a publish
//! costs one hash lookup plus a scan of the wildcard filters only, never of all filters.

use std::collections::HashMap;

use rumqttc::mqttbytes::QoS;

/// Whether `topic` is a valid topic name for PUBLISH: non-empty, no `+`, `#` or NUL.
pub fn valid_topic(topic: &str) -> bool {
    !topic.is_empty() && !topic.contains(['+', '#', '\0'])
}

/// Whether `filter` is a valid MQTT 3.1.1 topic filter: non-empty, no NUL, `+` only as a
/// whole level, `#` only as the whole last level.
pub fn valid_filter(filter: &str) -> bool {
    if filter.is_empty() || filter.contains('\0') {
        return false;
    }
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        let last = levels.peek().is_none();
        match level {
            "+" => {}
            "#" if last => {}
            l if l.contains(['+', '#']) => return false,
            _ => {}
        }
    }
    true
}

/// Whether `filter` contains a wildcard (`+` or `#`).
pub fn is_wildcard(filter: &str) -> bool {
    filter.contains(['+', '#'])
}

/// Whether a valid `filter` matches a valid `topic` (MQTT 3.1.1 §4.7; a filter starting with
/// a wildcard does not match a topic starting with `$`).
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(fl), Some(tl)) if fl == tl => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// One subscription: the subscriber's unique id, the granted QoS and a handle `T`.
#[derive(Debug, Clone)]
pub struct Sub<T> {
    /// Unique id of the subscriber (session).
    pub id: u64,
    /// Granted QoS.
    pub qos: QoS,
    /// What the caller delivers to (the session).
    pub handle: T,
}

/// The subscription index: exact filters by topic, wildcard filters in a list.
#[derive(Debug)]
pub struct Router<T> {
    exact: HashMap<String, Vec<Sub<T>>>,
    wildcard: Vec<(String, Sub<T>)>,
    /// Filters of each subscriber, to remove them all at once.
    by_id: HashMap<u64, Vec<String>>,
}

impl<T> Default for Router<T> {
    fn default() -> Self {
        Router {
            exact: HashMap::new(),
            wildcard: Vec::new(),
            by_id: HashMap::new(),
        }
    }
}

impl<T: Clone> Router<T> {
    /// Adds (or replaces the QoS of) subscriber `id`'s subscription to a valid `filter`.
    pub fn subscribe(&mut self, filter: &str, sub: Sub<T>) {
        let id = sub.id;
        let existing = if is_wildcard(filter) {
            match self
                .wildcard
                .iter_mut()
                .find(|(f, s)| s.id == id && f == filter)
            {
                Some((_, s)) => {
                    *s = sub;
                    true
                }
                None => {
                    self.wildcard.push((filter.to_string(), sub));
                    false
                }
            }
        } else {
            let subs = self.exact.entry(filter.to_string()).or_default();
            match subs.iter_mut().find(|s| s.id == id) {
                Some(s) => {
                    *s = sub;
                    true
                }
                None => {
                    subs.push(sub);
                    false
                }
            }
        };
        if !existing {
            self.by_id.entry(id).or_default().push(filter.to_string());
        }
    }

    /// Removes subscriber `id`'s subscription to `filter`; `true` if it existed.
    pub fn unsubscribe(&mut self, filter: &str, id: u64) -> bool {
        let removed = self.remove_entry(filter, id);
        if removed {
            if let Some(filters) = self.by_id.get_mut(&id) {
                filters.retain(|f| f != filter);
                if filters.is_empty() {
                    self.by_id.remove(&id);
                }
            }
        }
        removed
    }

    fn remove_entry(&mut self, filter: &str, id: u64) -> bool {
        if is_wildcard(filter) {
            let before = self.wildcard.len();
            self.wildcard.retain(|(f, s)| !(s.id == id && f == filter));
            before != self.wildcard.len()
        } else {
            let Some(subs) = self.exact.get_mut(filter) else {
                return false;
            };
            let before = subs.len();
            subs.retain(|s| s.id != id);
            let removed = before != subs.len();
            if subs.is_empty() {
                self.exact.remove(filter);
            }
            removed
        }
    }

    /// Removes every subscription of subscriber `id`.
    pub fn remove_subscriber(&mut self, id: u64) {
        let Some(filters) = self.by_id.remove(&id) else {
            return;
        };
        let had_wildcard = filters.iter().any(|f| is_wildcard(f));
        for f in filters.iter().filter(|f| !is_wildcard(f)) {
            self.remove_entry(f, id);
        }
        if had_wildcard {
            self.wildcard.retain(|(_, s)| s.id != id);
        }
    }

    /// The filters subscriber `id` holds.
    pub fn filters_of(&self, id: u64) -> &[String] {
        self.by_id.get(&id).map_or(&[], Vec::as_slice)
    }

    /// Every subscriber matching `topic`, once each with its highest granted QoS.
    pub fn route(&self, topic: &str) -> Vec<Sub<T>> {
        let mut out: Vec<Sub<T>> = Vec::new();
        if let Some(subs) = self.exact.get(topic) {
            out.extend(subs.iter().cloned());
        }
        let before = out.len();
        for (f, s) in &self.wildcard {
            if matches(f, topic) {
                out.push(s.clone());
            }
        }
        if out.len() > 1 && before != out.len() {
            dedup(&mut out);
        }
        out
    }

    /// Number of filters held (exact + wildcard), for tests and logs.
    pub fn len(&self) -> usize {
        self.exact.values().map(Vec::len).sum::<usize>() + self.wildcard.len()
    }

    /// Whether no filter is held.
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.wildcard.is_empty()
    }
}

/// Keeps one entry per subscriber id, with the highest QoS.
fn dedup<T>(subs: &mut Vec<Sub<T>>) {
    let mut best: HashMap<u64, usize> = HashMap::with_capacity(subs.len());
    let mut keep = vec![true; subs.len()];
    for i in 0..subs.len() {
        match best.get(&subs[i].id) {
            Some(&j) => {
                if subs[i].qos > subs[j].qos {
                    keep[j] = false;
                    best.insert(subs[i].id, i);
                } else {
                    keep[i] = false;
                }
            }
            None => {
                best.insert(subs[i].id, i);
            }
        }
    }
    let mut k = keep.into_iter();
    subs.retain(|_| k.next().unwrap_or(false));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mqtt_router_filter_validity() {
        for ok in [
            "a", "a/b", "+", "#", "a/+/c", "a/#", "+/+", "/", "a//b", "$SYS/#",
        ] {
            assert!(valid_filter(ok), "{ok}");
        }
        for bad in ["", "a/#/b", "a#", "a/b+", "#/a", "a/+b", "a\0b"] {
            assert!(!valid_filter(bad), "{bad:?}");
        }
        assert!(valid_topic("gatecast/v1/screens/a/manifest"));
        for bad in ["", "a/+", "a/#", "a\0"] {
            assert!(!valid_topic(bad), "{bad:?}");
        }
    }

    #[test]
    fn mqtt_router_matching_rules() {
        let yes = [
            ("a/b/c", "a/b/c"),
            ("a/+/c", "a/b/c"),
            ("a/#", "a/b/c"),
            ("a/#", "a"),
            ("#", "a/b"),
            ("+/+", "a/b"),
            ("+", ""),
            ("a/+", "a/"),
            ("$SYS/#", "$SYS/x"),
            ("$SYS/+", "$SYS/x"),
            (
                "gatecast/v1/screens/+/receipts",
                "gatecast/v1/screens/lc-a1/receipts",
            ),
        ];
        for (f, t) in yes {
            assert!(matches(f, t), "{f} should match {t}");
        }
        let no = [
            ("a/b", "a/b/c"),
            ("a/b/c", "a/b"),
            ("a/+", "a/b/c"),
            ("+", "a/b"),
            ("#", "$SYS/x"),
            ("+/x", "$SYS/x"),
            ("a/+/c", "a/b/d"),
            (
                "gatecast/v1/screens/+/receipts",
                "gatecast/v1/screens/lc-a1/status",
            ),
        ];
        for (f, t) in no {
            assert!(!matches(f, t), "{f} should not match {t}");
        }
    }

    fn sub(id: u64, qos: QoS) -> Sub<&'static str> {
        Sub {
            id,
            qos,
            handle: "h",
        }
    }

    fn ids(subs: &[Sub<&'static str>]) -> Vec<(u64, QoS)> {
        let mut v: Vec<_> = subs.iter().map(|s| (s.id, s.qos)).collect();
        v.sort_by_key(|(id, _)| *id);
        v
    }

    #[test]
    fn mqtt_router_add_remove_lookup() {
        let mut r: Router<&'static str> = Router::default();
        r.subscribe("a/b", sub(1, QoS::AtLeastOnce));
        r.subscribe("a/b", sub(2, QoS::AtMostOnce));
        r.subscribe("a/+", sub(3, QoS::AtLeastOnce));
        r.subscribe("#", sub(2, QoS::AtLeastOnce));
        assert_eq!(r.len(), 4);
        // Subscriber 2 matches twice; it gets one delivery at its highest QoS.
        assert_eq!(
            ids(&r.route("a/b")),
            vec![
                (1, QoS::AtLeastOnce),
                (2, QoS::AtLeastOnce),
                (3, QoS::AtLeastOnce)
            ]
        );
        assert_eq!(ids(&r.route("x")), vec![(2, QoS::AtLeastOnce)]);
        assert!(r.route("$x").is_empty());

        // Re-subscribing replaces the QoS, not adds a second entry.
        r.subscribe("a/b", sub(1, QoS::AtMostOnce));
        assert_eq!(r.len(), 4);
        assert!(r.unsubscribe("a/b", 1));
        assert!(!r.unsubscribe("a/b", 1));
        assert_eq!(ids(&r.route("a/b")).len(), 2);

        r.remove_subscriber(2);
        assert_eq!(ids(&r.route("a/b")), vec![(3, QoS::AtLeastOnce)]);
        assert!(r.route("x").is_empty());
        assert!(r.filters_of(2).is_empty());
        r.remove_subscriber(3);
        assert!(r.is_empty());
        assert!(r.filters_of(1).is_empty());
    }
}
