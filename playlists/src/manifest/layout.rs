//! Screen layouts (`docs/protocol.md` §20): named regions as fractions of the screen, for a
//! landscape or a portrait screen, and the four templates the console offers.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::validate::check_id;
use super::ManifestError;

/// Most regions in one layout (one of each name).
pub const MAX_REGIONS: usize = 5;
/// Slowest ticker speed, pixels per second (of the logical screen).
pub const MIN_TICKER_SPEED: u32 = 10;
/// Fastest ticker speed, pixels per second.
pub const MAX_TICKER_SPEED: u32 = 2000;
/// The ticker speed when the layout names none, pixels per second.
pub const DEFAULT_TICKER_SPEED: u32 = 120;
/// Most images a `side` or `logo` region names.
pub const MAX_REGION_MEDIA: usize = 20;
/// How long a `side` image stays when the region names no `every_secs`, seconds.
pub const DEFAULT_SIDE_SECS: u32 = 10;
/// Shortest and longest `every_secs` of a `side` region, seconds.
pub const SIDE_SECS: (u32, u32) = (3, 3600);

/// How the picture is turned on the physical display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Orientation {
    /// The layout's canvas is the display as it is.
    #[default]
    Landscape,
    /// The display is mounted turned a quarter clockwise: the layout's canvas is the display's
    /// height × width, and everything is drawn turned 90° clockwise.
    Portrait,
}

/// What a region shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegionName {
    /// The schedule's playlists (and alerts): the one region every layout has.
    Main,
    /// The signed ticker texts, scrolling right to left.
    Ticker,
    /// A side panel: its `media` images in turn, each for `every_secs` (black without).
    Side,
    /// The clock and date in the manifest's timezone and the gate's first language.
    Clock,
    /// The logo: its first `media` image, fitted (black without).
    Logo,
}

impl RegionName {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            RegionName::Main => "main",
            RegionName::Ticker => "ticker",
            RegionName::Side => "side",
            RegionName::Clock => "clock",
            RegionName::Logo => "logo",
        }
    }
}

/// One region: its name and where it is, as fractions (0..=1) of the layout's canvas, and
/// for `side` and `logo` the images it shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Region {
    /// What it shows.
    pub name: RegionName,
    /// Left edge, fraction of the canvas width.
    pub x: f64,
    /// Top edge, fraction of the canvas height.
    pub y: f64,
    /// Width, fraction of the canvas width.
    pub w: f64,
    /// Height, fraction of the canvas height.
    pub h: f64,
    /// `side` and `logo` only: SHA-256 of slide images listed in the manifest's `media`
    /// (`docs/protocol.md` §20); empty = black.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<String>,
    /// `side` only: seconds each image stays (default [`DEFAULT_SIDE_SECS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_secs: Option<u32>,
}

// JSON numbers are never NaN, and validation rejects non-finite values.
impl Eq for Region {}

/// A screen's layout (`docs/protocol.md` §20).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// The template it was made from (an id, informative: the regions are what counts).
    pub template: String,
    /// Landscape or portrait.
    #[serde(default)]
    pub orientation: Orientation,
    /// The regions; exactly one `main`, each name at most once.
    pub regions: Vec<Region>,
    /// Ticker speed in pixels of the canvas per second (default 120).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticker_speed: Option<u32>,
}

/// A region in pixels of some canvas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width (≥ 1).
    pub w: u32,
    /// Height (≥ 1).
    pub h: u32,
}

/// The templates: id, orientation, and the regions (`docs/protocol.md` §20).
pub const TEMPLATES: [(&str, Orientation, &[Region]); 4] = [
    (
        "full",
        Orientation::Landscape,
        &[r(RegionName::Main, 0.0, 0.0, 1.0, 1.0)],
    ),
    (
        "main_ticker",
        Orientation::Landscape,
        &[
            r(RegionName::Main, 0.0, 0.0, 1.0, 0.88),
            r(RegionName::Ticker, 0.0, 0.88, 0.8, 0.12),
            r(RegionName::Clock, 0.8, 0.88, 0.2, 0.12),
        ],
    ),
    (
        "main_side_ticker",
        Orientation::Landscape,
        &[
            r(RegionName::Main, 0.0, 0.0, 0.75, 0.88),
            r(RegionName::Side, 0.75, 0.0, 0.25, 0.7),
            r(RegionName::Clock, 0.75, 0.7, 0.25, 0.18),
            r(RegionName::Ticker, 0.0, 0.88, 1.0, 0.12),
        ],
    ),
    (
        "portrait_main_ticker",
        Orientation::Portrait,
        &[
            r(RegionName::Clock, 0.0, 0.0, 1.0, 0.08),
            r(RegionName::Main, 0.0, 0.08, 1.0, 0.84),
            r(RegionName::Ticker, 0.0, 0.92, 1.0, 0.08),
        ],
    ),
];

