//! Which gates a CAP message's `<area>`s cover (`docs/protocol.md` §22), with the reason in
//! words for the console's CAP inbox: a shared geocode, a gate inside a `<polygon>`, or a
//! gate within a `<circle>`.

use super::{CapArea, CapMessage, GateLocation};
pub use crate::store::GateMatch;

/// Mean Earth radius in km (the CAP circle's radius is in km).
const EARTH_RADIUS_KM: f64 = 6371.0;

/// The gates among `gates` that the message covers, in the order of `gates`, each once (its
/// first matching area).
pub fn match_gates(msg: &CapMessage, gates: &[GateLocation]) -> Vec<GateMatch> {
    gates
        .iter()
        .filter_map(|g| msg.areas().find_map(|a| match_area(a, g)))
        .collect()
}

fn match_area(a: &CapArea, g: &GateLocation) -> Option<GateMatch> {
    let base = |how: &str, reason: String| GateMatch {
        gate: g.gate.clone(),
        reason,
        how: how.to_string(),
        area: a.desc.clone(),
        distance_km: None,
        radius_km: None,
        geocode: None,
    };
    for code in &a.geocodes {
        let pair = format!("{}={}", code.name, code.value);
        if g.geocodes.iter().any(|c| c.trim() == pair) {
            let mut m = base(
                "geocode",
                format!(
                    "gate {} has the geocode {pair} of area {:?}",
                    g.gate, a.desc
                ),
            );
            m.geocode = Some(pair);
            return Some(m);
        }
    }
    if a.polygons.iter().any(|p| inside(p, (g.lat, g.lon))) {
        return Some(base(
            "polygon",
            format!(
                "gate {} lies inside the polygon of area {:?}",
                g.gate, a.desc
            ),
        ));
    }
    for &(centre, radius) in &a.circles {
        let d = distance_km(centre, (g.lat, g.lon));
        if d <= radius {
            let d = (d * 10.0).round() / 10.0;
            let mut m = base(
                "circle",
                format!(
                    "gate {} is {d} km from the centre of the {radius} km circle of area {:?}",
                    g.gate, a.desc
                ),
            );
            m.distance_km = Some(d);
            m.radius_km = Some(radius);
            return Some(m);
        }
    }
    None
}

/// Whether `p` (lat, lon) lies inside the ring (even-odd rule on the plane of degrees: the
/// areas of a warning are small, far from the poles and the antimeridian).
pub fn inside(ring: &[(f64, f64)], p: (f64, f64)) -> bool {
    let (y, x) = p;
    let mut inside = false;
    let mut j = ring.len().saturating_sub(1);
    for i in 0..ring.len() {
        let (yi, xi) = ring[i];
        let (yj, xj) = ring[j];
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// Great-circle distance in km between two (lat, lon) points (haversine).
pub fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, lo1) = (a.0.to_radians(), a.1.to_radians());
    let (la2, lo2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}
