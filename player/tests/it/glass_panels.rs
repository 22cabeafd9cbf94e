//! The `side` and `logo` regions on the glass (`docs/protocol.md` §20): `main_side_ticker` at
//! 1280×720 with two side images turning every 3 s and a logo in main's top-left corner, two
//! slides in turn in `main`, under Xvfb with real mpv (the rig of `glass_layout`):
//! - every captured frame from the first side image on shows, in the side box, one of the
//!   renderer's own fitted drawings of the two images (aspect kept, black around), and the logo
//!   box the logo's, across the main item change;
//! - both side images appear, the first before the second;
//! - the first side turn is a receipt (`playlist` `side`, the image's hash and language); the
//!   logo gives none.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use gatecast_player::backend::mpv::ScreenRenderer;
use gatecast_player::backend::{Backend, Ended, Interrupt, ItemKind};
use gatecast_player::scheduler::Lookup;
use gatecast_render::MediaImage;
use gatecast_testkit::glass::{encode_png, near, quadrants_rgb, Display, Grabber};
use playlists::manifest::{MediaKind, MediaRef, Region, RegionName};

use crate::glass_layout::{diff_at, manifest, rig, skip, GRAB_EVERY, SIZE};
use crate::glass_screen::{item, solid_png};

fn image_ref(sha: &str, lang: &str) -> MediaRef {
    MediaRef {
        sha256: sha.into(),
        bytes: 1,
        mime: "image/png".into(),
        kind: MediaKind::Slide,
        lang: lang.into(),
        title: String::new(),
        duration_ms: None,
        subtitles: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glass_layout_side_and_logo_show_their_images_across_a_main_change() {
    const TEST: &str = "glass_layout_side_and_logo_show_their_images_across_a_main_change";
    let screens = ScreenRenderer::load();
    if skip(TEST, &screens) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(display) = Display::start(TEST, dir.path(), SIZE.0, SIZE.1) else {
        return;
    };
    // Side images: a wide one and a tall one (each fitted differently into the 320×504 box),
    // the logo a 2:1 purple and white flag.
    let (s1, s2, lg) = ("1".repeat(64), "2".repeat(64), "3".repeat(64));
    let files: HashMap<String, PathBuf> = [
        (s1.clone(), (400, 225, false)),
        (s2.clone(), (150, 300, true)),
    ]
    .into_iter()
    .map(|(sha, (w, h, swapped))| {
        let p = dir.path().join(format!("{}.png", &sha[..1]));
        std::fs::write(&p, encode_png(w, h, &quadrants_rgb(w, h, swapped))).unwrap();
        (sha, p)
    })
    .chain(std::iter::once({
        let p = dir.path().join("logo.png");
        let rgb: Vec<u8> = (0..200 * 100)
            .flat_map(|i| {
                if i % 200 < 100 {
                    [120, 30, 160]
                } else {
                    [250, 250, 250]
                }
            })
            .collect();
        std::fs::write(&p, encode_png(200, 100, &rgb)).unwrap();
        (lg.clone(), p)
    }))
    .collect();
    let lookup: Lookup = {
        let files = files.clone();
        Arc::new(move |sha: &str| files.get(sha).cloned())
    };

    let mut m = manifest("main_side_ticker");
    m.media = vec![
        image_ref(&s1, "vi"),
        image_ref(&s2, "en"),
        image_ref(&lg, "vi"),
    ];
    let layout = m.layout.as_mut().unwrap();
    let side_region = layout
        .regions
        .iter_mut()
        .find(|r| r.name == RegionName::Side)
        .unwrap();
    side_region.media = vec![s1.clone(), s2.clone()];
    side_region.every_secs = Some(3);
    layout.regions.push(Region {
        name: RegionName::Logo,
        x: 0.0,
        y: 0.0,
        w: 0.15,
        h: 0.12,
        media: vec![lg.clone()],
        every_secs: None,
    });
    let layout = layout.clone();
    let side = layout.region(RegionName::Side).unwrap().rect(SIZE);
    let logo = layout.region(RegionName::Logo).unwrap().rect(SIZE);
    let main = layout.region(RegionName::Main).unwrap().rect(SIZE);
    // What the renderer draws for each image in its box.
    let fitted = |sha: &str, w: u32, h: u32| {
        let img = MediaImage::decode(&std::fs::read(&files[sha]).unwrap()).unwrap();
        img.fitted(w, h).unwrap()
    };
    let want_side = [fitted(&s1, side.w, side.h), fitted(&s2, side.w, side.h)];
    let want_logo = fitted(&lg, logo.w, logo.h);

    let (orange, green) = ([220, 120, 30], [30, 170, 70]);
    let (a, b_png) = (dir.path().join("a.png"), dir.path().join("b.png"));
    solid_png(&a, orange);
    solid_png(&b_png, green);
    let mut rig = rig(dir.path(), &display, screens, m, lookup).await;
    let grabber = Grabber::start(&display, GRAB_EVERY, 1);
    let mut never = Interrupt::never();
    for (path, ms) in [(&a, 3000), (&b_png, 4000)] {
        let out = rig
            .b
            .play(&item(path, ItemKind::Slide, Some(ms)), None, &mut never)
            .await;
        assert_eq!(out.ended, Ended::Completed);
    }
    let rec = grabber.stop();
    rig.stop.send_replace(true);
    rig.task.await.unwrap();
    rig.b.shutdown().await;
    let frames_dir = rec.save(TEST);

    let centre = (main.x + main.w / 2, main.y + main.h / 2);
    let mut seen = String::new();
    let mut main_seen = String::new();
    for (i, f) in rec.frames.iter().enumerate() {
        let d = [
            diff_at(f, side.x, side.y, &want_side[0]),
            diff_at(f, side.x, side.y, &want_side[1]),
        ];
        let which = match d {
            [x, _] if x < 3.0 => '1',
            [_, y] if y < 3.0 => '2',
            _ => '-',
        };
        seen.push(which);
        let p = f.pixel(centre.0, centre.1);
        main_seen.push(if near(p, orange, 16) {
            'a'
        } else if near(p, green, 16) {
            'b'
        } else {
            '?'
        });
        if seen.trim_start_matches('-').is_empty() {
            continue;
        }
        assert!(
            which != '-',
            "frame {i}: the side box matches neither image ({d:?}; {frames_dir:?})"
        );
        let dl = diff_at(f, logo.x, logo.y, &want_logo);
        assert!(dl < 3.0, "frame {i}: the logo box differs by {dl:.2}");
    }
    println!("side per frame: {seen}\nmain per frame: {main_seen}");
    let first = seen.find('1').expect("the first side image appears");
    assert!(seen.rfind('2').is_some_and(|j| j > first), "{seen}");
    let change = main_seen
        .find('b')
        .expect("main changes to the green slide");
    assert!(
        first < change && main_seen[..change].contains('a'),
        "side up before the main change: {seen} / {main_seen}"
    );

    let receipts: Vec<playlists::receipt::Receipt> = rig
        .journal
        .unacked(100)
        .unwrap()
        .into_iter()
        .map(|(_, b)| serde_json::from_slice(&b).unwrap())
        .collect();
    let side_receipts: Vec<_> = receipts.iter().filter(|r| r.playlist == "side").collect();
    let r1 = side_receipts
        .iter()
        .find(|r| r.media == s1)
        .expect("a receipt for the first side image");
    assert_eq!(
        (r1.lang.as_str(), r1.outcome),
        ("vi", playlists::receipt::Outcome::Completed)
    );
    let ms = r1.ended_at.duration_since(r1.started_at).as_millis_f64();
    assert!((2900.0..4000.0).contains(&ms), "side turn lasted {ms} ms");
    assert!(
        receipts.iter().all(|r| r.media != lg),
        "the logo gives no receipt"
    );
}