const fn r(name: RegionName, x: f64, y: f64, w: f64, h: f64) -> Region {
    Region {
        name,
        x,
        y,
        w,
        h,
        media: Vec::new(),
        every_secs: None,
    }
}

impl Layout {
    /// The layout of template `id`, `None` for an unknown id.
    pub fn template(id: &str) -> Option<Layout> {
        TEMPLATES
            .iter()
            .find(|(t, _, _)| *t == id)
            .map(|(t, orientation, regions)| Layout {
                template: (*t).to_owned(),
                orientation: *orientation,
                regions: regions.to_vec(),
                ticker_speed: None,
            })
    }

    /// The region called `name`, if the layout has one.
    pub fn region(&self, name: RegionName) -> Option<&Region> {
        self.regions.iter().find(|r| r.name == name)
    }

    /// The images of every region (side and logo), in region order.
    pub fn media(&self) -> impl Iterator<Item = &String> {
        self.regions.iter().flat_map(|r| r.media.iter())
    }

    /// The ticker speed in canvas pixels per second.
    pub fn ticker_speed(&self) -> u32 {
        self.ticker_speed.unwrap_or(DEFAULT_TICKER_SPEED)
    }

    /// The canvas size for a display of `display` pixels: the display's own size when
    /// landscape, turned (height × width) when portrait.
    pub fn canvas(&self, display: (u32, u32)) -> (u32, u32) {
        match self.orientation {
            Orientation::Landscape => display,
            Orientation::Portrait => (display.1, display.0),
        }
    }

    /// Checks the rules of `docs/protocol.md` §20; the error names the field under `field`.
    pub fn validate(&self, field: &str) -> Result<(), ManifestError> {
        check_id(&format!("{field}.template"), &self.template)?;
        let bad = |f: String, problem: String| ManifestError::Invalid { field: f, problem };
        if self.regions.is_empty() || self.regions.len() > MAX_REGIONS {
            return Err(bad(
                format!("{field}.regions"),
                format!(
                    "{} regions; a layout has 1 to {MAX_REGIONS}",
                    self.regions.len()
                ),
            ));
        }
        let mut names = HashSet::new();
        for (i, reg) in self.regions.iter().enumerate() {
            let f = format!("{field}.regions[{i}]");
            if !names.insert(reg.name) {
                return Err(bad(
                    format!("{f}.name"),
                    format!("region {:?} appears twice", reg.name.as_str()),
                ));
            }
            let parts = [reg.x, reg.y, reg.w, reg.h];
            if parts.iter().any(|v| !v.is_finite() || *v < 0.0 || *v > 1.0)
                || reg.w <= 0.0
                || reg.h <= 0.0
                || reg.x + reg.w > 1.0 + 1e-9
                || reg.y + reg.h > 1.0 + 1e-9
            {
                return Err(bad(
                    f,
                    "x, y, w, h are fractions of the screen: w and h above 0, and the region inside the screen (x + w ≤ 1, y + h ≤ 1)".into(),
                ));
            }
            reg.validate_content(&f)?;
        }
        if !names.contains(&RegionName::Main) {
            return Err(bad(
                format!("{field}.regions"),
                "a layout needs a \"main\" region".into(),
            ));
        }
        if let Some(s) = self.ticker_speed {
            if !(MIN_TICKER_SPEED..=MAX_TICKER_SPEED).contains(&s) {
                return Err(bad(
                    format!("{field}.ticker_speed"),
                    format!("{s} px/s; allowed {MIN_TICKER_SPEED} to {MAX_TICKER_SPEED}"),
                ));
            }
        }
        Ok(())
    }
}

