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
        _ => {
            eprintln!("usage: render-screen alert LANG TEXT W H OUT.png | card W H OUT.png");
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
