//! Draws an alert screen or the test card to a PNG file, to look at:
//!
//! ```sh
//! cargo run --release -p gatecast-render --example render-screen -- alert vi "Cửa khẩu tạm dừng" 1920 1080 out.png
//! cargo run --release -p gatecast-render --example render-screen -- card 1920 1080 card.png
//! ```

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let t = Instant::now();
    let mut r = gatecast_render::Renderer::system();
    eprintln!("fonts: {} faces in {:?}", r.faces(), t.elapsed());
    let num = |s: &str| s.parse::<u32>().expect("a size in pixels");
    let (rendered, out) = match args.first().map(String::as_str) {
        Some("alert") if args.len() == 6 => {
            let t = Instant::now();
            let r = r.alert(&args[1], &args[2], num(&args[3]), num(&args[4]));
            eprintln!("drawn in {:?}", t.elapsed());
            (r, &args[5])
        }
        Some("card") if args.len() == 4 => (r.test_card(num(&args[1]), num(&args[2])), &args[3]),
        Some("time") if args.len() == 5 => {
            // time LANG W H N: N draws of a long text, the slowest and the median.
            let text: String = "因洪水，口岸暂停通关。Cửa khẩu tạm dừng thông quan do lũ. "
                .chars()
                .cycle()
                .take(400)
                .collect();
            let n = num(&args[4]).max(1) as usize;
            let mut times: Vec<_> = (0..n)
                .map(|_| {
                    let t = Instant::now();
                    r.alert(&args[1], &text, num(&args[2]), num(&args[3]))
                        .expect("drawn");
                    t.elapsed()
                })
                .collect();
            let first = times[0];
            times.sort();
            println!(
                "{n} draws of {}×{} ({} characters): first (cold glyph cache) {first:?}, median {:?}, slowest {:?}",
                args[2],
                args[3],
                text.chars().count(),
                times[n / 2],
                times[n - 1]
            );
            return;
        }
        _ => {
            eprintln!(
                "usage: render-screen alert LANG TEXT W H OUT.png | card W H OUT.png | time LANG W H N"
            );
            std::process::exit(2);
        }
    };
    let rendered = rendered.unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "font size {} px, {} lines, text ink {:?}, safe {:?}",
        rendered.font_size, rendered.lines, rendered.text_ink, rendered.layout.safe
    );
    std::fs::write(out, rendered.image.to_png().expect("png")).expect("write the PNG");
}