impl Region {
    /// The rules for `media` and `every_secs` (which media exist is the manifest's check).
    fn validate_content(&self, f: &str) -> Result<(), ManifestError> {
        let bad = |field: String, problem: String| ManifestError::Invalid { field, problem };
        let shows_images = matches!(self.name, RegionName::Side | RegionName::Logo);
        if !self.media.is_empty() && !shows_images {
            return Err(bad(
                format!("{f}.media"),
                format!(
                    "only \"side\" and \"logo\" regions show images, not {:?}",
                    self.name.as_str()
                ),
            ));
        }
        if self.media.len() > MAX_REGION_MEDIA {
            return Err(bad(
                format!("{f}.media"),
                format!(
                    "{} images; a region shows at most {MAX_REGION_MEDIA}",
                    self.media.len()
                ),
            ));
        }
        let mut seen = HashSet::new();
        for (j, sha) in self.media.iter().enumerate() {
            super::validate::check_sha(&format!("{f}.media[{j}]"), sha)?;
            if !seen.insert(sha) {
                return Err(bad(
                    format!("{f}.media[{j}]"),
                    "the same image twice in one region".into(),
                ));
            }
        }
        if let Some(s) = self.every_secs {
            if self.name != RegionName::Side {
                return Err(bad(
                    format!("{f}.every_secs"),
                    "only a \"side\" region turns its images".into(),
                ));
            }
            if !(SIDE_SECS.0..=SIDE_SECS.1).contains(&s) {
                return Err(bad(
                    format!("{f}.every_secs"),
                    format!("{s} s; allowed {} to {}", SIDE_SECS.0, SIDE_SECS.1),
                ));
            }
        }
        Ok(())
    }

    /// Seconds each `side` image stays.
    pub fn every_secs(&self) -> u32 {
        self.every_secs.unwrap_or(DEFAULT_SIDE_SECS)
    }

    /// The region in pixels of a canvas of `canvas` pixels (edges rounded, at least 1×1).
    pub fn rect(&self, canvas: (u32, u32)) -> Rect {
        let (cw, ch) = (f64::from(canvas.0), f64::from(canvas.1));
        let x0 = (self.x * cw).round().clamp(0.0, cw - 1.0);
        let y0 = (self.y * ch).round().clamp(0.0, ch - 1.0);
        let x1 = ((self.x + self.w) * cw).round().clamp(x0 + 1.0, cw);
        let y1 = ((self.y + self.h) * ch).round().clamp(y0 + 1.0, ch);
        Rect {
            x: x0 as u32,
            y: y0 as u32,
            w: (x1 - x0) as u32,
            h: (y1 - y0) as u32,
        }
    }
}

impl Rect {
    /// This canvas rectangle on the physical display of a portrait layout: the canvas
    /// (`canvas` = display height × width) turned 90° clockwise onto the display.
    pub fn turned_clockwise(&self, canvas: (u32, u32)) -> Rect {
        Rect {
            x: canvas.1 - (self.y + self.h),
            y: self.x,
            w: self.h,
            h: self.w,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_is_valid_and_has_main() {
        for (id, _, _) in TEMPLATES {
            let l = Layout::template(id).unwrap();
            l.validate("layout").unwrap();
            assert!(l.region(RegionName::Main).is_some(), "{id}");
        }
        assert!(Layout::template("nope").is_none());
    }

    #[test]
    fn region_outside_the_screen_is_refused_by_field() {
        let mut l = Layout::template("main_ticker").unwrap();
        l.regions[1].x = 0.5;
        let e = l.validate("layout").unwrap_err();
        assert!(e.to_string().starts_with("layout.regions[1]:"), "{e}");
        let mut l = Layout::template("full").unwrap();
        l.regions[0].name = RegionName::Ticker;
        assert!(l
            .validate("layout")
            .unwrap_err()
            .to_string()
            .contains("main"));
        let mut l = Layout::template("full").unwrap();
        l.ticker_speed = Some(5);
        assert!(l.validate("layout").is_err());
    }

    #[test]
    fn portrait_rect_turns_clockwise() {
        // Canvas 1080×1920 on a 1920×1080 display: the canvas's top strip is the display's
        // right column.
        let top = Rect {
            x: 0,
            y: 0,
            w: 1080,
            h: 100,
        };
        assert_eq!(
            top.turned_clockwise((1080, 1920)),
            Rect {
                x: 1820,
                y: 0,
                w: 100,
                h: 1080
            }
        );
        let l = Layout::template("portrait_main_ticker").unwrap();
        assert_eq!(l.canvas((1920, 1080)), (1080, 1920));
        let t = l.region(RegionName::Ticker).unwrap().rect((1080, 1920));
        assert_eq!((t.y + t.h, t.w), (1920, 1080));
    }
}
